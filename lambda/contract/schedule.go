package contract

import (
	"errors"
	"fmt"
	"math"
	"time"
	_ "time/tzdata" // time zones validate the same at synth and in the function
)

// DeploymentSchedule is one entry of a deployment's schedules in the shape of Prefect's
// DeploymentScheduleCreate. Its JSON is the Schedules property item and the API body item;
// fields are in key order, so the encoding is stable.
type DeploymentSchedule struct {
	// Active is true when nil (the function sends true).
	Active     *bool          `json:"active,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Schedule   Schedule       `json:"schedule"`
	Slug       *string        `json:"slug,omitempty"`
}

// Schedule is the union of Prefect's cron, interval and rrule schedules: exactly one of
// Cron, Interval and RRule is set, and each kind forbids the others' fields.
type Schedule struct {
	AnchorDate *string  `json:"anchor_date,omitempty"`
	Cron       *string  `json:"cron,omitempty"`
	DayOr      *bool    `json:"day_or,omitempty"`
	Interval   *float64 `json:"interval,omitempty"`
	RRule      *string  `json:"rrule,omitempty"`
	Timezone   *string  `json:"timezone,omitempty"`
}

// anchorLayouts are the ISO 8601 date-times accepted as an anchor_date.
var anchorLayouts = []string{time.RFC3339, "2006-01-02T15:04:05"}

// Validate reports the first problem of the schedule: not exactly one of cron, interval
// and rrule; a cron that CheckCron refuses; an interval that is not a positive number of
// seconds; an rrule that CheckRRule refuses; a time zone that is not an IANA zone; day_or
// without cron; anchor_date without interval or not an ISO 8601 date-time; an empty slug.
func (d DeploymentSchedule) Validate() error {
	s := d.Schedule
	kinds := 0
	for _, set := range []bool{s.Cron != nil, s.Interval != nil, s.RRule != nil} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds != 1:
		return errors.New("needs exactly one of cron, interval and rrule")
	case s.Cron != nil && CheckCron(*s.Cron) != nil:
		return CheckCron(*s.Cron)
	case s.Interval != nil && !(*s.Interval > 0 && !math.IsInf(*s.Interval, 0)):
		return fmt.Errorf("interval %v must be a positive number of seconds", *s.Interval)
	case s.RRule != nil && CheckRRule(*s.RRule) != nil:
		return CheckRRule(*s.RRule)
	case s.Timezone != nil && !validTimezone(*s.Timezone):
		return fmt.Errorf("timezone %s is not an IANA time zone such as Europe/Berlin", Quote(*s.Timezone))
	case s.DayOr != nil && s.Cron == nil:
		return errors.New("day_or applies to cron schedules only")
	case s.AnchorDate != nil && s.Interval == nil:
		return errors.New("anchor_date applies to interval schedules only")
	case s.AnchorDate != nil && !validAnchor(*s.AnchorDate):
		return fmt.Errorf("anchor_date %s must be an ISO 8601 date-time such as 2026-01-01T00:00:00Z", Quote(*s.AnchorDate))
	case d.Slug != nil && *d.Slug == "":
		return errors.New("slug must be a non-empty string")
	}
	return nil
}

func validTimezone(tz string) bool {
	if tz == "" || tz == "Local" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

func validAnchor(a string) bool {
	for _, layout := range anchorLayouts {
		if _, err := time.Parse(layout, a); err == nil {
			return true
		}
	}
	return false
}
