package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/mailscript/mailscript/batch"
	"github.com/mailscript/mailscript/batch/data"
	"github.com/mailscript/mailscript/batch/filter"
	"github.com/mailscript/mailscript/batch/journal"
	batchreport "github.com/mailscript/mailscript/batch/report"
	"github.com/mailscript/mailscript/batch/selection"
	"github.com/mailscript/mailscript/config"
	"github.com/mailscript/mailscript/template"
	"github.com/mailscript/mailscript/transport"
)

var batchCmd = &command{
	name:    "batch",
	summary: "send a template to every row of a CSV, JSON Lines, JSON or YAML file",
	usage: `Usage: mailscript batch TEMPLATE --data FILE [--send] [--server URL | --profile NAME]
                        [--filter EXPR] [--rows LIST] [--limit N] [--shard K/N]
                        [--connections N] [--rate N/s] [--journal FILE] [--resume]
                        [--report FILE] [server flags as for send]

Renders TEMPLATE once per row of the data file (each row's fields are the
template's values) and sends the messages, several connections at a time,
with pipelining, retries and a journal. See docs/batch.md.

Safety: to a real server a batch is a DRY RUN unless --send is given: every
row is rendered and checked, each message is written as ROW.eml into
--outbox (default ./outbox-dry-run/TIMESTAMP), and a summary and the first
message are printed. With no server (or --server local) the messages go to
the built-in capture server's Maildir (--outbox, default ./outbox) and no
--send is needed.

Before the first message is sent every row is rendered and checked
(missing values, bad addresses, template errors); if any row fails the
batch does not start — unless --skip-invalid (those rows are reported as
failed) or --stream (rows are checked as they are sent).

Temporary failures (4xx, a lost connection) are retried with exponential
backoff and jitter, up to --max-attempts tries within --retry-for; a
permanent failure (5xx) fails that row only; wrong credentials (535) stop
the batch. 421 and 451 4.7.x replies slow the batch down.

The journal (--journal, default DATA.journal; not kept for the local
capture server unless asked, nor by a dry run) records every row's state
(rendered, sending, sent, deferred, failed, uncertain), fsync'd before each
group of final dots. --resume continues a stopped batch: sent rows are
skipped; rows whose connection was lost after the final dot, or that the
stopped run left "sending", are "uncertain" and re-sent only with
--resend-uncertain, with the same Message-ID. Without --resume an existing
journal is an error.

A message accepted for some recipients and refused with a 4xx for others
(greylisting) is retried to those only, same Message-ID, like any temporary
failure (--resume too goes on with those only). Refused for good (5xx, or
4xx past the retries), the row is "partial": the report (--report) lists
the refused ones (ms_refused), and a retry batch whose data is that report
sends a partial row to them only.

Exit codes: 0 every row delivered (a dry run: every row valid); 65 some rows
invalid (data or template errors), the rest delivered; 69 some rows failed
permanently (5xx) or partly (some recipients refused), or the server is
unreachable; 75 only temporary trouble is left (deferred, uncertain or
unsent rows: --resume later); 77 authentication failed (the batch stopped);
64 usage; 66 missing file; 73 cannot write the journal, report or outbox;
78 configuration error.

Examples:
  mailscript batch invite.tmpl --data people.csv                # local outbox, no server
  mailscript batch invite.tmpl --data people.csv --profile work # dry run: outbox-dry-run/*
  mailscript batch invite.tmpl --data people.csv --profile work --send --rate 10/s
  mailscript batch news.tmpl --data subs.jsonl --filter 'team == "ops"' --limit 100 --send
  mailscript batch news.tmpl --data subs.csv --shard 2/4 --send --report shard2.csv
  mailscript batch news.tmpl --data subs.csv --send --resume      # after a crash or ^C
  mailscript batch news.tmpl --data report.csv --filter 'ms_status in ["failed", "partial"]' \
      --journal retry.journal --send           # retry the failed rows and refused recipients
`,
	setup: func(fs *flag.FlagSet) func(*env, []string) error {
		o := &batchOptions{}
		o.register(fs)
		return func(e *env, args []string) error {
			if len(args) != 1 {
				return usageErrorf("batch: want exactly one TEMPLATE, got %d arguments", len(args))
			}
			return o.run(e, args[0])
		}
	},
}

// batchOptions are the flags of "batch".
type batchOptions struct {
	sendOptions
	data, dataFormat, csvDelimiter string
	filter, rows, shard, key       string
	limit                          int
	send, dryRun, noOutbox, stream bool
	skipInvalid                    bool
	outbox                         string
	connections, perConn, attempts int
	localNamed                     bool // --server local (not merely no server)
	rate                           string
	retryFor, retryBase            time.Duration
	journal                        string
	resume, resendUncertain, force bool
	report                         string
	quiet                          bool
	progressEvery                  time.Duration
}

func (o *batchOptions) register(fs *flag.FlagSet) {
	o.sendOptions.registerServer(fs)
	fs.StringVar(&o.data, "data", "", "read the rows from `FILE` (CSV, .jsonl, .json, .yaml; - for standard input)")
	fs.StringVar(&o.dataFormat, "data-format", "auto", "`FORMAT` of the data: auto, csv, tsv, jsonl, json or yaml")
	fs.StringVar(&o.csvDelimiter, "csv-delimiter", "", "CSV field `CHAR` (default: sniffed among , ; tab |); \"tab\" for a tab")
	fs.StringVar(&o.filter, "filter", "", "send only the rows for which `EXPR` is true, e.g. 'team == \"ops\" && vip'")
	fs.StringVar(&o.rows, "rows", "", "send only data rows `LIST`, e.g. 5-10 or 1-3,8,20-")
	fs.IntVar(&o.limit, "limit", 0, "send at most `N` rows (after --rows, --filter and --shard)")
	fs.StringVar(&o.shard, "shard", "", "send only part `K/N` of the rows (by a hash of the key column: N runs share a batch)")
	fs.StringVar(&o.key, "key", "", "the `COLUMN` that identifies a row for --shard and the journal (default: email, to or address)")
	fs.BoolVar(&o.send, "send", false, "really send to the server (without it a batch to a real server is a dry run)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "render and check every row, write the messages to --outbox, send nothing")
	fs.StringVar(&o.outbox, "outbox", "", "`DIR` for the dry run's .eml files (default outbox-dry-run/TIMESTAMP),\nor the local capture server's Maildir (default outbox)")
	fs.BoolVar(&o.noOutbox, "no-outbox", false, "dry run: render and check only, write no files")
	fs.BoolVar(&o.stream, "stream", false, "do not render every row before sending: check each row as it is sent")
	fs.BoolVar(&o.skipInvalid, "skip-invalid", false, "send the valid rows even when some rows are invalid (those are reported as failed)")
	fs.IntVar(&o.connections, "connections", batch.DefaultConnections, "`N` parallel connections to the server")
	fs.StringVar(&o.rate, "rate", "", "at most `N/s` or N/m messages (per second or minute) for the whole batch")
	fs.IntVar(&o.perConn, "per-connection", 0, "reconnect after `N` messages on one connection (default: no limit)")
	fs.IntVar(&o.attempts, "max-attempts", batch.DefaultMaxAttempts, "delivery attempts per row on temporary failures")
	fs.DurationVar(&o.retryFor, "retry-for", batch.DefaultRetryFor, "give up retrying a row after `DURATION`")
	fs.DurationVar(&o.retryBase, "retry-wait", batch.DefaultRetryBase, "the first retry's delay `DURATION` (doubled each time, with jitter)")
	fs.StringVar(&o.journal, "journal", "", "journal `FILE` (default DATA.journal, or DATA.shard-K-of-N.journal)")
	fs.BoolVar(&o.resume, "resume", false, "continue the batch recorded in the journal (a new journal when there is none)")
	fs.BoolVar(&o.resendUncertain, "resend-uncertain", false, "with --resume: send again the rows left uncertain (same Message-ID)")
	fs.BoolVar(&o.force, "force", false, "with --resume: resume even though the template or the data changed")
	fs.StringVar(&o.report, "report", "", "write one line per row to `FILE` (.csv or .tsv: CSV; else JSON Lines)")
	fs.BoolVar(&o.quiet, "q", false, "no progress output")
	fs.DurationVar(&o.progressEvery, "progress-every", 10*time.Second, "when stderr is not a terminal, a progress line every `DURATION`")
}

// parseRate reads --rate: "N/s", "N/m", "N/h" or "N" (per second).
func parseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--rate %q: want N/s or N/m with N > 0", s)
	}
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "", "s", "sec", "second":
		return n, nil
	case "m", "min", "minute":
		return n / 60, nil
	case "h", "hour":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("--rate %q: unknown unit %q (want s, m or h)", s, unit)
}

// dataSource opens the data and the selection over it.
type dataSource struct {
	path    string // the file read (a copy of standard input for "-")
	name    string // as given
	opts    data.Options
	sel     selection.Options
	columns []string
}

func (d *dataSource) open() (*data.Reader, selection.Source, error) {
	r, err := data.OpenAs(d.path, d.name, d.opts)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, &cliError{code: exitNoInput, msg: "--data", err: err}
		}
		return nil, nil, &cliError{code: exitDataErr, err: err}
	}
	d.columns = r.Columns()
	return r, selection.NewStream(r, d.name, selection.New(d.sel)), nil
}

func (o *batchOptions) run(e *env, path string) error {
	// MAILSCRIPT_CPUPROFILE=FILE writes a CPU profile of the batch (for
	// bench/run.sh and go tool pprof); undocumented on purpose.
	if p := os.Getenv("MAILSCRIPT_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	// Rendering allocates a lot of short-lived garbage over a small live
	// heap: a lazier collector halves its cost, and a soft memory limit
	// keeps the peak flat (unless GOGC or GOMEMLIMIT say otherwise).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
	if o.data == "" {
		return withHint(usageErrorf("batch: --data FILE is required"), "the rows come from a CSV, JSON Lines, JSON or YAML file: --data people.csv")
	}
	if o.send && o.dryRun {
		return usageErrorf("batch: --send and --dry-run contradict each other")
	}
	if o.resendUncertain && !o.resume {
		return usageErrorf("batch: --resend-uncertain needs --resume")
	}
	rate, err := parseRate(o.rate)
	if err != nil {
		return usageErrorf("batch: %v", err)
	}
	if o.connections < 1 {
		return usageErrorf("batch: --connections must be at least 1")
	}
	if o.perConn < 0 {
		return usageErrorf("batch: --per-connection must not be negative (0 = no limit)")
	}
	if o.attempts < 1 {
		return usageErrorf("batch: --max-attempts must be at least 1")
	}
	ds := &dataSource{name: o.data, path: o.data}
	var fmtDelim rune
	ds.opts.Format, fmtDelim, err = data.ParseFormat(o.dataFormat)
	if err != nil {
		return usageErrorf("batch: --data-format: %v", err)
	}
	ds.opts.Delimiter = fmtDelim
	switch d := o.csvDelimiter; {
	case d == "":
	case d == "tab" || d == `\t`:
		ds.opts.Delimiter = '\t'
	case len([]rune(d)) == 1:
		ds.opts.Delimiter = []rune(d)[0]
	default:
		return usageErrorf("batch: --csv-delimiter %q: want one character", d)
	}
	if o.filter != "" {
		if ds.sel.Filter, err = filter.Parse(o.filter); err != nil {
			return usageErrorf("batch: --filter: %v", err)
		}
	}
	if o.rows != "" {
		if ds.sel.Rows, err = selection.ParseRanges(o.rows); err != nil {
			return usageErrorf("batch: --rows: %v", err)
		}
	}
	if o.shard != "" {
		if ds.sel.Shard, err = selection.ParseShard(o.shard); err != nil {
			return usageErrorf("batch: --shard: %v", err)
		}
	}
	if o.limit < 0 {
		return usageErrorf("batch: --limit must not be negative")
	}
	ds.sel.Limit, ds.sel.KeyColumn = o.limit, o.key

	conf, err := o.loadConfig(e)
	if err != nil {
		return err
	}
	tmpl, err := template.ParseFile(path)
	if err != nil {
		return err
	}
	if o.data == data.Stdin {
		// Read twice (the check, then the sending) and hashed for the
		// journal: standard input is copied to a temporary file.
		f, err := os.CreateTemp("", "mailscript-data-*")
		if err != nil {
			return &cliError{code: exitCantCreate, msg: "copying standard input", err: err}
		}
		defer os.Remove(f.Name())
		_, err = io.Copy(f, e.stdin)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return &cliError{code: exitCantCreate, msg: "copying standard input", err: err}
		}
		ds.path = f.Name()
		if ds.opts.Format == data.Auto {
			ds.opts.Format = sniffFormat(ds.path)
		}
	}
	// Check the filter's fields and the key against the CSV header before
	// any row is read.
	r, _, err := ds.open()
	if err != nil {
		return err
	}
	r.Close()
	if err := checkColumns(ds); err != nil {
		return err
	}

	base, err := o.expandOptions(conf, o.hiddenEnv(conf))
	if err != nil {
		return err
	}

	// The server settings may come from the template's front matter: the
	// first row that renders tells.
	settings, err := probeSettings(e, ds, tmpl, base)
	if err != nil {
		return err
	}
	rs, err := o.resolve(conf, settings)
	if err != nil {
		return err
	}
	local := rs.server == "" || rs.server == "local"
	o.localNamed = rs.server == "local"
	if o.dryRun || (!local && !o.send) {
		return o.dryRunBatch(e, ds, tmpl, base, rs.server, local)
	}
	return o.sendBatch(e, path, ds, tmpl, base, conf, settings, local, rate)
}

// sniffFormat picks the format of standard input's copy by its first byte.
func sniffFormat(path string) data.Format {
	f, err := os.Open(path)
	if err != nil {
		return data.Auto
	}
	defer f.Close()
	r, err := data.NewReader(f, "-", data.Options{})
	if err != nil {
		return data.Auto
	}
	return r.Format()
}

// checkColumns checks --filter's fields and --key against a CSV header.
func checkColumns(ds *dataSource) error {
	if ds.columns == nil {
		return nil
	}
	has := map[string]bool{}
	for _, c := range ds.columns {
		has[c] = true
	}
	list := strings.Join(ds.columns, ", ")
	if ds.sel.Filter != nil {
		for _, f := range ds.sel.Filter.Fields() {
			top, _, _ := strings.Cut(f, ".")
			if !has[f] && !has[top] {
				return withHint(usageErrorf("batch: --filter: %s has no column %q", ds.name, f), "the columns are: "+list)
			}
		}
	}
	if ds.sel.KeyColumn != "" && !has[ds.sel.KeyColumn] {
		return withHint(usageErrorf("batch: --key: %s has no column %q", ds.name, ds.sel.KeyColumn), "the columns are: "+list)
	}
	return nil
}

// probeSettings expands the first rows until one renders, for the front
// matter's server settings.
func probeSettings(e *env, ds *dataSource, tmpl *template.Template, base template.Options) (template.Settings, error) {
	r, src, err := ds.open()
	if err != nil {
		return template.Settings{}, err
	}
	defer r.Close()
	for i := 0; i < 100 && e.ctx.Err() == nil; i++ {
		row, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if de := (*data.Error)(nil); errors.As(err, &de) && de.RowOnly {
				continue
			}
			return template.Settings{}, &cliError{code: exitDataErr, err: err}
		}
		opts := base
		opts.Values = mergeValues(base.Values, row.Values)
		m, err := tmpl.Expand(opts)
		if err != nil {
			continue
		}
		m.Close()
		return m.Settings, nil
	}
	return template.Settings{}, nil
}

func mergeValues(base, row map[string]any) map[string]any {
	if len(base) == 0 {
		return row
	}
	v := make(map[string]any, len(base)+len(row))
	for k, x := range base {
		v[k] = x
	}
	for k, x := range row {
		v[k] = x
	}
	return v
}

// invalidPrinter prints failing rows, up to a limit.
type invalidPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	data  string
	n     int
	limit int
	rows  []batch.RowError
}

func (p *invalidPrinter) print(re batch.RowError) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if len(p.rows) < p.limit {
		p.rows = append(p.rows, re)
	}
}

// flush prints the kept rows in row order.
func (p *invalidPrinter) flush() {
	sort.Slice(p.rows, func(i, j int) bool { return p.rows[i].Row < p.rows[j].Row })
	for _, re := range p.rows {
		fmt.Fprintf(p.w, "mailscript: %s\n", rowErrorText(p.data, re.Row, re.Err))
	}
	if p.n > len(p.rows) {
		fmt.Fprintf(p.w, "mailscript: ... and %d more invalid rows\n", p.n-len(p.rows))
	}
}

// rowErrorText names a failing row: "DATA: row N: reason".
func rowErrorText(dataName string, row int, err error) string {
	var de *data.Error
	if errors.As(err, &de) {
		return strings.ReplaceAll(de.Error(), "\n", " ")
	}
	return fmt.Sprintf("%s: row %d: %s", dataName, row, strings.ReplaceAll(err.Error(), "\n", " "))
}

// dryRunBatch renders and checks every row, writes the messages to the
// outbox, and prints a summary and the first message.
func (o *batchOptions) dryRunBatch(e *env, ds *dataSource, tmpl *template.Template, base template.Options, server string, local bool) error {
	outbox := o.outbox
	if o.noOutbox {
		outbox = ""
	} else if outbox == "" {
		outbox = filepath.Join("outbox-dry-run", time.Now().Format("20060102-150405"))
	}
	if outbox != "" {
		if err := os.MkdirAll(outbox, 0o755); err != nil {
			return &cliError{code: exitCantCreate, msg: "--outbox: cannot create " + outbox, err: err}
		}
	}
	r, src, err := ds.open()
	if err != nil {
		return err
	}
	defer r.Close()
	bad := &invalidPrinter{w: e.stderr, data: ds.name, limit: 20}
	res, err := batch.Validate(e.ctx, batch.RenderConfig{Template: tmpl, Expand: base, Rows: src, KeyColumn: o.key,
		Outbox: outbox, Keep: 1, OnInvalid: bad.print})
	bad.flush()
	if err != nil {
		var de *data.Error
		if errors.As(err, &de) {
			return &cliError{code: exitDataErr, err: err}
		}
		if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrExist) {
			return &cliError{code: exitCantCreate, msg: "--outbox", err: err}
		}
		return err
	}
	if len(res.First) > 0 {
		e.stdout.Write(res.First[0].Message)
	}
	where := "nothing written (--no-outbox)"
	if outbox != "" {
		where = "messages in " + outbox
	}
	fmt.Fprintf(e.stderr, "mailscript: dry run: %d rows rendered, %d valid, %d invalid, %s in %v (%.0f msgs/s); %s\n",
		res.Rows, res.Valid, res.Invalid, sizeText(res.Bytes), res.Elapsed.Round(time.Millisecond),
		float64(res.Rows)/max(res.Elapsed.Seconds(), 1e-9), where)
	switch {
	case o.dryRun && local:
		fmt.Fprintf(e.stderr, "mailscript: note: nothing was sent (--dry-run)\n")
	case o.dryRun:
		fmt.Fprintf(e.stderr, "mailscript: note: nothing was sent to %s (--dry-run)\n", server)
	default:
		fmt.Fprintf(e.stderr, "mailscript: note: nothing was sent: this was a dry run; add --send to send to %s\n", server)
	}
	if res.Invalid > 0 {
		return &cliError{code: exitDataErr, msg: fmt.Sprintf("%d of %d rows are invalid", res.Invalid, res.Rows)}
	}
	return nil
}

func sizeText(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// journalPath is the default journal beside the data file.
func (o *batchOptions) journalPath(ds *dataSource) string {
	if o.journal != "" {
		return o.journal
	}
	if ds.name == data.Stdin {
		return ""
	}
	if ds.sel.Shard.N > 0 {
		return fmt.Sprintf("%s.shard-%d-of-%d.journal", ds.name, ds.sel.Shard.K, ds.sel.Shard.N)
	}
	return ds.name + ".journal"
}

// openJournal creates the journal (created is true), or opens it with
// --resume. A new journal gets runID ("" = a new one).
func (o *batchOptions) openJournal(e *env, jpath, tmplPath string, ds *dataSource, runID string) (j *journal.Journal, created bool, err error) {
	tsum, err := journal.HashFile(tmplPath)
	if err != nil {
		return nil, false, err
	}
	dsum, err := journal.HashFile(ds.path)
	if err != nil {
		return nil, false, &cliError{code: exitNoInput, msg: "--data", err: err}
	}
	_, statErr := os.Stat(jpath)
	exists := statErr == nil
	if exists && !o.resume {
		return nil, false, withHint(usageErrorf("batch: journal %s exists: a batch was run with this data before", jpath),
			"add --resume to continue it (rows already sent are skipped), or remove the journal to start over")
	}
	if exists {
		// Each row's last record stays readable (4 bytes a row): a row
		// left waiting for a retry to some of its recipients only (the
		// message was accepted for the others) goes to those only, and
		// with --report the rows an earlier run finished are reported
		// with their reply read back from the journal.
		j, err := journal.Open(jpath, journal.OpenOptions{TemplateSHA256: tsum, DataSHA256: dsum, Force: o.force, Positions: true})
		var me *journal.MismatchError
		switch {
		case errors.As(err, &me):
			return nil, false, withHint(&cliError{code: exitDataErr, err: err}, "the journal belongs to other files: resume with --force to go on anyway (rows are matched by row number), or use a new --journal")
		case errors.Is(err, journal.ErrLocked):
			return nil, false, withHint(&cliError{code: exitTempFail, err: err}, "another mailscript batch is running with this journal")
		case errors.Is(err, journal.ErrNoHeader):
			return nil, false, withHint(&cliError{code: exitDataErr, err: err}, "nothing was sent under it: remove "+jpath+" and run again")
		case err != nil:
			return nil, false, &cliError{code: exitDataErr, err: err}
		}
		for _, w := range j.Warnings() {
			fmt.Fprintf(e.stderr, "mailscript: warning: journal: %s\n", strings.TrimPrefix(w, "journal: "))
		}
		if n := len(j.FoundUncertain()); n > 0 {
			fmt.Fprintf(e.stderr, "mailscript: warning: journal: %s left \"sending\" by the run that stopped (after the final dot, before the server's reply): recorded as uncertain, the server may have them (RFC 1047)\n", rowsWere(n))
		}
		return j, false, nil
	}
	if o.resume {
		fmt.Fprintf(e.stderr, "mailscript: note: --resume: no journal %s yet, starting the batch\n", jpath)
	}
	j, err = journal.Create(jpath, journal.Header{RunID: runID, Template: tmplPath, TemplateSHA256: tsum, Data: ds.name, DataSHA256: dsum}, journal.Options{})
	if err != nil {
		return nil, false, &cliError{code: exitCantCreate, msg: "creating the journal", err: err}
	}
	return j, true, nil
}

// sendBatch is the batch for real: check every row, then send.
func (o *batchOptions) sendBatch(e *env, tmplPath string, ds *dataSource, tmpl *template.Template, base template.Options,
	conf *config.Config, settings template.Settings, local bool, rate float64) error {
	total := -1
	jpath := o.journalPath(ds)
	if local && o.journal == "" {
		jpath = ""
	}
	// Every output must be writable before the first byte is sent: a
	// report that cannot be created found only at the end would stop the
	// batch with messages in flight.
	if o.report != "" {
		if err := checkWritable(o.report); err != nil {
			return withHint(&cliError{code: exitCantCreate, msg: "--report: cannot create " + o.report, err: err}, "nothing was sent")
		}
	}
	if local {
		if err := os.MkdirAll(o.localMaildir(), 0o755); err != nil {
			return withHint(&cliError{code: exitCantCreate, msg: "--outbox: cannot create the local outbox", err: err}, "nothing was sent")
		}
	}
	if jpath == "" && !local {
		return withHint(usageErrorf("batch: --data -: give --journal FILE"), "a batch read from standard input needs a journal to be resumable")
	}
	// The journal is opened (or created) before the check pass, which
	// records each row it renders; one created here is removed again if
	// the batch does not start: nothing was sent under it.
	var j *journal.Journal
	created, started := false, false
	defer func() {
		if j != nil {
			j.Close()
			if created && !started {
				os.Remove(jpath)
			}
		}
	}()
	runID := journal.NewRunID()
	var msgIDs func(int) string
	if jpath != "" {
		var err error
		if j, created, err = o.openJournal(e, jpath, tmplPath, ds, runID); err != nil {
			return err
		}
		runID, msgIDs = j.Header().RunID, j.MessageID
	}
	var spool *batch.Spool
	if !o.stream {
		// Every row is rendered once, here, into a spool file that the
		// sending reads: with the journal's run id and the Message-IDs it
		// recorded; each row rendered gets a "rendered" record.
		dir := ""
		if jpath != "" {
			dir = filepath.Dir(jpath)
		}
		var err error
		if spool, err = batch.NewSpool(dir); err != nil {
			if spool, err = batch.NewSpool(""); err != nil {
				return &cliError{code: exitCantCreate, err: err}
			}
		}
		defer spool.Close()
		r, src, err := ds.open()
		if err != nil {
			return err
		}
		bad := &invalidPrinter{w: e.stderr, data: ds.name, limit: 20}
		res, err := batch.Validate(e.ctx, batch.RenderConfig{Template: tmpl, Expand: base, Rows: src, KeyColumn: o.key,
			RunID: runID, MessageID: msgIDs, Spool: spool, Journal: j, OnInvalid: bad.print})
		r.Close()
		bad.flush()
		if err != nil {
			switch {
			case errors.As(err, new(*data.Error)):
				return &cliError{code: exitDataErr, err: err}
			case errors.Is(err, context.Canceled):
				return withHint(&cliError{code: exitTempFail, msg: "batch interrupted while checking the rows"}, "nothing was sent")
			case exitCode(err) == exitSoftware:
				// The journal or the spool file cannot be written.
				return withHint(&cliError{code: exitCantCreate, msg: "checking the rows", err: err}, "nothing was sent")
			}
			return err
		}
		if res.Invalid > 0 && !o.skipInvalid {
			return withHint(&cliError{code: exitDataErr, msg: fmt.Sprintf("%d of %d rows are invalid: nothing sent", res.Invalid, res.Rows)},
				"fix them, or add --skip-invalid to send the valid rows (the invalid ones are reported as failed)")
		}
		total = res.Rows
	}

	cfg, _, err := o.config(e, conf, settings)
	if err != nil {
		return err
	}
	if j != nil {
		if c := j.Counts(); c[journal.Uncertain] > 0 && !o.resendUncertain {
			fmt.Fprintf(e.stderr, "mailscript: warning: %s uncertain (the connection was lost after the final dot: the server may have them); not sent again\n", rowsAre(c[journal.Uncertain]))
			fmt.Fprintf(e.stderr, "mailscript: hint: add --resend-uncertain to send them again with the same Message-ID\n")
		}
	}
	r, src, err := ds.open()
	if err != nil {
		return err
	}
	defer r.Close()
	var rep *batchreport.Writer
	if o.report != "" {
		rep = batchreport.Create(o.report, batchreport.Options{Columns: ds.columns, FlushEvery: 64})
		defer rep.Close()
		if err := rep.Open(); err != nil {
			return withHint(&cliError{code: exitCantCreate, msg: "--report: cannot create " + o.report, err: err}, "nothing was sent")
		}
	}

	maildir := o.localMaildir()
	done, err := o.openSession(e, &cfg, local, maildir, nil)
	if err != nil {
		return err
	}
	defer done()
	transcript := cfg.Transcript
	cfg.Transcript = nil

	prog := &batch.Progress{}
	out := newProgressPrinter(e, prog, total, o.quiet, o.progressEvery)
	out.checked = !o.stream
	bcfg := batch.Config{
		Template: tmpl, Expand: base, Rows: src, KeyColumn: o.key, RunID: runID,
		Transport: cfg, Transcript: transcript,
		Connections: o.connections, Rate: rate, PerConnection: o.perConn,
		MaxAttempts: o.attempts, RetryFor: o.retryFor, RetryBase: o.retryBase,
		Journal: j, ResendUncertain: o.resendUncertain, Report: rep, Progress: prog, Spool: spool,
		Expect: max(total, 0),
		OnRow:  func(r batch.RowResult) { out.row(ds.name, r) },
	}
	out.start()
	started = true
	s, runErr := batch.Run(e.ctx, bcfg)
	out.stop()
	if rep != nil {
		if err := rep.Close(); err != nil && runErr == nil {
			runErr = &cliError{code: exitCantCreate, msg: "--report", err: err}
		}
	}
	if j != nil {
		err := j.Close()
		j = nil
		if err != nil && runErr == nil {
			runErr = &cliError{code: exitCantCreate, msg: "journal", err: err}
		}
	}
	printSummary(e.stdout, s)
	if local && s.Sent > 0 {
		why := "no server configured"
		if o.localNamed {
			why = "--server local"
		}
		fmt.Fprintf(e.stderr, "mailscript: note: %s: the messages were stored in the local outbox %s, not sent to the internet\n", why, maildir)
	}
	return batchExit(s, runErr, jpath)
}

// localMaildir is the local capture server's Maildir (--server local).
func (o *batchOptions) localMaildir() string {
	if o.outbox != "" {
		return o.outbox
	}
	return "outbox"
}

// checkWritable checks that the file at path can be written (created),
// leaving no new file behind.
func checkWritable(path string) error {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	if os.IsNotExist(statErr) {
		os.Remove(path)
	}
	return nil
}

func printSummary(w io.Writer, s *batch.Summary) {
	rate := float64(s.Sent) / max(s.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(w, "sent %d of %d rows in %v (%.0f msgs/s): %d failed (%d invalid), %d deferred, %d uncertain, %d not sent",
		s.Sent, s.Rows, s.Elapsed.Round(time.Millisecond), rate, s.Failed, s.Invalid, s.Deferred, s.Uncertain, s.Unsent)
	if s.Earlier > 0 {
		fmt.Fprintf(w, ", %d done earlier (%d sent", s.Earlier, s.EarlierSent)
		if s.EarlierPartial > 0 {
			fmt.Fprintf(w, ", %d of them partly", s.EarlierPartial)
		}
		fmt.Fprintf(w, ", %d failed, %d uncertain)", s.EarlierFailed, s.EarlierUncertain)
	}
	if s.Partial > 0 {
		fmt.Fprintf(w, ", %d partly sent (some recipients refused)", s.Partial)
	}
	if s.Throttled > 0 {
		fmt.Fprintf(w, ", throttled %d times", s.Throttled)
	}
	fmt.Fprintln(w)
}

// batchExit turns the end of a batch into an error with the documented
// exit code (nil when every row was delivered).
func batchExit(s *batch.Summary, err error, jpath string) error {
	resume := "run the same command with --resume to send what is left"
	if jpath == "" {
		resume = "run it again for the rows left (see --report)"
	}
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.AuthFailed() {
			return withHint(&cliError{code: exitNoPerm, msg: "batch stopped: authentication failed", err: err},
				"check the user name and the password; "+resume)
		}
		var ce *cliError
		if errors.As(err, &ce) {
			return err
		}
		if errors.As(err, new(*data.Error)) {
			return &cliError{code: exitDataErr, msg: "batch stopped", err: err}
		}
		if errors.Is(err, context.Canceled) {
			return withHint(&cliError{code: exitTempFail, msg: "batch interrupted"}, resume)
		}
		code := exitCode(err)
		if code == exitSoftware {
			code = exitCantCreate // the journal, the report, a spool file
		}
		return withHint(&cliError{code: code, msg: "batch stopped", err: explainDialError(err)}, resume)
	}
	failed, partial := s.Failed-s.Invalid+s.EarlierFailed, s.Partial+s.EarlierPartial
	switch {
	case failed > 0 || partial > 0:
		var what []string
		if failed > 0 {
			what = append(what, rows(failed)+" failed permanently")
		}
		if partial > 0 {
			what = append(what, rows(partial)+" partly failed (sent, but some recipients refused)")
		}
		return withHint(&cliError{code: exitUnavailable, msg: strings.Join(what, ", ")},
			`see the rows above or --report; a retry batch reads a report: --filter 'ms_status in ["failed", "partial"]' (a partial row goes to its refused recipients only)`)
	case s.Invalid > 0:
		return &cliError{code: exitDataErr, msg: rowsWere(s.Invalid) + " invalid (not sent)"}
	case s.Deferred+s.Uncertain+s.Unsent+s.EarlierUncertain > 0:
		return withHint(&cliError{code: exitTempFail, msg: fmt.Sprintf("%d rows not delivered yet (%d deferred, %d uncertain, %d not sent)",
			s.Deferred+s.Uncertain+s.Unsent+s.EarlierUncertain, s.Deferred, s.Uncertain+s.EarlierUncertain, s.Unsent)}, resume)
	}
	return nil
}

// progressPrinter shows the batch's progress: a line redrawn in place on a
// terminal, a line every few seconds otherwise; and each failed row.
type progressPrinter struct {
	e       *env
	p       *batch.Progress
	total   int
	quiet   bool
	checked bool // every row was checked before sending
	tty     bool
	every   time.Duration
	mu      sync.Mutex
	shown   bool // a progress line is on the terminal
	printed int  // rows printed
	done    chan struct{}
	wg      sync.WaitGroup
	start0  time.Time
}

func newProgressPrinter(e *env, p *batch.Progress, total int, quiet bool, every time.Duration) *progressPrinter {
	pp := &progressPrinter{e: e, p: p, total: total, quiet: quiet, every: every, done: make(chan struct{})}
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		pp.tty = true
		pp.every = 200 * time.Millisecond
	}
	return pp
}

func (pp *progressPrinter) start() {
	pp.start0 = time.Now()
	if pp.quiet || pp.every <= 0 {
		return
	}
	pp.wg.Add(1)
	go func() {
		defer pp.wg.Done()
		t := time.NewTicker(pp.every)
		defer t.Stop()
		for {
			select {
			case <-pp.done:
				return
			case <-t.C:
				pp.mu.Lock()
				pp.line()
				pp.mu.Unlock()
			}
		}
	}()
}

func (pp *progressPrinter) stop() {
	close(pp.done)
	pp.wg.Wait()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.clear()
}

// line prints the progress (with pp.mu held).
func (pp *progressPrinter) line() {
	p := pp.p
	sent, failed := p.Sent.Load(), p.Failed.Load()
	el := time.Since(pp.start0)
	rate := float64(sent) / max(el.Seconds(), 1e-9)
	text := fmt.Sprintf("sent %d", sent)
	if pp.total >= 0 {
		text += fmt.Sprintf("/%d", pp.total)
	}
	text += fmt.Sprintf(", failed %d, retrying %d, %.0f msgs/s", failed, p.Retrying.Load(), rate)
	if pp.total > 0 && rate > 0 {
		left := float64(int64(pp.total)-sent-failed-p.Earlier.Load()-p.Deferred.Load()-p.Uncertain.Load()) / rate
		if left > 0 {
			text += fmt.Sprintf(", ETA %v", (time.Duration(left) * time.Second).Round(time.Second))
		}
	}
	if pp.tty {
		fmt.Fprintf(pp.e.stderr, "\r\x1b[K%s", text)
		pp.shown = true
		return
	}
	fmt.Fprintf(pp.e.stderr, "mailscript: progress: %s\n", text)
}

func (pp *progressPrinter) clear() {
	if pp.shown {
		fmt.Fprint(pp.e.stderr, "\r\x1b[K")
		pp.shown = false
	}
}

// row prints a row that did not go through.
func (pp *progressPrinter) row(dataName string, r batch.RowResult) {
	if r.Earlier || r.Status == journal.Sent && r.Error == "" || r.Invalid && pp.checked {
		return // invalid rows were named by the check before sending
	}
	if r.Status == journal.Deferred && r.Attempts == 0 {
		return // not sent: the batch stopped; the summary counts them
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.printed++
	if pp.printed > 50 {
		if pp.printed == 51 {
			pp.clear()
			fmt.Fprintf(pp.e.stderr, "mailscript: (more rows in the report and the journal)\n")
		}
		return
	}
	pp.clear()
	what := r.Error
	if r.Code != 0 {
		what = fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Reply)
		what = strings.Join(strings.Fields(what), " ")
		if r.Status == journal.Sent {
			what = r.Error
		}
	}
	status := r.Status.String()
	switch {
	case r.Invalid:
		status = "invalid"
	case r.Status == journal.Sent:
		status = "partly refused"
	}
	who := ""
	if len(r.Recipients) > 0 {
		who = " (" + strings.Join(r.Recipients, ", ") + ")"
	}
	fmt.Fprintf(pp.e.stderr, "mailscript: %s: row %d%s: %s: %s\n", dataName, r.Row, who, status, what)
}

// rows says "1 row" or "N rows".
func rows(n int) string {
	if n == 1 {
		return "1 row"
	}
	return strconv.Itoa(n) + " rows"
}

// rowsWere says "1 row was" or "N rows were".
func rowsWere(n int) string {
	if n == 1 {
		return "1 row was"
	}
	return rows(n) + " were"
}

// rowsAre says "1 row is" or "N rows are".
func rowsAre(n int) string {
	if n == 1 {
		return "1 row is"
	}
	return rows(n) + " are"
}
