package prefectyaml_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectpy"
)

// scheduleCase is one schedule as prefect.yaml writes it, with our verdict. stricter is
// set where Prefect 3.9.1 accepts the schedule and we refuse it on purpose; it says why.
type scheduleCase struct {
	schedule map[string]any
	ok       bool
	stricter string
}

const (
	seconds  = "Prefect reads a 6th field as seconds: fires every second of a minute"
	random   = "R expressions move the runs at random"
	ascii    = "non-ASCII digits"
	emptyTZ  = "an empty time zone is a mistake"
	never    = "the rule never fires (value outside its RFC 5545 range)"
	endless  = "Prefect's scheduler never finishes with INTERVAL=0"
	sixFive  = "croniter's 7-field form: seconds and year"
	rdateMax = contract.MaxRRuleLength
)

func cron(expr string) map[string]any  { return map[string]any{"cron": expr} }
func rrule(rule string) map[string]any { return map[string]any{"rrule": rule} }

// longRDates is an rrule of RDATE values n characters long or a little less.
func longRDates(n int) string {
	s := "RDATE:20260101T090000"
	for len(s)+len(",20260101T090000") <= n {
		s += ",20260101T090000"
	}
	return s
}

// cronCases and rruleCases cover every schedule form Prefect accepts and the mistakes a
// user makes; TestScheduleTableMatchesPrefect asks the pinned Prefect for each verdict.
var cronCases = []scheduleCase{
	{cron("0 6 * * *"), true, ""},
	{cron("*/15 * * * *"), true, ""},
	{cron("5/10 * * * *"), true, ""},
	{cron("0 9-17 * * MON-FRI"), true, ""},
	{cron("0 12 * * 1-5/2"), true, ""},
	{cron("0 0 1 * *"), true, ""},
	{cron("0 0 */2 * *"), true, ""},
	{cron("0 0 L * *"), true, ""},
	{cron("0 0 1-L/2 * *"), true, ""},
	{cron("30 2 * * 0"), true, ""},
	{cron("30 2 * * 7"), true, ""},
	{cron("0 0 * * 0-7"), true, ""},
	{cron("0 0 * * sun"), true, ""},
	{cron("0 0 * * fri-mon"), true, ""},
	{cron("0 22-2 * * *"), true, ""},
	{cron("0 0 * JAN,JUL *"), true, ""},
	{cron("0 0 1 jan-mar *"), true, ""},
	{cron("0 0 * dec-feb *"), true, ""},
	{cron("0 0 * jan/3 *"), true, ""},
	{cron("0 0 * * mon/2"), true, ""},
	{cron("0 0 * * MON#2"), true, ""},
	{cron("0 0 * * 5#5"), true, ""},
	{cron("0 0 * * mon#2,mon#4"), true, ""},
	{cron("0 0 * * mon-fri#1"), true, ""},
	{cron("0 0 * * L5"), true, ""},
	{cron("0 0 ? * MON"), true, ""},
	{cron("0 0 1 * ?"), true, ""},
	{cron("00 06 * * *"), true, ""},
	{cron("5 4 * * MON,TUE"), true, ""},
	{cron("0 0 0-0 * *"), true, ""},
	{cron("0 0 5-0 * *"), true, ""},
	{cron("@daily"), true, ""},
	{cron("@HOURLY"), true, ""},
	{cron("@midnight"), true, ""},
	{cron("@weekly"), true, ""},
	{cron("@monthly"), true, ""},
	{cron("@yearly"), true, ""},
	{cron("@annually"), true, ""},
	{map[string]any{"cron": "0 6 * * *", "day_or": false, "timezone": "Europe/Berlin"}, true, ""},
	{map[string]any{"cron": "0 6 1 * MON", "day_or": true, "timezone": "America/New_York"}, true, ""},
	{cron("0 6 * * ? *"), false, seconds},
	{cron("0 0 6 * * *"), false, seconds},
	{cron("0 0 6 * * 0 2026"), false, sixFive},
	{cron("0 0 6 * * ? 2026"), false, ""},
	{cron("R/5 6 * * *"), false, random},
	{cron("R 6 * * *"), false, ""},
	{cron("H 6 * * *"), false, ""},
	{cron("h(0-29) 6 * * *"), false, ""},
	{cron("٥ 6 * * *"), false, ascii},
	{cron("99 25 * * *"), false, ""},
	{cron("0 6 * * MON-FOO"), false, ""},
	{cron("60 * * * *"), false, ""},
	{cron("* 24 * * *"), false, ""},
	{cron("0 0 0 * *"), false, ""},
	{cron("0 0 0-5 * *"), false, ""},
	{cron("0 0 32 * *"), false, ""},
	{cron("0 0 * 13 *"), false, ""},
	{cron("0 0 * 0 *"), false, ""},
	{cron("0 0 * * 8"), false, ""},
	{cron("0 0 * * 1-8"), false, ""},
	{cron("0 0 15W * *"), false, ""},
	{cron("0 0 * * 5L"), false, ""},
	{cron("0 0 * * L"), false, ""},
	{cron("0 0 L-5 * *"), false, ""},
	{cron("0 0 * * mon#6"), false, ""},
	{cron("0 0 * * mon#0"), false, ""},
	{cron("0 0 * * mon#2,fri"), false, ""},
	{cron("*/0 * * * *"), false, ""},
	{cron("0 ? * * *"), false, ""},
	{cron("0 0 ?,1 * *"), false, ""},
	{cron("-5 * * * *"), false, ""},
	{cron("1-5-7 * * * *"), false, ""},
	{cron("1,,2 * * * *"), false, ""},
	{cron("0 0 * foo *"), false, ""},
	{cron("0 0 * mon *"), false, ""},
	{cron("0 0 * * jan"), false, ""},
	{cron("0 0 * * mon-"), false, ""},
	{cron("*-5 * * * *"), false, ""},
	{cron("0 6 * *"), false, ""},
	{cron("0 0 * * * * * *"), false, ""},
	{cron(""), false, ""},
	{cron("@reboot"), false, ""},
	{map[string]any{"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, false, ""},
	{map[string]any{"cron": "0 6 * * *", "timezone": ""}, false, emptyTZ},
}

var rruleCases = []scheduleCase{
	{rrule("FREQ=DAILY"), true, ""},
	{rrule("freq=daily"), true, ""},
	{rrule("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR"), true, ""},
	{rrule("FREQ=WEEKLY;BYDAY=MO"), true, ""},
	{rrule("FREQ=MONTHLY;BYDAY=1MO"), true, ""},
	{rrule("FREQ=MONTHLY;BYDAY=-1FR"), true, ""},
	{rrule("FREQ=MONTHLY;BYDAY=MO(+1)"), true, ""},
	{rrule("FREQ=MONTHLY;BYMONTHDAY=-1"), true, ""},
	{rrule("FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1"), true, ""},
	{rrule("FREQ=HOURLY;INTERVAL=6"), true, ""},
	{rrule("FREQ=MINUTELY;INTERVAL=15"), true, ""},
	{rrule("FREQ=SECONDLY;INTERVAL=30"), true, ""},
	{rrule("FREQ=DAILY;COUNT=10"), true, ""},
	{rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=30"), true, ""},
	{rrule("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"), true, ""},
	{rrule("FREQ=WEEKLY;WKST=SU;BYDAY=SA"), true, ""},
	{rrule("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"), true, ""},
	{rrule("FREQ=YEARLY;BYYEARDAY=1,-1"), true, ""},
	{rrule("FREQ=YEARLY;BYEASTER=0"), true, ""},
	{rrule("FREQ=DAILY;UNTIL=20301231"), true, ""},
	{rrule("FREQ=DAILY;UNTIL=20301231T000000"), true, ""},
	{rrule("FREQ=DAILY;COUNT=3;UNTIL=20301231"), true, ""},
	{rrule("DTSTART:20260101T090000\nRRULE:FREQ=DAILY"), true, ""},
	{rrule("DTSTART:2026-01-01T09:00:00\nRRULE:FREQ=DAILY"), true, ""},
	{rrule("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20301231T000000Z"), true, ""},
	{rrule("DTSTART;TZID=Europe/Berlin:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20301231T000000Z"), true, ""},
	{rrule("DTSTART:20260101T090000\nRRULE:FREQ=DAILY\nEXDATE:20260105T090000"), true, ""},
	{rrule("DTSTART:20260101T090000\nRRULE:FREQ=HOURLY;INTERVAL=2;BYHOUR=9,11"), true, ""},
	{rrule("RDATE:20260101T090000,20260201T090000"), true, ""},
	{rrule("RDATE;VALUE=DATE-TIME:20260101T090000"), true, ""},
	{rrule("RRULE:FREQ=WEEKLY;BYDAY=MO\nRRULE:FREQ=WEEKLY;BYDAY=FR"), true, ""},
	{rrule("RRULE:FREQ=DAILY\nEXRULE:FREQ=WEEKLY;BYDAY=SA,SU"), true, ""},
	{rrule(longRDates(rdateMax)), true, ""},
	{map[string]any{"rrule": "FREQ=DAILY", "timezone": "America/New_York"}, true, ""},
	{rrule("FREQ=SOMETIMES"), false, ""},
	{rrule("every day"), false, ""},
	{rrule(""), false, ""},
	{rrule("FREQ=DAILY;"), false, ""},
	{rrule("INTERVAL=2"), false, ""},
	{rrule("FREQ=DAILY;FOO=1"), false, ""},
	{rrule("FREQ=DAILY;COUNT=x"), false, ""},
	{rrule("FREQ=DAILY;INTERVAL=0"), false, endless},
	{rrule("FREQ=DAILY;BYHOUR=25"), false, ""},
	{rrule("FREQ=HOURLY;BYHOUR=25"), false, never},
	{rrule("FREQ=MONTHLY;BYMONTH=13"), false, never},
	{rrule("FREQ=MONTHLY;BYDAY=0MO"), false, ""},
	{rrule("FREQ=WEEKLY;BYDAY=XX"), false, ""},
	{rrule("FREQ=WEEKLY;WKST=XX"), false, ""},
	{rrule("FREQ=DAILY;BYSETPOS=0"), false, ""},
	{rrule("FREQ=DAILY;BYSETPOS=400"), false, ""},
	{rrule("FREQ=DAILY;UNTIL=20301231T000000Z"), false, ""},
	{rrule("DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20301231T000000Z"), false, ""},
	{rrule("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20301231T000000"), false, ""},
	{rrule("DTSTART:20260101T090000\nRRULE:FREQ=HOURLY;INTERVAL=2;BYHOUR=10"), false, ""},
	{rrule("DTSTART:20260101T090000"), false, ""},
	{rrule("DTSTART:20260101T090000,20260102T090000\nRRULE:FREQ=DAILY"), false, ""},
	{rrule("FREQ=DAILY;UNTIL=Jan 1 2030"), false, ""},
	{rrule("FREQ=DAILY;UNTIL=2030-01-01T00:00:00"), false, ""},
	{rrule("FREQ=DAILY;UNTIL=20300231"), false, ""},
	{rrule("VEVENT:FREQ=DAILY"), false, ""},
	{rrule("RRULE;X=1:FREQ=DAILY"), false, ""},
	{rrule(longRDates(rdateMax + 20)), false, ""},
	{map[string]any{"rrule": "FREQ=DAILY", "timezone": "Mars/Olympus"}, false, ""},
	{map[string]any{"rrule": "FREQ=DAILY", "timezone": ""}, false, ""},
}

var intervalCases = []scheduleCase{
	{map[string]any{"interval": 3600}, true, ""},
	{map[string]any{"interval": 86400, "anchor_date": "2026-01-01T09:00:00Z", "timezone": "Europe/Berlin"}, true, ""},
	{map[string]any{"interval": 0}, false, ""},
	{map[string]any{"interval": -1}, false, ""},
	{map[string]any{"interval": 60, "timezone": "Mars/Olympus"}, false, ""},
}

func scheduleTable() []scheduleCase {
	return append(append(append([]scheduleCase{}, cronCases...), rruleCases...), intervalCases...)
}

// checkScheduleVerdict runs one flat prefect.yaml schedule through synth (prefect.yaml's
// parser) and, split into the API's shape (active, parameters and slug beside the
// schedule), through the function's handler, and requires verdict ok from both.
func checkScheduleVerdict(t *testing.T, schedule map[string]any, ok bool) {
	t.Helper()
	wire := map[string]any{}
	inner := map[string]any{}
	for k, v := range schedule {
		switch k {
		case "active", "parameters", "slug":
			wire[k] = v
		default:
			inner[k] = v
		}
	}
	wire["schedule"] = inner
	label := mustJSON(t, schedule)
	if len(label) > 120 {
		label = label[:120] + "…"
	}
	synth := parseEntry(map[string]any{"name": "d", "schedules": []any{schedule}})
	sameVerdict(t, "schedule "+label, ok, synth,
		functionVerdict(t, contract.DeploymentType, deploymentProps("d", "ecs-flow", mustJSON(t, []any{wire}))))
	if synth != nil && strings.Contains(synth.Error(), "\n") {
		t.Errorf("schedule %s: the message is not one line: %q", label, synth)
	}
}

// TestScheduleTableVerdicts: every cron, rrule and interval case gets the same verdict at
// synth and in the function.
func TestScheduleTableVerdicts(t *testing.T) {
	if len(cronCases) < 40 || len(rruleCases) < 25 {
		t.Fatalf("the table holds %d cron and %d rrule cases; keep at least 40 and 25", len(cronCases), len(rruleCases))
	}
	for _, c := range scheduleTable() {
		checkScheduleVerdict(t, c.schedule, c.ok)
	}
}

// TestScheduleTableMatchesPrefect asks the pinned Prefect for each case's verdict: the
// client's and the server's CronSchedule, RRuleSchedule and IntervalSchedule must accept
// it, and an rrule must also turn into the dateutil rule Prefect's scheduler expands
// (RRuleSchedule.to_rrule). Ours must agree, except where a case says why we are stricter;
// there Prefect must still accept, so a change in Prefect shows here.
func TestScheduleTableMatchesPrefect(t *testing.T) {
	py := prefectpy.Python(t)
	cases := scheduleTable()
	var schedules []map[string]any
	for _, c := range cases {
		schedules = append(schedules, c.schedule)
	}
	script := `import warnings
warnings.simplefilter("ignore")
from prefect.client.schemas import schedules as client
from prefect.server.schemas import schedules as server
refused = Exception
def check(d):
    kind = "CronSchedule" if "cron" in d else "RRuleSchedule" if "rrule" in d else "IntervalSchedule"
    for module in (client, server):
        s = getattr(module, kind)(**d)
        if kind == "RRuleSchedule":
            s.to_rrule()`
	verdicts := prefectVerdicts(t, py, script, schedules)
	for i, c := range cases {
		label := mustJSON(t, c.schedule)
		switch {
		case c.stricter != "" && !verdicts[i]:
			t.Errorf("%s: marked stricter than Prefect (%s), but Prefect refuses it too", label, c.stricter)
		case c.stricter != "" && c.ok:
			t.Errorf("%s: marked stricter than Prefect, yet we accept it", label)
		case c.stricter == "" && verdicts[i] != c.ok:
			t.Errorf("%s: Prefect says ok=%v, we say ok=%v", label, verdicts[i], c.ok)
		}
	}
}

// verdictLoop follows a prefectVerdicts script: it reads the inputs as JSON from stdin and
// prints, as its last line, one JSON list of booleans: false where check raised refused.
const verdictLoop = `
out = []
for x in json.load(sys.stdin):
    try:
        check(x)
        out.append(True)
    except refused:
        out.append(False)
print(json.dumps(out))`

// prefectVerdicts runs a Python script under the pinned Prefect on each of inputs, and
// reports which it accepts. The script defines check(x), which raises refused (an
// exception class it names) when Prefect refuses x; json and sys are imported for it.
func prefectVerdicts[T any](t *testing.T, py, script string, inputs []T) []bool {
	t.Helper()
	cmd := exec.Command(py, "-c", "import json, sys\n"+script+"\n"+verdictLoop)
	cmd.Stdin = strings.NewReader(mustJSON(t, inputs))
	cmd.Env = append(os.Environ(), "PREFECT_HOME="+t.TempDir(), "PREFECT_SERVER_ANALYTICS_ENABLED=false")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("prefect's validator: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var verdicts []bool
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &verdicts); err != nil || len(verdicts) != len(inputs) {
		t.Fatalf("prefect printed %q: %v", out, err)
	}
	return verdicts
}
