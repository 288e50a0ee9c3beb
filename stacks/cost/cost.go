// Package cost prices what synthesized CloudFormation templates keep running: each fixed
// monthly item (NAT, the worker, endpoints, secrets, keys, public IPv4 addresses) and the
// per-use rates (a flow run per hour, NAT and logs per GB), at the list prices of Prices.
// It reads templates only (no jsii, no AWS), so `make cost` prices cdk.out as it is.
package cost

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Item is one fixed monthly cost: what it is, how it is computed, and its price in cents.
type Item struct {
	Stack, What, How string
	Cents            int
}

// Rate is one per-use price.
type Rate struct {
	What  string
	Price float64
	Unit  string
}

// Report is every fixed monthly item of a set of stacks and the per-use rates.
type Report struct {
	Fixed  []Item
	PerUse []Rate
}

// Template is one decoded CloudFormation template.
type Template = map[string]any

// Total is the fixed monthly cost in cents: the sum of the items as printed.
func (r Report) Total() int {
	total := 0
	for _, it := range r.Fixed {
		total += it.Cents
	}
	return total
}

// ReadDir decodes every *.template.json in dir (a cloud assembly such as cdk.out) and in its
// nested assemblies (a stage's assembly-<stage>/), by path under dir without the suffix. Other
// folders (make variants' cdk.out/variants/) are other apps' assemblies, not priced.
func ReadDir(dir string) (map[string]Template, error) {
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("cost: %s is not a directory: run make synth first", dir)
	}
	out := map[string]Template{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path != dir && !strings.HasPrefix(d.Name(), "assembly-") {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".template.json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var t Template
		if err := json.Unmarshal(raw, &t); err != nil {
			return fmt.Errorf("cost: %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		out[strings.TrimSuffix(rel, ".template.json")] = t
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cost: no *.template.json in %s: run make synth first", dir)
	}
	return out, nil
}

// cents converts dollars to whole cents, rounding half away from zero.
func cents(dollars float64) int { return int(math.Round(dollars * 100)) }

// money prints cents as dollars.
func money(c int) string { return fmt.Sprintf("$%d.%02d", c/100, c%100) }

// rate prints a price with the digits it has, and at least cents ($0.50, $0.0042).
func rate(p float64) string {
	s := strconv.FormatFloat(p, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i < 0 {
		s += ".00"
	} else if len(s)-i == 2 {
		s += "0"
	}
	return "$" + s
}

// resource is one resource of a template.
type resource struct {
	id    string
	typ   string
	props map[string]any
}

// resources are a template's resources in logical-id order.
func resources(t Template) []resource {
	rs, _ := t["Resources"].(map[string]any)
	var out []resource
	for _, id := range sortedKeys(rs) {
		r, _ := rs[id].(map[string]any)
		typ, _ := r["Type"].(string)
		props, _ := r["Properties"].(map[string]any)
		out = append(out, resource{id, typ, props})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// cdkHashRe is the 8-hex-digit suffix CDK adds to logical ids.
var cdkHashRe = regexp.MustCompile(`[0-9A-F]{8}$`)

// name is a logical id without CDK's hash, for people.
func name(id string) string { return cdkHashRe.ReplaceAllString(id, "") }

// number reads a number CloudFormation may hold as a string ("512").
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

// FromTemplates prices the stacks (by stack name). A resource it cannot price (an EC2 type
// missing from Prices, a task definition without a literal size) is an error naming it.
func FromTemplates(stacks map[string]Template) (Report, error) {
	var r Report
	p := Prices
	hours := p.HoursPerMonth
	secrets := map[string]bool{}
	keys := map[string]bool{}
	var natGateways, natGB bool
	var flowLogs, insights, endpoints, albs, databases bool
	for _, stack := range sortedKeys(stacks) {
		t := stacks[stack]
		byID := map[string]resource{}
		for _, res := range resources(t) {
			byID[res.id] = res
		}
		add := func(what, how string, dollars float64) {
			r.Fixed = append(r.Fixed, Item{Stack: stack, What: what, How: how, Cents: cents(dollars)})
		}
		count := map[string]int{}
		for _, res := range resources(t) {
			count[res.typ]++
		}
		if n := count["AWS::EC2::NatGateway"]; n > 0 {
			natGateways, natGB = true, true
			add("NAT gateways", fmt.Sprintf("%d × %g h × %s/h", n, hours, rate(p.NatGatewayHour)), float64(n)*hours*p.NatGatewayHour)
		}
		if n := count["AWS::EC2::EIP"]; n > 0 {
			add("public IPv4 of the NAT gateways (Elastic IPs)", fmt.Sprintf("%d × %g h × %s/h", n, hours, rate(p.PublicIPv4Hour)), float64(n)*hours*p.PublicIPv4Hour)
		}
		if count["AWS::EC2::FlowLog"] > 0 {
			flowLogs = true
		}
		for _, res := range resources(t) {
			switch res.typ {
			case "AWS::EC2::Instance":
				if err := priceInstance(res, add); err != nil {
					return Report{}, fmt.Errorf("cost: %s/%s: %w", stack, res.id, err)
				}
				natGB = true
			case "AWS::ECS::Service":
				if err := priceService(res, byID, add); err != nil {
					return Report{}, fmt.Errorf("cost: %s/%s: %w", stack, res.id, err)
				}
			case "AWS::ECS::Cluster":
				b, _ := json.Marshal(res.props["ClusterSettings"])
				insights = insights || strings.Contains(string(b), `"enabled"`) || strings.Contains(string(b), `"enhanced"`)
			case "AWS::EC2::VPCEndpoint":
				if res.props["VpcEndpointType"] == "Interface" {
					endpoints = true
					azs, _ := res.props["SubnetIds"].([]any)
					add("interface endpoint "+name(res.id), fmt.Sprintf("%d AZs × %g h × %s/h", len(azs), hours, rate(p.EndpointAZHour)), float64(len(azs))*hours*p.EndpointAZHour)
				}
			case "AWS::ECS::TaskDefinition":
				defs, _ := res.props["ContainerDefinitions"].([]any)
				for _, d := range defs {
					ss, _ := d.(map[string]any)["Secrets"].([]any)
					for _, s := range ss {
						secrets[secretKey(stack, byID, s.(map[string]any)["ValueFrom"])] = true
					}
				}
			case "AWS::RDS::DBInstance":
				if err := priceDatabase(res, add); err != nil {
					return Report{}, fmt.Errorf("cost: %s/%s: %w", stack, res.id, err)
				}
				databases = true
			case "AWS::ElastiCache::ReplicationGroup":
				if err := priceCache(res, add); err != nil {
					return Report{}, fmt.Errorf("cost: %s/%s: %w", stack, res.id, err)
				}
			case "AWS::ElasticLoadBalancingV2::LoadBalancer":
				priceLoadBalancer(res, add)
				albs = true
			case "AWS::SecretsManager::Secret":
				secrets[stack+"/"+res.id] = true
			case "AWS::KMS::Key":
				keys[stack+"/"+res.id] = true
			case "AWS::IAM::Policy":
				for _, k := range decryptKeys(res.props) {
					keys[k] = true
				}
			}
		}
	}
	if n := len(secrets); n > 0 {
		r.Fixed = append(r.Fixed, Item{What: "Secrets Manager secrets the tasks read", How: fmt.Sprintf("%d × %s/month", n, rate(p.SecretMonth)), Cents: cents(float64(n) * p.SecretMonth)})
	}
	if n := len(keys); n > 0 {
		r.Fixed = append(r.Fixed, Item{What: "customer-managed KMS keys", How: fmt.Sprintf("%d × %s/month", n, rate(p.KMSKeyMonth)), Cents: cents(float64(n) * p.KMSKeyMonth)})
	}
	flowRuns, err := flowRunRates(stacks)
	if err != nil {
		return Report{}, err
	}
	r.PerUse = append(r.PerUse, flowRuns...)
	switch {
	case natGateways:
		r.PerUse = append(r.PerUse, Rate{"NAT gateway data processed", p.NatGatewayGB, "GB"})
	case natGB:
		r.PerUse = append(r.PerUse, Rate{"NAT instance data processed (no processing charge)", 0, "GB"})
	}
	r.PerUse = append(r.PerUse, Rate{"data transfer out to the internet (every mode, after 100 GB/month free)", p.InternetOutGB, "GB"})
	if endpoints {
		r.PerUse = append(r.PerUse, Rate{"interface endpoint data processed", p.EndpointGB, "GB"})
	}
	if albs {
		r.PerUse = append(r.PerUse, Rate{"load balancer capacity units (LCU: new connections, active connections, GB, rule evaluations)", p.ALBLCUHour, "LCU-hour"})
	}
	if databases {
		r.PerUse = append(r.PerUse, Rate{"database backup storage beyond the database's size", p.RDSBackupGBMonth, "GB-month"})
	}
	what := "CloudWatch Logs ingested (worker and flow-run logs"
	if flowLogs {
		what += ", VPC flow logs"
	}
	if insights {
		what += ", Container Insights performance events"
	}
	r.PerUse = append(r.PerUse, Rate{what + ")", p.LogsIngestGB, "GB"}, Rate{"CloudWatch Logs stored", p.LogsStoreGBMonth, "GB-month"})
	if insights {
		r.PerUse = append(r.PerUse, Rate{"Container Insights metrics (per cluster, service and task family)", p.MetricMonth, "metric-month"})
	}
	return r, nil
}

// priceInstance prices a NAT instance: its hours by type, its root volume and its public IP.
func priceInstance(res resource, add func(what, how string, dollars float64)) error {
	p := Prices
	typ, _ := res.props["InstanceType"].(string)
	hourly, ok := p.EC2Hour[typ]
	if !ok {
		return fmt.Errorf("no price for instance type %q: add it to stacks/cost/prices.go", typ)
	}
	add("NAT instance "+name(res.id)+" ("+typ+")", fmt.Sprintf("%g h × %s/h", p.HoursPerMonth, rate(hourly)), p.HoursPerMonth*hourly)
	size := p.NatRootGB
	if bdm, _ := res.props["BlockDeviceMappings"].([]any); len(bdm) > 0 {
		ebs, _ := bdm[0].(map[string]any)["Ebs"].(map[string]any)
		if n, ok := number(ebs["VolumeSize"]); ok {
			size = n
		}
	}
	add("root volume of "+name(res.id)+" (gp3)", fmt.Sprintf("%g GB × %s/GB-month", size, rate(p.GP3GBMonth)), size*p.GP3GBMonth)
	b, _ := json.Marshal(res.props["NetworkInterfaces"])
	if strings.Contains(string(b), `"AssociatePublicIpAddress":true`) {
		add("public IPv4 of "+name(res.id), fmt.Sprintf("%g h × %s/h", p.HoursPerMonth, rate(p.PublicIPv4Hour)), p.HoursPerMonth*p.PublicIPv4Hour)
	}
	return nil
}

// fargateHour is the hourly price of a task of cpu units and memory MiB on arch.
func fargateHour(arch string, cpu, memory float64, spot bool) (float64, error) {
	f, ok := Prices.Fargate[arch]
	if !ok {
		return 0, fmt.Errorf("no Fargate price for CPU architecture %q", arch)
	}
	h := cpu/1024*f.VCPUHour + memory/1024*f.GBHour
	if spot {
		h *= Prices.SpotFraction
	}
	return h, nil
}

// priceService prices an ECS service's tasks (DesiredCount of its task definition, on
// Fargate or Fargate Spot) and their public IPs.
func priceService(res resource, byID map[string]resource, add func(what, how string, dollars float64)) error {
	p := Prices
	n, _ := number(res.props["DesiredCount"])
	if n == 0 {
		return nil
	}
	ref, _ := res.props["TaskDefinition"].(map[string]any)["Ref"].(string)
	td, ok := byID[ref]
	if !ok {
		return fmt.Errorf("task definition %v is not in the stack", res.props["TaskDefinition"])
	}
	cpu, ok1 := number(td.props["Cpu"])
	mem, ok2 := number(td.props["Memory"])
	if !ok1 || !ok2 {
		return fmt.Errorf("task definition %s has no literal Cpu and Memory", td.id)
	}
	arch := "X86_64"
	if rp, _ := td.props["RuntimePlatform"].(map[string]any); rp["CpuArchitecture"] != nil {
		arch, _ = rp["CpuArchitecture"].(string)
	}
	b, _ := json.Marshal(res.props["CapacityProviderStrategy"])
	spot := strings.Contains(string(b), "FARGATE_SPOT")
	hourly, err := fargateHour(arch, cpu, mem, spot)
	if err != nil {
		return err
	}
	market := "on demand"
	if spot {
		market = fmt.Sprintf("Spot (assumed %g%% of on demand)", p.SpotFraction*100)
	}
	add(fmt.Sprintf("%s: %g × %g vCPU / %g GB %s, %s", name(res.id), n, cpu/1024, mem/1024, arch, market),
		fmt.Sprintf("%g × %g h × %s/h", n, p.HoursPerMonth, rate(round6(hourly))), n*p.HoursPerMonth*hourly)
	b, _ = json.Marshal(res.props["NetworkConfiguration"])
	if strings.Contains(string(b), `"AssignPublicIp":"ENABLED"`) {
		add("public IPv4 of "+name(res.id)+"'s tasks", fmt.Sprintf("%g × %g h × %s/h", n, p.HoursPerMonth, rate(p.PublicIPv4Hour)), n*p.HoursPerMonth*p.PublicIPv4Hour)
	}
	return nil
}

// priceDatabase prices an RDS instance: its hours by class and its storage, both twice over
// when it is Multi-AZ (a standby in a second AZ).
func priceDatabase(res resource, add func(what, how string, dollars float64)) error {
	p := Prices
	class, _ := res.props["DBInstanceClass"].(string)
	hourly, ok := p.RDSHour[class]
	if !ok {
		return fmt.Errorf("no price for database instance class %q: add it to stacks/cost/prices.go", class)
	}
	copies, az := 1.0, "single-AZ"
	if multi, _ := res.props["MultiAZ"].(bool); multi {
		copies, az = 2, "Multi-AZ"
	}
	if st, _ := res.props["StorageType"].(string); st != "gp3" {
		return fmt.Errorf("no price for database storage type %q: add it to stacks/cost/prices.go", st)
	}
	gb, ok := number(res.props["AllocatedStorage"])
	if !ok {
		return fmt.Errorf("database %s has no literal AllocatedStorage", res.id)
	}
	add(fmt.Sprintf("database %s (%s, %s)", name(res.id), class, az), fmt.Sprintf("%g × %g h × %s/h", copies, p.HoursPerMonth, rate(hourly)), copies*p.HoursPerMonth*hourly)
	add(fmt.Sprintf("storage of %s (gp3, %s)", name(res.id), az), fmt.Sprintf("%g × %g GB × %s/GB-month", copies, gb, rate(p.RDSGP3GBMonth)), copies*gb*p.RDSGP3GBMonth)
	return nil
}

// priceCache prices an ElastiCache replication group: its nodes by engine and type.
func priceCache(res resource, add func(what, how string, dollars float64)) error {
	p := Prices
	engine, _ := res.props["Engine"].(string)
	typ, _ := res.props["CacheNodeType"].(string)
	hourly, ok := p.CacheNodeHour[engine][typ]
	if !ok {
		return fmt.Errorf("no price for ElastiCache %s node type %q: add it to stacks/cost/prices.go", engine, typ)
	}
	n, ok := number(res.props["NumCacheClusters"])
	if !ok {
		return fmt.Errorf("replication group %s has no literal NumCacheClusters", res.id)
	}
	add(fmt.Sprintf("%s %s: %g × %s", engine, name(res.id), n, typ), fmt.Sprintf("%g × %g h × %s/h", n, p.HoursPerMonth, rate(hourly)), n*p.HoursPerMonth*hourly)
	return nil
}

// priceLoadBalancer prices an Application Load Balancer's hours and, when internet-facing,
// the public IPv4 address of each of its subnets.
func priceLoadBalancer(res resource, add func(what, how string, dollars float64)) {
	p := Prices
	add("load balancer "+name(res.id), fmt.Sprintf("%g h × %s/h", p.HoursPerMonth, rate(p.ALBHour)), p.HoursPerMonth*p.ALBHour)
	if res.props["Scheme"] == "internet-facing" {
		subnets, _ := res.props["Subnets"].([]any)
		n := float64(len(subnets))
		add("public IPv4 of "+name(res.id), fmt.Sprintf("%g AZs × %g h × %s/h", n, p.HoursPerMonth, rate(p.PublicIPv4Hour)), n*p.HoursPerMonth*p.PublicIPv4Hour)
	}
}

// publishedRefRe is the output CDK publishes for a weak cross-stack reference to a resource:
// PublishOutputRef<logical id><8 hex digits>.
var publishedRefRe = regexp.MustCompile(`^PublishOutputRef([A-Za-z0-9]+)[0-9A-F]{8}$`)

// secretKey names the secret an ECS secret's ValueFrom reads, so that each secret counts
// once: stack/<logical id> for a secret of the stacks (a Ref in this stack, a secret
// attachment's secret, or another stack's through Fn::GetStackOutput), else the value as JSON.
func secretKey(stack string, byID map[string]resource, valueFrom any) string {
	var key string
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if id, ok := t["Ref"].(string); ok && key == "" {
				if r, ok := byID[id]; ok {
					if r.typ == "AWS::SecretsManager::SecretTargetAttachment" {
						if sid, ok := r.props["SecretId"].(map[string]any)["Ref"].(string); ok {
							id = sid
						}
					}
					key = stack + "/" + id
				}
			}
			if out, ok := t["Fn::GetStackOutput"].(map[string]any); ok && key == "" {
				st, _ := out["StackName"].(string)
				if m := publishedRefRe.FindStringSubmatch(fmt.Sprint(out["OutputName"])); m != nil && st != "" {
					key = st + "/" + m[1]
				}
			}
			for _, k := range sortedKeys(t) {
				walk(t[k])
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(valueFrom)
	if key == "" {
		b, _ := json.Marshal(valueFrom)
		key = string(b)
	}
	return key
}

// round6 rounds a rate to 6 decimals for printing.
func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }

// kmsKeyRe is a literal KMS key ARN.
var kmsKeyRe = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$`)

// decryptKeys are the literal KMS key ARNs an IAM policy may decrypt with: a customer-managed
// key the stacks use but do not create.
func decryptKeys(props map[string]any) []string {
	doc, _ := props["PolicyDocument"].(map[string]any)
	sts, _ := doc["Statement"].([]any)
	var out []string
	for _, s := range sts {
		st, _ := s.(map[string]any)
		b, _ := json.Marshal(st["Action"])
		if !strings.Contains(string(b), "kms:Decrypt") {
			continue
		}
		res := st["Resource"]
		list, ok := res.([]any)
		if !ok {
			list = []any{res}
		}
		for _, r := range list {
			if s, ok := r.(string); ok && kmsKeyRe.MatchString(s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// flowRunRates are the hourly prices of a flow run at the work pool's default cpu and memory
// (Custom::PrefectWorkPool's base job template), on demand and on Spot, with its public IP in
// public mode.
func flowRunRates(stacks map[string]Template) ([]Rate, error) {
	for _, stack := range sortedKeys(stacks) {
		for _, res := range resources(stacks[stack]) {
			if res.typ != "Custom::PrefectWorkPool" {
				continue
			}
			tmpl, err := literalJSON(res.props["BaseJobTemplate"])
			if err != nil {
				return nil, fmt.Errorf("cost: %s/%s: BaseJobTemplate: %w", stack, res.id, err)
			}
			var pool struct {
				Job struct {
					TaskDefinition struct {
						RuntimePlatform struct{ CPUArchitecture string } `json:"runtimePlatform"`
					} `json:"task_definition"`
				} `json:"job_configuration"`
				Variables struct {
					Properties struct {
						CPU     struct{ Default float64 } `json:"cpu"`
						Memory  struct{ Default float64 } `json:"memory"`
						Network struct {
							Default struct{ AssignPublicIP string } `json:"default"`
						} `json:"network_configuration"`
					} `json:"properties"`
				} `json:"variables"`
			}
			if err := json.Unmarshal([]byte(tmpl), &pool); err != nil {
				return nil, fmt.Errorf("cost: %s/%s: BaseJobTemplate: %w", stack, res.id, err)
			}
			vars := pool.Variables.Properties
			arch := strings.ToUpper(pool.Job.TaskDefinition.RuntimePlatform.CPUArchitecture)
			if arch == "" {
				arch = "X86_64" // what ECS runs a task definition without a runtime platform on
			}
			ip, ipNote := 0.0, ""
			if vars.Network.Default.AssignPublicIP == "ENABLED" {
				ip, ipNote = Prices.PublicIPv4Hour, " + its public IPv4"
			}
			size := fmt.Sprintf("%g vCPU / %g GB %s", vars.CPU.Default/1024, vars.Memory.Default/1024, arch)
			var out []Rate
			for _, spot := range []bool{false, true} {
				h, err := fargateHour(arch, vars.CPU.Default, vars.Memory.Default, spot)
				if err != nil {
					return nil, err
				}
				market := "on demand"
				if spot {
					market = fmt.Sprintf("on Fargate Spot (assumed %g%% of on demand)", Prices.SpotFraction*100)
				}
				out = append(out, Rate{fmt.Sprintf("a flow run at the pool's default %s%s, %s", size, ipNote, market), round6(h + ip), "hour"})
			}
			return out, nil
		}
	}
	return nil, nil
}

// literalJSON is a template value that is JSON text: a string, or an Fn::Join of strings and
// intrinsics (each intrinsic, always inside a JSON string there, becomes "X").
func literalJSON(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case map[string]any:
		join, _ := t["Fn::Join"].([]any)
		if len(join) == 2 {
			parts, _ := join[1].([]any)
			var b strings.Builder
			for _, p := range parts {
				if s, ok := p.(string); ok {
					b.WriteString(s)
				} else {
					b.WriteString("X")
				}
			}
			return b.String(), nil
		}
	}
	return "", fmt.Errorf("not JSON text or an Fn::Join: %v", v)
}

// String is the report as `make cost` prints it: the per-use rates, then each fixed monthly
// item, then `fixed monthly: $X.XX` as the last line.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString("per use (us-east-1 list prices, stacks/cost/prices.go):\n")
	for _, u := range r.PerUse {
		fmt.Fprintf(&b, "  %s/%s  %s\n", rate(u.Price), u.Unit, u.What)
	}
	fmt.Fprintf(&b, "fixed monthly (%g h):\n", Prices.HoursPerMonth)
	for _, it := range r.Fixed {
		fmt.Fprintf(&b, "  %s  %s (%s)\n", money(it.Cents), it.Label(), it.How)
	}
	fmt.Fprintf(&b, "fixed monthly: %s\n", money(r.Total()))
	return b.String()
}

// Label is the item's stack and what it is.
func (it Item) Label() string {
	if it.Stack == "" {
		return it.What
	}
	return it.Stack + ": " + it.What
}

// Money prints cents as dollars, $X.XX.
func Money(c int) string { return money(c) }
