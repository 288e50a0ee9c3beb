package contract

import (
	"strings"
	"testing"
)

// TestScheduleMessages: the mistakes each get one line that names the value, the
// field or part, and what is allowed.
func TestScheduleMessages(t *testing.T) {
	cases := []struct {
		err  error
		want []string
	}{
		{CheckCron("0 6 * * ? *"), []string{`cron "0 6 * * ? *" has 6 fields`, "6th field as seconds", "every second"}},
		{CheckCron("99 25 * * *"), []string{`minute "99" has "99", out of range (allowed: 0-59)`}},
		{CheckCron("H 6 * * *"), []string{`minute "h"`, "hashed (H)"}},
		{CheckCron("0 6 * * MON-FOO"), []string{`day-of-week "mon-foo" has "foo", which is not a value of this field`, "SUN-SAT"}},
		{CheckCron("R/5 * * * *"), []string{"random (R)"}},
		{CheckRRule("FREQ=SOMETIMES"), []string{`rrule "FREQ=SOMETIMES" has FREQ=SOMETIMES; FREQ is one of YEARLY`}},
		{CheckRRule("FREQ=DAILY;INTERVAL=0"), []string{"INTERVAL is a positive integer"}},
		{CheckRRule("FREQ=DAILY;UNTIL=20301231T000000Z"), []string{"UNTIL in UTC", "DTSTART"}},
		{CheckRRule("DTSTART:20260101T090000\nRRULE:FREQ=DALY"), []string{`rrule "DTSTART:20260101T090000\nRRULE:FREQ=DALY" has FREQ=DALY`}},
		{CheckRRule(strings.Repeat("A", MaxRRuleLength+1)), []string{"has 6501 characters; Prefect allows at most 6500"}},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("want an error containing %q, got none", c.want)
			continue
		}
		msg := c.err.Error()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s\n  want it to contain %q", msg, w)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%q is not one line", msg)
		}
	}
	for _, ok := range []string{"0 6 * * *", "@daily", "0 0 * * mon#2"} {
		if err := CheckCron(ok); err != nil {
			t.Errorf("CheckCron(%q): %v", ok, err)
		}
	}
	for _, ok := range []string{"FREQ=WEEKLY;BYDAY=MO", "RDATE:20260101T090000"} {
		if err := CheckRRule(ok); err != nil {
			t.Errorf("CheckRRule(%q): %v", ok, err)
		}
	}
}
