package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// suite is what every test and benchmark of the package shares: one Prefect server (its start
// is the slowest step), one moto, one build of the function and of RIE.
type suite struct {
	dir        string
	root       string
	template   string
	stack      *harness.Stack
	prefect    *harness.PrefectServer
	moto       *harness.MotoServer
	bootstrap  string
	rie        string
	responses  *harness.ResponseServer
	authString string
	authARN    string
	// fn is the function configured like the template's, pointed at the local server.
	fn     *harness.Lambda
	runner *harness.Runner
	// secrets must never appear in a log or a response.
	secrets []string

	mu      sync.Mutex
	lambdas []*harness.Lambda
}

var env *suite

func TestMain(m *testing.M) {
	if !harness.Integration() {
		// Plain `go test ./...`: the tests skip themselves.
		os.Exit(m.Run())
	}
	s, err := setUp()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: integration prerequisites (%s=1): %v\n", harness.IntegrationVar, err)
		if s != nil {
			s.tearDown()
			fmt.Fprintf(os.Stderr, "logs kept in %s\n", s.dir)
		}
		os.Exit(1)
	}
	env = s
	code := m.Run()
	if leaks := s.secretLeaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: a secret value appears in: %s\n", strings.Join(leaks, ", "))
		code = 1
	}
	s.tearDown()
	if code != 0 || os.Getenv("PREFECT_ECS_CDK_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "integration work directory (logs): %s\n", s.dir)
	} else {
		os.RemoveAll(s.dir)
	}
	os.Exit(code)
}

// need skips t unless the suite runs; every test and benchmark starts with it.
func need(tb testing.TB) *suite {
	tb.Helper()
	if env == nil {
		tb.Skipf("set %s=1 to run the integration tests", harness.IntegrationVar)
	}
	return env
}

// needWithin is need for a test that must end within d: its context is done after d, or when
// t ends, before t's cleanups run.
func needWithin(t *testing.T, d time.Duration) (*suite, context.Context) {
	t.Helper()
	s := need(t)
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return s, ctx
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setUp() (*suite, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	tmpl := os.Getenv("PREFECT_ECS_CDK_TEMPLATE")
	if tmpl == "" {
		tmpl = filepath.Join(root, "cdk.out", harness.DefaultTemplateName)
	} else if !filepath.IsAbs(tmpl) {
		// go test runs in the package directory; a relative path means the repository root.
		tmpl = filepath.Join(root, tmpl)
	}
	if _, err := os.Stat(tmpl); err != nil {
		return nil, fmt.Errorf("template %s: %w (run `make synth`, or set PREFECT_ECS_CDK_TEMPLATE=testdata/%s, the golden synthesized template)", tmpl, err, harness.DefaultTemplateName)
	}
	stack, err := harness.LoadStack(tmpl)
	if err != nil {
		return nil, err
	}
	if len(stack.WorkPools()) == 0 || len(stack.Deployments()) == 0 {
		return nil, fmt.Errorf("template %s: want at least one work pool and one deployment, got %d and %d", tmpl, len(stack.WorkPools()), len(stack.Deployments()))
	}
	dir, err := os.MkdirTemp("", "prefect-ecs-cdk-it-")
	if err != nil {
		return nil, err
	}
	s := &suite{
		dir: dir, root: root, template: tmpl, stack: stack,
		// user:password, like the stack's generated secret; random so a leak check means something.
		authString: "admin:" + randomHex(16),
	}
	s.secrets = append(s.secrets, s.authString)

	// The four slow steps are independent: run them side by side (the Prefect start
	// dominates; the Go builds mostly hit the build cache).
	var wg sync.WaitGroup
	errs := make([]error, 4)
	wg.Add(4)
	go func() {
		defer wg.Done()
		s.prefect, errs[0] = harness.StartPrefect(ctx, harness.PrefectConfig{Dir: filepath.Join(dir, "prefect"), AuthString: s.authString})
	}()
	go func() {
		defer wg.Done()
		s.moto, errs[1] = harness.StartMoto(ctx, filepath.Join(dir, "moto"), "")
	}()
	go func() {
		defer wg.Done()
		s.bootstrap, errs[2] = harness.BuildBootstrap(ctx, root, dir)
	}()
	go func() {
		defer wg.Done()
		s.rie, errs[3] = harness.BuildRIE(ctx, root, dir)
	}()
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return s, err
	}
	if s.authARN, err = s.moto.CreateSecret(ctx, "prefect-ecs-cdk/it/auth-string", s.authString); err != nil {
		return s, err
	}
	if s.responses, err = harness.StartResponseServer(); err != nil {
		return s, err
	}
	if s.fn, err = s.startFunction(ctx, "main", s.functionEnv(s.prefect.URL, map[string]string{contract.EnvAuthStringSecretARN: s.authARN})); err != nil {
		return s, err
	}
	s.runner = s.newRunner(s.fn)
	return s, nil
}

// functionEnv is the template's environment with the Prefect URL and the secret variables
// replaced by local ones: the template's secrets are fake ARNs, and which of them the stack
// sets decides nothing here (both kinds are tested).
func (s *suite) functionEnv(apiURL string, secrets map[string]string) map[string]string {
	out := map[string]string{}
	if s.stack.Function != nil {
		for k, v := range s.stack.Function.Env {
			out[k] = v
		}
	}
	delete(out, contract.EnvAPIKeySecretARN)
	delete(out, contract.EnvAuthStringSecretARN)
	out[contract.EnvAPIURL] = apiURL
	out["AWS_ENDPOINT_URL"] = s.moto.URL
	for k, v := range secrets {
		out[k] = v
	}
	return out
}

// startFunction starts one more RIE with the suite's bootstrap; tearDown stops it.
func (s *suite) startFunction(ctx context.Context, name string, fenv map[string]string) (*harness.Lambda, error) {
	cfg := harness.LambdaConfig{Dir: s.dir, Bootstrap: s.bootstrap, RIE: s.rie, Env: fenv, Name: name}
	if f := s.stack.Function; f != nil {
		cfg.Timeout, cfg.MemoryMB = f.Timeout, f.MemoryMB
	}
	l, err := harness.StartLambda(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.lambdas = append(s.lambdas, l)
	s.mu.Unlock()
	return l, nil
}

func (s *suite) newRunner(l *harness.Lambda) *harness.Runner {
	return &harness.Runner{Lambda: l, Responses: s.responses, StackID: s.stack.StackID}
}

// secretLeaks lists the logs and responses that contain a secret value.
func (s *suite) secretLeaks() []string {
	var where []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lambdas {
		log := l.Log()
		for _, sec := range s.secrets {
			if sec != "" && strings.Contains(log, sec) {
				where = append(where, l.LogPath)
				break
			}
		}
	}
	if s.responses != nil {
		for _, r := range s.responses.Requests() {
			for _, sec := range s.secrets {
				if sec != "" && strings.Contains(string(r.Body), sec) {
					where = append(where, "the response PUT to "+r.Path)
					break
				}
			}
		}
	}
	return where
}

func (s *suite) addSecret(v string) {
	s.mu.Lock()
	s.secrets = append(s.secrets, v)
	s.mu.Unlock()
}

func (s *suite) tearDown() {
	s.mu.Lock()
	for _, l := range s.lambdas {
		l.Stop()
	}
	s.mu.Unlock()
	s.responses.Close()
	s.moto.Stop()
	s.prefect.Stop()
}

// startCloudFunction runs the function the Prefect Cloud way: a fresh API key stored in moto's
// Secrets Manager, and a Cloud-like proxy (Bearer key or 401) in front of the local server.
// It returns the function, the proxy and a runner for it; both stop when tb ends.
func (s *suite) startCloudFunction(tb testing.TB, ctx context.Context, name string) (*harness.Lambda, *harness.CloudProxy, *harness.Runner) {
	tb.Helper()
	key := "pnu_" + randomHex(18)
	s.addSecret(key)
	arn, err := s.moto.CreateSecret(ctx, "prefect-ecs-cdk/"+name+"/api-key-"+randomHex(4), key)
	if err != nil {
		tb.Fatal(err)
	}
	proxy, err := harness.StartCloudProxy(s.prefect.URL, s.authString, key)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(proxy.Close)
	fn, err := s.startFunction(ctx, name, s.functionEnv(proxy.URL, map[string]string{contract.EnvAPIKeySecretARN: arn}))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(fn.Stop)
	return fn, proxy, s.newRunner(fn)
}
