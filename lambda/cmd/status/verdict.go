package main

import (
	"fmt"
	"io"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// Work pool statuses (Prefect 3.9.1, prefect/server/schemas/statuses.py WorkPoolStatus). A
// pool is created NOT_READY (PAUSED when paused); a worker's heartbeat turns NOT_READY into
// READY (models/workers.py record_worker_heartbeat) but leaves PAUSED alone; the server's
// foreman service turns READY back into NOT_READY once no worker of the pool is ONLINE, that
// is heartbeat_interval_seconds (30) × inactivity_heartbeat_multiple (3) after the last
// heartbeat, checked every 15 s (services/foreman.py).
const (
	statusReady    = "READY"
	statusNotReady = "NOT_READY"
	statusPaused   = "PAUSED"
)

// judge tells what keeps one stack's pool and deployments from being ready.
//
// A READY status alone does not prove that the worker the deploy just started works: the
// worker it replaced keeps the pool READY for up to two minutes after it stops. So the pool
// counts as ready only after a heartbeat newer than the newest one seen at the first
// observation (server times compared with server times): a worker is sending them now.
type judge struct {
	pool        stackspec.Pool
	deployments []stackspec.Deployment
	// baseline is the newest heartbeat at the first observation (nil: there was none);
	// started tells whether that observation happened.
	baseline *time.Time
	started  bool
}

// problems lists, one line each, what keeps o from being ready: the pool first, then each
// deployment in the template's order.
func (j *judge) problems(o *observation) []string {
	if !j.started {
		j.started = true
		if o.Newest != nil {
			j.baseline = o.Newest.LastHeartbeat
		}
	}
	var out []string
	if line := j.poolProblem(o); line != "" {
		out = append(out, line)
	}
	for _, d := range j.deployments {
		key := deploymentKey(d.FlowName, d.Name)
		switch pool, ok := o.Pools[key]; {
		case !ok:
			out = append(out, fmt.Sprintf("deployment %s missing", key))
		case pool == "":
			out = append(out, fmt.Sprintf("deployment %s is in no work pool, not %s", key, j.pool.Name))
		case pool != j.pool.Name:
			out = append(out, fmt.Sprintf("deployment %s is in work pool %s, not %s", key, pool, j.pool.Name))
		}
	}
	return out
}

func (j *judge) poolProblem(o *observation) string {
	name := "work pool " + j.pool.Name
	if o.Pool == nil {
		return name + " missing"
	}
	status := deref(o.Pool.Status)
	fresh := o.Newest != nil && (j.baseline == nil || o.Newest.LastHeartbeat.After(*j.baseline))
	switch {
	case status == statusPaused && !j.pool.Paused:
		return name + " PAUSED: paused in Prefect, while the stack has it running (workPoolPaused false); flow runs wait until it is resumed"
	case status == statusNotReady && o.Newest == nil:
		return fmt.Sprintf("%s NOT_READY: no worker has ever polled it (created %s)", name, stamp(o.Pool.Created))
	case status == statusNotReady:
		return fmt.Sprintf("%s NOT_READY: no worker has polled since %s (%s)", name, stamp(o.Newest.LastHeartbeat), o.Newest.Name)
	case status != statusReady && status != statusPaused:
		return fmt.Sprintf("%s status %q, want %s", name, status, statusReady)
	case o.Newest == nil:
		return fmt.Sprintf("%s %s: no worker has ever polled it", name, status)
	case !fresh:
		return fmt.Sprintf("%s %s, but no worker has polled since the check began: the last heartbeat, %s (%s), came before (from a worker the deploy replaced?)", name, status, stamp(o.Newest.LastHeartbeat), o.Newest.Name)
	}
	return ""
}

// summarize prints the pool, its status, the last heartbeat and the deployments found.
func (j *judge) summarize(w io.Writer, o *observation) {
	if o == nil {
		fmt.Fprintf(w, "work pool %s: not read (the Prefect API did not answer)\n", j.pool.Name)
		return
	}
	status := "missing"
	if o.Pool != nil {
		status = deref(o.Pool.Status)
	}
	heartbeat := "none"
	if o.Newest != nil {
		heartbeat = stamp(o.Newest.LastHeartbeat) + " (" + o.Newest.Name + ")"
	}
	fmt.Fprintf(w, "work pool %s: %s; last worker heartbeat %s\n", j.pool.Name, status, heartbeat)
	found := 0
	for _, d := range j.deployments {
		if o.Pools[deploymentKey(d.FlowName, d.Name)] == j.pool.Name {
			found++
		}
	}
	fmt.Fprintf(w, "deployments: %d/%d in work pool %s\n", found, len(j.deployments), j.pool.Name)
}

// stamp is a server time as the lines show it: UTC, to the second.
func stamp(t *time.Time) string {
	if t == nil {
		return "an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}
