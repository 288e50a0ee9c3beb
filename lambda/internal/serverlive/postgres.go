package serverlive

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// PostgresConfig is the database the stack's RDS instance would hold: its master user and
// password, and the database it creates (DBName). Dir keeps the data directory and logs;
// CertDir (readable by every user) gets the CA clients verify the server with.
type PostgresConfig struct {
	Dir, CertDir, User, Password, Database string
}

// Postgres is a running Debian PostgreSQL on loopback; Port is its TCP port. Like RDS
// (rds.force_ssl, on by default from PostgreSQL 15) it takes TLS connections only, with a
// certificate for 127.0.0.1 from a CA of its own: CAFile.
type Postgres struct {
	*harness.Service
	Host   string
	Port   int
	CAFile string

	dir, bin, adminPW string
	start             func() (*harness.Service, error)
}

// identifier is what the test accepts as a role or database name (it quotes them as is).
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// postgresGlobs are where packages put initdb: Debian's and Ubuntu's
// /usr/lib/postgresql/<major>/bin (`make server-deps` installs it), and Homebrew's keg-only
// postgresql@<major> (not on PATH), under /opt/homebrew (Apple silicon) or /usr/local (Intel).
var postgresGlobs = []string{"/usr/lib/postgresql/*/bin/initdb", "/opt/homebrew/opt/postgresql@*/bin/initdb", "/usr/local/opt/postgresql@*/bin/initdb"}

// PostgresBin is the directory of initdb and postgres: the newest of postgresGlobs, else the
// one on PATH.
func PostgresBin() (string, error) {
	var dirs []string
	for _, g := range postgresGlobs {
		m, _ := filepath.Glob(g)
		dirs = append(dirs, m...)
	}
	slices.SortFunc(dirs, func(a, b string) int { return majorOf(a) - majorOf(b) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[len(dirs)-1]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("serverlive: no PostgreSQL (initdb) under /usr/lib/postgresql/*/bin, Homebrew's opt/postgresql@*/bin or on PATH: run `make server-deps`")
}

// majorOf is the major version in .../postgresql/<major>/bin/initdb or .../postgresql@<major>/bin/initdb.
func majorOf(initdb string) int {
	dir := filepath.Base(filepath.Dir(filepath.Dir(initdb)))
	_, v, found := strings.Cut(dir, "@")
	if !found {
		v = dir
	}
	n, _ := strconv.Atoi(v)
	return n
}

// StartPostgres initializes a cluster in cfg.Dir with a superuser of the test's own, starts
// it on a free loopback port (no Unix socket, no fsync: throw-away data), and creates
// cfg.User (LOGIN, not a superuser, like RDS's master user) with cfg.Password and
// cfg.Database owned by it. As root it runs as the postgres user (PostgreSQL refuses root)
// from / (it may search the test's private directories only once it runs).
func StartPostgres(ctx context.Context, cfg PostgresConfig) (*Postgres, error) {
	if !identifier.MatchString(cfg.User) || !identifier.MatchString(cfg.Database) || cfg.Password == "" || strings.Contains(cfg.Password, "'") {
		return nil, fmt.Errorf("serverlive: database user %q, database %q or password not usable", cfg.User, cfg.Database)
	}
	bin, err := PostgresBin()
	if err != nil {
		return nil, err
	}
	runAs, err := postgresUser()
	if err != nil {
		return nil, err
	}
	data, adminPW := filepath.Join(cfg.Dir, "pgdata"), randomHex(16)
	pwFile := filepath.Join(cfg.Dir, "pgadmin.pw")
	if err := errors.Join(os.MkdirAll(data, 0o700), os.WriteFile(pwFile, []byte(adminPW+"\n"), 0o600)); err != nil {
		return nil, err
	}
	if runAs != nil {
		err = errors.Join(os.Chown(data, int(runAs.UID), int(runAs.GID)), os.Chown(pwFile, int(runAs.UID), int(runAs.GID)))
		if err != nil {
			return nil, err
		}
	}
	env := []string{"LANG=C.UTF-8", "TZ=UTC", "PATH=" + os.Getenv("PATH")}
	err = harness.Run(ctx, harness.ServiceConfig{Name: "initdb", LogDir: cfg.Dir, WorkDir: "/", RunAs: runAs, Env: env,
		Argv: []string{filepath.Join(bin, "initdb"), "-D", data, "-U", "serverlive_admin", "--pwfile", pwFile,
			"--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync"}})
	if err != nil {
		return nil, err
	}
	if cfg.CertDir == "" {
		// Never the working directory (the package's source folder under go test).
		return nil, errors.New("serverlive: PostgresConfig.CertDir is empty: name the folder for the CA clients verify the server with")
	}
	caFile, _, err := writeTLS(cfg.CertDir, cfg.Dir, "postgres")
	if err == nil {
		// TLS only, with a password, from loopback: no other line, so a plain connection is refused.
		err = os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte("hostssl all all 127.0.0.1/32 scram-sha-256\n"), 0o600)
	}
	if err == nil && runAs != nil {
		err = errors.Join(os.Chown(filepath.Join(data, "pg_hba.conf"), int(runAs.UID), int(runAs.GID)),
			os.Chown(filepath.Join(cfg.Dir, "postgres.key"), int(runAs.UID), int(runAs.GID)))
	}
	if err != nil {
		return nil, err
	}
	for range 3 {
		port, err := harness.FreePort()
		if err != nil {
			return nil, err
		}
		pg := &Postgres{Host: "127.0.0.1", Port: port, CAFile: caFile, dir: cfg.Dir, bin: bin, adminPW: adminPW}
		pg.start = func() (*harness.Service, error) {
			return harness.StartService(ctx, harness.ServiceConfig{Name: "postgres", LogDir: cfg.Dir, WorkDir: "/", RunAs: runAs, Env: env,
				Argv: []string{filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
					"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
					"-c", "max_connections=300", "-c", "ssl=on",
					"-c", "ssl_cert_file=" + filepath.Join(cfg.Dir, "postgres.crt"), "-c", "ssl_key_file=" + filepath.Join(cfg.Dir, "postgres.key")}})
		}
		if pg.Service, err = pg.start(); err != nil {
			return nil, err
		}
		sql := fmt.Sprintf(`CREATE ROLE "%s" LOGIN PASSWORD '%s'; CREATE DATABASE "%s" OWNER "%s";`, cfg.User, cfg.Password, cfg.Database, cfg.User)
		if err = pg.psql(ctx, sql); err == nil {
			return pg, nil
		}
		pg.Service.Stop()
		if !strings.Contains(pg.Service.Log(), "already in use") {
			return nil, err
		}
	}
	return nil, fmt.Errorf("serverlive: postgres found no free port in 3 tries; logs in %s", cfg.Dir)
}

// psql runs sql as the admin once the server accepts connections (it may still be starting).
func (p *Postgres) psql(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := p.waitReady(ctx); err != nil {
		return err
	}
	// One statement per -c: CREATE DATABASE cannot run inside the implicit transaction of a
	// multi-statement string.
	for _, stmt := range strings.SplitAfter(sql, ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			if _, err := p.Query(ctx, stmt); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitReady waits until a query succeeds (until then psql fails to connect).
func (p *Postgres) waitReady(ctx context.Context) error {
	ready := func() (bool, error) {
		_, err := p.Query(ctx, "SELECT 1")
		return err == nil, nil
	}
	if err := harness.WaitFor(ctx, "postgres to accept connections", 200*time.Millisecond, ready, p.Service); err != nil {
		return fmt.Errorf("serverlive: %w; log %s", err, p.LogPath)
	}
	return nil
}

// Query runs one statement as the admin over TLS, verifying the server against CAFile, and
// returns its rows, unaligned, one line each.
func (p *Postgres) Query(ctx context.Context, sql string) ([]string, error) {
	return p.QueryIn(ctx, "postgres", sql)
}

// QueryIn is Query in database.
func (p *Postgres) QueryIn(ctx context.Context, database, sql string) ([]string, error) {
	psql := filepath.Join(p.bin, "psql")
	if _, err := os.Stat(psql); err != nil {
		psql = "psql"
	}
	cmd := exec.CommandContext(ctx, psql, "-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", "serverlive_admin", "-d", database,
		"-v", "ON_ERROR_STOP=1", "-q", "-A", "-t", "-c", sql)
	cmd.Env = []string{"PGPASSWORD=" + p.adminPW, "PGCONNECT_TIMEOUT=5", "PGSSLMODE=verify-full", "PGSSLROOTCERT=" + p.CAFile,
		"LANG=C.UTF-8", "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("serverlive: psql %q: %w: %s", sql, err, strings.TrimSpace(string(out)))
	}
	var rows []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			rows = append(rows, l)
		}
	}
	return rows, nil
}

// Halt stops PostgreSQL with a fast shutdown (SIGINT: open connections are cut, and what was
// committed is written out), as a reboot or a Multi-AZ failover looks to a client; Resume
// starts it again on the same data and port.
func (p *Postgres) Halt() {
	_ = syscall.Kill(p.Service.Pid(), syscall.SIGINT)
	for deadline := time.Now().Add(30 * time.Second); !p.Service.Exited() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	p.Service.Stop()
}

// Resume starts PostgreSQL again after Halt and waits until it takes queries.
func (p *Postgres) Resume(ctx context.Context) error {
	svc, err := p.start()
	if err != nil {
		return err
	}
	p.Service = svc
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	return p.waitReady(ctx)
}

// Restart is Halt, then Resume.
func (p *Postgres) Restart(ctx context.Context) error {
	p.Halt()
	return p.Resume(ctx)
}

// postgresUser is whom PostgreSQL runs as: nobody else when the test is not root; as root,
// the postgres user of Debian's package, which may search the test's private directories.
func postgresUser() (*harness.RunAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("serverlive: running as root, PostgreSQL needs the postgres user of Debian's package: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &harness.RunAs{UID: uint32(uid), GID: uint32(gid), ReadAnywhere: true}, nil
}
