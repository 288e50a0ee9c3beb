package fargate

import "testing"

// TestTable pins the table to AWS's documented pairs at its edges.
func TestTable(t *testing.T) {
	for _, c := range []struct {
		cpu, memory int
		ok          bool
	}{
		{256, 512, true}, {256, 2048, true}, {256, 3072, false}, {256, 8192, false},
		{512, 1024, true}, {512, 4096, true}, {512, 512, false},
		{1024, 2048, true}, {1024, 8192, true}, {1024, 9216, false},
		{2048, 16384, true}, {4096, 30720, true}, {4096, 31744, false},
		{8192, 16384, true}, {8192, 20480, true}, {8192, 17408, false},
		{16384, 122880, true}, {16384, 36864, false}, {300, 1024, false},
	} {
		if got := Fits(c.cpu, c.memory); got != c.ok {
			t.Errorf("Fits(%d, %d) = %v, want %v", c.cpu, c.memory, got, c.ok)
		}
	}
	for _, cpu := range CPUs {
		if Memory(cpu) == nil {
			t.Errorf("Memory(%d) = nil for a listed CPU size", cpu)
		}
	}
	if got := List(Memory(256)); got != "512, 1024, 2048" {
		t.Errorf("List = %q", got)
	}
}
