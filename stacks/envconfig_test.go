package stacks

import (
	"strings"
	"testing"
)

// TestEnvironmentsMergeAndOrder: each environment is the top-level config with its overrides,
// named in its stack prefix, in promotion order; from cdk.json's objects and from -c's JSON.
func TestEnvironmentsMergeAndOrder(t *testing.T) {
	for _, envs := range []any{
		map[string]any{
			"prod": map[string]any{"account": "222222222222", "region": "eu-west-1", "order": 2, "approval": true, "natGateways": 2},
			"dev":  map[string]any{"account": "111111111111", "region": "eu-west-1", "order": 1.0, "workerDesiredCount": "0"},
		},
		`{"prod": {"account": "222222222222", "region": "eu-west-1", "order": 2, "approval": "true", "natGateways": 2},
		  "dev": {"account": "111111111111", "region": "eu-west-1", "order": 1, "workerDesiredCount": 0}}`,
	} {
		get, keys := ctx(map[string]any{"environments": envs, "workerCpu": 1024, "workerMemory": 2048})
		c, err := ConfigFromContext(get, keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Environments) != 2 {
			t.Fatalf("environments: %+v", c.Environments)
		}
		dev, prod := c.Environments[0], c.Environments[1]
		if dev.Name != "dev" || dev.Order != 1 || dev.Approval || dev.Account != "111111111111" || dev.Region != "eu-west-1" {
			t.Errorf("dev: %+v", dev)
		}
		if prod.Name != "prod" || prod.Order != 2 || !prod.Approval || prod.Account != "222222222222" {
			t.Errorf("prod: %+v", prod)
		}
		if dev.Config.WorkerDesiredCount != 0 || dev.Config.NatGateways != 1 || prod.Config.NatGateways != 2 || prod.Config.WorkerDesiredCount != 1 {
			t.Errorf("overrides: dev %d/%d, prod %d/%d", dev.Config.WorkerDesiredCount, dev.Config.NatGateways, prod.Config.WorkerDesiredCount, prod.Config.NatGateways)
		}
		if dev.Config.WorkerCPU != 1024 || prod.Config.WorkerMemory != 2048 {
			t.Error("a top-level value is not inherited")
		}
		if dev.Config.StackPrefix != "Prefect-dev-" || prod.Config.StackPrefix != "Prefect-prod-" {
			t.Errorf("stack prefixes %q %q", dev.Config.StackPrefix, prod.Config.StackPrefix)
		}
		if dev.Config.Environments != nil || dev.Config.Pipeline != nil || dev.Config.Account != "111111111111" {
			t.Errorf("dev's config: %+v", dev.Config)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("a resolved config does not validate: %v", err)
		}
	}
}

// TestEnvironmentsOneNeedsNoOrder: a single environment needs no order; none at all is today's app.
func TestEnvironmentsOneNeedsNoOrder(t *testing.T) {
	get, keys := ctx(map[string]any{"environments": map[string]any{"dev": map[string]any{"account": "111111111111", "region": "us-east-1"}}})
	c, err := ConfigFromContext(get, keys)
	if err != nil || len(c.Environments) != 1 || c.Environments[0].Config.StackPrefix != "Prefect-dev-" {
		t.Fatalf("%v %+v", err, c.Environments)
	}
	get, keys = ctx(map[string]any{"environments": map[string]any{}, "pipeline": "{}"})
	c, err = ConfigFromContext(get, keys)
	if err != nil || c.Environments != nil || c.Pipeline != nil || c.StackPrefix != "Prefect" {
		t.Fatalf("%v %+v", err, c)
	}
}

// TestEnvironmentMistakes: every problem of every environment at once, one line each, with the
// environment's name in the key; a top-level problem is reported once, not per environment.
func TestEnvironmentMistakes(t *testing.T) {
	get, keys := ctx(map[string]any{
		"logRetentionDays": 10,
		"environments": map[string]any{
			"dev":   map[string]any{"account": "111111111111", "region": "eu-west-1", "natGateways": 3, "workerCpu": "lots", "natGateway": 1},
			"prod":  map[string]any{"account": "1234", "region": "eu-west-1", "approval": "maybe", "order": 1},
			"qa":    map[string]any{"order": 1},
			"bad_1": map[string]any{},
			"x":     "dev",
		},
	})
	_, err := ConfigFromContext(get, keys)
	want := []string{
		"config: logRetentionDays=10 is not valid: want one of 1 3 5 7 14 30 60 90 120 150 180 365 400 545 731 1096 1827 2192 2557 2922 3288 3653",
		"config: environments=bad_1 is not valid: want environment names of a letter then letters, digits or single hyphens, at most 32 characters (stack names carry them)",
		"config: environments.dev.workerCpu=lots is not valid: want a whole number",
		"config: unknown key(s) environments.dev.natGateway (did you mean natGateways?); an environment takes approval, order and any top-level setting but environments and pipeline",
		"config: environments.dev.natGateways=3 is not valid: want 1 to maxAzs (2) in private mode",
		"config: environments.dev.order is missing: want a whole number, the environment's place in the promotion order (e.g. dev 1, prod 2)",
		"config: environments.prod.approval=maybe is not valid: want true or false",
		"config: environments.prod.account=1234 is not valid: want a 12-digit AWS account id, or empty for an environment-agnostic synth",
		"config: environments.qa needs account and region: the 12-digit AWS account id and the region its stacks deploy to",
		`config: environments.x=dev is not valid: want an object of the environment's settings, e.g. {"account": "111111111111", "region": "eu-west-1", "order": 1}`,
		"config: environments prod, qa all have order=1: want a different order for each environment (the promotion order)",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// TestPipelineConfig: a pipeline needs its connection, repository, environments and a home;
// its Docker Hub secret is optional, a name or an ARN.
func TestPipelineConfig(t *testing.T) {
	const arn = "arn:aws:codeconnections:eu-west-1:123456789012:connection/12345678-1234-1234-1234-123456789012"
	envs := map[string]any{"dev": map[string]any{"account": "111111111111", "region": "eu-west-1"}}
	get, keys := ctx(map[string]any{"account": "123456789012", "region": "eu-west-1", "environments": envs,
		"pipeline": map[string]any{"connectionArn": arn, "repository": "acme/data", "dockerHubSecret": "dockerhub"}})
	c, err := ConfigFromContext(get, keys)
	if err != nil || c.Pipeline == nil || c.Pipeline.ConnectionARN != arn || c.Pipeline.Repository != "acme/data" || c.Pipeline.Branch != "main" || c.Pipeline.DockerHubSecret != "dockerhub" {
		t.Fatalf("%v %+v", err, c.Pipeline)
	}
	get, keys = ctx(map[string]any{"pipeline": `{"connectionArn": "arn:aws:iam::1:role/x", "repository": "data", "branch": "a b", "dockerHubSecret": "docker hub", "brnach": "x", "stage": 1}`})
	_, err = ConfigFromContext(get, keys)
	want := strings.Join([]string{
		"config: unknown key(s) pipeline.brnach, pipeline.stage; pipeline takes branch, connectionArn, dockerHubSecret, repository",
		"config: pipeline.connectionArn=arn:aws:iam::1:role/x is not valid: want the ARN of a CodeStar connection to your repository host, arn:aws:codeconnections:<region>:<account>:connection/<id> (Developer Tools > Settings > Connections)",
		"config: pipeline.repository=data is not valid: want the repository as owner/name",
		"config: pipeline.branch=a b is not valid: want a branch name such as main",
		"config: pipeline.dockerHubSecret=docker hub is not valid: want a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN",
		"config: pipeline needs environments: add at least one to `environments` (each becomes a stage of the pipeline)",
		"config: pipeline needs account and region: the top-level account and region are where the pipeline itself runs",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	get, keys = ctx(map[string]any{"pipeline": "main", "environments": 3})
	_, err = ConfigFromContext(get, keys)
	want = `config: environments=3 is not valid: want an object of named environments, e.g. {"dev": {"account": "111111111111", "region": "eu-west-1"}}` + "\n" +
		`config: pipeline=main is not valid: want an object such as {"connectionArn": "arn:aws:codeconnections:<region>:<account>:connection/<id>", "repository": "owner/repo", "branch": "main"}, or {} for no pipeline`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}
