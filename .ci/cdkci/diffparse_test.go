package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readDiff reads one of the CLI's real outputs in testdata/ (see testdata/generate.py).
func readDiff(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func findResource(s StackDiff, logicalID string) (Resource, bool) {
	for _, r := range s.Resources {
		if r.LogicalID == logicalID {
			return r, true
		}
	}
	return Resource{}, false
}

func stackNamed(t *testing.T, d Diff, name string) StackDiff {
	t.Helper()
	for _, s := range d.Stacks {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stack %s in %+v", name, d.Stacks)
	return StackDiff{}
}

// TestParseDiff reads the pinned CLI's real outputs: stacks and their "no differences",
// resources with their impact (replace, may be replaced, destroy, orphan), construct paths
// with spaces, IAM and security-group tables, output- and parameter-only changes, and the
// closing count that marks a complete run.
func TestParseDiff(t *testing.T) {
	dev := ParseDiff(readDiff(t, "dev.diff"))
	if !dev.Complete || dev.Count != 3 || len(dev.Stacks) != 4 || len(dev.Changed()) != 3 {
		t.Fatalf("dev: complete=%v count=%d stacks=%d changed=%d, want a complete run, 3 of 4 stacks changed", dev.Complete, dev.Count, len(dev.Stacks), len(dev.Changed()))
	}
	if !stackNamed(t, dev, "Prefect-dev-Registry").Same {
		t.Error("Prefect-dev-Registry: want no differences")
	}
	net := stackNamed(t, dev, "Prefect-dev-Network")
	if strings.Join(net.Parameters, ",") != "BootstrapVersion" || net.IAM() || net.SecurityGroups() {
		t.Errorf("Prefect-dev-Network: %+v, want the BootstrapVersion parameter, no IAM or security groups", net)
	}
	srv := stackNamed(t, dev, "Prefect-dev-Server")
	if !srv.IAM() || !srv.SecurityGroups() {
		t.Errorf("Prefect-dev-Server: IAM %v, security groups %v, want both", srv.IAM(), srv.SecurityGroups())
	}
	for id, want := range map[string]Resource{
		"Redis":              {Kind: "-", Type: "AWS::ElastiCache::ReplicationGroup", Path: "Redis", Impact: "destroy"},
		"RedisTokenE563E2B5": {Kind: "-", Type: "AWS::SecretsManager::Secret", Path: "RedisToken", Impact: "destroy"},
		"ApiTask011D0955":    {Kind: "~", Type: "AWS::ECS::TaskDefinition", Path: "ApiTask", Impact: "replace"},
		"DatabaseB269D8BB":   {Kind: "~", Type: "AWS::RDS::DBInstance", Path: "Database", Impact: "may be replaced"},
		"ApiServiceC9037CF0": {Kind: "~", Type: "AWS::ECS::Service", Path: "ApiService/Service"},
		"TaskSecurityGrouptoPrefectdevServerRedisSecurityGroup8808D172637942A728D0": {Kind: "-", Type: "AWS::EC2::SecurityGroupEgress",
			Path: "TaskSecurityGroup/to PrefectdevServerRedisSecurityGroup8808D172:6379", Impact: "destroy"},
	} {
		want.LogicalID = id
		if got, ok := findResource(srv, id); !ok || got != want {
			t.Errorf("Prefect-dev-Server %s: %+v, want %+v", id, got, want)
		}
	}

	prod := ParseDiff(readDiff(t, "prod.diff"))
	psrv := stackNamed(t, prod, "Prefect-prod-Server")
	if r, _ := findResource(psrv, "DbDatabaseB269D8BB"); r.Impact != "destroy" || r.Kind != "-" || r.Type != "AWS::RDS::DBInstance" {
		t.Errorf("the database deployed under another logical ID: %+v, want destroy (DeletionPolicy Snapshot)", r)
	}
	if r, _ := findResource(psrv, "LogsServerLogsD9948953"); r.Impact != "orphan" {
		t.Errorf("the log group with DeletionPolicy Retain: %+v, want orphan", r)
	}
	reg := stackNamed(t, prod, "Prefect-prod-Registry")
	if reg.Same || strings.Join(reg.Outputs, ",") != "FlowImageUriOutput" || len(reg.Resources) != 0 {
		t.Errorf("Prefect-prod-Registry: %+v, want an outputs-only change", reg)
	}

	same := ParseDiff(readDiff(t, "same.diff"))
	if !same.Complete || same.Count != 0 || len(same.Stacks) != 4 || len(same.Changed()) != 0 {
		t.Errorf("same: %+v, want 4 stacks without differences", same)
	}
	for _, f := range []string{"qa.diff", "denied.diff", "synth-error.diff"} {
		if d := ParseDiff(readDiff(t, f)); d.Complete || len(d.Stacks) != 0 {
			t.Errorf("%s: %+v, want no stacks and no closing count (the CLI failed)", f, d)
		}
	}
}

// TestParseResourceLine: the line forms the CLI's formatter (formatResourceDifference) prints
// besides those in testdata: without construct-path metadata (a template deployed without
// it), with a move annotation, and a logical ID that reads like an impact.
func TestParseResourceLine(t *testing.T) {
	for line, want := range map[string]Resource{
		// Printed by `cdk diff --template` against the repository's golden templates (which
		// carry no metadata).
		"[-] AWS::ElastiCache::ReplicationGroup Redis destroy":                              {Kind: "-", Type: "AWS::ElastiCache::ReplicationGroup", LogicalID: "Redis", Impact: "destroy"},
		"[~] AWS::ECS::TaskDefinition ApiTask011D0955 replace":                              {Kind: "~", Type: "AWS::ECS::TaskDefinition", LogicalID: "ApiTask011D0955", Impact: "replace"},
		"[-] AWS::S3::Bucket Data DataB1 destroy (OR move to Other.DataB1 via refactoring)": {Kind: "-", Type: "AWS::S3::Bucket", Path: "Data", LogicalID: "DataB1", Impact: "destroy"},
		"[~] AWS::SQS::Queue replace":                                                       {Kind: "~", Type: "AWS::SQS::Queue", LogicalID: "replace"},
		"[←] AWS::S3::Bucket Old Old1A2B import":                                            {Kind: "←", Type: "AWS::S3::Bucket", Path: "Old", LogicalID: "Old1A2B", Impact: "import"},
		"[+] Custom::PrefectWorkPool Pool/Resource Pool1":                                   {Kind: "+", Type: "Custom::PrefectWorkPool", Path: "Pool/Resource", LogicalID: "Pool1"},
	} {
		d := ParseDiff("Stack S\nResources\n" + line + "\n\n✨  Number of stacks with differences: 1\n")
		if len(d.Stacks) != 1 || len(d.Stacks[0].Resources) != 1 || d.Stacks[0].Resources[0] != want {
			t.Errorf("%q: %+v, want %+v", line, d.Stacks, want)
		}
	}
}
