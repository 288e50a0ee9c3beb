package serverlive

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Peaks samples pg_stat_activity while the cluster runs: the most connections each
// application_name (the server containers set one each) held at a time. Sampling can miss a
// burst shorter than its interval, so a peak is a lower bound of the true one.
type Peaks struct {
	mu     sync.Mutex
	max    map[string]int
	cancel context.CancelFunc
	done   chan struct{}
}

// samplePeaks polls pg every interval for the connections of user until Stop.
func samplePeaks(pg *Postgres, user string, interval time.Duration) *Peaks {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peaks{max: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for ctx.Err() == nil {
			// During a Halt the query fails: that moment has no connections to count.
			rows, _ := pg.Query(ctx, "SELECT application_name || '|' || count(*) FROM pg_stat_activity WHERE usename = '"+user+"' GROUP BY application_name")
			p.mu.Lock()
			for _, r := range rows {
				name, n, _ := strings.Cut(r, "|")
				if v, err := strconv.Atoi(n); err == nil && v > p.max[name] {
					p.max[name] = v
				}
			}
			p.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return p
}

// Max is the peak of each application_name so far.
func (p *Peaks) Max() map[string]int {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.max)
}

// Stop ends the sampling.
func (p *Peaks) Stop() {
	if p != nil {
		p.cancel()
		<-p.done
	}
}
