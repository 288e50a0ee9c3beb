package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/fargate"
)

// NetworkMode chooses how flow runs and the worker reach the internet. It is the biggest
// cost lever of the stack, so it is a named choice rather than a set of booleans.
type NetworkMode string

const (
	// NetworkPrivate puts tasks in private subnets behind NAT gateways (the default).
	NetworkPrivate NetworkMode = "private"
	// NetworkPublic puts tasks in public subnets with a public IP and no ingress: no NAT cost.
	NetworkPublic NetworkMode = "public"
)

// Architecture is the CPU architecture of the worker and flow-run tasks; images are built for it.
type Architecture string

const (
	// ArchX86 runs tasks on x86_64 Fargate, which every build machine can target natively.
	ArchX86 Architecture = "x86_64"
	// ArchARM runs tasks on Graviton Fargate, about 20% cheaper per vCPU-hour.
	ArchARM Architecture = "arm64"
)

// PlaceholderID is the all-zero UUID cdk.json ships with, so a fresh clone synthesizes
// before the user has filled in their Prefect Cloud ids.
const PlaceholderID = "00000000-0000-0000-0000-000000000000"

// Config is every user-facing setting of the app. app.go builds it once from CDK context;
// stacks and constructs read only this value, never the environment or the context. Every
// field but ProjectRoot is bound to one entry of Settings.
type Config struct {
	// StackPrefix names the stacks: <prefix>Network, <prefix>Registry, <prefix>Compute (and
	// <prefix>Server).
	StackPrefix string
	// Account and Region pin the stacks to an environment; empty means environment-agnostic.
	Account, Region string

	// PrefectAccountID and PrefectWorkspaceID select a Prefect Cloud workspace.
	PrefectAccountID, PrefectWorkspaceID string
	// PrefectAPIURL selects a self-hosted Prefect server instead of Prefect Cloud.
	PrefectAPIURL string
	// PrefectAPIKeySecret names (or is the ARN of) the Secrets Manager secret with the API key.
	PrefectAPIKeySecret string
	// PrefectAuthStringSecret names the secret holding a self-hosted server's auth string.
	PrefectAuthStringSecret string
	// PrefectSecretKMSKeyARN is the customer-managed KMS key the secret is encrypted with;
	// empty when it uses Secrets Manager's AWS-managed key.
	PrefectSecretKMSKeyARN string

	WorkPoolName             string
	WorkPoolDescription      string
	WorkPoolConcurrencyLimit int
	WorkPoolPaused           bool

	NetworkMode        NetworkMode
	VpcCidr            string
	VpcID              string
	MaxAzs             int
	NatGateways        int
	InterfaceEndpoints bool
	// NatProvider and NatInstanceType choose what gives private subnets their egress.
	NatProvider     NatProvider
	NatInstanceType string

	Architecture       Architecture
	WorkerCPU          int
	WorkerMemory       int
	WorkerDesiredCount int
	// WorkerFargateSpot runs the worker service on Fargate Spot.
	WorkerFargateSpot  bool
	FlowRunCPU         int
	FlowRunMemory      int
	FlowRunFargateSpot bool
	LogRetentionDays   int
	// ContainerInsights and FlowLogs turn the per-use CloudWatch features on.
	ContainerInsights bool
	FlowLogs          bool

	// Tags are applied to every resource of every stack.
	Tags map[string]string

	// GitHubRepository (owner/repo) enables the CI trust stack (trust.go); empty: no stack.
	GitHubRepository string
	// GitHubOIDCProviderARN imports the account's GitHub OIDC provider; empty creates one.
	GitHubOIDCProviderARN string
	// BootstrapQualifier is the `cdk bootstrap --qualifier` whose roles the deploy role may assume.
	BootstrapQualifier string
	// GitHubArm64Runner is the runs-on label of the GitHub Actions jobs of an arm64
	// environment (the matrix of .ci/cdkci).
	GitHubArm64Runner string

	// PrefectServer builds a self-hosted Prefect server (the <prefix>Server stack, server.go)
	// that the worker and the custom resource then use; ServerOff: none.
	PrefectServer ServerMode
	// ServerBackupRetentionDays keeps the database's automated backups that many days.
	ServerBackupRetentionDays int
	// ServerCertificateARN gives the load balancer an HTTPS listener for ServerDomain;
	// empty: an internal load balancer serving HTTP.
	ServerCertificateARN string
	ServerDomain         string
	// ServerAllowedCidrs may reach the load balancer; empty: the VPC's CIDR only.
	ServerAllowedCidrs []string
	// ServerAPITaskCount is the number of API tasks in ha mode.
	ServerAPITaskCount int
	// ServerDatabaseInstanceClass is the PostgreSQL instance's class (db.t4g.*): its memory
	// sets max_connections, which the server's connection budget must fit.
	ServerDatabaseInstanceClass string

	// Environments are the named environments of `environments`, in promotion order, each
	// with its merged and validated Config; empty: the one environment of the top-level
	// settings, named as before. See envconfig.go.
	Environments []EnvironmentConfig
	// Pipeline is the CodePipeline of `pipeline`; nil when it is not enabled.
	Pipeline *PipelineConfig

	// ProjectRoot is the absolute path of the repository: Docker contexts, the Lambda's Go
	// module and flows/prefect.yaml are found from it. Set by app.go, not by context.
	ProjectRoot string
}

// Setting is one configuration key: its CDK context name, its default as cdk.json holds it,
// the parser that binds it to a Config field, the check of its value and a one-line doc for
// the table of docs/configuration.md. Adding a setting is one entry in Settings plus one
// Config field; DefaultConfig, the known-key check, cdk.json and docs/configuration.md follow
// from it (tests hold cdk.json and docs/configuration.md to the table).
type Setting struct {
	// Key is the context key, as in cdk.json and `-c key=value`.
	Key string
	// Default is the value of a fresh clone, in cdk.json's JSON form.
	Default any
	// Doc is the one-line description in docs/configuration.md (Markdown, no '|').
	Doc string
	// parse converts a raw context value (typed from cdk.json, a string from -c; nil when
	// unset) into the Config field: text (strings and enums), whole, truth or tagMap.
	parse parser
	// check reports what is wrong with the setting in a parsed Config (nil if nothing); it
	// may read other settings (natGateways is bounded by maxAzs).
	check func(c Config) error
}

// Settings is the table of every configuration key, in the order Validate reports problems
// and docs/configuration.md lists them.
var Settings = []Setting{
	{Key: "stackPrefix", Default: "Prefect",
		Doc:   "stacks are `<prefix>Network`, `<prefix>Registry`, `<prefix>Compute` (and `<prefix>Server` with `prefectServer`)",
		parse: text(func(c *Config) *string { return &c.StackPrefix }),
		check: func(c Config) error {
			return want(stackPrefixRe.MatchString(c.StackPrefix), "stackPrefix", c.StackPrefix, "a letter then up to 63 letters, digits or hyphens")
		}},
	{Key: "account", Default: "",
		Doc:   "AWS account id to pin the stacks to, with `region`; empty = environment-agnostic",
		parse: text(func(c *Config) *string { return &c.Account }),
		check: func(c Config) error {
			return want(c.Account == "" || accountRe.MatchString(c.Account), "account", c.Account, "a 12-digit AWS account id, or empty for an environment-agnostic synth")
		}},
	{Key: "region", Default: "",
		Doc:   "AWS region to pin the stacks to, with `account`; empty = environment-agnostic",
		parse: text(func(c *Config) *string { return &c.Region }),
		check: func(c Config) error {
			if c.Region != "" && !regionRe.MatchString(c.Region) {
				return bad("region", c.Region, "an AWS region such as us-east-1, or empty")
			}
			if (c.Account == "") != (c.Region == "") {
				return fmt.Errorf("config: account=%q and region=%q must be set together (or both left empty)", c.Account, c.Region)
			}
			return nil
		}},
	{Key: "prefectAccountId", Default: PlaceholderID,
		Doc:   "Prefect Cloud account id (UUID); the shipped placeholder synthesizes but cannot deploy",
		parse: text(func(c *Config) *string { return &c.PrefectAccountID }),
		check: func(c Config) error {
			return cloudID(c, "prefectAccountId", c.PrefectAccountID, "your Prefect Cloud account id (a UUID), or set prefectApiUrl for a self-hosted server")
		}},
	{Key: "prefectWorkspaceId", Default: PlaceholderID,
		Doc:   "Prefect Cloud workspace id (UUID, in the workspace URL); the shipped placeholder synthesizes but cannot deploy",
		parse: text(func(c *Config) *string { return &c.PrefectWorkspaceID }),
		check: func(c Config) error {
			return cloudID(c, "prefectWorkspaceId", c.PrefectWorkspaceID, "your Prefect Cloud workspace id (a UUID); it is in the workspace URL")
		}},
	{Key: "prefectApiUrl", Default: "",
		Doc:   "a self-hosted server's API URL, ending in `/api`; when set, the Cloud ids must be empty",
		parse: text(func(c *Config) *string { return &c.PrefectAPIURL }),
		check: checkAPIURL},
	{Key: "prefectApiKeySecret", Default: "prefect-api-key",
		Doc:   "name or ARN of the Secrets Manager secret with the Cloud API key; a name ending in `-` + 6 letters/digits must be given as the complete ARN",
		parse: text(func(c *Config) *string { return &c.PrefectAPIKeySecret }),
		check: func(c Config) error {
			if c.IsCloud() && c.PrefectAPIKeySecret == "" {
				return bad("prefectApiKeySecret", `""`, "the name or ARN of the Secrets Manager secret holding your Prefect Cloud API key")
			}
			return checkSecret("prefectApiKeySecret", c.PrefectAPIKeySecret)
		}},
	{Key: "prefectAuthStringSecret", Default: "",
		Doc:   "self-hosted only: secret with the server's `user:password` auth string (same naming rule)",
		parse: text(func(c *Config) *string { return &c.PrefectAuthStringSecret }),
		check: func(c Config) error {
			if c.IsCloud() && c.PrefectAuthStringSecret != "" {
				return fmt.Errorf("config: prefectAuthStringSecret=%s is only for a self-hosted server (prefectApiUrl); Prefect Cloud uses prefectApiKeySecret", c.PrefectAuthStringSecret)
			}
			return checkSecret("prefectAuthStringSecret", c.PrefectAuthStringSecret)
		}},
	{Key: "prefectSecretKmsKeyArn", Default: "",
		Doc:   "ARN of the customer-managed KMS key the secret is encrypted with (`arn:aws:kms:<region>:<account>:key/<id>`; not an alias); empty = AWS-managed key",
		parse: text(func(c *Config) *string { return &c.PrefectSecretKMSKeyARN }),
		check: func(c Config) error {
			switch {
			case c.PrefectSecretKMSKeyARN == "":
			case !kmsKeyArnRe.MatchString(c.PrefectSecretKMSKeyARN):
				return bad("prefectSecretKmsKeyArn", c.PrefectSecretKMSKeyARN, "a KMS key ARN such as arn:aws:kms:<region>:<account>:key/<key-id> (not an alias), or empty for the AWS-managed key")
			case !c.IsCloud() && !c.ServerOn() && c.PrefectAuthStringSecret == "":
				return fmt.Errorf("config: prefectSecretKmsKeyArn=%s decrypts the Prefect secret, but none is used: set prefectAuthStringSecret or leave the key empty", c.PrefectSecretKMSKeyARN)
			}
			return nil
		}},
	{Key: "workPoolName", Default: "ecs-fargate",
		Doc:   "work pool; letters, digits, `-`, `_`; not starting with `prefect`",
		parse: text(func(c *Config) *string { return &c.WorkPoolName }),
		check: func(c Config) error {
			return want(contract.ValidPoolName(c.WorkPoolName), "workPoolName", c.WorkPoolName,
				"1-128 letters, digits, '-' or '_' (ECS task-definition families allow no other characters) in a name that does not start with 'prefect' (Prefect reserves those)")
		}},
	{Key: "workPoolDescription", Default: "Flow runs on ECS Fargate, managed by prefect-ecs-cdk",
		Doc:   "shown in the Prefect UI; at most 1000 characters",
		parse: text(func(c *Config) *string { return &c.WorkPoolDescription }),
		check: func(c Config) error {
			return want(len(c.WorkPoolDescription) <= 1000, "workPoolDescription", "(too long)", "at most 1000 characters")
		}},
	{Key: "workPoolConcurrencyLimit", Default: 0,
		Doc:   "max concurrent flow runs in the pool; 0 = unlimited",
		parse: whole(func(c *Config) *int { return &c.WorkPoolConcurrencyLimit }),
		check: func(c Config) error {
			return want(c.WorkPoolConcurrencyLimit >= 0, "workPoolConcurrencyLimit", c.WorkPoolConcurrencyLimit, "0 (unlimited) or a positive number")
		}},
	{Key: "workPoolPaused", Default: false,
		Doc:   "create the pool paused",
		parse: truth(func(c *Config) *bool { return &c.WorkPoolPaused })},
	{Key: "networkMode", Default: string(NetworkPrivate),
		Doc:   "`private`: tasks in private subnets behind NAT; `public`: public subnets, public IP, no ingress, no NAT",
		parse: text(func(c *Config) *NetworkMode { return &c.NetworkMode }),
		check: func(c Config) error {
			return want(c.NetworkMode == NetworkPrivate || c.NetworkMode == NetworkPublic, "networkMode", c.NetworkMode, "private (NAT gateways) or public (no NAT, public IPs, no ingress)")
		}},
	{Key: "vpcCidr", Default: "10.0.0.0/16",
		Doc:   "CIDR of the new VPC (/16 to /22)",
		parse: text(func(c *Config) *string { return &c.VpcCidr }),
		check: checkVpcCidr},
	{Key: "vpcId", Default: "",
		Doc:   "use an existing VPC instead (needs `account`/`region`; it must have the subnet type of the mode)",
		parse: text(func(c *Config) *string { return &c.VpcID }),
		check: checkVpcID},
	{Key: "interfaceEndpoints", Default: false,
		Doc:   "VPC endpoints for ECR api/dkr, Logs, Secrets Manager and SQS (S3 gateway endpoint is always on)",
		parse: truth(func(c *Config) *bool { return &c.InterfaceEndpoints })},
	{Key: "maxAzs", Default: 2,
		Doc:   "availability zones (2–6; above 2 needs `account`/`region`)",
		parse: whole(func(c *Config) *int { return &c.MaxAzs }),
		check: func(c Config) error {
			if c.MaxAzs < 2 || c.MaxAzs > 6 {
				return bad("maxAzs", c.MaxAzs, "2 to 6 (one AZ is a single point of failure)")
			}
			if c.MaxAzs > 2 && c.Account == "" {
				return fmt.Errorf("config: maxAzs=%d needs account and region set: an environment-agnostic synth can only use 2 AZs", c.MaxAzs)
			}
			return nil
		}},
	{Key: "natGateways", Default: natGatewaysDefault,
		Doc:   "NAT gateways in private mode (1 to `maxAzs`; one per AZ survives an AZ outage); public mode has none, so only the default or 0 pass there",
		parse: whole(func(c *Config) *int { return &c.NatGateways }),
		check: checkNatGateways},
	// Cost settings (issue 10): a NAT instance instead of the managed gateway.
	{Key: "natProvider", Default: string(NatGateway),
		Doc:   "`gateway` (managed NAT gateways) or `instance` (a Graviton NAT instance per NAT, ~$7 a month instead of ~$36; see Cost); private mode only",
		parse: text(func(c *Config) *NatProvider { return &c.NatProvider }),
		check: checkNatProvider},
	{Key: "natInstanceType", Default: natInstanceTypeDefault,
		Doc:   "EC2 type of the NAT instances with `natProvider=instance`: a Graviton type (e.g. t4g.nano, t4g.micro, c7g.medium)",
		parse: text(func(c *Config) *string { return &c.NatInstanceType }),
		check: checkNatInstanceType},
	{Key: "cpuArchitecture", Default: string(ArchX86),
		Doc:   "`x86_64` or `arm64` (Graviton, ~20% cheaper) for the worker, flow runs and images",
		parse: text(func(c *Config) *Architecture { return &c.Architecture }),
		check: func(c Config) error {
			return want(c.Architecture == ArchX86 || c.Architecture == ArchARM, "cpuArchitecture", c.Architecture, "x86_64 or arm64")
		}},
	fargateCPU("worker", 256, workerCPU,
		"worker task CPU units (a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384)"),
	fargateMemory("worker", 1024, workerCPU, func(c *Config) *int { return &c.WorkerMemory },
		"worker task memory (MiB), a size Fargate pairs with `workerCpu`"),
	// Cost settings (issue 10): the worker on Fargate Spot.
	fargateSpot("worker", func(c *Config) *bool { return &c.WorkerFargateSpot },
		"run the worker on Fargate Spot (x86_64 only; about 70% cheaper); on an interruption running flow runs continue, scheduled runs wait until the replacement worker polls"),
	{Key: "workerDesiredCount", Default: 1,
		Doc:   "worker tasks (0 stops all flow runs)",
		parse: whole(func(c *Config) *int { return &c.WorkerDesiredCount }),
		check: func(c Config) error {
			return want(c.WorkerDesiredCount >= 0 && c.WorkerDesiredCount <= 10, "workerDesiredCount", c.WorkerDesiredCount, "0 to 10 (0 stops the worker: nothing will run)")
		}},
	fargateCPU("flowRun", 1024, flowRunCPU,
		"default CPU units of a flow run (deployments may override with the `cpu` job variable)"),
	fargateMemory("flowRun", 2048, flowRunCPU, func(c *Config) *int { return &c.FlowRunMemory },
		"default memory (MiB) of a flow run, a size Fargate pairs with `flowRunCpu` (job variable `memory`)"),
	fargateSpot("flowRun", func(c *Config) *bool { return &c.FlowRunFargateSpot },
		"start flow runs on Fargate Spot (x86_64 only; up to 70% cheaper, may be interrupted)"),
	{Key: "logRetentionDays", Default: 30,
		Doc:   "retention of every log group (a CloudWatch Logs value: 1, 3, 5, 7, 14, 30, 60, 90, …)",
		parse: whole(func(c *Config) *int { return &c.LogRetentionDays }),
		check: func(c Config) error {
			if _, ok := retentionNames[c.LogRetentionDays]; ok {
				return nil
			}
			days := make([]int, 0, len(retentionNames))
			for d := range retentionNames {
				days = append(days, d)
			}
			sort.Ints(days)
			return bad("logRetentionDays", c.LogRetentionDays, "one of "+strings.Trim(fmt.Sprint(days), "[]"))
		}},
	// Cost settings (issue 10): CloudWatch features billed per use.
	{Key: "containerInsights", Default: true,
		Doc:   "Container Insights on the cluster (billed per use: metrics and performance logs); on by default for the worker's and flow runs' CPU and memory, which is how their sizes are checked",
		parse: truth(func(c *Config) *bool { return &c.ContainerInsights })},
	{Key: "flowLogs", Default: true,
		Doc:   "VPC flow logs of all traffic to CloudWatch Logs (billed per GB ingested); on by default: the only record of where tasks connected",
		parse: truth(func(c *Config) *bool { return &c.FlowLogs }),
		check: func(c Config) error {
			if !c.FlowLogs && c.VpcID != "" {
				return fmt.Errorf("config: flowLogs=false has no effect with vpcId=%s (the stack creates no VPC and no flow log): remove it", c.VpcID)
			}
			return nil
		}},
	{Key: "tags", Default: map[string]any{"project": "prefect-ecs-cdk"},
		Doc:   "tags on every resource; from the command line as JSON",
		parse: tagMap(func(c *Config) *map[string]string { return &c.Tags }),
		check: checkTags},
	// CI trust (issue 7): GitHub Actions reach AWS with OIDC (trust.go).
	{Key: "githubRepository", Default: "",
		Doc:   "`owner/repo` whose GitHub Actions deploy: adds the `<prefix>GitHubTrust` stack (OIDC provider, deploy and diff roles); empty = no such stack",
		parse: text(func(c *Config) *string { return &c.GitHubRepository }),
		check: func(c Config) error {
			return want(c.GitHubRepository == "" || githubRepoRe.MatchString(c.GitHubRepository), "githubRepository", c.GitHubRepository, "owner/repo as in the GitHub URL, or empty for no trust stack")
		}},
	{Key: "githubOidcProviderArn", Default: "",
		Doc:   "ARN of the account's existing GitHub OIDC provider (an account holds one): the trust stack imports it; empty = the trust stack creates it",
		parse: text(func(c *Config) *string { return &c.GitHubOIDCProviderARN }),
		check: func(c Config) error {
			if c.GitHubOIDCProviderARN != "" && c.GitHubRepository == "" {
				return fmt.Errorf("config: githubOidcProviderArn=%s is only used by the trust stack: set githubRepository too, or leave it empty", c.GitHubOIDCProviderARN)
			}
			return want(c.GitHubOIDCProviderARN == "" || githubProviderRe.MatchString(c.GitHubOIDCProviderARN), "githubOidcProviderArn", c.GitHubOIDCProviderARN,
				"arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com, or empty to create the provider")
		}},
	{Key: "bootstrapQualifier", Default: "hnb659fds",
		Doc:   "qualifier of `cdk bootstrap` (its roles are `cdk-<qualifier>-…`): the trust stack's deploy role may assume only those",
		parse: text(func(c *Config) *string { return &c.BootstrapQualifier }),
		check: func(c Config) error {
			return want(qualifierRe.MatchString(c.BootstrapQualifier), "bootstrapQualifier", c.BootstrapQualifier, "1 to 10 lowercase letters or digits, as given to cdk bootstrap --qualifier (CDK's default is hnb659fds)")
		}},
	{Key: "githubArm64Runner", Default: "ubuntu-24.04-arm",
		Doc:   "`runs-on` label of the GitHub Actions jobs of a `cpuArchitecture=arm64` environment; `ubuntu-24.04-arm` is free for public repositories only: a private repository names its arm64 larger runner, or `ubuntu-24.04` (images built under QEMU, slower) (see GitHub Actions)",
		parse: text(func(c *Config) *string { return &c.GitHubArm64Runner }),
		check: func(c Config) error {
			return want(runnerLabelRe.MatchString(c.GitHubArm64Runner), "githubArm64Runner", c.GitHubArm64Runner, "a GitHub Actions runner label such as ubuntu-24.04-arm (letters, digits, '.', '_' or '-', at most 100)")
		}},
	// Self-hosted server (issue 9): the <prefix>Server stack (server.go, serverconfig.go).
	{Key: "prefectServer", Default: string(ServerOff),
		Doc:   "`off`, `single` (one API task that also runs the services, single-AZ PostgreSQL) or `ha` (API tasks across AZs, a services task, Multi-AZ PostgreSQL, Redis): adds the `<prefix>Server` stack, which the worker then uses (see Self-hosted server)",
		parse: text(func(c *Config) *ServerMode { return &c.PrefectServer }),
		check: checkPrefectServer},
	{Key: "serverBackupRetentionDays", Default: 7,
		Doc:   "days the server database's automated backups are kept (1–35)",
		parse: whole(func(c *Config) *int { return &c.ServerBackupRetentionDays }),
		check: func(c Config) error {
			return want(c.ServerBackupRetentionDays >= 1 && c.ServerBackupRetentionDays <= 35, "serverBackupRetentionDays", c.ServerBackupRetentionDays, "1 to 35 days (RDS's range; 0 would turn backups off)")
		}},
	{Key: "serverCertificateArn", Default: "",
		Doc:   "ACM certificate for `serverDomain`: an internet-facing load balancer with HTTPS (private mode); empty = an internal load balancer serving HTTP",
		parse: text(func(c *Config) *string { return &c.ServerCertificateARN }),
		check: checkServerCertificate},
	{Key: "serverDomain", Default: "",
		Doc:   "the name clients use for the server (the certificate's), e.g. `prefect.example.com`; needs `serverCertificateArn`; point it at the load balancer (output `LoadBalancerDns`)",
		parse: text(func(c *Config) *string { return &c.ServerDomain }),
		check: checkServerDomain},
	{Key: "serverAllowedCidrs", Default: []any{},
		Doc:   "IPv4 CIDRs that may reach the server's load balancer, besides the worker, its flow runs and the function; `[]` = the VPC's CIDR only; from the command line as JSON or comma-separated",
		parse: cidrList(func(c *Config) *[]string { return &c.ServerAllowedCidrs }),
		check: checkServerCidrs},
	{Key: "serverApiTaskCount", Default: serverAPITaskCountDefault,
		Doc:   "API tasks in `ha` mode, spread across AZs (2–10, within the database's connections: see `serverDatabaseInstanceClass`); `single` runs one",
		parse: whole(func(c *Config) *int { return &c.ServerAPITaskCount }),
		check: checkServerAPITaskCount},
	{Key: "serverDatabaseInstanceClass", Default: serverDatabaseClassDefault,
		Doc:   "the server database's instance class: `db.t4g.micro`, `db.t4g.small`, `db.t4g.medium` or `db.t4g.large`; its memory sets PostgreSQL's `max_connections`, which every server process's pool must fit (see Self-hosted server)",
		parse: text(func(c *Config) *string { return &c.ServerDatabaseInstanceClass }),
		check: checkServerDatabase},
}

var (
	githubRepoRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)
	runnerLabelRe    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	githubProviderRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\.actions\.githubusercontent\.com$`)
	qualifierRe      = regexp.MustCompile(`^[a-z0-9]{1,10}$`)
)

// DefaultConfig is the configuration a fresh clone synthesizes with: every Setting's default.
func DefaultConfig() Config {
	c, _ := tableDefaults()
	return c
}

// tableDefaults applies every Setting's default; an error means a default its parser refuses (a
// test keeps the table free of those).
func tableDefaults() (Config, error) {
	var c Config
	var errs []error
	for _, s := range Settings {
		errs = append(errs, s.parse(&c, s.Key, s.Default))
	}
	return c, errors.Join(errs...)
}

// ConfigFromContext builds a validated Config from context values. get returns the raw value
// of a key (nil when unset): numbers and booleans arrive typed from cdk.json but as strings
// from `-c key=value`, and both are accepted. allKeys are every key of the context: a key
// that is neither a Setting nor CDK's own is refused. The error names every problem, one
// line each: unknown keys first, then each setting in table order.
func ConfigFromContext(get func(key string) any, allKeys []string) (Config, error) {
	c, err := tableDefaults()
	errs := []error{err, unknownKeys(allKeys)}
	unparsed := map[string]bool{}
	for _, s := range Settings {
		if err := s.parse(&c, s.Key, get(s.Key)); err != nil {
			unparsed[s.Key] = true
			errs = append(errs, err)
		}
	}
	// A value that did not parse is reported once, by its parser; its default stands in
	// for the checks of the other keys.
	for _, s := range Settings {
		if s.check != nil && !unparsed[s.Key] {
			errs = append(errs, s.check(c))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	c.Environments, _ = resolveEnvironments(c) // checked above
	return c, nil
}

// Validate checks every setting and returns every problem, one line each in the order of
// Settings, each naming the key, the value and what is allowed.
func (c Config) Validate() error {
	var errs []error
	for _, s := range Settings {
		if s.check != nil {
			errs = append(errs, s.check(c))
		}
	}
	return errors.Join(errs...)
}

// unknownKeys refuses context keys that are neither a Setting nor CDK's own, suggesting the
// closest Setting for a near miss (a typo or a wrong case).
func unknownKeys(allKeys []string) error {
	known := make([]string, len(Settings))
	for i, s := range Settings {
		known[i] = s.Key
	}
	var unknown []string
	listAll := false
	for _, k := range allKeys {
		if slices.Contains(known, k) || IsCDKContextKey(k) {
			continue
		}
		if near := closest(k, known); near != "" {
			k += " (did you mean " + near + "?)"
		} else {
			listAll = true
		}
		unknown = append(unknown, k)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	msg := "config: unknown key(s) " + strings.Join(unknown, ", ")
	if listAll {
		msg += "; known keys: " + strings.Join(known, ", ")
	}
	return errors.New(msg)
}

// closest returns the candidate nearest to key by edit distance, ignoring case, when it is
// near enough to be a typo of it; "" otherwise.
func closest(key string, candidates []string) string {
	best, bestD := "", max(2, len(key)/4)+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(key), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

// bad is the one-line message of a value that is not allowed.
func bad(key string, v any, allowed string) error {
	return fmt.Errorf("config: %s=%v is not valid: want %s", key, v, allowed)
}

// want is bad(key, v, allowed) unless ok.
func want(ok bool, key string, v any, allowed string) error {
	if ok {
		return nil
	}
	return bad(key, v, allowed)
}

// parser converts a raw context value of key into its Config field; nil leaves the default.
type parser = func(c *Config, key string, raw any) error

// bind makes the parser of a field from a conversion of non-nil raw values.
func bind[T any](field func(*Config) *T, conv func(key string, raw any) (T, error)) parser {
	return func(c *Config, key string, raw any) error {
		if raw == nil {
			return nil
		}
		v, err := conv(key, raw)
		if err == nil {
			*field(c) = v
		}
		return err
	}
}

// shown renders a raw context value for a message as cdk.json would spell it; a string
// (as `-c` passes every value) as it is.
func shown(raw any) string {
	if s, ok := raw.(string); ok {
		return s
	}
	b, _ := json.Marshal(raw)
	return string(b)
}

// text parses a string setting (or a named string type: the enums), trimming spaces.
func text[T ~string](field func(*Config) *T) parser {
	return bind(field, func(key string, raw any) (T, error) {
		s, ok := raw.(string)
		if !ok {
			return "", bad(key, shown(raw), "a string")
		}
		return T(strings.TrimSpace(s)), nil
	})
}

// whole parses a whole number, from JSON (a float64 or int) or from `-c` (a string).
func whole(field func(*Config) *int) parser {
	return bind(field, func(key string, raw any) (int, error) {
		switch v := raw.(type) {
		case int:
			return v, nil
		case float64:
			if v == float64(int(v)) {
				return int(v), nil
			}
		case string:
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n, nil
			}
		}
		return 0, bad(key, shown(raw), "a whole number")
	})
}

// truth parses a boolean, from JSON or from `-c` ("true"/"false", any case).
func truth(field func(*Config) *bool) parser {
	return bind(field, func(key string, raw any) (bool, error) {
		b, ok := raw.(bool)
		if s, isString := raw.(string); isString {
			b, ok = map[string]bool{"true": true, "false": false}[strings.ToLower(strings.TrimSpace(s))]
		}
		if !ok {
			return false, bad(key, shown(raw), "true or false")
		}
		return b, nil
	})
}

// tagMap parses an object of strings, from JSON or from `-c` as a JSON string.
func tagMap(field func(*Config) *map[string]string) parser {
	return bind(field, func(key string, raw any) (map[string]string, error) {
		if s, ok := raw.(string); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				return nil, bad(key, s, `a JSON object of strings, e.g. {"team":"data"}`)
			}
			raw = m
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, bad(key, shown(raw), `an object of strings, e.g. {"team":"data"}`)
		}
		out := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			s, ok := m[k].(string)
			if !ok {
				return nil, bad(key+"."+k, shown(m[k]), "a string")
			}
			out[k] = s
		}
		return out, nil
	})
}

var (
	stackPrefixRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)
	accountRe     = regexp.MustCompile(`^[0-9]{12}$`)
	regionRe      = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$`)
	vpcIDRe       = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	secretNameRe  = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	secretArnRe   = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)
	// secretSuffixRe is the random suffix Secrets Manager appends to a secret's name in its
	// complete ARN. A name that ends like one is read as a complete ARN, so it is refused.
	secretSuffixRe = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)
	// kmsKeyArnRe is a key ARN, single- or multi-Region; an alias ARN cannot be granted on.
	kmsKeyArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	tagKeyRe    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$`)
)

// cloudID checks a Prefect Cloud id: a UUID for Prefect Cloud; for a self-hosted server,
// checkAPIURL reports ids that are set.
func cloudID(c Config, key, id, allowed string) error {
	switch {
	case !c.IsCloud():
	case id == "":
		return bad(key, `""`, allowed)
	case !contract.IsUUID(id):
		return bad(key, id, "a UUID such as 9f8e7d6c-1234-4abc-8def-0123456789ab")
	}
	return nil
}

// checkAPIURL checks a self-hosted server's API URL; empty selects Prefect Cloud.
func checkAPIURL(c Config) error {
	if c.IsCloud() || c.ServerOn() { // checkPrefectServer reports a URL set with prefectServer
		return nil
	}
	if err := checkCloudURL(c); err != nil {
		return err
	}
	if c.PrefectAccountID != "" && c.PrefectAccountID != PlaceholderID || c.PrefectWorkspaceID != "" && c.PrefectWorkspaceID != PlaceholderID {
		return fmt.Errorf("config: prefectApiUrl=%s selects a self-hosted server, so prefectAccountId and prefectWorkspaceId must be empty", c.PrefectAPIURL)
	}
	u, err := url.Parse(c.PrefectAPIURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return bad("prefectApiUrl", c.PrefectAPIURL, "an http(s) URL of a self-hosted Prefect API, e.g. https://prefect.example.com/api")
	case !strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/api"):
		return bad("prefectApiUrl", c.PrefectAPIURL, "the API URL, ending in /api (e.g. http://prefect.internal:4200/api)")
	}
	return nil
}

// natGatewaysDefault is natGateways' default, which cdk.json ships: public mode cannot tell
// it from an unset key, so it passes there, as does 0.
const natGatewaysDefault = 1

// checkNatGateways checks natGateways: 1 to maxAzs in private mode; public mode has no NAT
// gateways, so any other value than 0 or the default would be silently ignored.
func checkNatGateways(c Config) error {
	if c.NetworkMode == NetworkPublic {
		if c.NatGateways != 0 && c.NatGateways != natGatewaysDefault {
			return fmt.Errorf("config: natGateways=%d has no effect with networkMode=public (no NAT gateways): remove it, or set networkMode=private", c.NatGateways)
		}
		return nil
	}
	return want(c.NatGateways >= 1 && c.NatGateways <= c.MaxAzs, "natGateways", c.NatGateways, fmt.Sprintf("1 to maxAzs (%d) in private mode", c.MaxAzs))
}

// NatProvider chooses what gives private subnets their egress.
type NatProvider string

const (
	// NatGateway is AWS's managed NAT gateway (the default).
	NatGateway NatProvider = "gateway"
	// NatInstance is a NAT instance on Graviton, run by CDK's NatInstanceProviderV2.
	NatInstance NatProvider = "instance"
)

// natInstanceTypeDefault is natInstanceType's default, the smallest Graviton type.
const natInstanceTypeDefault = "t4g.nano"

// gravitonTypeRe matches an EC2 instance type on Graviton: a family whose generation is
// followed by "g" (t4g, c7gn, m6gd, x2gd, im4gn), then a size.
var gravitonTypeRe = regexp.MustCompile(`^[a-z]+[0-9]+g[a-z]*\.(nano|micro|small|medium|large|[0-9]*xlarge|metal)$`)

// checkNatProvider checks natProvider: gateway or instance; an instance only where the stack
// creates private subnets (private mode, no vpcId).
func checkNatProvider(c Config) error {
	switch {
	case c.NatProvider != NatGateway && c.NatProvider != NatInstance:
		return bad("natProvider", c.NatProvider, "gateway (managed NAT gateways) or instance (a Graviton NAT instance per NAT)")
	case c.NatProvider == NatInstance && c.NetworkMode == NetworkPublic:
		return fmt.Errorf("config: natProvider=instance has no effect with networkMode=public (no NAT): remove it, or set networkMode=private")
	case c.NatProvider == NatInstance && c.VpcID != "":
		return fmt.Errorf("config: natProvider=instance has no effect with vpcId=%s (the stack creates no VPC and no NAT): remove it", c.VpcID)
	}
	return nil
}

// fargateSpot is the setting <prefix>FargateSpot, bound to the field spot, off by default:
// Spot runs x86_64 tasks only.
func fargateSpot(prefix string, spot func(*Config) *bool, doc string) Setting {
	key := prefix + "FargateSpot"
	return Setting{Key: key, Default: false, Doc: doc, parse: truth(spot),
		check: func(c Config) error {
			if *spot(&c) && c.Architecture == ArchARM {
				return fmt.Errorf("config: %s=true needs cpuArchitecture=x86_64 (Fargate Spot does not run arm64 tasks)", key)
			}
			return nil
		}}
}

// checkNatInstanceType checks natInstanceType: a Graviton type (the AMI is arm64), and set
// only with natProvider=instance (elsewhere it would be silently ignored).
func checkNatInstanceType(c Config) error {
	if !gravitonTypeRe.MatchString(c.NatInstanceType) {
		return bad("natInstanceType", c.NatInstanceType, "a Graviton (arm64) EC2 instance type such as t4g.nano, t4g.micro or c7g.medium")
	}
	if c.NatInstanceType != natInstanceTypeDefault && c.NatProvider != NatInstance {
		return fmt.Errorf("config: natInstanceType=%s has no effect with natProvider=%s: remove it, or set natProvider=instance", c.NatInstanceType, c.NatProvider)
	}
	return nil
}

// cloudURLRe matches the Prefect Cloud URLs a user may copy: the UI's
// https://app.prefect.cloud/account/<a>/workspace/<w>/… and the API's
// https://api.prefect.cloud/api/accounts/<a>/workspaces/<w>.
var cloudURLRe = regexp.MustCompile(`^https?://(?:app|api)\.prefect\.cloud/(?:api/)?accounts?/([^/]+)/workspaces?/([^/?#]+)`)

// checkCloudURL refuses a Prefect Cloud URL as prefectApiUrl, naming the ids to set instead.
func checkCloudURL(c Config) error {
	if m := cloudURLRe.FindStringSubmatch(c.PrefectAPIURL); m != nil {
		return fmt.Errorf("config: prefectApiUrl=%s is a Prefect Cloud URL: leave prefectApiUrl empty and set prefectAccountId=%s prefectWorkspaceId=%s", c.PrefectAPIURL, m[1], m[2])
	}
	if u, err := url.Parse(c.PrefectAPIURL); err == nil && (u.Hostname() == "prefect.cloud" || strings.HasSuffix(u.Hostname(), ".prefect.cloud")) {
		return fmt.Errorf("config: prefectApiUrl=%s is Prefect Cloud: leave prefectApiUrl empty and set prefectAccountId and prefectWorkspaceId, the ids in your workspace's URL https://app.prefect.cloud/account/<prefectAccountId>/workspace/<prefectWorkspaceId>", c.PrefectAPIURL)
	}
	return nil
}

// checkSecret checks a Secrets Manager secret given by name or ARN; empty passes.
func checkSecret(key, v string) error {
	switch {
	case v == "" || secretArnRe.MatchString(v):
	case !secretNameRe.MatchString(v):
		return bad(key, v, "a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN")
	case secretSuffixRe.MatchString(v):
		return bad(key, v, fmt.Sprintf("the secret's complete ARN, e.g. arn:aws:secretsmanager:<region>:<account>:secret:%s-AbCdEf (Secrets Manager reads a name ending in '-' and 6 letters or digits as a complete ARN)", v))
	}
	return nil
}

// checkVpcCidr checks the CIDR of the VPC the stack creates (unused with vpcId).
func checkVpcCidr(c Config) error {
	if c.VpcID != "" {
		return nil
	}
	ip, n, err := net.ParseCIDR(c.VpcCidr)
	if err != nil || ip.To4() == nil {
		return bad("vpcCidr", c.VpcCidr, "an IPv4 CIDR block such as 10.0.0.0/16")
	}
	if ones, _ := n.Mask.Size(); ones < 16 || ones > 22 {
		return bad("vpcCidr", c.VpcCidr, "a prefix between /16 and /22 (room for a public and a private subnet per AZ)")
	}
	return want(ip.Equal(n.IP), "vpcCidr", c.VpcCidr, fmt.Sprintf("a network address (did you mean %s?)", n))
}

// checkVpcID checks the id of an existing VPC, which CDK looks up in the stacks' environment.
func checkVpcID(c Config) error {
	switch {
	case c.VpcID == "":
	case !vpcIDRe.MatchString(c.VpcID):
		return bad("vpcId", c.VpcID, "an existing VPC id such as vpc-0123456789abcdef0, or empty to create one")
	case c.Account == "":
		return fmt.Errorf("config: vpcId=%s needs account and region set (CDK looks the VPC up in that environment)", c.VpcID)
	}
	return nil
}

// checkTags reports every tag whose key or value AWS would refuse, in key order.
func checkTags(c Config) error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
		if !tagKeyRe.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:") {
			errs = append(errs, bad("tags", k, "tag keys of 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:"))
		} else if len(c.Tags[k]) > 256 {
			errs = append(errs, bad("tags."+k, "(too long)", "a value of at most 256 characters"))
		}
	}
	return errors.Join(errs...)
}

// The CPU fields of the Fargate tasks, which their memory settings are checked against.
func workerCPU(c *Config) *int  { return &c.WorkerCPU }
func flowRunCPU(c *Config) *int { return &c.FlowRunCPU }

// fargateCPU is the setting <prefix>Cpu, bound to the field cpu: a Fargate CPU size.
func fargateCPU(prefix string, def int, cpu func(*Config) *int, doc string) Setting {
	return Setting{Key: prefix + "Cpu", Default: def, Doc: doc, parse: whole(cpu),
		check: func(c Config) error {
			if v := *cpu(&c); fargate.Memory(v) == nil {
				return fmt.Errorf("config: %sCpu=%d is not a Fargate CPU size: want one of %s", prefix, v, fargate.List(fargate.CPUs))
			}
			return nil
		}}
}

// fargateMemory is the setting <prefix>Memory, bound to the field memory: a size Fargate
// pairs with <prefix>Cpu (checked once that is a Fargate size).
func fargateMemory(prefix string, def int, cpu, memory func(*Config) *int, doc string) Setting {
	return Setting{Key: prefix + "Memory", Default: def, Doc: doc, parse: whole(memory),
		check: func(c Config) error {
			cpu, memory := *cpu(&c), *memory(&c)
			mems := fargate.Memory(cpu)
			if mems == nil || fargate.Fits(cpu, memory) {
				return nil
			}
			return fmt.Errorf("config: %sMemory=%d does not fit %sCpu=%d on Fargate: want one of %s",
				prefix, memory, prefix, cpu, fargate.List(mems))
		}}
}

// IsCloud reports whether the target is Prefect Cloud (as opposed to a self-hosted server,
// given by prefectApiUrl or built by prefectServer).
func (c Config) IsCloud() bool { return c.PrefectAPIURL == "" && !c.ServerOn() }

// UsesPlaceholderWorkspace reports whether the Prefect Cloud ids are still the shipped
// placeholders: synth works, but a deploy would fail at the work-pool step.
func (c Config) UsesPlaceholderWorkspace() bool {
	return c.IsCloud() && (c.PrefectAccountID == PlaceholderID || c.PrefectWorkspaceID == PlaceholderID)
}

// CustomResourceInVpc reports whether the custom-resource function runs inside the VPC: for a
// self-hosted server in private mode, where the server may be reachable only from the VPC.
// (Lambda never gets a public IP, so in public mode it stays outside and uses the internet.)
// With prefectServer it always does: the server's load balancer admits the worker's
// security group, which the function shares.
func (c Config) CustomResourceInVpc() bool {
	return !c.IsCloud() && (c.NetworkMode == NetworkPrivate || c.ServerOn())
}

// APIURL is the PREFECT_API_URL the worker, the flow runs and the custom resource use.
func (c Config) APIURL() string {
	if !c.IsCloud() {
		return strings.TrimRight(c.PrefectAPIURL, "/")
	}
	return fmt.Sprintf("https://api.prefect.cloud/api/accounts/%s/workspaces/%s", c.PrefectAccountID, c.PrefectWorkspaceID)
}

// APIPort is the TCP port the worker must reach the Prefect API on; the worker's security
// group allows egress to it and HTTPS only.
func (c Config) APIPort() int {
	if c.ServerOn() {
		return c.ServerPort()
	}
	if c.IsCloud() {
		return 443
	}
	u, err := url.Parse(c.PrefectAPIURL)
	if err != nil {
		return 443
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}
