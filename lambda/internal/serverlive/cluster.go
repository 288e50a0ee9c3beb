package serverlive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// Cluster is a ServerStack running on loopback: PostgreSQL, Redis when the template has a
// replication group, the migration run once, APIs API processes behind Proxy, and the
// services process when the template has a services container.
type Cluster struct {
	Server   *Server
	Dir      string
	Postgres *Postgres
	Redis    *Redis
	Proxy    *Proxy
	Locals   Locals
	APIs     []*API
	Services *harness.Service
	// Peaks are the database connections each container held at most, sampled from the
	// migration on.
	Peaks *Peaks
	// AuthString is the API containers' PREFECT_SERVER_API_AUTH_STRING ("" without one).
	AuthString string

	python    string            // the venv's python
	certs     string            // the stand-ins' CAs, readable by the containers' user
	overrides map[string]string // settings the test adds to the API and services containers
}

// API is one API process; URL is its base (PREFECT_API_URL without /api).
type API struct {
	*harness.Service
	Port int
	URL  string
}

// StartTimeout bounds a Prefect process's start: generous, since a loaded 2-core machine
// starting several at once takes long; it only ends a hang.
const StartTimeout = 4 * time.Minute

// StartCluster starts srv's stack in dir with apis API processes: the database and Redis,
// the proxy, the migrate container's command to its end, the API processes and the services.
// overrides are settings the test gives the API and services containers besides their own
// (a Prefect setting that shortens a wait, say); one the task definition sets is refused.
func StartCluster(ctx context.Context, srv *Server, dir string, apis int, overrides map[string]string) (c *Cluster, err error) {
	c = &Cluster{Server: srv, Dir: dir, overrides: overrides}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.python, err = harness.VenvTool("python"); err != nil {
		return c, err
	}
	// The containers' user must read the CAs: a directory of their own, not under dir (0700).
	if c.certs, err = os.MkdirTemp("", "serverlive-certs-"); err != nil {
		return c, err
	}
	if err := os.Chmod(c.certs, 0o755); err != nil {
		return c, err
	}
	if err := c.startBackends(ctx); err != nil {
		return c, err
	}
	var backends []string
	for range apis {
		port, err := harness.FreePort()
		if err != nil {
			return c, err
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		c.APIs = append(c.APIs, &API{Port: port, URL: base})
		backends = append(backends, base)
	}
	if c.Proxy, err = StartProxy(backends...); err != nil {
		return c, err
	}
	c.Locals.LBHost = c.Proxy.URL[len("http://"):]
	c.Peaks = samplePeaks(c.Postgres, srv.DB.User, 250*time.Millisecond)

	migrate, err := c.Process(contract.MigrationContainer, 0)
	if err != nil {
		return c, err
	}
	if err := harness.Run(ctx, migrate); err != nil {
		return c, fmt.Errorf("serverlive: the %s container's command: %w", contract.MigrationContainer, err)
	}
	apiEnv, err := srv.Env(contract.APIContainer, c.Locals)
	if err != nil {
		return c, err
	}
	c.AuthString = apiEnv["PREFECT_SERVER_API_AUTH_STRING"]
	errs := make([]error, len(c.APIs)+1)
	var wg sync.WaitGroup
	for i := range c.APIs {
		wg.Go(func() { errs[i] = c.StartAPI(ctx, i) })
	}
	if srv.Containers[contract.ServicesContainer] != nil {
		// Ready is shown by what it does (the test waits for scheduled runs), not a port.
		wg.Go(func() {
			cfg, err := c.Process(contract.ServicesContainer, 0)
			if err == nil {
				c.Services, err = harness.StartService(ctx, cfg)
			}
			errs[len(c.APIs)] = err
		})
	}
	wg.Wait()
	return c, errors.Join(errs...)
}

// startBackends starts PostgreSQL and (for a template with one) Redis side by side.
func (c *Cluster) startBackends(ctx context.Context) error {
	srv := c.Server
	var pgErr, redisErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		c.Postgres, pgErr = StartPostgres(ctx, PostgresConfig{Dir: mkdir(c.Dir, "postgres", &pgErr), CertDir: c.certs,
			User: srv.DB.User, Password: srv.DB.Password, Database: srv.DB.Name})
	})
	if srv.Redis != nil {
		wg.Go(func() {
			c.Redis, redisErr = StartRedis(ctx, RedisConfig{Dir: mkdir(c.Dir, "redis", &redisErr), CertDir: c.certs, Password: srv.Redis.Password, TLS: srv.Redis.TLS})
		})
	}
	wg.Wait()
	if err := errors.Join(pgErr, redisErr); err != nil {
		return err
	}
	c.Locals.DBHost, c.Locals.DBPort = c.Postgres.Host, c.Postgres.Port
	if c.Redis != nil {
		c.Locals.RedisHost, c.Locals.RedisPort = c.Redis.Host, c.Redis.Port
	}
	return nil
}

func mkdir(parent, name string, err *error) string {
	d := filepath.Join(parent, name)
	*err = os.MkdirAll(d, 0o700)
	return d
}

// StartAPI starts (or restarts, on the same port) API process i.
func (c *Cluster) StartAPI(ctx context.Context, i int) error {
	a := c.APIs[i]
	cfg, err := c.Process(contract.APIContainer, a.Port)
	if err != nil {
		return err
	}
	cfg.Name = fmt.Sprintf("api-%d", i)
	cfg.HealthURL = a.URL + cmp.Or(c.Server.HealthPath, "/api/health")
	a.Service, err = harness.StartService(ctx, cfg)
	return err
}

// Process is how container name runs here: its command with the venv's prefect or python
// and, for a server, loopback and port instead of 0.0.0.0 and the container port, in the
// container's Sandbox (its user, the installed Prefect read-only, its scratch volumes at the
// image's paths); its environment is the task definition's (Server.Env) plus only what the
// image sets or a process on this machine needs: PATH (the venv), HOME (the image's, the
// parent of PREFECT_HOME), LANG and TZ, SSL_CERT_FILE (the Redis stand-in's CA, which
// Python's default TLS context then trusts, as the image trusts ElastiCache's public CA), and
// PREFECT_SERVER_ANALYTICS_ENABLED=false when the template leaves it unset (no network). The
// database CA setting must name the image's RDS bundle (contract.ServerDatabaseCAFile): the
// PostgreSQL stand-in's CA takes its place.
func (c *Cluster) Process(name string, port int) (harness.ServiceConfig, error) {
	ctr := c.Server.Containers[name]
	env, err := c.environment(name)
	if err != nil {
		return harness.ServiceConfig{}, err
	}
	if len(ctr.Command) == 0 || ctr.Command[0] != "prefect" && ctr.Command[0] != "python" {
		return harness.ServiceConfig{}, fmt.Errorf("serverlive: container %s runs %q, not prefect or python", name, ctr.Command)
	}
	argv := append([]string{filepath.Join(filepath.Dir(c.python), ctr.Command[0])}, ctr.Command[1:]...)
	for i := 1; ctr.Command[0] == "prefect" && i+1 < len(argv); i++ {
		switch argv[i] {
		case "--host":
			argv[i+1] = "127.0.0.1"
		case "--port":
			if argv[i+1] != strconv.Itoa(contract.ServerPort) {
				return harness.ServiceConfig{}, fmt.Errorf("serverlive: container %s listens on %s, want contract.ServerPort %d", name, argv[i+1], contract.ServerPort)
			}
			argv[i+1] = strconv.Itoa(port)
		}
	}
	sb, err := NewSandbox(ctr, env["HOME"], c.python)
	if err != nil {
		return harness.ServiceConfig{}, err
	}
	return harness.ServiceConfig{Name: name, LogDir: c.Dir, WorkDir: "/", Argv: sb.Argv(argv), Env: envList(env, sb), StartTimeout: StartTimeout}, nil
}

// envList is env as a process's environment, with what the sandbox needs.
func envList(env map[string]string, sb *Sandbox) []string {
	var list []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	return append(list, sb.Env(env["PATH"]))
}

// environment is container name's environment here (see Process).
func (c *Cluster) environment(name string) (map[string]string, error) {
	env, err := c.Server.Env(name, c.Locals)
	if err != nil {
		return nil, err
	}
	home := filepath.Dir(env["PREFECT_HOME"])
	if !filepath.IsAbs(env["PREFECT_HOME"]) || home == "/" {
		return nil, fmt.Errorf("serverlive: container %s: PREFECT_HOME %q, want the image's absolute path below its HOME", name, env["PREFECT_HOME"])
	}
	local := map[string]string{"PATH": filepath.Dir(c.python) + ":/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "TZ": "UTC"}
	if c.Redis != nil && c.Redis.CAFile != "" {
		local["SSL_CERT_FILE"] = c.Redis.CAFile
	}
	for k, v := range local {
		if _, set := env[k]; set {
			return nil, fmt.Errorf("serverlive: container %s sets %s, which the test sets for this machine", name, k)
		}
		env[k] = v
	}
	const caVar = "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE"
	if ca, set := env[caVar]; set {
		if ca != contract.ServerDatabaseCAFile {
			return nil, fmt.Errorf("serverlive: container %s: %s=%s, want the image's RDS bundle %s", name, caVar, ca, contract.ServerDatabaseCAFile)
		}
		env[caVar] = c.Postgres.CAFile
	}
	if _, set := env["PREFECT_SERVER_ANALYTICS_ENABLED"]; !set {
		env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
	}
	for k, v := range c.overrides {
		if _, set := env[k]; set {
			return nil, fmt.Errorf("serverlive: container %s sets %s, which the test would override", name, k)
		}
		if name != contract.MigrationContainer {
			env[k] = v
		}
	}
	return env, nil
}

// HealthCheck runs container name's health check command as ECS does (a shell in the
// container, with its environment) in a new sandbox of that container: nil when it exits 0.
func (c *Cluster) HealthCheck(ctx context.Context, name string) error {
	ctr := c.Server.Containers[name]
	if ctr == nil || ctr.HealthCheck == "" {
		return fmt.Errorf("serverlive: container %s has no health check", name)
	}
	env, err := c.environment(name)
	if err != nil {
		return err
	}
	sb, err := NewSandbox(ctr, env["HOME"], c.python)
	if err != nil {
		return err
	}
	return harness.Run(ctx, harness.ServiceConfig{Name: name + "-healthcheck", LogDir: c.Dir, WorkDir: "/",
		Argv: sb.Argv([]string{"/bin/sh", "-c", ctr.HealthCheck}), Env: envList(env, sb)})
}

// Stop stops every process, the proxy and the backends; safe on a partly started cluster.
func (c *Cluster) Stop() {
	if c.Proxy != nil {
		c.Proxy.Close()
	}
	c.Peaks.Stop()
	var wg sync.WaitGroup
	for _, a := range c.APIs {
		wg.Go(func() { a.Stop() })
	}
	wg.Go(func() { c.Services.Stop() })
	wg.Wait()
	c.Redis.stop()
	c.Postgres.stop()
	if c.certs != "" {
		os.RemoveAll(c.certs)
	}
}

func (r *Redis) stop() {
	if r != nil {
		r.Stop()
	}
}

func (p *Postgres) stop() {
	if p != nil {
		p.Stop()
	}
}

// Logs is every log the cluster wrote, by path, e.g. to look for a leaked secret.
func (c *Cluster) Logs() map[string]string {
	out := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(c.Dir, "*.log"))
	more, _ := filepath.Glob(filepath.Join(c.Dir, "*", "*.log"))
	for _, p := range append(paths, more...) {
		b, _ := os.ReadFile(p)
		out[p] = string(b)
	}
	return out
}
