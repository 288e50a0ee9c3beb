// Package fargate holds the one table of task sizes Fargate accepts: the CPU units and, for
// each, the memory sizes it pairs with. The config (stacks.Settings: workerCpu/workerMemory,
// flowRunCpu/flowRunMemory) and the job-variable check (constructs/prefectcr) both read it.
package fargate

import (
	"fmt"
	"slices"
	"strings"
)

// CPUs are the Fargate CPU sizes, in CPU units.
var CPUs = []int{256, 512, 1024, 2048, 4096, 8192, 16384}

// memorySpans gives, for each CPU size but 256 (which pairs with 512, 1024 and 2048
// only), the memory Fargate accepts: lo to hi MiB in steps of step.
var memorySpans = map[int]struct{ lo, hi, step int }{
	512:   {1024, 4096, 1024},
	1024:  {2048, 8192, 1024},
	2048:  {4096, 16384, 1024},
	4096:  {8192, 30720, 1024},
	8192:  {16384, 61440, 4096},
	16384: {32768, 122880, 8192},
}

// Memory lists the memory sizes (MiB) Fargate accepts with cpu, or nil if cpu is not a
// Fargate CPU size.
func Memory(cpu int) []int {
	if cpu == 256 {
		return []int{512, 1024, 2048}
	}
	span, ok := memorySpans[cpu]
	if !ok {
		return nil
	}
	var out []int
	for m := span.lo; m <= span.hi; m += span.step {
		out = append(out, m)
	}
	return out
}

// Fits reports whether memory pairs with cpu on Fargate.
func Fits(cpu, memory int) bool { return slices.Contains(Memory(cpu), memory) }

// List writes sizes as "a, b, c" for messages.
func List(sizes []int) string {
	parts := make([]string, len(sizes))
	for i, s := range sizes {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, ", ")
}
