package contract

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// The cron rules below follow croniter as vendored by Prefect 3.9.1
// (prefect/_vendor/croniter) and Prefect's validate_cron_string, field by field, with two
// deliberate differences: only the 5-field form is accepted (croniter reads a 6th field
// as seconds and a 7th as the year, so an EventBridge or Quartz string fires every second
// of a minute), and random (R) expressions are refused in every form.

// Cron field indexes in the 5-field form.
const (
	cronMinute = iota
	cronHour
	cronDayOfMonth
	cronMonth
	cronDayOfWeek
)

// cronField describes one field: its name, its range and its words (lower case).
type cronField struct {
	name     string
	min, max int
	words    map[string]int
	allowed  string
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59, allowed: "0-59"},
	{name: "hour", min: 0, max: 23, allowed: "0-23"},
	{name: "day-of-month", min: 1, max: 31, allowed: "1-31, L or ?"},
	{name: "month", min: 1, max: 12, allowed: "1-12 or JAN-DEC",
		words: map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{name: "day-of-week", min: 0, max: 6, allowed: "0-7 or SUN-SAT, d#n (n-th weekday d, n 1-5), Ld (last weekday d) or ?",
		words: map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

// cronMacros are croniter's aliases for whole expressions (matched in any case).
var cronMacros = map[string]bool{"@midnight": true, "@hourly": true, "@daily": true, "@weekly": true, "@monthly": true, "@yearly": true, "@annually": true}

const (
	cronWeekdays = "sun|mon|tue|wed|thu|fri|sat"
	cronMonths   = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
	// cronStar stands for * among a field's values.
	cronStar = -1
	// cronLast stands for L among the day-of-month values.
	cronLast = -2
)

var (
	cronHashRE    = regexp.MustCompile(`^([hr])(\((\d+)-(\d+)\))?(/(\d+))?$`)
	cronSpecialRE = regexp.MustCompile(`^(?:((?:` + cronWeekdays + `)(?:-(?:` + cronWeekdays + `))?|(?:` + cronMonths + `)(?:-(?:` + cronMonths + `))?|\w+)#|l)(\d+)$`)
	cronStarStep  = regexp.MustCompile(`^\*(/.+)$`)
	cronStepRE    = regexp.MustCompile(`^([^-]+)-([^-/]+)(/(\d+))?$`)
	cronSlashRE   = regexp.MustCompile(`^(.+)/(.+)$`)
	cronIntRE     = regexp.MustCompile(`^[0-9]+$`)
)

// cronShape is the part of every cron message that says what is allowed.
const cronShape = `5 fields "minute hour day-of-month month day-of-week" (e.g. "0 6 * * *") or one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually`

// CheckCron reports why expr is not a cron string Prefect's scheduler reads as meant:
// not 5 fields or a macro (6 and 7 fields are refused because Prefect reads them as
// seconds and year), a value outside its field's range or words, a malformed range, step
// or list, ? outside the day fields, H (hashed) or R (random) expressions, or literal
// weekdays mixed with d#n in the day-of-week field.
func CheckCron(expr string) error {
	lower := strings.ToLower(expr)
	if cronMacros[lower] {
		return nil
	}
	fields := pyFields(lower)
	switch len(fields) {
	case 5:
	case 6, 7:
		return fmt.Errorf("cron %s has %d fields: Prefect reads the 6th field as seconds (and a 7th as the year), so an EventBridge or Quartz style string such as \"0 6 * * ? *\" fires every second for a minute; use %s", Quote(expr), len(fields), cronShape)
	default:
		return fmt.Errorf("cron %s has %d fields; use %s", Quote(expr), len(fields), cronShape)
	}
	var dow cronValues
	for i, f := range fields {
		vals, err := cronFieldValues(i, f)
		if err != nil {
			return fmt.Errorf("cron %s: %s %s %v (allowed: %s)", Quote(expr), cronFields[i].name, Quote(f), err, cronFields[i].allowed)
		}
		if i == cronDayOfWeek {
			dow = vals
		}
	}
	if err := dow.checkNth(strings.Contains(fields[cronDayOfMonth], "*")); err != nil {
		return fmt.Errorf("cron %s: day-of-week %s %v", Quote(expr), Quote(fields[cronDayOfWeek]), err)
	}
	return nil
}

// cronValues are the values of one field, with the n-th weekday marks of day-of-week.
type cronValues struct {
	all map[int]bool
	nth map[int]bool
}

func (v *cronValues) add(x int, nth bool) {
	v.all[x] = true
	if nth {
		v.nth[x] = true
	}
}

// checkNth is croniter's rule that d#n and Ld do not mix with plain weekdays unless the
// field names every weekday.
func (v cronValues) checkNth(domStar bool) error {
	if len(v.nth) == 0 {
		return nil
	}
	all := v.all
	if len(all) == 7 && domStar {
		all = map[int]bool{cronStar: true}
	}
	for x := range all {
		if x != cronStar && !v.nth[x] && len(all) != 7 {
			return fmt.Errorf("mixes plain weekdays with d#n or Ld, which croniter does not support")
		}
	}
	return nil
}

// cronFieldValues expands one field the way croniter's _expand does, reporting the first
// problem.
func cronFieldValues(i int, f string) (cronValues, error) {
	vals := cronValues{all: map[int]bool{}, nth: map[int]bool{}}
	if m := cronHashRE.FindStringSubmatch(f); m != nil {
		if m[1] == "h" {
			return vals, fmt.Errorf("is a hashed (H) expression, which Prefect does not support")
		}
		return vals, fmt.Errorf("is a random (R) expression; its runs would move at random")
	}
	if strings.Contains(f, "?") {
		if f != "?" {
			return vals, fmt.Errorf("mixes ? with other characters")
		}
		if i != cronDayOfMonth && i != cronDayOfWeek {
			return vals, fmt.Errorf("is ?, which only day-of-month and day-of-week allow")
		}
		f = "*"
	}
	for _, e := range strings.Split(f, ",") {
		if err := cronElement(i, e, &vals); err != nil {
			return vals, err
		}
	}
	return vals, nil
}

// cronElement adds the values of one list element (a value, a range or a step).
func cronElement(i int, e string, vals *cronValues) error {
	spec := cronFields[i]
	nth := false
	if i == cronDayOfWeek {
		if m := cronSpecialRE.FindStringSubmatch(e); m != nil {
			nth = true
			if m[1] != "" {
				n, err := strconv.Atoi(m[2])
				if err != nil || n < 1 || n > 5 {
					return fmt.Errorf("has #%s; the n of d#n is 1-5", m[2])
				}
				e = m[1]
			} else {
				e = m[2]
			}
		}
	}
	t := e
	if m := cronStarStep.FindStringSubmatch(e); m != nil {
		t = fmt.Sprintf("%d-%d%s", spec.min, spec.max, m[1])
	}
	m := cronStepRE.FindStringSubmatch(t)
	if m == nil {
		if s := cronSlashRE.FindStringSubmatch(e); s != nil {
			t = fmt.Sprintf("%s-%d/%s", s[1], spec.max, s[2])
			m = cronStepRE.FindStringSubmatch(t)
		}
	}
	if m == nil {
		if strings.HasPrefix(t, "-") {
			return fmt.Errorf("has a negative number")
		}
		v, err := cronValue(i, t)
		if err != nil {
			return err
		}
		if v != cronStar && v != cronLast && (v < spec.min || v > spec.max) {
			return fmt.Errorf("has %s, out of range", Quote(t))
		}
		vals.add(v, nth)
		return nil
	}
	lowS, highS, stepS := m[1], m[2], m[4]
	if i == cronDayOfMonth && highS == "l" {
		highS = "31"
	}
	low, err := cronBand(i, lowS)
	if err != nil {
		return err
	}
	high, err := cronBand(i, highS)
	if err != nil {
		return err
	}
	step := 1
	if stepS != "" {
		if step, err = strconv.Atoi(stepS); err != nil {
			step = spec.max + 1 // a step beyond the range: only its start
		}
	}
	if max(low, high) > spec.max {
		return fmt.Errorf("has %s-%s, out of range", lowS, highS)
	}
	if step == 0 {
		return fmt.Errorf("has a step of 0")
	}
	for _, v := range cronRange(spec, low, high, step) {
		if v < spec.min {
			return fmt.Errorf("has %d, out of range", v)
		}
		vals.add(v, nth)
	}
	return nil
}

// cronBand reads one end of a range: digits or a word of the field (L has no place here).
func cronBand(i int, s string) (int, error) {
	if !cronIntRE.MatchString(s) {
		v, err := cronValue(i, s)
		if err != nil {
			return 0, err
		}
		if v < 0 {
			return 0, fmt.Errorf("has %s in a range", Quote(s))
		}
		return v, nil
	}
	return cronValue(i, s)
}

// cronValue reads a single value: *, digits, or a word of the field; 7 is Sunday.
func cronValue(i int, s string) (int, error) {
	switch {
	case s == "*":
		return cronStar, nil
	case i == cronDayOfMonth && s == "l":
		return cronLast, nil
	case cronIntRE.MatchString(s):
		v, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("has %s, out of range", Quote(s))
		}
		if i == cronDayOfWeek && v == 7 {
			v = 0
		}
		return v, nil
	}
	if v, ok := cronFields[i].words[s]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("has %s, which is not a value of this field", Quote(s))
}

// cronRange lists low-high/step as croniter does: low == high is the whole field, and
// low > high wraps around the field's end.
func cronRange(spec cronField, low, high, step int) []int {
	var out []int
	switch {
	case low == high:
		for v := spec.min; v <= spec.max; v += step {
			out = append(out, v)
		}
	case low > high:
		for v := low; v <= spec.max; v += step {
			out = append(out, v)
		}
		skip := 0
		if len(out) > 0 {
			last := out[len(out)-1]
			size := spec.max - spec.min + 1
			alreadySkipped := spec.max - last
			if last-spec.min+step > size && alreadySkipped < step {
				skip = step - alreadySkipped
			}
		}
		for v := spec.min + skip; v <= high; v += step {
			out = append(out, v)
		}
	default:
		for v := low; v <= high; v += step {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

// pyFields splits s at whitespace as Python's str.split() does.
func pyFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}
