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

// Memory lists the memory sizes (MiB) Fargate accepts with cpu, or nil if cpu is not a
// Fargate CPU size.
func Memory(cpu int) []int {
	span := func(lo, hi, step int) []int {
		var out []int
		for m := lo; m <= hi; m += step {
			out = append(out, m)
		}
		return out
	}
	switch cpu {
	case 256:
		return []int{512, 1024, 2048}
	case 512:
		return span(1024, 4096, 1024)
	case 1024:
		return span(2048, 8192, 1024)
	case 2048:
		return span(4096, 16384, 1024)
	case 4096:
		return span(8192, 30720, 1024)
	case 8192:
		return span(16384, 61440, 4096)
	case 16384:
		return span(32768, 122880, 8192)
	}
	return nil
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
