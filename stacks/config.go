package stacks

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
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
// stacks and constructs read only this value, never the environment or the context.
type Config struct {
	// StackPrefix names the stacks: <prefix>Network, <prefix>Registry, <prefix>Compute.
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

	Architecture       Architecture
	WorkerCPU          int
	WorkerMemory       int
	WorkerDesiredCount int
	FlowRunCPU         int
	FlowRunMemory      int
	FlowRunFargateSpot bool
	LogRetentionDays   int

	// Tags are applied to every resource of every stack.
	Tags map[string]string

	// ProjectRoot is the absolute path of the repository: Docker contexts, the Lambda's Go
	// module and flows/prefect.yaml are found from it. Set by app.go, not by context.
	ProjectRoot string
}

// DefaultConfig is the configuration a fresh clone synthesizes with; cdk.json repeats it so
// users see every key they can set.
func DefaultConfig() Config {
	return Config{
		StackPrefix:         "Prefect",
		PrefectAccountID:    PlaceholderID,
		PrefectWorkspaceID:  PlaceholderID,
		PrefectAPIKeySecret: "prefect-api-key",
		WorkPoolName:        "ecs-fargate",
		WorkPoolDescription: "Flow runs on ECS Fargate, managed by prefect-ecs-cdk",
		NetworkMode:         NetworkPrivate,
		VpcCidr:             "10.0.0.0/16",
		MaxAzs:              2,
		NatGateways:         1,
		Architecture:        ArchX86,
		WorkerCPU:           512,
		WorkerMemory:        1024,
		WorkerDesiredCount:  1,
		FlowRunCPU:          1024,
		FlowRunMemory:       2048,
		LogRetentionDays:    30,
		Tags:                map[string]string{"project": "prefect-ecs-cdk"},
	}
}

// ContextKeys lists the CDK context keys the app reads, so a typo in cdk.json or -c fails
// synth instead of being silently ignored.
var ContextKeys = []string{
	"stackPrefix", "account", "region",
	"prefectAccountId", "prefectWorkspaceId", "prefectApiUrl", "prefectApiKeySecret", "prefectAuthStringSecret",
	"prefectSecretKmsKeyArn",
	"workPoolName", "workPoolDescription", "workPoolConcurrencyLimit", "workPoolPaused",
	"networkMode", "vpcCidr", "vpcId", "maxAzs", "natGateways", "interfaceEndpoints",
	"cpuArchitecture", "workerCpu", "workerMemory", "workerDesiredCount",
	"flowRunCpu", "flowRunMemory", "flowRunFargateSpot", "logRetentionDays", "tags",
}

// ConfigFromContext builds a validated Config from context values. get returns the raw value
// of a key (nil when unset): numbers and booleans arrive typed from cdk.json but as strings
// from `-c key=value`, and both are accepted.
func ConfigFromContext(get func(key string) any, allKeys []string) (Config, error) {
	known := map[string]bool{}
	for _, k := range ContextKeys {
		known[k] = true
	}
	var unknown []string
	for _, k := range allKeys {
		if known[k] || strings.HasPrefix(k, "@aws-cdk") || strings.HasPrefix(k, "aws:") ||
			strings.HasPrefix(k, "aws-cdk:") || strings.HasPrefix(k, "cdk") || strings.HasPrefix(k, "acknowledged-issue") {
			continue
		}
		unknown = append(unknown, k)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Config{}, fmt.Errorf("config: unknown key(s) %s; known keys: %s",
			strings.Join(unknown, ", "), strings.Join(ContextKeys, ", "))
	}

	c := DefaultConfig()
	r := reader{get: get}
	r.str("stackPrefix", &c.StackPrefix)
	r.str("account", &c.Account)
	r.str("region", &c.Region)
	r.str("prefectAccountId", &c.PrefectAccountID)
	r.str("prefectWorkspaceId", &c.PrefectWorkspaceID)
	r.str("prefectApiUrl", &c.PrefectAPIURL)
	r.str("prefectApiKeySecret", &c.PrefectAPIKeySecret)
	r.str("prefectAuthStringSecret", &c.PrefectAuthStringSecret)
	r.str("prefectSecretKmsKeyArn", &c.PrefectSecretKMSKeyARN)
	r.str("workPoolName", &c.WorkPoolName)
	r.str("workPoolDescription", &c.WorkPoolDescription)
	r.integer("workPoolConcurrencyLimit", &c.WorkPoolConcurrencyLimit)
	r.boolean("workPoolPaused", &c.WorkPoolPaused)
	var mode, arch string
	if r.str("networkMode", &mode) {
		c.NetworkMode = NetworkMode(mode)
	}
	r.str("vpcCidr", &c.VpcCidr)
	r.str("vpcId", &c.VpcID)
	r.integer("maxAzs", &c.MaxAzs)
	r.integer("natGateways", &c.NatGateways)
	r.boolean("interfaceEndpoints", &c.InterfaceEndpoints)
	if r.str("cpuArchitecture", &arch) {
		c.Architecture = Architecture(arch)
	}
	r.integer("workerCpu", &c.WorkerCPU)
	r.integer("workerMemory", &c.WorkerMemory)
	r.integer("workerDesiredCount", &c.WorkerDesiredCount)
	r.integer("flowRunCpu", &c.FlowRunCPU)
	r.integer("flowRunMemory", &c.FlowRunMemory)
	r.boolean("flowRunFargateSpot", &c.FlowRunFargateSpot)
	r.integer("logRetentionDays", &c.LogRetentionDays)
	r.tags("tags", &c.Tags)
	if r.err != nil {
		return Config{}, r.err
	}
	return c, c.Validate()
}

// reader converts loosely typed context values, keeping the first error.
type reader struct {
	get func(string) any
	err error
}

func (r *reader) fail(key string, v any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("config: %s=%v is not valid: want %s", key, v, want)
	}
}

func (r *reader) str(key string, dst *string) bool {
	v := r.get(key)
	if v == nil {
		return false
	}
	s, ok := v.(string)
	if !ok {
		r.fail(key, v, "a string")
		return false
	}
	*dst = strings.TrimSpace(s)
	return true
}

func (r *reader) integer(key string, dst *int) {
	switch v := r.get(key).(type) {
	case nil:
	case int:
		*dst = v
	case float64:
		if v != float64(int(v)) {
			r.fail(key, v, "a whole number")
			return
		}
		*dst = int(v)
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			r.fail(key, v, "a whole number")
			return
		}
		*dst = n
	default:
		r.fail(key, v, "a whole number")
	}
}

func (r *reader) boolean(key string, dst *bool) {
	switch v := r.get(key).(type) {
	case nil:
	case bool:
		*dst = v
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			*dst = true
		case "false":
			*dst = false
		default:
			r.fail(key, v, "true or false")
		}
	default:
		r.fail(key, v, "true or false")
	}
}

func (r *reader) tags(key string, dst *map[string]string) {
	raw := r.get(key)
	if raw == nil {
		return
	}
	if s, ok := raw.(string); ok {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			r.fail(key, s, `a JSON object of strings, e.g. {"team":"data"}`)
			return
		}
		raw = m
	}
	m, ok := raw.(map[string]any)
	if !ok {
		r.fail(key, raw, `an object of strings, e.g. {"team":"data"}`)
		return
	}
	out := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			r.fail(key+"."+k, v, "a string")
			return
		}
		out[k] = s
	}
	*dst = out
}

var (
	poolNameRe    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	stackPrefixRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)
	uuidRe        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
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

// fargateMemory lists, for each Fargate CPU value, the memory sizes (MiB) it accepts.
func fargateMemory(cpu int) []int {
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

func checkFargateSize(prefix string, cpu, memory int) error {
	mems := fargateMemory(cpu)
	if mems == nil {
		return fmt.Errorf("config: %sCpu=%d is not a Fargate CPU size: want one of 256, 512, 1024, 2048, 4096, 8192, 16384", prefix, cpu)
	}
	for _, m := range mems {
		if m == memory {
			return nil
		}
	}
	return fmt.Errorf("config: %sMemory=%d does not fit %sCpu=%d on Fargate: want one of %s",
		prefix, memory, prefix, cpu, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(mems)), ", "), "[]"))
}

// IsCloud reports whether the target is Prefect Cloud (as opposed to a self-hosted server).
func (c Config) IsCloud() bool { return c.PrefectAPIURL == "" }

// UsesPlaceholderWorkspace reports whether the Prefect Cloud ids are still the shipped
// placeholders: synth works, but a deploy would fail at the work-pool step.
func (c Config) UsesPlaceholderWorkspace() bool {
	return c.IsCloud() && (c.PrefectAccountID == PlaceholderID || c.PrefectWorkspaceID == PlaceholderID)
}

// CustomResourceInVpc reports whether the custom-resource function runs inside the VPC: for a
// self-hosted server in private mode, where the server may be reachable only from the VPC.
// (Lambda never gets a public IP, so in public mode it stays outside and uses the internet.)
func (c Config) CustomResourceInVpc() bool {
	return !c.IsCloud() && c.NetworkMode == NetworkPrivate
}

// APIURL is the PREFECT_API_URL the worker, the flow runs and the custom resource use.
func (c Config) APIURL() string {
	if !c.IsCloud() {
		return strings.TrimRight(c.PrefectAPIURL, "/")
	}
	return fmt.Sprintf("https://api.prefect.cloud/api/accounts/%s/workspaces/%s", c.PrefectAccountID, c.PrefectWorkspaceID)
}

// Validate checks every setting and returns the first problem as one line that names the
// key, the value and what is allowed.
func (c Config) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("config: %s=%v is not valid: want %s", key, v, want)
	}
	if !stackPrefixRe.MatchString(c.StackPrefix) {
		return bad("stackPrefix", c.StackPrefix, "a letter then up to 63 letters, digits or hyphens")
	}
	if c.Account != "" && !accountRe.MatchString(c.Account) {
		return bad("account", c.Account, "a 12-digit AWS account id, or empty for an environment-agnostic synth")
	}
	if c.Region != "" && !regionRe.MatchString(c.Region) {
		return bad("region", c.Region, "an AWS region such as us-east-1, or empty")
	}
	if (c.Account == "") != (c.Region == "") {
		return fmt.Errorf("config: account=%q and region=%q must be set together (or both left empty)", c.Account, c.Region)
	}

	// Prefect target.
	if c.PrefectAPIURL != "" {
		if c.PrefectAccountID != "" && c.PrefectAccountID != PlaceholderID || c.PrefectWorkspaceID != "" && c.PrefectWorkspaceID != PlaceholderID {
			return fmt.Errorf("config: prefectApiUrl=%s selects a self-hosted server, so prefectAccountId and prefectWorkspaceId must be empty", c.PrefectAPIURL)
		}
		u, err := url.Parse(c.PrefectAPIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("prefectApiUrl", c.PrefectAPIURL, "an http(s) URL of a self-hosted Prefect API, e.g. https://prefect.example.com/api")
		}
		if !strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/api") {
			return bad("prefectApiUrl", c.PrefectAPIURL, "the API URL, ending in /api (e.g. http://prefect.internal:4200/api)")
		}
		if strings.Contains(u.Host, "prefect.cloud") {
			return bad("prefectApiUrl", c.PrefectAPIURL, "a self-hosted server; for Prefect Cloud set prefectAccountId and prefectWorkspaceId instead")
		}
	} else {
		if c.PrefectAccountID == "" {
			return bad("prefectAccountId", `""`, "your Prefect Cloud account id (a UUID), or set prefectApiUrl for a self-hosted server")
		}
		if c.PrefectWorkspaceID == "" {
			return bad("prefectWorkspaceId", `""`, "your Prefect Cloud workspace id (a UUID); it is in the workspace URL")
		}
		if !uuidRe.MatchString(c.PrefectAccountID) {
			return bad("prefectAccountId", c.PrefectAccountID, "a UUID such as 9f8e7d6c-1234-4abc-8def-0123456789ab")
		}
		if !uuidRe.MatchString(c.PrefectWorkspaceID) {
			return bad("prefectWorkspaceId", c.PrefectWorkspaceID, "a UUID such as 9f8e7d6c-1234-4abc-8def-0123456789ab")
		}
		if c.PrefectAuthStringSecret != "" {
			return fmt.Errorf("config: prefectAuthStringSecret=%s is only for a self-hosted server (prefectApiUrl); Prefect Cloud uses prefectApiKeySecret", c.PrefectAuthStringSecret)
		}
	}
	if c.IsCloud() && c.PrefectAPIKeySecret == "" {
		return bad("prefectApiKeySecret", `""`, "the name or ARN of the Secrets Manager secret holding your Prefect Cloud API key")
	}
	for _, s := range []struct{ key, v string }{{"prefectApiKeySecret", c.PrefectAPIKeySecret}, {"prefectAuthStringSecret", c.PrefectAuthStringSecret}} {
		if s.v == "" || secretArnRe.MatchString(s.v) {
			continue
		}
		if !secretNameRe.MatchString(s.v) {
			return bad(s.key, s.v, "a Secrets Manager secret name (letters, digits, /_+=.@-) or a secret ARN")
		}
		if secretSuffixRe.MatchString(s.v) {
			return bad(s.key, s.v, fmt.Sprintf("the secret's complete ARN, e.g. arn:aws:secretsmanager:<region>:<account>:secret:%s-AbCdEf (Secrets Manager reads a name ending in '-' and 6 letters or digits as a complete ARN)", s.v))
		}
	}
	if c.PrefectSecretKMSKeyARN != "" {
		if !kmsKeyArnRe.MatchString(c.PrefectSecretKMSKeyARN) {
			return bad("prefectSecretKmsKeyArn", c.PrefectSecretKMSKeyARN, "a KMS key ARN such as arn:aws:kms:<region>:<account>:key/<key-id> (not an alias), or empty for the AWS-managed key")
		}
		if !c.IsCloud() && c.PrefectAuthStringSecret == "" {
			return fmt.Errorf("config: prefectSecretKmsKeyArn=%s decrypts the Prefect secret, but none is used: set prefectAuthStringSecret or leave the key empty", c.PrefectSecretKMSKeyARN)
		}
	}

	// Work pool.
	if !poolNameRe.MatchString(c.WorkPoolName) {
		return bad("workPoolName", c.WorkPoolName, "1-128 letters, digits, '-' or '_' (ECS task-definition families allow no other characters)")
	}
	if strings.HasPrefix(strings.ToLower(c.WorkPoolName), "prefect") {
		return bad("workPoolName", c.WorkPoolName, "a name that does not start with 'prefect' (Prefect reserves those)")
	}
	if c.WorkPoolConcurrencyLimit < 0 {
		return bad("workPoolConcurrencyLimit", c.WorkPoolConcurrencyLimit, "0 (unlimited) or a positive number")
	}
	if len(c.WorkPoolDescription) > 1000 {
		return bad("workPoolDescription", "(too long)", "at most 1000 characters")
	}

	// Network.
	switch c.NetworkMode {
	case NetworkPrivate, NetworkPublic:
	default:
		return bad("networkMode", c.NetworkMode, "private (NAT gateways) or public (no NAT, public IPs, no ingress)")
	}
	if c.VpcID != "" {
		if !vpcIDRe.MatchString(c.VpcID) {
			return bad("vpcId", c.VpcID, "an existing VPC id such as vpc-0123456789abcdef0, or empty to create one")
		}
		if c.Account == "" {
			return fmt.Errorf("config: vpcId=%s needs account and region set (CDK looks the VPC up in that environment)", c.VpcID)
		}
	} else {
		ip, n, err := net.ParseCIDR(c.VpcCidr)
		if err != nil || ip.To4() == nil {
			return bad("vpcCidr", c.VpcCidr, "an IPv4 CIDR block such as 10.0.0.0/16")
		}
		ones, _ := n.Mask.Size()
		if ones < 16 || ones > 22 {
			return bad("vpcCidr", c.VpcCidr, "a prefix between /16 and /22 (room for a public and a private subnet per AZ)")
		}
		if !ip.Equal(n.IP) {
			return bad("vpcCidr", c.VpcCidr, fmt.Sprintf("a network address (did you mean %s?)", n))
		}
	}
	if c.MaxAzs < 2 || c.MaxAzs > 6 {
		return bad("maxAzs", c.MaxAzs, "2 to 6 (one AZ is a single point of failure)")
	}
	if c.MaxAzs > 2 && c.Account == "" {
		return fmt.Errorf("config: maxAzs=%d needs account and region set: an environment-agnostic synth can only use 2 AZs", c.MaxAzs)
	}
	if c.NetworkMode == NetworkPrivate && (c.NatGateways < 1 || c.NatGateways > c.MaxAzs) {
		return bad("natGateways", c.NatGateways, fmt.Sprintf("1 to maxAzs (%d) in private mode", c.MaxAzs))
	}

	// Compute.
	switch c.Architecture {
	case ArchX86, ArchARM:
	default:
		return bad("cpuArchitecture", c.Architecture, "x86_64 or arm64")
	}
	if c.FlowRunFargateSpot && c.Architecture == ArchARM {
		return fmt.Errorf("config: flowRunFargateSpot=true needs cpuArchitecture=x86_64 (Fargate Spot does not run arm64 tasks)")
	}
	if err := checkFargateSize("worker", c.WorkerCPU, c.WorkerMemory); err != nil {
		return err
	}
	if err := checkFargateSize("flowRun", c.FlowRunCPU, c.FlowRunMemory); err != nil {
		return err
	}
	if c.WorkerDesiredCount < 0 || c.WorkerDesiredCount > 10 {
		return bad("workerDesiredCount", c.WorkerDesiredCount, "0 to 10 (0 stops the worker: nothing will run)")
	}
	if _, ok := retentionNames[c.LogRetentionDays]; !ok {
		days := make([]int, 0, len(retentionNames))
		for d := range retentionNames {
			days = append(days, d)
		}
		sort.Ints(days)
		return bad("logRetentionDays", c.LogRetentionDays, "one of "+strings.Trim(fmt.Sprint(days), "[]"))
	}
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !tagKeyRe.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:") {
			return bad("tags", k, "tag keys of 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:")
		}
		if len(c.Tags[k]) > 256 {
			return bad("tags."+k, "(too long)", "a value of at most 256 characters")
		}
	}
	return nil
}

// APIPort is the TCP port the worker must reach the Prefect API on; the worker's security
// group allows egress to it and HTTPS only.
func (c Config) APIPort() int {
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
