package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// EnvironmentConfig is one named environment of the `environments` setting: where its stacks
// deploy, its place in the promotion order, and the top-level config with its overrides.
type EnvironmentConfig struct {
	// Name is the environment's key in `environments`. Its stack names carry it
	// (<stackPrefix>-<name>-Network), so is its pipeline stage and its GitHub Environment.
	Name string
	// Account and Region are where the environment's stacks deploy (its Config's).
	Account, Region string
	// Order is the environment's `order`: environments are promoted in ascending order.
	Order int
	// Approval is the environment's `approval`: a manual approval precedes its deployment.
	Approval bool
	// Config is the top-level config with the environment's overrides applied, validated,
	// with no Environments or Pipeline of its own; its StackPrefix is <stackPrefix>-<name>-,
	// so NewEnvironment names its stacks after the environment.
	Config Config

	// raw is the environment's value as given in `environments`.
	raw any
}

// PipelineConfig is the `pipeline` setting: the CodePipeline (PipelineStack) that deploys
// every environment in order from a repository reached through a CodeStar connection.
type PipelineConfig struct {
	// ConnectionARN is the CodeStar (CodeConnections) connection to the repository.
	ConnectionARN string
	// Repository is the repository as owner/name.
	Repository string
	// Branch is the branch whose pushes run the pipeline; main unless set.
	Branch string
	// DockerHubSecret is the name or ARN of a Secrets Manager secret in the pipeline's account
	// and region holding Docker Hub credentials ({"username": …, "secret": …}): the asset
	// projects log in with it to pull the images' base (prefecthq/prefect); "" pulls
	// anonymously, under Docker Hub's rate limit per address, which CodeBuild shares.
	DockerHubSecret string

	// unknown are keys of `pipeline` that are none of the above; checkPipeline reports them.
	unknown []string
}

// PipelineStackName is the PipelineStack's name, <stackPrefix>Pipeline: the top of the
// assembly paths of its stages' stacks (<stackPrefix>Pipeline/<env>/<stack>).
func (c Config) PipelineStackName() string { return c.StackPrefix + "Pipeline" }

// envSettings are the settings of environments and the pipeline. They are added to Settings
// at init: their checks validate every environment with the whole table.
var envSettings = []Setting{
	{Key: "environments", Default: map[string]any{},
		Doc:   "named environments, `{\"dev\": {\"account\": …, \"region\": …, \"order\": 1}, \"prod\": {…, \"order\": 2, \"approval\": true, \"natGateways\": 2}}`; any key overrides its top-level value; `{}` = one environment from the top-level keys (see Environments)",
		parse: parseEnvironments,
		check: func(c Config) error { _, err := resolveEnvironments(c); return err }},
	{Key: "pipeline", Default: map[string]any{},
		Doc:   "CodePipeline that deploys every environment in order, `{\"connectionArn\": …, \"repository\": \"owner/repo\", \"branch\": \"main\", \"dockerHubSecret\": \"\"}`; `{}` = none (see CodePipeline)",
		parse: parsePipeline,
		check: checkPipeline},
}

func init() { Settings = append(Settings, envSettings...) }

// envOnlyKeys are the keys an environment has beside the overrides of top-level settings.
var envOnlyKeys = []string{"approval", "order"}

var (
	envNameRe       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$`)
	connectionArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/[0-9a-f-]{36}$`)
	repositoryRe    = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	branchRe        = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
)

// maxEnvNameLength keeps <stackPrefix>-<name>-Registry a short, readable stack name.
const maxEnvNameLength = 32

// object parses a JSON object: from cdk.json, or from `-c` as a JSON string.
func object(key string, raw any, allowed string) (map[string]any, error) {
	if s, ok := raw.(string); ok {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
			return nil, bad(key, s, allowed)
		}
		return m, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, bad(key, shown(raw), allowed)
	}
	return m, nil
}

// parseEnvironments reads `environments` into Config.Environments, by name; what each
// environment holds is checked (and merged into its Config) by resolveEnvironments.
func parseEnvironments(c *Config, key string, raw any) error {
	if raw == nil {
		return nil
	}
	m, err := object(key, raw, `an object of named environments, e.g. {"dev": {"account": "111111111111", "region": "eu-west-1"}}`)
	if err != nil {
		return err
	}
	c.Environments = nil
	for _, name := range slices.Sorted(maps.Keys(m)) {
		c.Environments = append(c.Environments, EnvironmentConfig{Name: name, raw: m[name]})
	}
	return nil
}

// scratch runs a Setting parser into a value of its own: the parsers of the table convert
// `order` and `approval` as they convert any whole number or truth value.
func scratch[T any](p func(func(*Config) *T) parser, key string, raw any) (T, error) {
	var v T
	err := p(func(*Config) *T { return &v })(nil, key, raw)
	return v, err
}

// resolveEnvironments merges each environment of c over c's own settings and validates it
// with every check of Settings, reporting every problem of every environment at once with
// the environment's name in the key (config: environments.prod.natGateways=…). A problem the
// top-level settings already have is not repeated per environment. The environments come
// back in promotion order (by order, then name), each with its merged Config.
func resolveEnvironments(c Config) ([]EnvironmentConfig, error) {
	if len(c.Environments) == 0 {
		return nil, nil
	}
	base := c
	base.Environments, base.Pipeline = nil, nil
	topLines := map[string]bool{}
	for _, line := range errorLines(base.Validate()) {
		topLines[line] = true
	}
	overridable := []string{}
	for _, s := range Settings {
		if s.Key != "environments" && s.Key != "pipeline" {
			overridable = append(overridable, s.Key)
		}
	}
	known := append(slices.Clone(overridable), envOnlyKeys...)
	var errs []error
	var out []EnvironmentConfig
	orders := map[int][]string{}
	for _, e := range c.Environments {
		prefix := "environments." + e.Name
		if !envNameRe.MatchString(e.Name) || len(e.Name) > maxEnvNameLength {
			errs = append(errs, bad("environments", e.Name, fmt.Sprintf("environment names of a letter then letters, digits or single hyphens, at most %d characters (stack names carry them)", maxEnvNameLength)))
			continue
		}
		over, err := object(prefix, e.raw, `an object of the environment's settings, e.g. {"account": "111111111111", "region": "eu-west-1", "order": 1}`)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		merged := base
		e.Config = Config{}
		hasOrder := false
		var unknown []string
		for _, k := range slices.Sorted(maps.Keys(over)) {
			switch i := slices.IndexFunc(Settings, func(s Setting) bool { return s.Key == k }); {
			case k == "order":
				hasOrder = true
				e.Order, err = scratch(whole, prefix+".order", over[k])
			case k == "approval":
				e.Approval, err = scratch(truth, prefix+".approval", over[k])
			case slices.Contains(overridable, k):
				err = Settings[i].parse(&merged, prefix+"."+k, over[k])
			default:
				if near := closest(k, known); near != "" {
					k += " (did you mean " + near + "?)"
				}
				unknown, err = append(unknown, prefix+"."+k), nil
			}
			errs = append(errs, err)
		}
		if len(unknown) > 0 {
			errs = append(errs, fmt.Errorf("config: unknown key(s) %s; an environment takes %s and any top-level setting but environments and pipeline", strings.Join(unknown, ", "), strings.Join(envOnlyKeys, ", ")))
		}
		for _, line := range errorLines(merged.Validate()) {
			if !topLines[line] {
				errs = append(errs, errors.New(strings.Replace(line, "config: ", "config: "+prefix+".", 1)))
			}
		}
		if merged.Account == "" && merged.Region == "" {
			errs = append(errs, fmt.Errorf("config: %s needs account and region: the 12-digit AWS account id and the region its stacks deploy to", prefix))
		}
		if len(c.Environments) > 1 && !hasOrder {
			errs = append(errs, fmt.Errorf("config: %s.order is missing: want a whole number, the environment's place in the promotion order (e.g. dev 1, prod 2)", prefix))
		} else if hasOrder {
			orders[e.Order] = append(orders[e.Order], e.Name)
		}
		merged.StackPrefix += "-" + e.Name + "-"
		if !stackPrefixRe.MatchString(merged.StackPrefix) {
			errs = append(errs, fmt.Errorf("config: %s: the stack names %sNetwork, … are too long: want stackPrefix and the environment's name together at most 62 characters", prefix, merged.StackPrefix))
		}
		e.Config, e.Account, e.Region = merged, merged.Account, merged.Region
		out = append(out, e)
	}
	for _, o := range slices.Sorted(maps.Keys(orders)) {
		if names := orders[o]; len(names) > 1 {
			errs = append(errs, fmt.Errorf("config: environments %s all have order=%d: want a different order for each environment (the promotion order)", strings.Join(names, ", "), o))
		}
	}
	if c.Pipeline == nil {
		// With a pipeline, GitHub holds no deploy role (NewTrust): CodePipeline deploys, each
		// approval in its own stage.
		errs = append(errs, sharedApprovalAccounts(c.GitHubRepository, out)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b EnvironmentConfig) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// sharedApprovalAccounts refuses, when GitHub Actions deploy (repo, githubRepository), an
// environment with approval that shares its account with another environment: the other's
// deploy role (trust.go) could deploy it without its reviewers. The deploy role may assume
// its environment's bootstrap roles only, but CDK's bootstrap deploy role may create and
// execute change sets on any stack of its account (aws-cdk bootstrap-template.yaml,
// DeploymentActionRole, DeployPermissions: Resource "*"), and CloudFormation runs an update
// with the role the stack already has, even for a caller that may not pass it (CloudFormation
// API reference, CreateChangeSet, RoleARN). So a different bootstrapQualifier does not keep
// them apart; only another account does.
func sharedApprovalAccounts(repo string, envs []EnvironmentConfig) []error {
	if repo == "" {
		return nil
	}
	byAccount := map[string][]string{}
	for _, e := range envs {
		byAccount[e.Account] = append(byAccount[e.Account], e.Name)
	}
	var errs []error
	for _, e := range envs {
		others := slices.DeleteFunc(slices.Clone(byAccount[e.Account]), func(n string) bool { return n == e.Name })
		if !e.Approval || e.Account == "" || len(others) == 0 {
			continue
		}
		roles := "role of " + andList(others)
		if len(others) > 1 {
			roles = "roles of " + andList(others)
		}
		errs = append(errs, fmt.Errorf("config: environments.%s has approval: true but shares account %s with %s: the GitHub deploy %s could deploy %s without its reviewers (a CDK bootstrap deploy role may change any stack of its account, whatever the bootstrapQualifier); give %s an account of its own",
			e.Name, e.Account, andList(others), roles, e.Name, e.Name))
	}
	return errs
}

// andList is names as prose: "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// errorLines is the one-line problems of err, an errors.Join of them; none for nil.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// parsePipeline reads `pipeline`: {} (or an unset key) leaves Config.Pipeline nil.
func parsePipeline(c *Config, key string, raw any) error {
	if raw == nil {
		return nil
	}
	m, err := object(key, raw, `an object such as {"connectionArn": "arn:aws:codeconnections:<region>:<account>:connection/<id>", "repository": "owner/repo", "branch": "main"}, or {} for no pipeline`)
	if err != nil || len(m) == 0 {
		c.Pipeline = nil
		return err
	}
	p := &PipelineConfig{Branch: "main"}
	fields := map[string]*string{"connectionArn": &p.ConnectionARN, "repository": &p.Repository, "branch": &p.Branch, "dockerHubSecret": &p.DockerHubSecret}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(m)) {
		field, ok := fields[k]
		if !ok {
			p.unknown = append(p.unknown, key+"."+k)
			continue
		}
		v, err := scratch(text[string], key+"."+k, m[k])
		errs = append(errs, err)
		if err == nil {
			*field = v
		}
	}
	c.Pipeline = p
	return errors.Join(errs...)
}

// checkPipeline checks an enabled pipeline: its keys, and that it has environments to deploy
// and an environment of its own.
func checkPipeline(c Config) error {
	p := c.Pipeline
	if p == nil {
		return nil
	}
	var errs []error
	if len(p.unknown) > 0 {
		errs = append(errs, fmt.Errorf("config: unknown key(s) %s; pipeline takes branch, connectionArn, dockerHubSecret, repository", strings.Join(p.unknown, ", ")))
	}
	errs = append(errs,
		want(connectionArnRe.MatchString(p.ConnectionARN), "pipeline.connectionArn", p.ConnectionARN, "the ARN of a CodeStar connection to your repository host, arn:aws:codeconnections:<region>:<account>:connection/<id> (Developer Tools > Settings > Connections)"),
		want(repositoryRe.MatchString(p.Repository), "pipeline.repository", p.Repository, "the repository as owner/name"),
		want(branchRe.MatchString(p.Branch), "pipeline.branch", p.Branch, "a branch name such as main"),
		checkSecret("pipeline.dockerHubSecret", p.DockerHubSecret))
	if len(c.Environments) == 0 {
		errs = append(errs, errors.New("config: pipeline needs environments: add at least one to `environments` (each becomes a stage of the pipeline)"))
	}
	if c.Account == "" {
		errs = append(errs, errors.New("config: pipeline needs account and region: the top-level account and region are where the pipeline itself runs"))
	}
	return errors.Join(errs...)
}

// Targets is the config of every environment the app deploys, in promotion order: each named
// environment's merged Config, or, with no environments, the top-level config alone (stacks
// named <stackPrefix>Network, … as before environments existed).
func (c Config) Targets() []Config {
	if len(c.Environments) == 0 {
		return []Config{c}
	}
	out := make([]Config, len(c.Environments))
	for i, e := range c.Environments {
		out[i] = e.Config
		out[i].ProjectRoot = c.ProjectRoot
	}
	return out
}
