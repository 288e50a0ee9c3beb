package stacks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/cost"
)

// costModes are the configurations docs/cost.md's table prices, each as `-c` would set it.
var costModes = []struct {
	mode   string
	mutate func(*Config)
}{
	{"`private` (default)", nil},
	{"`private`, `natProvider=instance`", func(c *Config) { c.NatProvider = NatInstance }},
	{"`private`, `natProvider=instance`, `workerFargateSpot=true`", func(c *Config) { c.NatProvider = NatInstance; c.WorkerFargateSpot = true }},
	{"`private`, `natGateways=2`", func(c *Config) { c.NatGateways = 2 }},
	{"`private`, `interfaceEndpoints=true`", func(c *Config) { c.InterfaceEndpoints = true }},
	{"`public`", func(c *Config) { c.NetworkMode = NetworkPublic }},
	{"`public`, `cpuArchitecture=arm64`", func(c *Config) { c.NetworkMode = NetworkPublic; c.Architecture = ArchARM }},
	{"`public`, `workerFargateSpot=true`", func(c *Config) { c.NetworkMode = NetworkPublic; c.WorkerFargateSpot = true }},
	// The self-hosted server, in the default private network.
	{"`private`, `prefectServer=single`", func(c *Config) { serverMode(c, ServerSingle) }},
	{"`private`, `prefectServer=ha`", func(c *Config) { serverMode(c, ServerHA) }},
}

// costOf is the cost report of a synthesized variant, as `make cost` prints it for cdk.out.
func costOf(t testing.TB, v *env) cost.Report {
	t.Helper()
	templates := map[string]cost.Template{}
	for name, tmpl := range v.byName() {
		templates[name] = cost.Template(tmpl)
	}
	r, err := cost.FromTemplates(templates)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDocsCostTable: docs/cost.md is `make cost` of each mode in costModes (its table's rows,
// in order) and, in full, of the default configuration; a change to the stacks, the defaults
// or the prices that moves a cent fails here, printing what docs/cost.md should say.
func TestDocsCostTable(t *testing.T) {
	section, got := docSection(t, "docs/cost.md", "Cost")
	var want []string
	for i, m := range costModes {
		v := defaults(t)
		if m.mutate != nil {
			v = synth(t, fmt.Sprintf("cost%d", i), m.mutate)
		}
		r := costOf(t, v)
		items := make([]string, len(r.Fixed))
		for j, it := range r.Fixed {
			items[j] = it.What + " " + cost.Money(it.Cents)
		}
		want = append(want, fmt.Sprintf("| %s | **%s** | %s |", m.mode, cost.Money(r.Total()), strings.Join(items, ", ")))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("docs/cost.md's cost table differs from make cost; its rows should be:\n%s", strings.Join(want, "\n"))
	}
	report := costOf(t, defaults(t)).String()
	if !strings.Contains(section, "\n```text\n"+report+"```\n") {
		t.Errorf("docs/cost.md should show make cost of the default configuration:\n```text\n%s```", report)
	}
}
