package serverlive

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// RedisConfig is the cache the stack's ElastiCache replication group would be: its AUTH
// token (the default user's password) and whether it takes TLS only (transit encryption).
// CertDir (readable by every user) gets the CA clients verify the server with.
type RedisConfig struct {
	Dir, CertDir, Password string
	TLS                    bool
}

// Redis is a running Debian redis-server on loopback. With TLS it accepts TLS only, with a
// certificate for 127.0.0.1 from a CA of its own: CAFile, which clients must trust. It keeps
// its data in an append-only file, written at every command, so a restart keeps it: the
// replica that ElastiCache promotes when the primary fails has it too.
type Redis struct {
	*harness.Service
	Host   string
	Port   int
	CAFile string

	password string
	tlsConf  *tls.Config
	start    func() (*harness.Service, error)
}

// StartRedis starts redis-server with cfg's password (from a 0600 config file, not the
// command line) on a free loopback port, nothing persisted, and waits until AUTH and PING
// answer over the same kind of connection a client makes.
func StartRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	exe, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("serverlive: no redis-server on PATH: run `make server-deps`")
	}
	if cfg.Password == "" || strings.ContainsAny(cfg.Password, "\" \n") {
		return nil, errors.New("serverlive: redis password empty or not quotable")
	}
	r := &Redis{Host: "127.0.0.1", password: cfg.Password}
	if cfg.TLS {
		if r.CAFile, r.tlsConf, err = writeTLS(cfg.CertDir, cfg.Dir, "redis"); err != nil {
			return nil, err
		}
	}
	for range 3 {
		if r.Port, err = harness.FreePort(); err != nil {
			return nil, err
		}
		conf := []string{"bind 127.0.0.1", "protected-mode yes", `save ""`, "appendonly yes", "appendfsync always", "dir " + cfg.Dir,
			`requirepass "` + cfg.Password + `"`}
		if cfg.TLS {
			conf = append(conf, "port 0", "tls-port "+strconv.Itoa(r.Port), "tls-auth-clients no",
				"tls-cert-file "+filepath.Join(cfg.Dir, "redis.crt"), "tls-key-file "+filepath.Join(cfg.Dir, "redis.key"),
				"tls-ca-cert-file "+r.CAFile)
		} else {
			conf = append(conf, "port "+strconv.Itoa(r.Port))
		}
		file := filepath.Join(cfg.Dir, "redis.conf")
		if err := os.WriteFile(file, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			return nil, err
		}
		r.start = func() (*harness.Service, error) {
			return harness.StartService(ctx, harness.ServiceConfig{Name: "redis", LogDir: cfg.Dir,
				Env: []string{"LANG=C.UTF-8", "PATH=" + os.Getenv("PATH")}, Argv: []string{exe, file}})
		}
		if r.Service, err = r.start(); err != nil {
			return nil, err
		}
		if err = r.waitReady(ctx, cfg.Password, r.tlsConf); err == nil {
			return r, nil
		}
		r.Stop()
		if !strings.Contains(r.Log(), "already in use") {
			return nil, err
		}
	}
	return nil, fmt.Errorf("serverlive: redis found no free port in 3 tries: %w", err)
}

// Restart stops redis-server (SIGTERM: it flushes the append-only file and exits, cutting
// every client's connection) and starts it again on the same port and data.
func (r *Redis) Restart(ctx context.Context) error {
	r.Service.Stop()
	svc, err := r.start()
	if err != nil {
		return err
	}
	r.Service = svc
	return r.waitReady(ctx, r.password, r.tlsConf)
}

// waitReady polls AUTH default <password> + PING until PONG, the server exits or 60 s pass.
func (r *Redis) waitReady(ctx context.Context, password string, tlsConf *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	ready := func() (bool, error) {
		last = r.ping(ctx, password, tlsConf)
		return last == nil, nil
	}
	if err := harness.WaitFor(ctx, "redis to answer PING", 100*time.Millisecond, ready, r.Service); err != nil {
		return fmt.Errorf("serverlive: %w (last: %v); log %s:\n%s", err, last, r.LogPath, r.LogTail(20))
	}
	return nil
}

func (r *Redis) ping(ctx context.Context, password string, tlsConf *tls.Config) error {
	_, err := r.command(ctx, password, tlsConf, "PING")
	return err
}

// Keys lists the keys matching pattern (KEYS), e.g. to see what Prefect keeps in Redis.
func (r *Redis) Keys(ctx context.Context, pattern string) ([]string, error) {
	return r.command(ctx, r.password, r.tlsConf, "KEYS", pattern)
}

// command authenticates as the default user over a new connection (TLS with tlsConf) and
// runs one command: PING must answer PONG, SET OK, KEYS an array of bulk strings; an
// integer reply is its one element.
func (r *Redis) command(ctx context.Context, password string, tlsConf *tls.Config, args ...string) ([]string, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	addr := net.JoinHostPort(r.Host, strconv.Itoa(r.Port))
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := fmt.Sprintf("*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$%d\r\n%s\r\n*%d\r\n", len(password), password, len(args))
	for _, a := range args {
		req += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	line := func() (string, error) {
		l, err := br.ReadString('\n')
		return strings.TrimRight(l, "\r\n"), err
	}
	if l, err := line(); err != nil || l != "+OK" {
		return nil, fmt.Errorf("redis AUTH answered %q (%v)", l, err)
	}
	l, err := line()
	switch {
	case err != nil:
		return nil, err
	case l == "+PONG" || l == "+OK":
		return nil, nil
	case strings.HasPrefix(l, ":"): // an integer
		return []string{l[1:]}, nil
	case !strings.HasPrefix(l, "*"):
		return nil, fmt.Errorf("redis %s answered %q", args[0], l)
	}
	n, _ := strconv.Atoi(l[1:])
	out := make([]string, 0, n)
	for range n {
		if _, err := line(); err != nil { // $<length>
			return nil, err
		}
		v, err := line()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// writeTLS writes a CA of its own (caDir/<name>-ca.crt, readable by everyone) and a server
// certificate for 127.0.0.1 and localhost signed by it (dir/<name>.crt and <name>.key), and
// returns the CA's path and a client config trusting only that CA.
func writeTLS(caDir, dir, name string) (string, *tls.Config, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "serverlive test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return "", nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", nil, err
	}
	caFile := filepath.Join(caDir, name+"-ca.crt")
	err = errors.Join(
		os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644),
		os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644),
		os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return caFile, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, err
}
