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
	// AuthString is the API containers' PREFECT_SERVER_API_AUTH_STRING ("" without one).
	AuthString string

	prefect string // the venv's prefect
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
func StartCluster(ctx context.Context, srv *Server, dir string, apis int) (c *Cluster, err error) {
	c = &Cluster{Server: srv, Dir: dir}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.prefect, err = harness.VenvTool("prefect"); err != nil {
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
		c.Postgres, pgErr = StartPostgres(ctx, PostgresConfig{Dir: mkdir(c.Dir, "postgres", &pgErr),
			User: srv.DB.User, Password: srv.DB.Password, Database: srv.DB.Name})
	})
	if srv.Redis != nil {
		wg.Go(func() {
			c.Redis, redisErr = StartRedis(ctx, RedisConfig{Dir: mkdir(c.Dir, "redis", &redisErr), Password: srv.Redis.Password, TLS: srv.Redis.TLS})
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

// Process is how container name runs here: its command with the venv's prefect and, for a
// server, loopback and port instead of 0.0.0.0 and the container port; its environment from
// the task definition (Server.Env) plus only what a process on this machine needs instead of
// the image's: PATH (the venv), HOME and PREFECT_HOME (a directory of its own instead of the
// image's paths), LANG and TZ, SSL_CERT_FILE (the Redis stand-in's CA, which Python's default TLS
// context then trusts, as the image trusts ElastiCache's public CA), and
// PREFECT_SERVER_ANALYTICS_ENABLED=false when the template leaves it unset (no network).
func (c *Cluster) Process(name string, port int) (harness.ServiceConfig, error) {
	ctr := c.Server.Containers[name]
	env, err := c.Server.Env(name, c.Locals)
	if err != nil {
		return harness.ServiceConfig{}, err
	}
	if len(ctr.Command) == 0 || ctr.Command[0] != "prefect" {
		return harness.ServiceConfig{}, fmt.Errorf("serverlive: container %s runs %q, not prefect", name, ctr.Command)
	}
	argv := append([]string{c.prefect}, ctr.Command[1:]...)
	for i := 1; i+1 < len(argv); i++ {
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
	home := filepath.Join(c.Dir, name+"-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return harness.ServiceConfig{}, err
	}
	local := map[string]string{"PATH": filepath.Dir(c.prefect) + ":/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "TZ": "UTC"}
	if c.Redis != nil && c.Redis.CAFile != "" {
		local["SSL_CERT_FILE"] = c.Redis.CAFile
	}
	for k, v := range local {
		if _, set := env[k]; set {
			return harness.ServiceConfig{}, fmt.Errorf("serverlive: container %s sets %s, which the test sets for this machine", name, k)
		}
		env[k] = v
	}
	// The image's Prefect home (a scratch volume there) is a directory of the process's here.
	if !filepath.IsAbs(env["PREFECT_HOME"]) {
		return harness.ServiceConfig{}, fmt.Errorf("serverlive: container %s: PREFECT_HOME %q, want the image's absolute path", name, env["PREFECT_HOME"])
	}
	env["PREFECT_HOME"] = filepath.Join(home, ".prefect")
	if _, set := env["PREFECT_SERVER_ANALYTICS_ENABLED"]; !set {
		env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
	}
	var list []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	return harness.ServiceConfig{Name: name, LogDir: c.Dir, WorkDir: home, Argv: argv, Env: list, StartTimeout: StartTimeout}, nil
}

// Stop stops every process, the proxy and the backends; safe on a partly started cluster.
func (c *Cluster) Stop() {
	if c.Proxy != nil {
		c.Proxy.Close()
	}
	var wg sync.WaitGroup
	for _, a := range c.APIs {
		wg.Go(func() { a.Stop() })
	}
	wg.Go(func() { c.Services.Stop() })
	wg.Wait()
	c.Redis.stop()
	c.Postgres.stop()
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
