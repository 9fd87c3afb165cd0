package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// newFlagSet returns a FlagSet that reports nothing itself: parse errors
// come back as usage errors and --help prints the command's own text.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses flags and positional arguments in any order (flag
// stops at the first positional argument; users write
// "mailscript send FILE --server URL"). After "--" everything is positional.
func parseArgs(e *env, c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(e.stdout, c, fs)
			return nil, errHelpShown
		}
		if err != nil {
			msg := err.Error()
			if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
				msg = "unknown flag " + name
			}
			return nil, usageErrorf("%s: %s", c.name, msg)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printCommandHelp prints a command's usage text with its flags.
func printCommandHelp(w io.Writer, c *command, fsets ...*flag.FlagSet) {
	synopsis, examples, _ := strings.Cut(c.usage, "\nExamples:\n")
	fmt.Fprintf(w, "%s\n", strings.TrimRight(synopsis, "\n"))
	var fs *flag.FlagSet
	if len(fsets) > 0 {
		fs = fsets[0]
	} else {
		fs = newFlagSet(c.name)
		c.setup(fs)
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		l := "  " + dash + f.Name
		if name != "" {
			l += " " + name
		}
		l += "\n        " + strings.ReplaceAll(usage, "\n", "\n        ")
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			l += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, l)
	})
	sort.Strings(lines)
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s\n", strings.Join(lines, "\n"))
	}
	if examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s", examples)
	}
}

// namesFlag collects repeated flags of names, each maybe a comma-separated
// list (--allow-env HOME --allow-env CI,BUILD_ID).
type namesFlag struct{ names *[]string }

func (n namesFlag) String() string {
	if n.names == nil {
		return ""
	}
	return strings.Join(*n.names, ",")
}

func (n namesFlag) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*n.names = append(*n.names, name)
		}
	}
	return nil
}

// varsFlag collects repeated --var NAME=VALUE flags.
type varsFlag map[string]string

func (v varsFlag) String() string { return "" }

func (v varsFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("--var wants NAME=VALUE, got %q", s)
	}
	v[name] = value
	return nil
}
