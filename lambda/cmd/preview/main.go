// Command preview shows what the ComputeStack would create in Prefect, without AWS: it
// starts a local Prefect server, runs the real custom-resource function under the Lambda
// Runtime Interface Emulator, sends it the Create events CloudFormation would send for the
// synthesized template, prints the result and keeps the server (and its UI) running until
// Ctrl-C.
//
//	go run ./lambda/cmd/preview [-template cdk.out/PrefectCompute.template.json] [-port 4200] [-exit]
//
// The local server has no auth, so the template's secret variables are dropped and the
// function talks to the server directly; any AWS call it would still make goes to a closed
// loopback port instead of AWS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "preview:", err)
		os.Exit(1)
	}
}

type options struct {
	template string
	port     int
	exit     bool
	keep     bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	fs.StringVar(&o.template, "template", "", "synthesized ComputeStack template (default <repo>/cdk.out/"+harness.DefaultTemplateName+")")
	fs.IntVar(&o.port, "port", 4200, "port of the local Prefect server and UI (127.0.0.1 only)")
	fs.BoolVar(&o.exit, "exit", false, "stop right after applying instead of serving until Ctrl-C")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (Prefect database and logs) after exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	return o, nil
}

func run(args []string, out io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	if o.template == "" {
		o.template = filepath.Join(root, "cdk.out", harness.DefaultTemplateName)
	}
	if _, err := os.Stat(o.template); err != nil {
		return fmt.Errorf("%w (run `make synth` first, or pass -template testdata/%s, the golden synthesized template)", err, harness.DefaultTemplateName)
	}
	stack, err := harness.LoadStack(o.template)
	if err != nil {
		return err
	}
	// Say so now rather than after a 20-second server start.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.port)); err != nil {
		return fmt.Errorf("port %d is taken (another preview or Prefect server?): pick one with -port", o.port)
	} else {
		l.Close()
	}

	dir, err := os.MkdirTemp("", "prefect-ecs-cdk-preview-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(out, "work directory kept: %s\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()

	fmt.Fprintf(out, "template %s: %d work pool(s), %d deployment(s)\n", o.template, len(stack.WorkPools()), len(stack.Deployments()))
	fmt.Fprintf(out, "starting Prefect on 127.0.0.1:%d and building the function…\n", o.port)
	var (
		server         *harness.PrefectServer
		bootstrap, rie string
		wg             sync.WaitGroup
		errs           [3]error
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		server, errs[0] = harness.StartPrefect(ctx, harness.PrefectConfig{
			Dir: filepath.Join(dir, "prefect"), Port: o.port, UI: true, Services: true,
		})
	}()
	go func() { defer wg.Done(); bootstrap, errs[1] = harness.BuildBootstrap(ctx, root, dir) }()
	go func() { defer wg.Done(); rie, errs[2] = harness.BuildRIE(ctx, root, dir) }()
	wg.Wait()
	defer server.Stop()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}

	responses, err := harness.StartResponseServer()
	if err != nil {
		return err
	}
	defer responses.Close()
	fenv := map[string]string{}
	if f := stack.Function; f != nil {
		for k, v := range f.Env {
			fenv[k] = v
		}
	}
	delete(fenv, contract.EnvAPIKeySecretARN)
	delete(fenv, contract.EnvAuthStringSecretARN)
	fenv[contract.EnvAPIURL] = server.URL
	// Port 9 (discard) on loopback is closed: an AWS call fails at once instead of reaching AWS.
	fenv["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
	cfg := harness.LambdaConfig{Dir: dir, Bootstrap: bootstrap, RIE: rie, Env: fenv, Name: "preview"}
	if f := stack.Function; f != nil {
		cfg.Timeout, cfg.MemoryMB = f.Timeout, f.MemoryMB
	}
	fn, err := harness.StartLambda(ctx, cfg)
	if err != nil {
		return err
	}
	defer fn.Stop()
	runner := &harness.Runner{Lambda: fn, Responses: responses, StackID: stack.StackID}

	ids := map[string]string{}
	for _, cr := range stack.Resources {
		start := time.Now()
		resp, err := harness.Succeeded(runner.Create(ctx, cr))
		if err != nil {
			return fmt.Errorf("%s %s: %w\nfunction log (%s):\n%s", cr.Type, cr.LogicalID, err, fn.LogPath, fn.LogTail(20))
		}
		ids[cr.LogicalID] = resp.PhysicalResourceID
		fmt.Fprintf(out, "  created %-26s %-40s %s\n", cr.Type, resp.PhysicalResourceID, time.Since(start).Round(time.Millisecond))
	}
	fn.Stop()

	if err := summary(ctx, out, server, stack, ids); err != nil {
		return err
	}
	if err := explain(out, o.template); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nPrefect UI: %s\nAPI:        %s\n", server.UIURL, server.URL)
	if o.exit {
		return nil
	}
	fmt.Fprintln(out, "serving until Ctrl-C")
	<-ctx.Done()
	fmt.Fprintln(out, "\nstopping")
	return nil
}

// summary prints what Prefect now holds, read back from its API rather than from the
// template, so the preview shows what the function really did.
func summary(ctx context.Context, out io.Writer, server *harness.PrefectServer, stack *harness.Stack, ids map[string]string) error {
	c := server.Client
	fmt.Fprintln(out)
	for _, p := range stack.WorkPools() {
		wp, err := c.ReadWorkPool(ctx, p.Prop("Name"))
		if err != nil {
			return err
		}
		vars := 0
		if v, ok := wp.BaseJobTemplate["variables"].(map[string]any); ok {
			if ps, ok := v["properties"].(map[string]any); ok {
				vars = len(ps)
			}
		}
		state := ""
		if wp.IsPaused {
			state = ", paused"
		}
		fmt.Fprintf(out, "work pool %s (type %s, %d job variables%s)\n", wp.Name, wp.Type, vars, state)
	}
	for _, cr := range stack.Deployments() {
		d, err := c.Deployment(ctx, ids[cr.LogicalID])
		if err != nil {
			return err
		}
		flow, err := c.Flow(ctx, d.FlowID)
		if err != nil {
			return err
		}
		pool := ""
		if d.WorkPoolName != nil {
			pool = *d.WorkPoolName
		}
		state := ""
		if d.Paused {
			state = " [paused]"
		}
		fmt.Fprintf(out, "  deployment %s/%s → pool %s%s\n", flow.Name, d.Name, pool, state)
		if len(d.Schedules) == 0 {
			fmt.Fprintln(out, "    no schedule")
		}
		for _, s := range d.Schedules {
			fmt.Fprintf(out, "    schedule %s\n", describeSchedule(s))
		}
	}
	return nil
}

func describeSchedule(s harness.Schedule) string {
	sc := s.Schedule
	tz, _ := sc["timezone"].(string)
	if tz == "" {
		tz = "UTC"
	}
	var what string
	switch {
	case sc["cron"] != nil:
		what = fmt.Sprintf("cron %q", sc["cron"])
	case sc["interval"] != nil:
		secs, _ := sc["interval"].(float64)
		what = "every " + (time.Duration(secs) * time.Second).String()
		if a, ok := sc["anchor_date"].(string); ok {
			what += " from " + a
		}
	case sc["rrule"] != nil:
		what = fmt.Sprintf("rrule %q", sc["rrule"])
	default:
		what = fmt.Sprint(sc)
	}
	out := what + " " + tz
	if !s.Active {
		out += " (inactive)"
	}
	if len(s.Parameters) > 0 {
		var keys []string
		for k := range s.Parameters {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out += " with parameters " + strings.Join(keys, ", ")
	}
	return out
}
