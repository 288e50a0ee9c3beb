package harness

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Resolver evaluates CloudFormation intrinsic functions with fake, deterministic values: what
// a deploy would produce, minus AWS. Ref of a resource gives a plausible physical id for its
// type, Fn::ImportValue a plausible value for its export name, and Fn::GetAtt of a work pool's
// Name gives that pool's own Name property, so deployments point at the pool the test creates.
// Override any value through the maps.
type Resolver struct {
	Region, AccountID, Partition, URLSuffix string
	StackName, StackID                      string
	// Parameters overrides template parameters (else their Default, else a fake).
	Parameters map[string]string
	// Imports overrides Fn::ImportValue by export name, and Fn::GetStackOutput by
	// "StackName:OutputName".
	Imports map[string]string
	// Refs overrides Ref by logical id.
	Refs map[string]string
	// Attrs overrides Fn::GetAtt by "LogicalId.Attribute".
	Attrs map[string]string

	t         *Template
	resolving map[string]bool
}

// NewResolver returns a Resolver for t with the harness's fake account in us-east-1.
func NewResolver(t *Template, stackName string) *Resolver {
	return &Resolver{
		Region:     FakeRegion,
		AccountID:  FakeAccountID,
		Partition:  "aws",
		URLSuffix:  "amazonaws.com",
		StackName:  stackName,
		StackID:    fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", FakeRegion, FakeAccountID, stackName, fakeUUID("stack/"+stackName)),
		Parameters: map[string]string{},
		Imports:    map[string]string{},
		Refs:       map[string]string{},
		Attrs:      map[string]string{},
		t:          t,
		resolving:  map[string]bool{},
	}
}

// noValue marks AWS::NoValue: the enclosing key or list element disappears.
type noValue struct{}

// ResolveProperties resolves a Properties map the way CloudFormation builds
// ResourceProperties: intrinsics evaluated, every leaf a string, AWS::NoValue keys dropped.
func (r *Resolver) ResolveProperties(props map[string]any) (map[string]any, error) {
	out, err := r.Resolve(props)
	if err != nil {
		return nil, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return map[string]any{}, nil
	}
	return m, nil
}

// Resolve evaluates v. Scalars come back as strings (numbers keep their literal text,
// booleans become "true"/"false"), lists as []any, objects as map[string]any.
func (r *Resolver) Resolve(v any) (any, error) {
	out, err := r.resolve(v)
	if err != nil {
		return nil, err
	}
	if _, ok := out.(noValue); ok {
		return nil, nil
	}
	return out, nil
}

func (r *Resolver) resolve(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return noValue{}, nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			y, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			if _, skip := y.(noValue); !skip {
				out = append(out, y)
			}
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				_, named := arg.(string)
				if k == "Ref" || (k == "Condition" && named) || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			y, err := r.resolve(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if _, skip := y.(noValue); !skip {
				out[k] = y
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected template value %T", v)
}

func (r *Resolver) str(v any) (string, error) {
	y, err := r.resolve(v)
	if err != nil {
		return "", err
	}
	s, ok := y.(string)
	if !ok {
		return "", fmt.Errorf("want a string, got %T (%v)", y, y)
	}
	return s, nil
}

func (r *Resolver) list(v any) ([]any, error) {
	y, err := r.resolve(v)
	if err != nil {
		return nil, err
	}
	l, ok := y.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %T (%v)", y, y)
	}
	return l, nil
}

func args(fn string, v any, n int) ([]any, error) {
	a, ok := v.([]any)
	if !ok || len(a) != n {
		return nil, fmt.Errorf("%s wants %d arguments, got %v", fn, n, v)
	}
	return a, nil
}

func (r *Resolver) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("Ref of %v", arg)
		}
		return r.ref(name)
	case "Fn::GetAtt":
		var id, attr string
		switch a := arg.(type) {
		case string:
			var ok bool
			if id, attr, ok = strings.Cut(a, "."); !ok {
				return nil, fmt.Errorf("Fn::GetAtt %q", a)
			}
		case []any:
			if len(a) != 2 {
				return nil, fmt.Errorf("Fn::GetAtt %v", a)
			}
			id, _ = a[0].(string)
			s, err := r.str(a[1])
			if err != nil {
				return nil, err
			}
			attr = s
		default:
			return nil, fmt.Errorf("Fn::GetAtt %v", arg)
		}
		return r.getAtt(id, attr)
	case "Fn::Join":
		a, err := args(fn, arg, 2)
		if err != nil {
			return nil, err
		}
		sep, err := r.str(a[0])
		if err != nil {
			return nil, err
		}
		items, err := r.list(a[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Join: %w", err)
		}
		parts := make([]string, len(items))
		for i, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("Fn::Join element %d is %T", i, it)
			}
			parts[i] = s
		}
		return strings.Join(parts, sep), nil
	case "Fn::Select":
		a, err := args(fn, arg, 2)
		if err != nil {
			return nil, err
		}
		is, err := r.str(a[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, fmt.Errorf("Fn::Select index %q", is)
		}
		items, err := r.list(a[1])
		if err != nil {
			return nil, fmt.Errorf("Fn::Select: %w", err)
		}
		if i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select index %d of %d", i, len(items))
		}
		return items[i], nil
	case "Fn::Split":
		a, err := args(fn, arg, 2)
		if err != nil {
			return nil, err
		}
		sep, err := r.str(a[0])
		if err != nil {
			return nil, err
		}
		s, err := r.str(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Sub":
		return r.sub(arg)
	case "Fn::ImportValue":
		name, err := r.str(arg)
		if err != nil {
			return nil, err
		}
		if v, ok := r.Imports[name]; ok {
			return v, nil
		}
		return r.fakeImport(name), nil
	case "Fn::GetStackOutput":
		// CDK's cross-stack reference without exports (the same region or another):
		// {"StackName": S, "OutputName": O, "Region": R}. Faked like an import of "S:O".
		m, ok := arg.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Fn::GetStackOutput %v", arg)
		}
		stack, err := r.str(m["StackName"])
		if err != nil {
			return nil, fmt.Errorf("Fn::GetStackOutput StackName: %w", err)
		}
		out, err := r.str(m["OutputName"])
		if err != nil {
			return nil, fmt.Errorf("Fn::GetStackOutput OutputName: %w", err)
		}
		name := stack + ":" + out
		if v, ok := r.Imports[name]; ok {
			return v, nil
		}
		return r.fakeImport(name), nil
	case "Fn::If":
		a, err := args(fn, arg, 3)
		if err != nil {
			return nil, err
		}
		cond, _ := a[0].(string)
		ok, err := r.condition(cond)
		if err != nil {
			return nil, err
		}
		if ok {
			return r.resolve(a[1])
		}
		return r.resolve(a[2])
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition":
		b, err := r.evalCondition(map[string]any{fn: arg})
		if err != nil {
			return nil, err
		}
		return strconv.FormatBool(b), nil
	case "Fn::GetAZs":
		return []any{r.Region + "a", r.Region + "b", r.Region + "c"}, nil
	case "Fn::Base64":
		s, err := r.str(arg)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	case "Fn::FindInMap":
		a, err := args(fn, arg, 3)
		if err != nil {
			return nil, err
		}
		var keys [3]string
		for i := range a {
			if keys[i], err = r.str(a[i]); err != nil {
				return nil, err
			}
		}
		top, _ := r.t.Mappings[keys[0]].(map[string]any)
		second, _ := top[keys[1]].(map[string]any)
		v, ok := second[keys[2]]
		if !ok {
			return nil, fmt.Errorf("Fn::FindInMap %v: not found", keys)
		}
		return r.resolve(v)
	case "Fn::ToJsonString":
		y, err := r.resolve(arg)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(y)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case "Fn::Length":
		l, err := r.list(arg)
		if err != nil {
			return nil, err
		}
		return strconv.Itoa(len(l)), nil
	}
	return nil, fmt.Errorf("unsupported intrinsic %s", fn)
}

func (r *Resolver) sub(arg any) (any, error) {
	var tmpl string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		tmpl = a
	case []any:
		if len(a) != 2 {
			return nil, fmt.Errorf("Fn::Sub %v", a)
		}
		tmpl, _ = a[0].(string)
		m, _ := a[1].(map[string]any)
		for k, v := range m {
			s, err := r.str(v)
			if err != nil {
				return nil, fmt.Errorf("Fn::Sub variable %s: %w", k, err)
			}
			vars[k] = s
		}
	default:
		return nil, fmt.Errorf("Fn::Sub %v", arg)
	}
	var b strings.Builder
	s := tmpl
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		name = strings.TrimSpace(name)
		var val any
		var err error
		if v, ok := vars[name]; ok {
			val = v
		} else if id, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			val, err = r.getAtt(id, attr)
		} else {
			val, err = r.ref(name)
		}
		if err != nil {
			return nil, fmt.Errorf("Fn::Sub ${%s}: %w", name, err)
		}
		str, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Sub ${%s} is not a string", name)
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

func (r *Resolver) condition(name string) (bool, error) {
	c, ok := r.t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("unknown condition %q", name)
	}
	key := "condition/" + name
	if r.resolving[key] {
		return false, fmt.Errorf("condition %q refers to itself", name)
	}
	r.resolving[key] = true
	defer delete(r.resolving, key)
	return r.evalCondition(c)
}

func (r *Resolver) evalCondition(v any) (bool, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("condition %v", v)
	}
	for fn, arg := range m {
		switch fn {
		case "Condition":
			name, _ := arg.(string)
			return r.condition(name)
		case "Fn::Equals":
			a, err := args(fn, arg, 2)
			if err != nil {
				return false, err
			}
			x, err := r.resolve(a[0])
			if err != nil {
				return false, err
			}
			y, err := r.resolve(a[1])
			if err != nil {
				return false, err
			}
			return fmt.Sprint(x) == fmt.Sprint(y), nil
		case "Fn::Not":
			a, err := args(fn, arg, 1)
			if err != nil {
				return false, err
			}
			b, err := r.evalCondition(a[0])
			return !b, err
		case "Fn::And", "Fn::Or":
			a, ok := arg.([]any)
			if !ok {
				return false, fmt.Errorf("%s %v", fn, arg)
			}
			for _, c := range a {
				b, err := r.evalCondition(c)
				if err != nil {
					return false, err
				}
				if fn == "Fn::And" && !b {
					return false, nil
				}
				if fn == "Fn::Or" && b {
					return true, nil
				}
			}
			return fn == "Fn::And", nil
		}
	}
	return false, fmt.Errorf("condition %v", v)
}

func (r *Resolver) ref(name string) (any, error) {
	switch name {
	case "AWS::Region":
		return r.Region, nil
	case "AWS::AccountId":
		return r.AccountID, nil
	case "AWS::Partition":
		return r.Partition, nil
	case "AWS::URLSuffix":
		return r.URLSuffix, nil
	case "AWS::StackName":
		return r.StackName, nil
	case "AWS::StackId":
		return r.StackID, nil
	case "AWS::NotificationARNs":
		return []any{}, nil
	case "AWS::NoValue":
		return noValue{}, nil
	}
	if v, ok := r.Refs[name]; ok {
		return v, nil
	}
	if p, ok := r.t.Parameters[name]; ok {
		if v, ok := r.Parameters[name]; ok {
			return v, nil
		}
		if p.Default != nil {
			return r.resolve(p.Default)
		}
		if strings.HasPrefix(p.Type, "List<") || strings.HasPrefix(p.Type, "CommaDelimitedList") {
			return []any{"fake-" + strings.ToLower(name)}, nil
		}
		return "fake-" + strings.ToLower(name), nil
	}
	res, ok := r.t.Resources[name]
	if !ok {
		return nil, fmt.Errorf("Ref %q: no such resource or parameter", name)
	}
	switch res.Type {
	case TypeWorkPool:
		// The pool's physical id is its name.
		return r.propOf(name, "Name")
	case TypeDeployment:
		return fakeUUID("deployment/" + name), nil
	}
	return r.fakeRef(name, res.Type), nil
}

// propOf resolves one property of a resource (GetAtt Pool.Name → the pool's Name).
func (r *Resolver) propOf(id, prop string) (any, error) {
	key := id + "." + prop
	if r.resolving[key] {
		return nil, fmt.Errorf("%s refers to itself", key)
	}
	r.resolving[key] = true
	defer delete(r.resolving, key)
	v, ok := r.t.Resources[id].Properties[prop]
	if !ok {
		return nil, fmt.Errorf("%s has no property %s", id, prop)
	}
	return r.resolve(v)
}

func (r *Resolver) getAtt(id, attr string) (any, error) {
	if v, ok := r.Attrs[id+"."+attr]; ok {
		return v, nil
	}
	res, ok := r.t.Resources[id]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	switch res.Type {
	case TypeWorkPool:
		switch attr {
		case "Name":
			return r.propOf(id, "Name")
		case "Id":
			return fakeUUID("workpool/" + id), nil
		}
	case TypeDeployment:
		switch attr {
		case "Name":
			return r.propOf(id, "Name")
		case "DeploymentId":
			return fakeUUID("deployment/" + id), nil
		case "FlowId":
			return fakeUUID("flow/" + id), nil
		}
	}
	refv, err := r.ref(id)
	if err != nil {
		return nil, err
	}
	ref, _ := refv.(string)
	return r.fakeAttr(id, res.Type, ref, attr), nil
}

// fakeHash is a deterministic hex string for seed.
func fakeHash(seed string, n int) string {
	sum := sha256.Sum256([]byte(seed))
	return hex.EncodeToString(sum[:])[:n]
}

// fakeUUID is a deterministic UUID-shaped string for seed.
func fakeUUID(seed string) string {
	h := fakeHash(seed, 32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// physicalName imitates a name CloudFormation generates: Stack-LogicalId-RANDOM.
func (r *Resolver) physicalName(id string) string {
	l := id
	if len(l) > 30 {
		l = l[:30]
	}
	return r.StackName + "-" + l + "-" + strings.ToUpper(fakeHash(r.StackName+"/"+id, 12))
}

func (r *Resolver) arn(service, region, rest string) string {
	acct := r.AccountID
	if service == "s3" {
		acct = ""
	}
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", r.Partition, service, region, acct, rest)
}

// fakeRef is what Ref returns for a resource of typ: an id for EC2 things, an ARN or URL
// where AWS returns one, else a generated name.
func (r *Resolver) fakeRef(id, typ string) string {
	h := fakeHash(r.StackName+"/"+id, 17)
	name := r.physicalName(id)
	switch typ {
	case "AWS::EC2::VPC":
		return "vpc-" + h
	case "AWS::EC2::Subnet":
		return "subnet-" + h
	case "AWS::EC2::SecurityGroup":
		return "sg-" + h
	case "AWS::EC2::RouteTable":
		return "rtb-" + h
	case "AWS::EC2::InternetGateway":
		return "igw-" + h
	case "AWS::EC2::NatGateway":
		return "nat-" + h
	case "AWS::EC2::VPCEndpoint":
		return "vpce-" + h
	case "AWS::EC2::EIP":
		return "203.0.113." + strconv.Itoa(int(h[0])%200+10)
	case "AWS::SecretsManager::Secret":
		return r.arn("secretsmanager", r.Region, "secret:"+name+"-"+fakeHash(id, 6))
	case "AWS::SQS::Queue":
		return fmt.Sprintf("https://sqs.%s.%s/%s/%s", r.Region, r.URLSuffix, r.AccountID, name)
	case "AWS::SNS::Topic":
		return r.arn("sns", r.Region, name)
	case "AWS::IAM::ManagedPolicy":
		return r.arn("iam", "", "policy/"+name)
	case "AWS::ECS::TaskDefinition":
		return r.arn("ecs", r.Region, "task-definition/"+name+":1")
	case "AWS::ECS::Service":
		return r.arn("ecs", r.Region, "service/"+r.StackName+"-cluster/"+name)
	case "AWS::KMS::Key":
		return fakeUUID("kms/" + id)
	case "AWS::ECR::Repository", "AWS::S3::Bucket":
		return strings.ToLower(name)
	}
	return name
}

// fakeAttr is what Fn::GetAtt returns for the common attributes, built on the Ref value.
func (r *Resolver) fakeAttr(id, typ, ref, attr string) string {
	switch attr {
	case "Arn":
		switch typ {
		case "AWS::IAM::Role":
			return r.arn("iam", "", "role/"+ref)
		case "AWS::IAM::User":
			return r.arn("iam", "", "user/"+ref)
		case "AWS::IAM::InstanceProfile":
			return r.arn("iam", "", "instance-profile/"+ref)
		case "AWS::Lambda::Function":
			return r.arn("lambda", r.Region, "function:"+ref)
		case "AWS::ECS::Cluster":
			return r.arn("ecs", r.Region, "cluster/"+ref)
		case "AWS::Logs::LogGroup":
			return r.arn("logs", r.Region, "log-group:"+ref+":*")
		case "AWS::SQS::Queue":
			return r.arn("sqs", r.Region, r.physicalName(id))
		case "AWS::ECR::Repository":
			return r.arn("ecr", r.Region, "repository/"+ref)
		case "AWS::S3::Bucket":
			return r.arn("s3", "", ref)
		case "AWS::KMS::Key":
			return r.arn("kms", r.Region, "key/"+ref)
		case "AWS::Events::Rule":
			return r.arn("events", r.Region, "rule/"+ref)
		case "AWS::SecretsManager::Secret", "AWS::SNS::Topic", "AWS::ECS::TaskDefinition", "AWS::ECS::Service", "AWS::IAM::ManagedPolicy":
			return ref
		}
		svc := "unknown"
		if parts := strings.Split(typ, "::"); len(parts) == 3 {
			svc = strings.ToLower(parts[1])
		}
		return r.arn(svc, r.Region, strings.ToLower(typ[strings.LastIndex(typ, ":")+1:])+"/"+ref)
	case "RoleId":
		return "AROA" + strings.ToUpper(fakeHash(id, 17))
	case "QueueName", "Name", "FunctionName":
		if typ == "AWS::SQS::Queue" {
			return r.physicalName(id)
		}
		return ref
	case "QueueUrl":
		return ref
	case "RepositoryUri":
		return fmt.Sprintf("%s.dkr.ecr.%s.%s/%s", r.AccountID, r.Region, r.URLSuffix, ref)
	case "GroupId", "VpcId", "SubnetId":
		if typ == "AWS::EC2::Subnet" && attr == "VpcId" {
			return "vpc-" + fakeHash(r.StackName+"/vpc", 17)
		}
		return ref
	case "CidrBlock":
		return "10.0.0.0/16"
	case "DefaultSecurityGroup":
		return "sg-" + fakeHash(id+"/default", 17)
	case "AvailabilityZone":
		return r.Region + "a"
	}
	return ref + "." + attr
}

// fakeImport is a value for an export or stack output named name, shaped by the name (CDK
// names them like "PrefectNetwork:ExportsOutputRefVpcPrivateSubnet1Subnet536B997A…" or
// "PublishOutputFnGetAttWorkerSecurityGroup5529CF0BGroupId…"), so the pool's template
// gets subnet-, sg- and vpc- ids where it expects them.
func (r *Resolver) fakeImport(name string) string {
	h := fakeHash("import/"+name, 17)
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "subnet") && !strings.Contains(n, "routetable"):
		return "subnet-" + h
	case strings.Contains(n, "securitygroup") || strings.Contains(n, "groupid"):
		return "sg-" + h
	case strings.Contains(n, "repositoryuri"):
		return fmt.Sprintf("%s.dkr.ecr.%s.%s/%s", r.AccountID, r.Region, r.URLSuffix, "repo-"+h[:8])
	case strings.HasSuffix(n, "arn") || strings.Contains(n, "arn"):
		switch {
		case strings.Contains(n, "secret"):
			return r.arn("secretsmanager", r.Region, "secret:imported-"+h[:8]+"-"+h[8:14])
		case strings.Contains(n, "role"):
			return r.arn("iam", "", "role/imported-"+h[:12])
		case strings.Contains(n, "cluster"):
			return r.arn("ecs", r.Region, "cluster/imported-"+h[:12])
		case strings.Contains(n, "repository"):
			return r.arn("ecr", r.Region, "repository/repo-"+h[:8])
		}
		return r.arn("imported", r.Region, h[:12])
	case strings.Contains(n, "vpc"):
		return "vpc-" + h
	case strings.Contains(n, "repository"):
		return "repo-" + h[:8]
	}
	return "imported-" + h[:12]
}

// SortedKeys returns m's keys in order, for stable output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
