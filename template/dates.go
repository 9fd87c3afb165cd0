package template

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database
)

// rfc5322Date is the date-time layout of RFC 5322 section 3.3, as date -R
// prints it.
const rfc5322Date = "Mon, 02 Jan 2006 15:04:05 -0700"

// date formats the expansion's clock:
//
//	{{date}}                                  RFC 5322 form
//	{{date FORMAT}}                           a Go layout, or strftime when FORMAT contains %
//	{{date FORMAT MODIFIER...}}               after the modifiers, applied in order
//
// A modifier is a time zone ("Europe/Paris", "UTC", "Local", "+0530") or a
// relative date ("now", "today", "tomorrow", "yesterday", "+7d", "-2h30m",
// "+1w", "+1mo", "-1y", "next monday", "last friday"). An empty FORMAT means
// the RFC 5322 form.
func (x *expansion) date(args ...string) (string, error) {
	t := x.now
	format := rfc5322Date
	if len(args) > 0 && args[0] != "" {
		format = args[0]
	}
	if len(args) > 1 {
		for _, m := range args[1:] {
			var err error
			if t, err = applyDateModifier(t, m); err != nil {
				return "", &directiveError{"date", err}
			}
		}
	}
	if strings.Contains(format, "%") {
		s, err := strftime(t, format)
		if err != nil {
			return "", &directiveError{"date", err}
		}
		return s, nil
	}
	if format == rfc5322Date && x.set != nil {
		return x.set.formatDate(t), nil
	}
	return t.Format(format), nil
}

var (
	relativeRE = regexp.MustCompile(`^[+-](?:[0-9]{1,9}(?:mo|s|m|h|d|w|y))+$`)
	relPartRE  = regexp.MustCompile(`([0-9]+)(mo|s|m|h|d|w|y)`)
	offsetRE   = regexp.MustCompile(`^([+-])([0-9]{2}):?([0-9]{2})$`)
	weekdays   = map[string]time.Weekday{
		"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
		"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
	}
	zoneCache sync.Map // zone name -> *time.Location
)

const modifierHelp = `a time zone such as "Europe/Paris", "UTC" or "+0200", or a relative date such as "tomorrow", "+7d", "-2h", "next monday"`

// applyDateModifier moves t by a relative date or into a time zone.
func applyDateModifier(t time.Time, m string) (time.Time, error) {
	lm := strings.ToLower(strings.TrimSpace(m))
	switch lm {
	case "now", "today":
		return t, nil
	case "tomorrow":
		return t.AddDate(0, 0, 1), nil
	case "yesterday":
		return t.AddDate(0, 0, -1), nil
	case "utc", "z":
		return t.UTC(), nil
	case "local":
		return t.Local(), nil
	}
	if relativeRE.MatchString(lm) {
		sign := 1
		if lm[0] == '-' {
			sign = -1
		}
		for _, p := range relPartRE.FindAllStringSubmatch(lm[1:], -1) {
			n, _ := strconv.Atoi(p[1])
			n *= sign
			switch p[2] {
			case "s":
				t = t.Add(time.Duration(n) * time.Second)
			case "m":
				t = t.Add(time.Duration(n) * time.Minute)
			case "h":
				t = t.Add(time.Duration(n) * time.Hour)
			case "d":
				t = t.AddDate(0, 0, n)
			case "w":
				t = t.AddDate(0, 0, 7*n)
			case "mo":
				t = t.AddDate(0, n, 0)
			case "y":
				t = t.AddDate(n, 0, 0)
			}
		}
		return t, nil
	}
	if o := offsetRE.FindStringSubmatch(lm); o != nil {
		h, _ := strconv.Atoi(o[2])
		mi, _ := strconv.Atoi(o[3])
		if h > 23 || mi > 59 {
			return t, fmt.Errorf("invalid UTC offset %q", m)
		}
		secs := h*3600 + mi*60
		if o[1] == "-" {
			secs = -secs
		}
		return t.In(time.FixedZone(o[0], secs)), nil
	}
	if dir, day, ok := strings.Cut(lm, " "); ok && (dir == "next" || dir == "last") {
		wd, known := weekdays[strings.TrimSpace(day)]
		if !known {
			return t, fmt.Errorf("unknown day %q in %q (use a weekday in English: %q)", day, m, "next monday")
		}
		if dir == "next" {
			d := (int(wd) - int(t.Weekday()) + 7) % 7
			if d == 0 {
				d = 7
			}
			return t.AddDate(0, 0, d), nil
		}
		d := (int(t.Weekday()) - int(wd) + 7) % 7
		if d == 0 {
			d = 7
		}
		return t.AddDate(0, 0, -d), nil
	}
	if loc, ok := loadZone(m); ok {
		return t.In(loc), nil
	}
	return t, fmt.Errorf("unknown time zone or relative date %q (use %s)", m, modifierHelp)
}

// loadZone loads an IANA time zone by name ("Europe/Paris", "EST5EDT").
func loadZone(name string) (*time.Location, bool) {
	if name == "" || strings.EqualFold(name, "local") || len(name) > 64 {
		return nil, false
	}
	if l, ok := zoneCache.Load(name); ok {
		return l.(*time.Location), true
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	zoneCache.Store(name, loc)
	return loc, true
}

// strftime formats t like C's strftime in the C locale. It knows the
// conversions of POSIX plus %P, %k, %l and %s (GNU); any other is an error.
func strftime(t time.Time, format string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", fmt.Errorf("format %q ends with a lone %% (write %%%% for a percent sign)", format)
		}
		switch format[i] {
		case '%':
			b.WriteByte('%')
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'c':
			b.WriteString(t.Format("Mon Jan _2 15:04:05 2006"))
		case 'C':
			fmt.Fprintf(&b, "%02d", t.Year()/100)
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'D', 'x':
			b.WriteString(t.Format("01/02/06"))
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'G':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%d", y)
		case 'g':
			y, _ := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", y%100)
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", hour12(t))
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'k':
			fmt.Fprintf(&b, "%2d", t.Hour())
		case 'l':
			fmt.Fprintf(&b, "%2d", hour12(t))
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'n':
			b.WriteByte('\n')
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'P':
			b.WriteString(t.Format("pm"))
		case 'r':
			b.WriteString(t.Format("03:04:05 PM"))
		case 'R':
			b.WriteString(t.Format("15:04"))
		case 's':
			b.WriteString(strconv.FormatInt(t.Unix(), 10))
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 't':
			b.WriteByte('\t')
		case 'T', 'X':
			b.WriteString(t.Format("15:04:05"))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b.WriteString(strconv.Itoa(wd))
		case 'U':
			fmt.Fprintf(&b, "%02d", (t.YearDay()+6-int(t.Weekday()))/7)
		case 'V':
			_, w := t.ISOWeek()
			fmt.Fprintf(&b, "%02d", w)
		case 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case 'W':
			fmt.Fprintf(&b, "%02d", (t.YearDay()+6-(int(t.Weekday())+6)%7)/7)
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'z':
			b.WriteString(t.Format("-0700"))
		case 'Z':
			b.WriteString(t.Format("MST"))
		default:
			return "", fmt.Errorf("unknown conversion %%%c in %q (write %%%% for a percent sign)", format[i], format)
		}
	}
	return b.String(), nil
}

func hour12(t time.Time) int {
	h := t.Hour() % 12
	if h == 0 {
		h = 12
	}
	return h
}
