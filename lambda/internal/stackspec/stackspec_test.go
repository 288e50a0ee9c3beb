package stackspec

import (
	"strings"
	"testing"
)

// TestLoadGolden reads the golden Compute template: literal values as written, the pool's
// name through Fn::GetAtt, and markers exactly where CloudFormation decides.
func TestLoadGolden(t *testing.T) {
	s, err := Load("../../../testdata/PrefectCompute.template.json")
	if err != nil {
		t.Fatal(err)
	}
	if s.Stack != "PrefectCompute" || len(s.Pools) != 1 || len(s.Deployments) != 2 {
		t.Fatalf("stack %s: %d pools, %d deployments", s.Stack, len(s.Pools), len(s.Deployments))
	}
	if u := s.FunctionEnv["PREFECT_API_URL"]; u != "https://api.prefect.cloud/api/accounts/00000000-0000-0000-0000-000000000000/workspaces/00000000-0000-0000-0000-000000000000" {
		t.Errorf("function PREFECT_API_URL %q, want the literal workspace URL", u)
	}
	if a := s.FunctionEnv["PREFECT_API_KEY_SECRET_ARN"]; !DeployTime(a) || !strings.HasSuffix(a, ":secret:prefect-api-key") {
		t.Errorf("function PREFECT_API_KEY_SECRET_ARN %q, want a deploy-time region and account before the name", a)
	}
	p := s.Pools[0]
	props := p.BaseJobTemplate["variables"].(map[string]any)["properties"].(map[string]any)
	def := func(name string) any { return props[name].(map[string]any)["default"] }
	if c, _ := def("cluster").(string); !DeployTime(c) {
		t.Errorf("cluster default %q is not marked deploy-time", c)
	}
	if lt, _ := def("launch_type").(string); lt != "FARGATE" || DeployTime(lt) {
		t.Errorf("launch_type default %q, want the literal FARGATE", lt)
	}
	for _, d := range s.Deployments {
		if d.WorkPoolName != p.Name || DeployTime(d.WorkPoolName) {
			t.Errorf("%s: WorkPoolName %q, want the pool's name %q", d.LogicalID, d.WorkPoolName, p.Name)
		}
		if img, _ := d.JobVariables["image"].(string); !DeployTime(img) {
			t.Errorf("%s: image %q is not marked deploy-time", d.LogicalID, img)
		}
	}
}

// TestStackOutputs: the self-hosted server's Compute template reads the API URL and the
// auth-string secret from the Server stack's outputs; the markers name stack and output.
func TestStackOutputs(t *testing.T) {
	s, err := Load("../../../testdata/PrefectCompute-server-ha.template.json")
	if err != nil {
		t.Fatal(err)
	}
	url, auth := s.FunctionEnv["PREFECT_API_URL"], s.FunctionEnv["PREFECT_API_AUTH_STRING_SECRET_ARN"]
	u, a := StackOutputs(url), StackOutputs(auth)
	if len(u) != 1 || u[0].Stack != "PrefectServer" || !strings.Contains(u[0].Output, "LoadBalancer") || !strings.HasPrefix(url, "http://") {
		t.Errorf("PREFECT_API_URL %q: outputs %v, want http:// and one PrefectServer load balancer output", url, u)
	}
	if len(a) != 1 || a[0].Stack != "PrefectServer" || !strings.Contains(a[0].Output, "AuthString") {
		t.Errorf("PREFECT_API_AUTH_STRING_SECRET_ARN %q: outputs %v, want the PrefectServer auth string", auth, a)
	}
	server, err := LoadTemplate("../../../testdata/PrefectServer-server-ha.template.json")
	if err != nil {
		t.Fatal(err)
	}
	if o := server.Outputs[u[0].Output]; o == nil {
		t.Errorf("the Server template has no output %s", u[0].Output)
	}
	if StackOutputs("http://example.com/api") != nil {
		t.Error("a literal value names outputs")
	}
}
