package contract

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The rrule rules below follow what Prefect 3.9.1 does with a schedule's rrule: its
// validator (dateutil's rrulestr, at most MaxRRuleLength characters) and its scheduler
// (RRuleSchedule.to_rrule, which starts a rule without DTSTART at 2020-01-01T00:00:00
// local time). Deliberately stricter: INTERVAL must be at least 1 (0 never finishes in
// Prefect's scheduler), BY* values must be in their RFC 5545 ranges (a rule such as
// BYMONTH=13 never fires), and dates are RFC 5545 or ISO 8601 date-times rather than any
// text dateutil's fuzzy parser reads.

// MaxRRuleLength is Prefect's limit on an rrule string, in characters.
const MaxRRuleLength = 6500

// rruleFreqs are the FREQ values, in dateutil's order (YEARLY = 0 … SECONDLY = 6).
var rruleFreqs = map[string]int{"YEARLY": 0, "MONTHLY": 1, "WEEKLY": 2, "DAILY": 3, "HOURLY": 4, "MINUTELY": 5, "SECONDLY": 6}

const (
	freqDaily    = 3
	freqHourly   = 4
	freqMinutely = 5
	freqSecondly = 6
)

var rruleWeekdays = map[string]bool{"MO": true, "TU": true, "WE": true, "TH": true, "FR": true, "SA": true, "SU": true}

// rruleInts are the integer-list parts with their RFC 5545 ranges (negative counts from
// the end when allowNeg); BYEASTER (a dateutil extension) has no range.
var rruleInts = map[string]struct {
	lo, hi   int
	allowNeg bool
}{
	"BYSETPOS": {1, 366, true}, "BYMONTH": {1, 12, false}, "BYMONTHDAY": {1, 31, true},
	"BYYEARDAY": {1, 366, true}, "BYWEEKNO": {1, 53, true}, "BYHOUR": {0, 23, false},
	"BYMINUTE": {0, 59, false}, "BYSECOND": {0, 59, false},
}

const rruleParts = "FREQ, INTERVAL, COUNT, UNTIL, WKST, BYDAY, BYMONTH, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYHOUR, BYMINUTE, BYSECOND, BYSETPOS, BYEASTER"

var (
	pyIntRE     = regexp.MustCompile(`^[+-]?[0-9]+(?:_[0-9]+)*$`)
	tzidNameRE  = regexp.MustCompile(`TZID=([^:]+):`)
	rfcDateRE   = regexp.MustCompile(`^([0-9]{8})(?:T([0-9]{6})(Z?))?$`)
	isoDateRE   = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:T([0-9]{2}:[0-9]{2}(?::[0-9]{2})?)(Z|[+-][0-9]{2}:?[0-9]{2})?)?$`)
	byDayPrefix = "+-0123456789"
)

// rruleStart is a rule's start as far as the checks need it: its clock and whether it
// carries a time zone.
type rruleStart struct {
	hour, minute, second int
	aware                bool
}

// CheckRRule reports why rule is not an rrule Prefect can validate and schedule: one
// RFC 5545 RRULE (optionally prefixed RRULE:), or lines of DTSTART, RRULE, RDATE, EXRULE
// and EXDATE; FREQ required; known parts only, each NAME=VALUE; values in range; UNTIL in
// UTC exactly when DTSTART carries a time zone; BYHOUR/BYMINUTE/BYSECOND reachable from
// DTSTART at the rule's INTERVAL; at most MaxRRuleLength characters.
func CheckRRule(rule string) error {
	if err := checkRRule(rule); err != nil {
		return fmt.Errorf("rrule %s %v", Quote(rule), err)
	}
	return nil
}

func checkRRule(rule string) error {
	if n := utf8.RuneCountInString(rule); n > MaxRRuleLength {
		return fmt.Errorf("has %d characters; Prefect allows at most %d", n, MaxRRuleLength)
	}
	tzids := map[string]string{}
	for _, m := range tzidNameRE.FindAllStringSubmatch(rule, -1) {
		tzids[strings.ToUpper(m[1])] = m[1]
	}
	s := strings.ToUpper(rule)
	lines := pyFields(s)
	if !strings.Contains(s, "FREQ=") && !strings.Contains(s, "RDATE") && !strings.Contains(s, "EXDATE") {
		return fmt.Errorf("has no FREQ=; write an RFC 5545 rule such as FREQ=WEEKLY;BYDAY=MO")
	}
	anchor := rruleStart{} // Prefect's scheduler starts a rule without DTSTART at 2020-01-01T00:00:00
	if len(lines) == 1 && (!strings.Contains(s, ":") || strings.HasPrefix(s, "RRULE:")) {
		return checkRuleLine(lines[0], anchor)
	}
	var rules []string
	start, others := anchor, 0
	for _, line := range lines {
		name, value := "RRULE", line
		if i := strings.Index(line, ":"); i >= 0 {
			name, value = line[:i], line[i+1:]
		}
		parms := strings.Split(name, ";")
		name, parms = parms[0], parms[1:]
		switch name {
		case "RRULE", "EXRULE":
			if len(parms) > 0 {
				return fmt.Errorf("has %s;%s; %s takes no parameters", name, parms[0], name)
			}
			rules = append(rules, value)
			if name == "EXRULE" {
				others++
			}
		case "RDATE":
			for _, p := range parms {
				if p != "VALUE=DATE-TIME" {
					return fmt.Errorf("has RDATE;%s; RDATE takes only VALUE=DATE-TIME", p)
				}
			}
			for _, d := range strings.Split(value, ",") {
				if _, err := rruleDate(d); err != nil {
					return fmt.Errorf("RDATE: %v", err)
				}
			}
			others++
		case "EXDATE", "DTSTART":
			dates, err := rruleDateValue(value, parms, tzids)
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			if name == "EXDATE" {
				others++
			} else if len(dates) != 1 {
				return fmt.Errorf("has %d DTSTART values; give one", len(dates))
			} else {
				start = dates[0]
			}
		default:
			return fmt.Errorf("has the property %s (allowed: DTSTART, RRULE, RDATE, EXRULE, EXDATE)", Quote(name))
		}
	}
	if len(rules) == 0 && others == 0 {
		return fmt.Errorf("has no RRULE or RDATE line")
	}
	for _, r := range rules {
		if err := checkRuleLine(r, start); err != nil {
			return err
		}
	}
	return nil
}

// checkRuleLine checks one RRULE value, as dateutil's _parse_rfc_rrule and the rrule
// constructor do, plus the RFC ranges.
func checkRuleLine(line string, start rruleStart) error {
	value := line
	if strings.Contains(line, ":") {
		parts := strings.Split(line, ":")
		if len(parts) != 2 || parts[0] != "RRULE" {
			return fmt.Errorf("has %s; a rule is RRULE:NAME=VALUE;… or NAME=VALUE;… without other colons", Quote(line))
		}
		value = parts[1]
	}
	freq, interval := -1, 1
	lists := map[string][]int{}
	var until *rruleStart
	for _, pair := range strings.Split(value, ";") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 {
			return fmt.Errorf("has the part %s; each part is NAME=VALUE, separated by ; without a trailing ;", Quote(pair))
		}
		name, v := kv[0], kv[1]
		bad := func(want string) error { return fmt.Errorf("has %s=%s; %s", name, v, want) }
		switch name {
		case "FREQ":
			f, ok := rruleFreqs[v]
			if !ok {
				return bad("FREQ is one of YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY")
			}
			freq = f
		case "INTERVAL":
			n, ok := pyInt(v)
			if !ok || n < 1 {
				return bad("INTERVAL is a positive integer (Prefect's scheduler never finishes with 0)")
			}
			interval = n
		case "COUNT":
			if _, ok := pyInt(v); !ok {
				return bad("COUNT is an integer")
			}
		case "UNTIL":
			d, err := rruleDate(v)
			if err != nil {
				return fmt.Errorf("UNTIL: %v", err)
			}
			until = &d
		case "WKST":
			if !rruleWeekdays[v] {
				return bad("WKST is one of MO, TU, WE, TH, FR, SA, SU")
			}
		case "BYDAY", "BYWEEKDAY":
			if err := checkByDay(v); err != nil {
				return bad(err.Error())
			}
		case "BYEASTER":
			for _, x := range strings.Split(v, ",") {
				if _, ok := pyInt(x); !ok {
					return bad("BYEASTER is a comma-separated list of integers")
				}
			}
		default:
			r, ok := rruleInts[name]
			if !ok {
				return fmt.Errorf("has the part %s (allowed: %s)", Quote(name), rruleParts)
			}
			var xs []int
			for _, x := range strings.Split(v, ",") {
				n, ok := pyInt(x)
				if !ok || !(n >= r.lo && n <= r.hi || r.allowNeg && n <= -r.lo && n >= -r.hi) {
					want := fmt.Sprintf("%s is a comma-separated list of integers %d to %d", name, r.lo, r.hi)
					if r.allowNeg {
						want += fmt.Sprintf(" or -%d to -%d", r.hi, r.lo)
					}
					return bad(want)
				}
				xs = append(xs, n)
			}
			lists[name] = xs
		}
	}
	if freq < 0 {
		return fmt.Errorf("has no FREQ=; add one of FREQ=YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY")
	}
	if until != nil && until.aware != start.aware {
		if until.aware {
			return fmt.Errorf("has UNTIL in UTC but a DTSTART without a time zone (Prefect starts a rule without DTSTART at a local 2020-01-01T00:00:00); give DTSTART in UTC (…Z) or write UNTIL without Z")
		}
		return fmt.Errorf("has a DTSTART with a time zone, so UNTIL must be in UTC (end it with Z)")
	}
	// dateutil's rrule refuses a BYHOUR (HOURLY), BYMINUTE (MINUTELY) or BYSECOND
	// (SECONDLY) list that no step of INTERVAL from DTSTART reaches.
	for _, r := range []struct {
		freq       int
		name       string
		from, base int
	}{{freqHourly, "BYHOUR", start.hour, 24}, {freqMinutely, "BYMINUTE", start.minute, 60}, {freqSecondly, "BYSECOND", start.second, 60}} {
		xs, ok := lists[r.name]
		if freq != r.freq || !ok {
			continue
		}
		g := gcd(interval, r.base)
		reachable := false
		for _, x := range xs {
			if g == 1 || ((x-r.from)%g+g)%g == 0 {
				reachable = true
			}
		}
		if !reachable {
			return fmt.Errorf("has %s values that INTERVAL=%d never reaches from DTSTART (%02d:%02d:%02d)", r.name, interval, start.hour, start.minute, start.second)
		}
	}
	return nil
}

// checkByDay checks a BYDAY list as dateutil reads it: MO, +1MO, -1FR or MO(+1); the
// ordinal may not be 0.
func checkByDay(v string) error {
	const want = "BYDAY is a comma-separated list of MO, TU, WE, TH, FR, SA, SU, each optionally with a non-zero ordinal such as 1MO or -1FR"
	for _, wday := range strings.Split(v, ",") {
		var w, n string
		switch {
		case strings.Contains(wday, "("):
			parts := strings.Split(wday, "(")
			w = parts[0]
			if len(parts[1]) == 0 {
				return fmt.Errorf("%s", want)
			}
			n = parts[1][:len(parts[1])-1]
			if _, ok := pyInt(n); !ok {
				return fmt.Errorf("%s", want)
			}
		case wday == "":
			return fmt.Errorf("%s", want)
		default:
			i := 0
			for i < len(wday)-1 && strings.IndexByte(byDayPrefix, wday[i]) >= 0 {
				i++
			}
			n, w = wday[:i], wday[i:]
			if n != "" {
				if _, ok := pyInt(n); !ok {
					return fmt.Errorf("%s", want)
				}
			}
		}
		if k, _ := pyInt(n); n != "" && k == 0 || !rruleWeekdays[w] {
			return fmt.Errorf("%s", want)
		}
	}
	return nil
}

// rruleDateValue reads a DTSTART or EXDATE value with its parameters (TZID=, VALUE=).
func rruleDateValue(value string, parms []string, tzids map[string]string) ([]rruleStart, error) {
	zoned, valueSeen := false, false
	for _, p := range parms {
		if strings.HasPrefix(p, "TZID=") {
			i := strings.LastIndex(p, "TZID=")
			if name, ok := tzids[p[i+len("TZID="):]]; ok {
				if _, err := time.LoadLocation(name); err == nil {
					zoned = true
				}
			}
			continue
		}
		if p != "VALUE=DATE-TIME" && p != "VALUE=DATE" {
			return nil, fmt.Errorf("has the parameter %s (allowed: TZID=, VALUE=DATE-TIME, VALUE=DATE)", Quote(p))
		}
		if valueSeen {
			return nil, fmt.Errorf("has VALUE= twice")
		}
		valueSeen = true
	}
	var out []rruleStart
	for _, d := range strings.Split(value, ",") {
		date, err := rruleDate(d)
		if err != nil {
			return nil, err
		}
		if zoned {
			if date.aware {
				return nil, fmt.Errorf("%s has both a TZID and a UTC offset", Quote(d))
			}
			date.aware = true
		}
		out = append(out, date)
	}
	return out, nil
}

// rruleDate reads a date or date-time: 20260101, 20260101T090000, 20260101T090000Z,
// 2026-01-01, 2026-01-01T09:00[:00] with an optional Z or ±hh:mm.
func rruleDate(s string) (rruleStart, error) {
	var date, clock, zone string
	if m := rfcDateRE.FindStringSubmatch(s); m != nil {
		date = m[1][:4] + "-" + m[1][4:6] + "-" + m[1][6:]
		if m[2] != "" {
			clock = m[2][:2] + ":" + m[2][2:4] + ":" + m[2][4:]
		}
		zone = m[3]
	} else if m := isoDateRE.FindStringSubmatch(s); m != nil {
		date, clock, zone = m[1], m[2], m[3]
		if len(clock) == 5 {
			clock += ":00"
		}
	} else {
		return rruleStart{}, fmt.Errorf("%s is not a date-time such as 20260101T090000, 20260101T090000Z or 2026-01-01", Quote(s))
	}
	if clock == "" {
		clock = "00:00:00"
	}
	t, err := time.Parse("2006-01-02 15:04:05", date+" "+clock)
	if err != nil {
		return rruleStart{}, fmt.Errorf("%s is not a real date-time", Quote(s))
	}
	return rruleStart{hour: t.Hour(), minute: t.Minute(), second: t.Second(), aware: zone != ""}, nil
}

// pyInt reads an integer the way Python's int() reads ASCII text.
func pyInt(s string) (int, bool) {
	if !pyIntRE.MatchString(s) {
		return 0, false
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil { // beyond int: out of every range, but an integer
		if strings.HasPrefix(s, "-") {
			return math.MinInt, true
		}
		return math.MaxInt, true
	}
	return n, true
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
