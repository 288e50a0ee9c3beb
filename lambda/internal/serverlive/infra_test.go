package serverlive

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
)

// TestPostgresAndRedis: the stand-ins start as configured, a second password fails, PostgreSQL
// refuses a connection without TLS and Redis one with another CA, a restart of either keeps
// the data, and nothing of them outlives Stop.
func TestPostgresAndRedis(t *testing.T) {
	harness.NeedIntegration(t, "Debian's PostgreSQL and Redis, from make server-deps")
	ctx := t.Context()
	dir, certs := t.TempDir(), t.TempDir()
	pw := randomHex(16)
	pg, err := StartPostgres(ctx, PostgresConfig{Dir: filepath.Join(dir, "pg"), CertDir: certs, User: "prefect_live", Password: pw, Database: "prefect"})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	bin, _ := PostgresBin()
	query := func(password, sslmode, sql string) error {
		return harness.Run(ctx, harness.ServiceConfig{Name: "psql-check", LogDir: dir,
			Env:  []string{"PGPASSWORD=" + password, "PGSSLMODE=" + sslmode, "PGSSLROOTCERT=" + pg.CAFile, "PATH=" + os.Getenv("PATH")},
			Argv: []string{filepath.Join(bin, "psql"), "-h", pg.Host, "-p", fmt.Sprint(pg.Port), "-U", "prefect_live", "-d", "prefect", "-c", sql}})
	}
	if err := query(pw, "verify-full", "CREATE TABLE t (x int); INSERT INTO t VALUES (42)"); err != nil {
		t.Errorf("the user cannot create a table in its database over verified TLS: %v", err)
	}
	if err := query("wrong", "verify-full", "SELECT 1"); err == nil {
		t.Error("a wrong password connects")
	}
	if err := query(pw, "disable", "SELECT 1"); err == nil {
		t.Error("PostgreSQL accepts a connection without TLS")
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if rows, err := pg.Query(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'prefect'"); err != nil || len(rows) != 1 || rows[0] != "1" {
		t.Errorf("after a restart: %v, %v", rows, err)
	}
	if err := query(pw, "verify-full", "SELECT x FROM t WHERE x = 42"); err != nil {
		t.Errorf("a committed row is gone after a restart: %v", err)
	}

	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := StartRedis(ctx, RedisConfig{Dir: rdir, CertDir: certs, Password: pw, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	_, tlsConf, _ := writeTLS(t.TempDir(), t.TempDir(), "other") // a CA of another test run: must not be trusted
	if err := r.ping(ctx, pw, tlsConf); err == nil {
		t.Error("redis's certificate verifies against another CA")
	}
	if err := r.ping(ctx, pw, nil); err == nil {
		t.Error("redis answers without TLS")
	}
	if _, err := r.command(ctx, pw, r.tlsConf, "SET", "serverlive:kept", "1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, err := r.Keys(ctx, "serverlive:*"); err != nil || len(keys) != 1 {
		t.Errorf("after a restart, Redis has %v (%v), want the key written before", keys, err)
	}
	if strings.Contains(r.Log(), pw) || strings.Contains(pg.Log(), pw) {
		t.Error("a password is in a server log")
	}
}

// TestProxyRoundRobin: requests alternate between the backends, the Host passes through,
// and a websocket works through it.
func TestProxyRoundRobin(t *testing.T) {
	var hosts []string
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") == "websocket" {
				echoWS(t, w, r, name)
				return
			}
			hosts = append(hosts, r.Host)
			io.WriteString(w, name)
		}))
	}
	a, b := backend("a"), backend("b")
	defer a.Close()
	defer b.Close()
	p, err := StartProxy(a.URL, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var got []string
	for range 4 {
		resp, err := http.Get(p.URL + "/api/health")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, string(body))
	}
	if strings.Join(got, "") != "abab" {
		t.Errorf("backends answered %v, want a b a b", got)
	}
	if host := strings.TrimPrefix(p.URL, "http://"); hosts[0] != host {
		t.Errorf("backend saw Host %q, want the proxy's %q", hosts[0], host)
	}
	ws, err := DialWS(t.Context(), p.URL+"/ws", "prefect")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	long := strings.Repeat("x", 70000) // a 64-bit length on the way out, 16-bit… both ways
	for _, msg := range []string{"hello", long} {
		if err := ws.WriteText([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		back, err := ws.ReadText(time.Now().Add(10 * time.Second))
		if err != nil || string(back) != "a:"+msg {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(back), err)
		}
	}
	if h := p.Hits(); h[0] != 3 || h[1] != 2 {
		t.Errorf("hits %v, want [3 2]", h)
	}
}

// echoWS is the server end of a websocket for the test: it echoes one text message per
// frame, prefixed with name, then closes when the client does.
func echoWS(t *testing.T, w http.ResponseWriter, r *http.Request, name string) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-Websocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: prefect\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	rw.Flush()
	for {
		msg, err := readMasked(rw.Reader)
		if err != nil {
			return
		}
		out := append([]byte(name+":"), msg...)
		hdr := []byte{0x81}
		if len(out) < 126 {
			hdr = append(hdr, byte(len(out)))
		} else {
			hdr = append(hdr, 127, 0, 0, 0, 0, byte(len(out)>>24), byte(len(out)>>16), byte(len(out)>>8), byte(len(out)))
		}
		rw.Write(append(hdr, out...))
		rw.Flush()
	}
}

func readMasked(br *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	if n >= 126 {
		ext := make([]byte, map[int]int{126: 2, 127: 8}[n])
		if _, err := io.ReadFull(br, ext); err != nil {
			return nil, err
		}
		n = 0
		for _, b := range ext {
			n = n<<8 | int(b)
		}
	}
	buf := make([]byte, 4+n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	for i := range n {
		buf[4+i] ^= buf[i%4]
	}
	return buf[4:], nil
}
