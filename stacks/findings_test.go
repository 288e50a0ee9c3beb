package stacks

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

var (
	// nagRuleRe is an AwsSolutions rule, or cdk-nag's report of a rule it could not evaluate
	// (CdkNagValidationFailure, narrowed by appliesTo to that rule).
	nagRuleRe      = regexp.MustCompile(`^(AwsSolutions-[A-Z]+[0-9]+|CdkNagValidationFailure)$`)
	checkovCheckRe = regexp.MustCompile(`^CKV2?_AWS_[0-9]+$`)
)

// TestFindingsAreDocumented: every entry names a construct selector, at least one scanner
// rule, and a reason; appliesTo only narrows a cdk-nag rule, and its regexes compile.
func TestFindingsAreDocumented(t *testing.T) {
	for i, f := range Findings {
		if f.On == nil {
			t.Errorf("finding %d (%s %v): no construct selector", i, f.Nag, f.Checkov)
		}
		if strings.TrimSpace(f.Reason) == "" {
			t.Errorf("finding %d (%s %v): empty reason", i, f.Nag, f.Checkov)
		}
		if f.Nag == "" && len(f.Checkov) == 0 {
			t.Errorf("finding %d: neither a cdk-nag rule nor a checkov check", i)
		}
		if f.Nag != "" && !nagRuleRe.MatchString(f.Nag) {
			t.Errorf("finding %d: cdk-nag rule %q is not an AwsSolutions rule id", i, f.Nag)
		}
		if f.Nag == "" && len(f.AppliesTo) > 0 {
			t.Errorf("finding %d: appliesTo without a cdk-nag rule", i)
		}
		for _, id := range f.Checkov {
			if !checkovCheckRe.MatchString(id) {
				t.Errorf("finding %d: %q is not a checkov AWS check id", i, id)
			}
		}
		for _, a := range f.AppliesTo {
			if strings.HasPrefix(a, "/") && strings.HasSuffix(a, "/") {
				if _, err := regexp.Compile(a[1 : len(a)-1]); err != nil {
					t.Errorf("finding %d: appliesTo %s: %v", i, a, err)
				}
			}
		}
	}
}

// suppressionsIn lists, per logical id, every cdk-nag suppression and checkov skip that a
// template's resources carry, as "scanner id | reason | appliesTo" lines.
func suppressionsIn(tb testing.TB, tmpl template) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for id, r := range tmpl["Resources"].(map[string]any) {
		md, _ := r.(map[string]any)["Metadata"].(map[string]any)
		var meta struct {
			Nag struct {
				Rules []struct {
					ID        string `json:"id"`
					Reason    string `json:"reason"`
					AppliesTo []any  `json:"applies_to"`
				} `json:"rules_to_suppress"`
			} `json:"cdk_nag"`
			Checkov struct {
				Skip []checkovSkip `json:"skip"`
			} `json:"checkov"`
		}
		b, _ := json.Marshal(md)
		if err := json.Unmarshal(b, &meta); err != nil {
			tb.Fatalf("%s: metadata %s: %v", id, b, err)
		}
		for _, rule := range meta.Nag.Rules {
			var applies []string
			for _, a := range rule.AppliesTo {
				if m, ok := a.(map[string]any); ok {
					a = m["regex"]
				}
				applies = append(applies, a.(string))
			}
			out[id] = append(out[id], suppressionLine(rule.ID, rule.Reason, applies))
		}
		for _, s := range meta.Checkov.Skip {
			out[id] = append(out[id], suppressionLine(s.ID, s.Comment, nil))
		}
	}
	for _, lines := range out {
		slices.Sort(lines)
	}
	return out
}

// namedEnv is a variant with the name a failure message shows.
type namedEnv struct {
	*env
	name string
}

// scannedVariants are the configurations whose templates the findings must match exactly:
// the default, public mode with interface endpoints and Spot, self-hosted in the VPC, and the
// lean private mode (a NAT instance, no Container Insights, no flow logs, the worker on Spot).
func scannedVariants(t testing.TB) []namedEnv {
	return []namedEnv{{defaults(t), "default"}, {public(t), "public"}, {selfHosted(t), "selfhosted"}, {lean(t), "lean"},
		{serverSingle(t), "server-single"}, {serverHA(t), "server-ha"}, {serverHTTPS(t), "server-https"}, {serverPublic(t), "server-public"}}
}

func suppressionLine(id, reason string, appliesTo []string) string {
	return id + " | " + reason + " | " + strings.Join(appliesTo, " ")
}

// TestFindingsMatchTemplates: in every synthesized variant, the cdk-nag suppressions and
// checkov skips in the templates are exactly those Findings selects, resource by resource.
// A suppression added anywhere else, or a finding that no longer reaches its resource,
// fails here; so does an entry that applies to no variant at all.
func TestFindingsMatchTemplates(t *testing.T) {
	used := make([]bool, len(Findings))
	for _, v := range scannedVariants(t) {
		byStack := v.byName()
		want := map[string]map[string][]string{}
		for name := range byStack {
			want[name] = map[string][]string{}
		}
		for i, f := range Findings {
			for _, c := range f.On(v.e) {
				used[i] = true
				for _, r := range cfnResources(c) {
					stack := awscdk.Stack_Of(r)
					// The logical id as written: CDK overrides some (the database's secret).
					id := stack.Resolve(r.LogicalId()).(string)
					lines := want[*stack.StackName()]
					if f.Nag != "" {
						applies := f.AppliesTo
						if applies == nil {
							applies = []string{}
						}
						lines[id] = append(lines[id], suppressionLine(f.Nag, f.Reason, applies))
					}
					for _, check := range f.Checkov {
						lines[id] = append(lines[id], suppressionLine(check, f.Reason, nil))
					}
				}
			}
		}
		for name, tmpl := range byStack {
			got := suppressionsIn(t, tmpl)
			for id, lines := range want[name] {
				slices.Sort(lines)
				if strings.Join(lines, "\n") != strings.Join(got[id], "\n") {
					t.Errorf("variant %s, %s/%s:\nfindings table:\n  %s\ntemplate metadata:\n  %s", v.name, name, id,
						strings.Join(lines, "\n  "), strings.Join(got[id], "\n  "))
				}
			}
			for id, lines := range got {
				if _, ok := want[name][id]; !ok {
					t.Errorf("variant %s, %s/%s: suppressed outside the findings table (stacks.Findings):\n  %s",
						v.name, name, id, strings.Join(lines, "\n  "))
				}
			}
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("finding %d (%s %v) selects no construct in any variant: remove it or fix its selector", i, Findings[i].Nag, Findings[i].Checkov)
		}
	}
}

// TestCheckovFindsNothingUnexplained runs checkov (the binary in $CHECKOV, as `make test`
// sets it) over every variant's templates: any failed check is a finding to fix or to add
// to Findings. `make checkov` covers cdk.out, the configuration in cdk.json.
func TestCheckovFindsNothingUnexplained(t *testing.T) {
	bin := os.Getenv("CHECKOV")
	if bin == "" {
		t.Skip("CHECKOV is not set (make test sets it to the pinned checkov)")
	}
	for _, v := range scannedVariants(t) {
		dir := t.TempDir()
		args := []string{"--framework", "cloudformation", "--quiet", "--compact", "--skip-download"}
		for name, tmpl := range v.byName() {
			path := filepath.Join(dir, name+".template.json")
			b, _ := json.MarshalIndent(tmpl, "", " ")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-f", path)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), checkovOfflineEnv...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("variant %s: checkov: %v\n%s", v.name, err, out)
		}
	}
}

// checkovOfflineEnv keeps checkov from the network: no Prisma Cloud mapping, no package
// scan, no update check (`make checkov` sets the same).
var checkovOfflineEnv = []string{"BC_SKIP_MAPPING=TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN=false", "CKV_SKIP_PACKAGE_UPDATE_CHECK=true"}

// TestDocsListCheckovSkips: the Security section of docs/architecture-and-security.md names
// every skipped checkov check.
func TestDocsListCheckovSkips(t *testing.T) {
	security, _ := docSection(t, "docs/architecture-and-security.md", "Security")
	all := slices.Clone(Findings)
	for _, f := range PipelineFindings {
		all = append(all, f.Finding)
	}
	for _, f := range all {
		for _, id := range f.Checkov {
			if !strings.Contains(security, "`"+id+"`") {
				t.Errorf("docs/architecture-and-security.md, Security, does not list the skipped checkov check %s (%s)", id, f.Reason)
			}
		}
	}
}
