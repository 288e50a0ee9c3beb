// Package prefectpy gives tests the pinned Prefect's interpreter.
package prefectpy

import (
	"os"
	"testing"
)

// Python is the pinned Prefect's interpreter, $PREFECT_PYTHON; the test is skipped
// without it, and fails without it when the integration suite runs (`make test` sets it).
func Python(tb testing.TB) string {
	tb.Helper()
	py := os.Getenv("PREFECT_PYTHON")
	if py == "" {
		if os.Getenv("PREFECT_ECS_CDK_INTEGRATION") == "1" {
			tb.Fatal("PREFECT_PYTHON is not set (make test sets it to the venv's python)")
		}
		tb.Skip("PREFECT_PYTHON not set; run through `make test`")
	}
	return py
}
