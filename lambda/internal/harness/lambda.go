package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// BootstrapPackage is the function's main package, relative to the repository root.
const BootstrapPackage = "./lambda"

// RIEPackage is the Runtime Interface Emulator, a tool dependency in go.mod.
const RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// BuildBootstrap compiles the function for the host (so RIE can run it) with the flags the
// stack's bundling uses, and returns the binary's path, outDir/bootstrap.
func BuildBootstrap(ctx context.Context, root, outDir string) (string, error) {
	out := filepath.Join(outDir, "bootstrap")
	err := goBuild(ctx, root, out, "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc",
		"-ldflags", "-s -w -buildid=", BootstrapPackage)
	if err != nil {
		return "", fmt.Errorf("harness: build the function (%s): %w", BootstrapPackage, err)
	}
	return out, nil
}

// BuildRIE returns the emulator binary: $PREFECT_ECS_CDK_RIE when set, else a fresh build of
// the pinned tool dependency into outDir (the Go build cache makes repeats cheap).
func BuildRIE(ctx context.Context, root, outDir string) (string, error) {
	if p := os.Getenv("PREFECT_ECS_CDK_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("harness: PREFECT_ECS_CDK_RIE: %w", err)
		}
		return p, nil
	}
	out := filepath.Join(outDir, "aws-lambda-rie")
	if err := goBuild(ctx, root, out, "-trimpath", RIEPackage); err != nil {
		return "", fmt.Errorf("harness: build the Runtime Interface Emulator: %w", err)
	}
	return out, nil
}

func goBuild(ctx context.Context, root, out string, args ...string) error {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			return errors.New("go toolchain not found")
		}
	}
	argv := append([]string{"build", "-o", out}, args...)
	cmd := exec.CommandContext(ctx, goBin, argv...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(argv, " "), err, buf.String())
	}
	return nil
}

// LambdaConfig describes one function container: one RIE process that starts the bootstrap
// on its first invoke (the cold start) and keeps it for the next ones.
type LambdaConfig struct {
	// Dir holds the log file. Required.
	Dir string
	// Bootstrap is the function binary (BuildBootstrap). Required.
	Bootstrap string
	// RIE is the emulator binary (BuildRIE). Required.
	RIE string
	// Env is the function's environment on top of the fake AWS identity (AWS_REGION, keys,
	// AWS_EC2_METADATA_DISABLED); AWS_ENDPOINT_URL points the SDK at moto.
	Env map[string]string
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole seconds); default
	// 60 s. The function sees it as its context deadline.
	Timeout time.Duration
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE; default 256.
	MemoryMB int
	// Name labels the log file (lambda-NAME.log); default "function".
	Name string
}

// Lambda is a running RIE with the function.
type Lambda struct {
	// URL is the invoke endpoint.
	URL     string
	LogPath string
	Timeout time.Duration

	proc *process
	hc   *http.Client
}

// StartLambda starts RIE on two free loopback ports (its invoke API and the runtime API the
// bootstrap polls, so several functions can run side by side) and waits until it listens.
func StartLambda(ctx context.Context, cfg LambdaConfig) (*Lambda, error) {
	if cfg.Dir == "" || cfg.Bootstrap == "" || cfg.RIE == "" {
		return nil, errors.New("harness: LambdaConfig needs Dir, Bootstrap and RIE")
	}
	bootstrap, err := filepath.Abs(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("harness: bootstrap: %w", err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	mem := cfg.MemoryMB
	if mem == 0 {
		mem = 256
	}
	name := cfg.Name
	if name == "" {
		name = "function"
	}
	return withPortRetry(func() (*Lambda, error) { return startLambda(ctx, cfg, bootstrap, timeout, mem, name) })
}

func startLambda(ctx context.Context, cfg LambdaConfig, bootstrap string, timeout time.Duration, mem int, name string) (*Lambda, error) {
	invokePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	runtimePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	vars := map[string]string{
		"AWS_REGION":                      FakeRegion,
		"AWS_DEFAULT_REGION":              FakeRegion,
		"AWS_ACCESS_KEY_ID":               FakeAccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           FakeSecretAccessKey,
		"AWS_EC2_METADATA_DISABLED":       "true",
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     itoa(int((timeout + time.Second - 1) / time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": itoa(mem),
		"LOG_LEVEL":                       "info",
	}
	for k, v := range cfg.Env {
		vars[k] = v
	}
	env := baseEnv(cfg.Dir)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	logPath := filepath.Join(cfg.Dir, "lambda-"+name+".log")
	addr := fmt.Sprintf("127.0.0.1:%d", invokePort)
	proc, err := startProcess("aws-lambda-rie", filepath.Dir(bootstrap), logPath, env,
		cfg.RIE,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", runtimePort),
		bootstrap)
	if err != nil {
		return nil, err
	}
	l := &Lambda{
		URL:     "http://" + addr + "/2015-03-31/functions/function/invocations",
		LogPath: logPath,
		Timeout: timeout,
		proc:    proc,
		hc:      &http.Client{Timeout: timeout + 30*time.Second},
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitTCP(wctx, proc, addr); err != nil {
		l.Stop()
		return nil, err
	}
	return l, nil
}

// InvokeError is a function error or time-out reported by RIE instead of a normal return.
type InvokeError struct {
	Status  int
	Payload string
}

func (e *InvokeError) Error() string {
	return fmt.Sprintf("lambda invoke: HTTP %d: %s", e.Status, e.Payload)
}

// Invoke sends event synchronously (RequestResponse) and returns the function's result. A
// function error, a crash or a time-out is an *InvokeError.
func (l *Lambda) Invoke(ctx context.Context, event any) ([]byte, error) {
	body, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		if l.proc.exited() {
			return nil, fmt.Errorf("harness: RIE exited (%v); log %s:\n%s", l.proc.waitErr, l.LogPath, l.proc.logTail(30))
		}
		return nil, fmt.Errorf("harness: invoke: %w", err)
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || isLambdaError(payload) {
		return payload, &InvokeError{Status: resp.StatusCode, Payload: string(payload)}
	}
	return payload, nil
}

func isLambdaError(payload []byte) bool {
	if bytes.HasPrefix(payload, []byte("Task timed out")) {
		return true
	}
	var e struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	return json.Unmarshal(payload, &e) == nil && (e.ErrorType != "" || e.ErrorMessage != "")
}

// Log returns everything RIE and the function wrote, e.g. to check that no secret leaked.
func (l *Lambda) Log() string {
	b, _ := os.ReadFile(l.LogPath)
	return string(b)
}

// LogTail returns the last n lines of the function log.
func (l *Lambda) LogTail(n int) string { return l.proc.logTail(n) }

// Stop ends RIE and the bootstrap.
func (l *Lambda) Stop() {
	if l != nil && l.proc != nil {
		l.proc.stop(3 * time.Second)
	}
}
