package harness

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// BuildBootstrap compiles the function for the host, with the stack's build flags, into
// outDir/bootstrap.
func BuildBootstrap(ctx context.Context, root, outDir string) (string, error) {
	return goBuild(ctx, root, filepath.Join(outDir, "bootstrap"), append(append([]string{}, contract.BuildFlags...), "./lambda")...)
}

// BuildRIE builds the Runtime Interface Emulator, a tool dependency in go.mod, into outDir.
func BuildRIE(ctx context.Context, root, outDir string) (string, error) {
	return goBuild(ctx, root, filepath.Join(outDir, "aws-lambda-rie"), "-trimpath", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
}

// goBuild runs `go build -o out args…` in root with contract.BuildEnv and returns out.
func goBuild(ctx context.Context, root, out string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", out}, args...)...)
	cmd.Dir, cmd.Env = root, append(os.Environ(), contract.BuildEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("harness: go build %v: %w\n%s", args, err, b)
	}
	return out, nil
}

// LambdaConfig describes one function container, one RIE that starts the bootstrap (an
// absolute path) on its first invoke: Dir holds the log, Env is added to a fake AWS
// identity, Timeout defaults to 60 s.
type LambdaConfig struct {
	Dir, Bootstrap, RIE, Name string
	Env                       map[string]string
	Timeout                   time.Duration
	MemoryMB                  int
}

// Lambda is a running RIE with the function; URL is the invoke endpoint.
type Lambda struct {
	*Service
	URL string
	hc  *http.Client
}

// StartLambda starts RIE on two free loopback ports (invoke and runtime API).
func StartLambda(ctx context.Context, cfg LambdaConfig) (*Lambda, error) {
	timeout, name := cmp.Or(cfg.Timeout, 60*time.Second), cmp.Or(cfg.Name, "function")
	vars := map[string]string{"AWS_REGION": FakeRegion, "AWS_DEFAULT_REGION": FakeRegion, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ACCESS_KEY_ID": FakeAccessKeyID, "AWS_SECRET_ACCESS_KEY": FakeSecretAccessKey, "LOG_LEVEL": "info",
		"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cmp.Or(cfg.MemoryMB, 256)),
		"AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(int((timeout + time.Second - 1) / time.Second))}
	env := baseEnv(cfg.Dir)
	for _, m := range []map[string]string{vars, cfg.Env} {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return withPortRetry(0, func(port int) (*Lambda, error) {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		runtimePort, err := FreePort()
		if err != nil {
			return nil, err
		}
		svc, err := StartService(ctx, ServiceConfig{
			Name: "lambda-" + name, LogDir: cfg.Dir, WorkDir: filepath.Dir(cfg.Bootstrap), Env: env,
			Argv: []string{cfg.RIE, "--runtime-interface-emulator-address", addr,
				"--runtime-api-address", "127.0.0.1:" + strconv.Itoa(runtimePort), cfg.Bootstrap},
			HealthURL: "http://" + addr + "/", StartTimeout: 30 * time.Second,
		})
		if err != nil {
			return nil, err
		}
		return &Lambda{Service: svc, URL: "http://" + addr + "/2015-03-31/functions/function/invocations",
			hc: &http.Client{Timeout: timeout + 30*time.Second}}, nil
	})
}

// Invoke sends the JSON event synchronously; a function error, crash or time-out is an error.
func (l *Lambda) Invoke(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("harness: invoke (RIE exited: %v): %w", l.Exited(), err)
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	var fnErr struct{ ErrorType, ErrorMessage string }
	if err == nil && (resp.StatusCode != http.StatusOK || bytes.HasPrefix(payload, []byte("Task timed out")) ||
		json.Unmarshal(payload, &fnErr) == nil && fnErr != (struct{ ErrorType, ErrorMessage string }{})) {
		err = fmt.Errorf("lambda invoke: HTTP %d: %s", resp.StatusCode, payload)
	}
	return payload, err
}
