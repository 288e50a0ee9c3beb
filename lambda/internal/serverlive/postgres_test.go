package serverlive

import "testing"

// TestMajorOf: the version of Debian's and Homebrew's initdb paths, so the newest one is used.
func TestMajorOf(t *testing.T) {
	for path, want := range map[string]int{
		"/usr/lib/postgresql/16/bin/initdb":               16,
		"/opt/homebrew/opt/postgresql@17/bin/initdb":      17,
		"/usr/local/opt/postgresql@16/bin/initdb":         16,
		"/usr/local/Cellar/postgresql/unversioned/initdb": 0,
	} {
		if got := majorOf(path); got != want {
			t.Errorf("majorOf(%s) = %d, want %d", path, got, want)
		}
	}
}
