// Command status is the smoke check between environments: it reads a deployed environment's
// work pool and deployments through the Prefect API and waits, at most -timeout, until the
// pool is READY with a worker polling it and every deployment of the stack's template (that
// is, of flows/prefect.yaml) exists in that pool. It prints the pool, its status, the last
// worker heartbeat and how many deployments it found; when the time is up it prints one line
// per problem:
//
//	work pool ecs-fargate NOT_READY: no worker has polled since 2026-12-07T10:02:11Z (ECSWorker 5c1f…)
//	deployment daily-etl/daily missing
//
// The template is the Compute stack's in the cloud assembly (-dir, cdk.out): the only one, or
// the named environment's (-env dev: the stack <stackPrefix>-dev-Compute), or -stack, or
// -template. The API and its credential are found as `make drift` finds them (stackapi):
// PREFECT_API_URL with PREFECT_API_KEY, PREFECT_API_AUTH_STRING or a secret's ARN, else the
// function's URL and secret in the template.
//
//	go run ./lambda/cmd/status [-env NAME | -stack NAME | -template FILE] [-timeout 10m]
//
// A self-hosted server (prefectServer) whose load balancer is internal answers only inside
// its VPC: the command says so in one line and exits 3 without calling anything, or, with
// -unreachable warn (the deploy workflow's GitHub-hosted runners), prints that line as a
// warning and exits 0.
//
// Exit status: 0 ready, 1 not ready in time, 2 error, 3 not checked (unreachable server).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackapi"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/prefect"
)

// Exit statuses.
const (
	exitReady      = 0
	exitNotReady   = 1
	exitError      = 2
	exitNotChecked = 3
)

// pollRetry bounds each call of one observation; the wait itself is the polling loop's.
var pollRetry = prefect.RetryPolicy{
	MaxFaultAttempts: 3,
	BaseDelay:        250 * time.Millisecond,
	MaxDelay:         5 * time.Second,
	AttemptTimeout:   20 * time.Second,
	MaxElapsed:       time.Minute,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, realClock{}, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command's flags.
type options struct {
	dir, env, stack, template string
	timeout, interval         time.Duration
	unreachable               string
}

func parseFlags(args []string, errOut io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&o.dir, "dir", "cdk.out", "the cloud assembly (cdk synth's or cdk deploy's output)")
	fs.StringVar(&o.env, "env", "", "the named environment (cdk.json environments) whose Compute stack to check")
	fs.StringVar(&o.stack, "stack", "", "the Compute stack to check, by name (e.g. Prefect-dev-Compute)")
	fs.StringVar(&o.template, "template", "", "the Compute stack's template, instead of -dir/-env/-stack")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for the pool and the deployments")
	fs.DurationVar(&o.interval, "interval", 10*time.Second, "how often to read them while waiting")
	fs.StringVar(&o.unreachable, "unreachable", "fail", "when the API is a self-hosted server out of reach: fail (exit 3) or warn (exit 0)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	case o.template != "" && o.env+o.stack != "":
		return o, errors.New("-template names the template itself: leave out -env and -stack")
	case o.env != "" && o.stack != "":
		return o, errors.New("-env and -stack both name the stack: give one")
	case o.timeout < 0:
		return o, fmt.Errorf("-timeout %s: want 0 (one look) or more", o.timeout)
	case o.interval <= 0:
		return o, fmt.Errorf("-interval %s: want more than 0", o.interval)
	case o.unreachable != "fail" && o.unreachable != "warn":
		return o, fmt.Errorf("-unreachable %q: want fail or warn", o.unreachable)
	}
	return o, nil
}

// run is the command; getenv reads its environment and clk measures the wait.
func run(ctx context.Context, args []string, getenv func(string) string, clk clock, out, errOut io.Writer) int {
	o, err := parseFlags(args, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return exitError
	}
	if err != nil {
		fmt.Fprintln(errOut, "status:", err)
		return exitError
	}
	ready, err := check(ctx, o, getenv, clk, out)
	var skip *notCheckedError
	switch {
	case errors.As(err, &skip) && o.unreachable == "warn":
		if getenv("GITHUB_ACTIONS") == "true" {
			// A workflow command: the line shows as a warning on the run's summary page.
			fmt.Fprintln(out, "::warning title=smoke check not run::"+skip.reason)
		} else {
			fmt.Fprintln(out, "status: not checked:", skip.reason)
		}
		return exitReady
	case errors.As(err, &skip):
		fmt.Fprintln(errOut, "status: not checked:", skip.reason)
		return exitNotChecked
	case err != nil:
		fmt.Fprintln(errOut, "status:", err)
		return exitError
	case !ready:
		return exitNotReady
	}
	return exitReady
}

// check waits for the stack's pool and deployments and prints the summary, and each problem
// left when the time is up.
func check(ctx context.Context, o options, getenv func(string) string, clk clock, out io.Writer) (bool, error) {
	template := o.template
	if template == "" {
		var err error
		if template, err = computeTemplate(o.dir, o.stack, o.env); err != nil {
			return false, err
		}
	}
	spec, err := stackspec.Load(template)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("%w (run `make synth` first, or pass -template)", err)
		}
		return false, err
	}
	if len(spec.Pools) != 1 {
		return false, fmt.Errorf("%s: %d work pools, want the Compute stack's one", template, len(spec.Pools))
	}
	if err := serverReach(spec, template, getenv); err != nil {
		return false, err
	}
	api, err := stackapi.Client(ctx, stackapi.Source{Getenv: getenv, FunctionEnv: spec.FunctionEnv, Tool: "status", Retry: &pollRetry})
	if err != nil {
		return false, err
	}
	pool := spec.Pools[0]
	j := &judge{pool: pool, deployments: spec.Deployments}
	w := &waiter{clk: clk, timeout: o.timeout, interval: o.interval, judge: j, progress: out,
		look: func(ctx context.Context) (*observation, error) { return observe(ctx, api, pool.Name, spec) }}
	last, problems, err := w.wait(ctx)
	if err != nil {
		return false, err
	}
	j.summarize(out, last)
	if len(problems) == 0 {
		fmt.Fprintf(out, "status: stack %s is ready\n", spec.Stack)
		return true, nil
	}
	for _, p := range problems {
		fmt.Fprintln(out, p)
	}
	fmt.Fprintf(out, "status: stack %s is not ready after %s: %d problem(s)\n", spec.Stack, o.timeout, len(problems))
	return false, nil
}
