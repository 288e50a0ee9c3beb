package main

import (
	"regexp"
	"strconv"
	"strings"
)

// The output of `cdk diff` as the pinned CLI (aws-cdk 2.1148.1) prints it; the facts below are
// from its bundle, node_modules/aws-cdk/lib/index.js:
//   - each stack opens with "Stack NAME" (plus " (aws://ACCOUNT/REGION)" when the environment is
//     known), then either "There were no differences" or sections;
//   - sections are titled "Template", "IAM Statement Changes", "IAM Policy Changes",
//     "IAM Identity Center Changes", "Security Group Changes", "Parameters", "Metadata",
//     "Mappings", "Conditions", "Resources", "Outputs", "Other Changes";
//   - a resource line is "[+|-|~|←] TYPE [CONSTRUCT-PATH] LOGICAL-ID [IMPACT] [(OR move …)]",
//     where the construct path is left out when the template has no aws:cdk:path metadata and
//     may contain spaces ("TaskSecurityGroup/to Other:6379"), and IMPACT is "replace",
//     "may be replaced", "destroy" (a removed resource whose DeletionPolicy is Delete or
//     Snapshot), "orphan" (Retain or RetainExceptOnCreate) or "import";
//   - other sections' entries are "[+|-|~] KIND NAME …" ("[~] Output FlowImageUriOutput …");
//   - the run ends with "✨  Number of stacks with differences: N".

var (
	ansiRe = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	// stackRe is the line `cdk diff` opens each stack's diff with.
	stackRe = regexp.MustCompile(`^Stack (\S+)(?: \(aws://[^)]*\))?$`)
	// entryRe is one entry of a section: its change tag and the rest of the line.
	entryRe = regexp.MustCompile(`^\[([-+~←])\] (\S+) (.*)$`)
	// resourceTypeRe is a CloudFormation resource type (AWS::S3::Bucket, Custom::PrefectWorkPool).
	resourceTypeRe = regexp.MustCompile(`^(?:[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+|Custom::[A-Za-z0-9_@-]+)$`)
	// moveRe is the refactoring note `cdk diff --include-moves` may add to a resource line.
	moveRe = regexp.MustCompile(` \(OR move .*\)$`)
	// countRe is the line the CLI ends a completed diff with.
	countRe = regexp.MustCompile(`Number of stacks with differences: (\d+)`)
)

// impacts are what CloudFormation does to a resource, as the CLI words them, longest first.
var impacts = []string{"may be replaced", "replace", "destroy", "orphan", "import"}

// sections the CLI titles a stack's changes with.
var sections = map[string]bool{
	"Template": true, "IAM Statement Changes": true, "IAM Policy Changes": true,
	"IAM Identity Center Changes": true, "Security Group Changes": true, "Parameters": true,
	"Metadata": true, "Mappings": true, "Conditions": true, "Resources": true, "Outputs": true,
	"Other Changes": true,
}

// Resource is one changed resource of a stack.
type Resource struct {
	// Kind is the change tag: + (added), - (removed), ~ (updated), ← (imported).
	Kind string
	// Type is the CloudFormation type, Path the construct path ("" without metadata) and
	// LogicalID the template's key.
	Type, Path, LogicalID string
	// Impact is "replace", "may be replaced", "destroy", "orphan", "import" or "" (an update
	// in place, or a creation).
	Impact string
}

// Name is how the comment names the resource: its construct path, else its logical ID.
func (r Resource) Name() string {
	if r.Path != "" {
		return r.Path
	}
	return r.LogicalID
}

// StackDiff is what `cdk diff` printed for one stack.
type StackDiff struct {
	Name string
	// Same is true when the CLI said "There were no differences".
	Same bool
	// Sections are the section titles printed, in order.
	Sections  []string
	Resources []Resource
	// Outputs and Parameters are the names of changed outputs and parameters.
	Outputs, Parameters []string
}

// Has reports whether the stack's diff has the section titled title.
func (s StackDiff) Has(title string) bool {
	for _, t := range s.Sections {
		if t == title {
			return true
		}
	}
	return false
}

// IAM reports an IAM change: an IAM table, or a changed AWS::IAM:: resource.
func (s StackDiff) IAM() bool {
	if s.Has("IAM Statement Changes") || s.Has("IAM Policy Changes") || s.Has("IAM Identity Center Changes") {
		return true
	}
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "AWS::IAM::") {
			return true
		}
	}
	return false
}

// SecurityGroups reports a security-group change: the CLI's table, or a changed security
// group or rule resource.
func (s StackDiff) SecurityGroups() bool {
	if s.Has("Security Group Changes") {
		return true
	}
	for _, r := range s.Resources {
		if strings.HasPrefix(r.Type, "AWS::EC2::SecurityGroup") {
			return true
		}
	}
	return false
}

// Diff is the parsed output of one `cdk diff` run.
type Diff struct {
	Stacks []StackDiff
	// Complete is true when the run printed its closing count, and Count is that count.
	Complete bool
	Count    int
}

// Changed lists the stacks with differences.
func (d Diff) Changed() []StackDiff {
	var out []StackDiff
	for _, s := range d.Stacks {
		if !s.Same {
			out = append(out, s)
		}
	}
	return out
}

// StripANSI removes terminal colours (the CLI prints none into a pipe unless forced).
func StripANSI(s string) string {
	return ansiRe.ReplaceAllString(s, "")
}

// ParseDiff reads the output of `cdk diff` (colours allowed).
func ParseDiff(text string) Diff {
	var d Diff
	var cur *StackDiff
	section := ""
	for _, line := range strings.Split(StripANSI(text), "\n") {
		line = strings.TrimRight(line, " \r")
		if m := countRe.FindStringSubmatch(line); m != nil {
			d.Complete = true
			d.Count, _ = strconv.Atoi(m[1])
			cur = nil
			continue
		}
		if m := stackRe.FindStringSubmatch(line); m != nil {
			d.Stacks = append(d.Stacks, StackDiff{Name: m[1]})
			cur, section = &d.Stacks[len(d.Stacks)-1], ""
			continue
		}
		if cur == nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "There were no differences"):
			cur.Same = true
		case sections[line]:
			section = line
			cur.Sections = append(cur.Sections, line)
		default:
			cur.addEntry(section, line)
		}
	}
	return d
}

func (s *StackDiff) addEntry(section, line string) {
	m := entryRe.FindStringSubmatch(line)
	if m == nil {
		return
	}
	switch section {
	case "Resources":
		if resourceTypeRe.MatchString(m[2]) {
			s.Resources = append(s.Resources, parseResource(m[1], m[2], m[3]))
		}
	case "Outputs", "Parameters":
		// "[~] Output [PATH ]LOGICAL-ID: value": the logical ID ends the text before ": ".
		head, _, _ := strings.Cut(m[3], ": ")
		name := strings.TrimSuffix(head[strings.LastIndexByte(head, ' ')+1:], ":")
		if section == "Outputs" {
			s.Outputs = append(s.Outputs, name)
		} else {
			s.Parameters = append(s.Parameters, name)
		}
	}
}

// parseResource reads "[PATH ]LOGICAL-ID[ IMPACT][ (OR move …)]" after the type.
func parseResource(kind, typ, rest string) Resource {
	r := Resource{Kind: kind, Type: typ}
	rest = moveRe.ReplaceAllString(rest, "")
	for _, imp := range impacts {
		if strings.HasSuffix(rest, " "+imp) {
			r.Impact, rest = imp, strings.TrimSuffix(rest, " "+imp)
			break
		}
	}
	if i := strings.LastIndexByte(rest, ' '); i >= 0 {
		r.Path, r.LogicalID = rest[:i], rest[i+1:]
	} else {
		r.LogicalID = rest
	}
	return r
}
