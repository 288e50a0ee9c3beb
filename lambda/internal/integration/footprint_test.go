package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// footprintIdleVar shortens (or lengthens) the benchmark's idle phase: a Go duration.
const footprintIdleVar = "PREFECT_ECS_CDK_FOOTPRINT_IDLE"

// footprintIdle is the idle phase when footprintIdleVar is unset (the measurement).
const footprintIdle = 3 * time.Minute

// footprintRuns is how many flow runs the burst submits, and how many STOPPED events follow.
const footprintRuns = 50

// footprintVariant is the variant measured when the list has it: the default network mode.
const footprintVariant = "private-ondemand"

// BenchmarkWorkerFootprint measures what the worker task needs: the real `prefect worker
// start --type ecs`, started as TestLiveWorker starts it (the worker task definition's
// command and environment, observer on, against the suite's Prefect server and a recording
// moto), goes through three phases:
//   - burst: 50 flow runs of one deployment created at once, until the worker has called
//     RunTask for each and Prefect shows them all submitted;
//   - crashes: an ECS STOPPED task-state event for each of the 50 tasks on the observer
//     queue, until every run is CRASHED and the observer has deleted every event;
//   - idle: nothing to do for 3 minutes (PREFECT_ECS_CDK_FOOTPRINT_IDLE, a Go duration).
//
// A sampler reads the worker's process group from /proc every 250 ms: the sum of VmRSS
// (peak kept) and of utime+stime with the children reaped (cutime+cstime). The task
// definition's health check command runs once after each phase, for its own peak RSS (it
// shares the container's memory every 30 s). It reports the peak RSS, CPU seconds, wall time
// and busiest second of each phase as metrics and prints a summary.
//
// It needs the variant templates (`make variants`), as TestLiveWorker does, and skips
// without them so that `-bench .` without them passes over it. It measures once per call
// whatever b.N is: run it with -benchtime 1x, as `make bench` does.
func BenchmarkWorkerFootprint(b *testing.B) {
	s := need(b)
	if os.Getenv(liveTemplatesVar) == "" {
		b.Skipf("%s is unset: `make bench` runs this benchmark on the variant templates of `make variants`", liveTemplatesVar)
	}
	idle := footprintIdle
	if v := os.Getenv(footprintIdleVar); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			b.Fatalf("%s=%s is not valid: want a Go duration such as 30s or 3m", footprintIdleVar, v)
		}
		idle = d
	}
	variants := liveVariants(b, s)
	v := variants[0]
	if i := slices.IndexFunc(variants, func(v liveVariant) bool { return v.name == footprintVariant }); i >= 0 {
		v = variants[i]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute+idle)
	defer cancel()
	aws := startLiveAWS(b, ctx, s)
	// Index 90: a stack name of its own, apart from TestLiveWorker's 0 to 3.
	ls := prepareLiveStack(b, ctx, aws, v.template, 90)
	pool, dep := ls.stack.WorkPools()[0], ls.stack.Deployments()[0]
	poolResp, err := harness.Succeeded(s.runner.Create(ctx, pool))
	if err != nil {
		b.Fatalf("create pool: %v", err)
	}
	depResp, err := harness.Succeeded(s.runner.Create(ctx, dep))
	if err != nil {
		b.Fatalf("create deployment: %v", err)
	}
	b.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		_, _ = s.runner.Delete(cctx, dep, depResp.PhysicalResourceID)
		_, _ = s.runner.Delete(cctx, pool, poolResp.PhysicalResourceID)
	})
	health := healthCheckCommand(b, v.template)

	// The task definition leaves the poll interval at Prefect's default, 10 s; the live test's
	// 1 s would make the idle phase ten times busier than a deployed worker.
	if _, set := ls.worker.Environment["PREFECT_WORKER_QUERY_SECONDS"]; !set {
		ls.worker.Environment["PREFECT_WORKER_QUERY_SECONDS"] = "10"
	}

	b.ResetTimer()
	const accessKey = "AKIAFOOTPRINT0000090"
	w := startLiveWorker(b, ctx, s, aws, ls, accessKey)
	smp := startSampler(w.Pid())
	defer smp.stop()
	port := workerPort(b, w.Pid())
	var phases []phase
	endPhase := func(name string) {
		p := smp.cut(name)
		p.healthKiB = runHealthCheck(b, ctx, health, port, filepath.Dir(aws.python))
		phases = append(phases, p)
	}
	endPhase("ready")

	// Burst: every run due now, as a backlog of schedules would leave them. They are created
	// one after another (the local server's SQLite answers 503 to 50 at once) in a few
	// seconds; the worker's 10 s poll picks them up together.
	runs := make([]string, footprintRuns)
	for i := range runs {
		var fr struct {
			ID string `json:"id"`
		}
		if err := s.prefect.Client.Do(ctx, http.MethodPost, "/deployments/"+depResp.PhysicalResourceID+"/create_flow_run", map[string]any{}, &fr); err != nil {
			b.Fatal(err)
		}
		runs[i] = fr.ID
	}
	waitFor(b, ctx, w, fmt.Sprintf("%d RunTask calls and %d submitted runs", footprintRuns, footprintRuns), func() (bool, error) {
		calls, err := aws.workerCalls(ctx, accessKey)
		if err != nil || count(calls, "ecs:RunTask") < footprintRuns {
			return false, err
		}
		return allStates(ctx, s, runs, "PENDING", "RUNNING")
	})
	endPhase("burst")
	calls, err := aws.workerCalls(ctx, accessKey)
	if err != nil {
		b.Fatal(err)
	}
	registered := count(calls, "ecs:RegisterTaskDefinition")

	// Crashes: one STOPPED event per task, sent straight to moto's SQS API (no Python start-up
	// in the way), then until every run is CRASHED and every message deleted.
	sendStoppedEvents(b, ctx, aws, ls, runs)
	waitFor(b, ctx, w, fmt.Sprintf("%d runs CRASHED by the observer and %d events deleted", footprintRuns, footprintRuns), func() (bool, error) {
		calls, err := aws.workerCalls(ctx, accessKey)
		if err != nil || count(calls, "sqs:DeleteMessage") < footprintRuns {
			return false, err
		}
		return allStates(ctx, s, runs, "CRASHED")
	})
	endPhase("crashes")

	select {
	case <-ctx.Done():
		b.Fatal("no time left for the idle phase")
	case <-time.After(idle):
	}
	if w.Exited() {
		b.Fatalf("the worker exited while idle; log %s:\n%s", w.LogPath, w.LogTail(40))
	}
	endPhase("idle")
	b.StopTimer()

	var peak, peakHealth int64
	var sum strings.Builder
	fmt.Fprintf(&sum, "worker footprint (%s, %d runs, %d STOPPED events, %s idle; %d task-definition registration(s) for the burst):\n",
		v.name, footprintRuns, footprintRuns, idle, registered)
	fmt.Fprintf(&sum, "  %-9s %8s %9s %9s %8s %11s %12s\n", "phase", "wall s", "CPU s", "avg vCPU", "busiest", "peak RSS", "health RSS")
	for _, p := range phases {
		peak, peakHealth = max(peak, p.peakKiB), max(peakHealth, p.healthKiB)
		fmt.Fprintf(&sum, "  %-9s %8.1f %9.2f %8.1f%% %7.0f%% %7.0f MiB %8.0f MiB\n", p.name, p.wall.Seconds(), p.cpu,
			100*p.cpu/max(p.wall.Seconds(), 1), 100*p.busiest, mib(p.peakKiB), mib(p.healthKiB))
		if p.name != "ready" {
			b.ReportMetric(p.cpu, "cpu-s-"+p.name)
			b.ReportMetric(p.wall.Seconds(), "wall-s-"+p.name)
			b.ReportMetric(p.busiest, "busiest-vcpu-"+p.name)
		}
	}
	fmt.Fprintf(&sum, "  peak RSS: worker %.0f MiB; with a health check beside it %.0f MiB\n", mib(peak), mib(peak+peakHealth))
	b.ReportMetric(mib(peak), "MiB-peak-rss")
	b.ReportMetric(mib(peak+peakHealth), "MiB-peak-rss+health")
	b.ReportMetric(float64(registered), "task-def-registrations")
	fmt.Print(sum.String())
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// allStates reports whether every run's state type is one of want.
func allStates(ctx context.Context, s *suite, runs []string, want ...string) (bool, error) {
	for _, id := range runs {
		st, err := flowRunState(ctx, s, id)
		if err != nil || !slices.Contains(want, st) {
			return false, err
		}
	}
	return true, nil
}

// sendStoppedEvents puts one STOPPED event per run's task on the observer queue, shaped as
// observeStoppedTask's, through moto's SQS JSON API with the test's own key.
func sendStoppedEvents(b *testing.B, ctx context.Context, aws *liveAWS, ls *liveStack, runs []string) {
	b.Helper()
	tasks := aws.tasks(b, ctx, ls.cluster)
	var queue struct{ QueueUrl string }
	if err := sqsCall(ctx, aws.moto.URL, "GetQueueUrl", map[string]string{"QueueName": ls.queue}, &queue); err != nil || queue.QueueUrl == "" {
		b.Fatalf("GetQueueUrl %s: %v", ls.queue, err)
	}
	sent := 0
	for _, task := range tasks {
		if !slices.Contains(runs, task.Tags["prefect.io/flow-run-id"]) {
			continue
		}
		now := time.Now().UTC().Format(time.RFC3339)
		event, _ := json.Marshal(map[string]any{
			"version": "0", "id": uuid.NewString(), "detail-type": "ECS Task State Change", "source": "aws.ecs",
			"account": harness.FakeAccountID, "time": now, "region": harness.FakeRegion, "resources": []string{task.TaskArn},
			"detail": map[string]any{
				"clusterArn": ls.cluster, "taskArn": task.TaskArn, "taskDefinitionArn": task.TaskDefinitionArn,
				"lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": "EssentialContainerExited",
				"stoppedReason": "Essential container in task exited", "stoppedAt": now,
				"containers": []map[string]any{{"name": "prefect", "taskArn": task.TaskArn, "lastStatus": "STOPPED", "exitCode": 1}},
			},
		})
		if err := sqsCall(ctx, aws.moto.URL, "SendMessage", map[string]string{"QueueUrl": queue.QueueUrl, "MessageBody": string(event)}, nil); err != nil {
			b.Fatalf("SendMessage: %v", err)
		}
		sent++
	}
	if sent != len(runs) {
		b.Fatalf("%d of the %d runs have a task on %s", sent, len(runs), ls.cluster)
	}
}

// sqsCall makes one call of SQS's JSON protocol to moto with the test's own key (moto tells
// the service by the credential scope, which harness.MotoServer.Call derives from the target's
// prefix: AmazonSQS is not a service name).
func sqsCall(ctx context.Context, url, action string, in, out any) error {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+harness.FakeAccessKeyID+"/20260101/"+harness.FakeRegion+
		"/sqs/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	if err == nil && out != nil {
		err = json.Unmarshal(raw, out)
	}
	return err
}

// healthCheckCommand is the worker container's CMD-SHELL health check in template.
func healthCheckCommand(b *testing.B, template string) string {
	b.Helper()
	tmpl, err := stackspec.LoadTemplate(template)
	if err != nil {
		b.Fatal(err)
	}
	for _, res := range tmpl.Resources {
		if res.Type != "AWS::ECS::TaskDefinition" {
			continue
		}
		var td struct {
			ContainerDefinitions []struct {
				Command     []any
				HealthCheck struct{ Command []string }
			}
		}
		raw, _ := json.Marshal(res.Properties)
		if err := json.Unmarshal(raw, &td); err != nil {
			b.Fatal(err)
		}
		for _, c := range td.ContainerDefinitions {
			if hc := c.HealthCheck.Command; slices.Contains(c.Command, "worker") && len(hc) == 2 && hc[0] == "CMD-SHELL" {
				return hc[1]
			}
		}
	}
	b.Fatalf("%s: the worker container has no CMD-SHELL health check", template)
	return ""
}

// workerPort is the worker's webserver port, from its environment (startLiveWorker picks it).
func workerPort(b *testing.B, pid int) string {
	b.Helper()
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, kv := range strings.Split(string(environ), "\x00") {
		if v, ok := strings.CutPrefix(kv, "PREFECT_WORKER_WEBSERVER_PORT="); ok {
			return v
		}
	}
	b.Fatalf("worker %d has no PREFECT_WORKER_WEBSERVER_PORT", pid)
	return ""
}

// runHealthCheck runs the health check command against the worker's port with the venv's
// Python and returns its peak RSS (KiB); a failing check fails the benchmark.
func runHealthCheck(b *testing.B, ctx context.Context, command, port, venvBin string) int64 {
	b.Helper()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", strings.Replace(command, "127.0.0.1:8080", "127.0.0.1:"+port, 1))
	cmd.Env = []string{"PATH=" + venvBin + ":/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8"}
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("health check: %v: %s", err, out)
	}
	// wait4's maximum RSS covers the shell and the Python it ran (Linux: KiB).
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// phase is what the sampler saw between two cuts.
type phase struct {
	name      string
	wall      time.Duration
	cpu       float64 // CPU seconds of the process group, children included
	busiest   float64 // the highest CPU rate over one second, in vCPUs
	peakKiB   int64   // the highest sum of VmRSS
	healthKiB int64   // the health check's peak RSS at the phase's end
}

// sample is one reading of the process group.
type sample struct {
	at     time.Time
	cpu    float64
	rssKiB int64
}

// sampler reads a process group from /proc every 250 ms.
type sampler struct {
	pgid    int
	mu      sync.Mutex
	samples []sample
	from    int // first sample of the current phase
	done    chan struct{}
	wg      sync.WaitGroup
}

func startSampler(pgid int) *sampler {
	s := &sampler{pgid: pgid, done: make(chan struct{})}
	s.samples = append(s.samples, readGroup(pgid))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				x := readGroup(pgid)
				s.mu.Lock()
				s.samples = append(s.samples, x)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *sampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

// cut closes the current phase with a fresh sample and starts the next one there.
func (s *sampler) cut(name string) phase {
	x := readGroup(s.pgid)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, x)
	ph := s.samples[s.from:]
	s.from = len(s.samples) - 1
	p := phase{name: name, wall: x.at.Sub(ph[0].at), cpu: x.cpu - ph[0].cpu}
	j := 0
	for i, y := range ph {
		p.peakKiB = max(p.peakKiB, y.rssKiB)
		for j < i && y.at.Sub(ph[j+1].at) >= time.Second {
			j++
		}
		if dt := y.at.Sub(ph[j].at).Seconds(); dt >= 0.9 {
			p.busiest = max(p.busiest, (y.cpu-ph[j].cpu)/dt)
		}
	}
	return p
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTicks = 100

// readGroup sums VmRSS and utime+stime+cutime+cstime over the live members of process group
// pgid. A member's CPU time moves into its parent's cutime/cstime when the parent reaps it,
// so the sum covers children that have ended too.
func readGroup(pgid int) sample {
	x := sample{at: time.Now()}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp … utime(14) stime(15) cutime(16) cstime(17), 1-based.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 15 || f[2] != strconv.Itoa(pgid) || f[0] == "Z" || f[0] == "X" {
			continue
		}
		for _, i := range []int{11, 12, 13, 14} {
			n, _ := strconv.ParseFloat(f[i], 64)
			x.cpu += n / clockTicks
		}
		status, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				x.rssKiB += n
			}
		}
	}
	return x
}
