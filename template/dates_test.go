package template

import (
	"strings"
	"testing"
	"time"
)

func TestDate(t *testing.T) {
	// fixedOptions' clock: Tuesday 1 October 2024, 09:30:00 CEST (+0200).
	tests := []struct {
		args string // directive arguments as written
		want string
	}{
		{``, `Tue, 01 Oct 2024 09:30:00 +0200`},
		{`"2006-01-02"`, `2024-10-01`},
		{`"Monday 2 January 2006 15:04 MST"`, `Tuesday 1 October 2024 09:30 CEST`},
		{`"%Y-%m-%d %H:%M:%S %z"`, `2024-10-01 09:30:00 +0200`},
		{`"%a %A %b %B %e %j %u %w %y %C"`, `Tue Tuesday Oct October  1 275 2 2 24 20`},
		{`"%F %T %R %D %I %l %p %P %k"`, `2024-10-01 09:30:00 09:30 10/01/24 09  9 AM am  9`},
		{`"%G-W%V %U %W %s %Z %%"`, `2024-W40 39 40 1727767800 CEST %`},
		{`"" "UTC"`, `Tue, 01 Oct 2024 07:30:00 +0000`},
		{`"15:04 MST" "Europe/Paris"`, `09:30 CEST`},
		{`"15:04 MST" "America/New_York"`, `03:30 EDT`},
		{`"15:04 -0700" "+0530"`, `13:00 +0530`},
		{`"15:04 -0700" "-05:00"`, `02:30 -0500`},
		{`"2006-01-02" "tomorrow"`, `2024-10-02`},
		{`"2006-01-02" "yesterday"`, `2024-09-30`},
		{`"2006-01-02" "today"`, `2024-10-01`},
		{`"2006-01-02" "+7d"`, `2024-10-08`},
		{`"2006-01-02 15:04" "-2h30m"`, `2024-10-01 07:00`},
		{`"2006-01-02" "+2w"`, `2024-10-15`},
		{`"2006-01-02" "+1mo"`, `2024-11-01`},
		{`"2006-01-02" "-1y"`, `2023-10-01`},
		{`"Mon 2006-01-02" "next monday"`, `Mon 2024-10-07`},
		{`"Mon 2006-01-02" "next tuesday"`, `Tue 2024-10-08`},
		{`"Mon 2006-01-02" "last friday"`, `Fri 2024-09-27`},
		// Modifiers apply in order: a day in Paris, then shown in Tokyo.
		{`"2006-01-02 15:04 MST" "+1d" "Asia/Tokyo"`, `2024-10-02 16:30 JST`},
		// Calendar days across a DST change keep the clock time.
		{`"2006-01-02 15:04 MST" "Europe/Paris" "+30d"`, `2024-10-31 09:30 CET`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			m, err := expandString("From: a@example.com\nTo: b@example.com\n\n[{{date "+tt.args+"}}]\n", fixedOptions(nil))
			if err != nil {
				t.Fatal(err)
			}
			out := render(t, m)
			if want := "[" + tt.want + "]"; !strings.Contains(out, want) {
				t.Errorf("want %q in\n%s", want, out)
			}
		})
	}
}

func TestDateErrors(t *testing.T) {
	tests := []struct{ args, want string }{
		{`"%Y-%Q"`, `testdata/t.tmpl:4:3: date: unknown conversion %Q in "%Y-%Q" (write %% for a percent sign)`},
		{`"100%"`, `testdata/t.tmpl:4:3: date: format "100%" ends with a lone % (write %% for a percent sign)`},
		{`"15:04" "Mars/Olympus"`, `testdata/t.tmpl:4:3: date: unknown time zone or relative date "Mars/Olympus" (use a time zone such as "Europe/Paris", "UTC" or "+0200", or a relative date such as "tomorrow", "+7d", "-2h", "next monday")`},
		{`"15:04" "+7x"`, `testdata/t.tmpl:4:3: date: unknown time zone or relative date "+7x" ...`},
		{`"15:04" "+2500"`, `testdata/t.tmpl:4:3: date: invalid UTC offset "+2500"`},
		{`"15:04" "next moonday"`, `testdata/t.tmpl:4:3: date: unknown day "moonday" in "next moonday" (use a weekday in English: "next monday")`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			_, err := expandString("From: a@example.com\nTo: b@example.com\n\n{{date "+tt.args+"}}\n", fixedOptions(nil))
			matchError(t, err, tt.want)
		})
	}
}

// Options.Now drives every date; the Date header uses the same instant.
func TestDateUsesNow(t *testing.T) {
	opts := fixedOptions(nil)
	opts.Now = func() time.Time { return time.Date(2030, 2, 28, 23, 0, 0, 0, time.UTC) }
	m, err := expandString("From: a@example.com\nTo: b@example.com\n\n{{date \"%F\" \"tomorrow\"}} {{date \"%F\" \"+1mo\"}}\n", opts)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, m)
	if !strings.Contains(out, "Date: Thu, 28 Feb 2030 23:00:00 +0000\r\n") || !strings.Contains(out, "2030-03-01 2030-03-28\r\n") {
		t.Errorf("got\n%s", out)
	}
}
