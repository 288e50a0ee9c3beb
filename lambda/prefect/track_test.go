package prefect

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/fakesleep"
)

// Track names the call in flight with its attempt, keeps naming the call a
// deadline cut short, and clears a call that returned on its own.
func TestTrack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var describe func() string
		var seen []string // what Track said while the server was answering
		srv := &script{steps: []http.HandlerFunc{
			func(w http.ResponseWriter, r *http.Request) { seen = append(seen, describe()); w.WriteHeader(500) },
			func(w http.ResponseWriter, r *http.Request) {
				seen = append(seen, describe())
				status(201, poolJSON)(w, r)
			},
			status(403, `{"detail":"no"}`),
			hangs,
		}}
		c, _ := newTestClient(t, "http://prefect.invalid", func(c *Config) { c.HTTPClient = fakesleep.Client(srv) })

		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
		defer cancel()
		ctx, describe = Track(ctx)
		if got := describe(); got != "" {
			t.Errorf("before any call: %q", got)
		}
		if _, err := c.CreateWorkPool(ctx, WorkPoolCreate{Name: "p", Type: "ecs"}); err != nil {
			t.Fatal(err)
		}
		want := []string{"POST /work_pools/ still running (attempt 1)", "POST /work_pools/ still running (attempt 2)"}
		if len(seen) != 2 || seen[0] != want[0] || seen[1] != want[1] {
			t.Errorf("in flight: %q, want %q", seen, want)
		}
		if got := describe(); got != "" {
			t.Errorf("after a successful call: %q", got)
		}
		if err := c.DeleteWorkPool(ctx, "p"); StatusOf(err) != 403 {
			t.Fatalf("err = %v", err)
		}
		if got := describe(); got != "" {
			t.Errorf("after a refused call: %q", got)
		}
		if _, err := c.ReadWorkPool(ctx, "p"); err == nil {
			t.Fatal("a hung call succeeded")
		}
		const hung = "GET /work_pools/p still running (attempt 4)" // 30 s attempts: the 4th is cut at 100 s
		if got := describe(); got != hung {
			t.Errorf("after the deadline: %q, want %q", got, hung)
		}
		if err := c.DeleteDeployment(ctx, "d"); err == nil {
			t.Fatal("a call after the deadline succeeded")
		}
		if got := describe(); got != hung {
			t.Errorf("a call after the deadline replaced the hung one: %q", got)
		}
	})
}
