package serverlive

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/harness"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/internal/stackspec"
)

// Server is a synthesized ServerStack template as the live test runs it: its containers (by
// name: migrate, api, services), the values of its generated secrets (made up here, once,
// as Secrets Manager would generate them), and what the database and Redis resources ask for.
type Server struct {
	Path       string
	Containers map[string]*Container
	// DB is the RDS instance or cluster: its master user and password (as the template gives
	// them, secrets resolved) and the database it creates.
	DB struct{ ID, User, Password, Name string }
	// Redis is the ElastiCache replication group (nil without one): its AUTH token and
	// whether it takes TLS only (TransitEncryptionEnabled).
	Redis *struct {
		ID, Password string
		TLS          bool
	}
	// HealthPath is the API target group's health check path.
	HealthPath string

	t       *stackspec.Template
	secrets map[string]any // logical id of an AWS::SecretsManager::Secret → string or JSON object
	outputs map[string]any // the template's Outputs: name → Value
}

// Container is one container definition, unresolved.
type Container struct {
	TaskDefinition, Name string
	Command              []string
	Environment, Secrets map[string]any // name → Value / ValueFrom as the template has it
	// User is the container's user ("uid:gid"); ReadOnlyRoot its ReadonlyRootFilesystem.
	User         string
	ReadOnlyRoot bool
	// Volumes are the container paths of its mount points, each a task scratch volume.
	Volumes []string
	// HealthCheck is its CMD-SHELL health check command ("" without one).
	HealthCheck string
}

// Locals are the addresses that stand in for the deploy-time ones: the database's, Redis's,
// and the load balancer's DNS name (host:port of the proxy).
type Locals struct {
	DBHost, RedisHost, LBHost string
	DBPort, RedisPort         int
}

// Resource types whose attributes are addresses, and which Locals field each attribute is.
var addressAttrs = map[string]map[string]func(Locals) string{
	"AWS::RDS::DBInstance": {"Endpoint.Address": dbHost, "Endpoint.Port": dbPort},
	"AWS::RDS::DBCluster":  {"Endpoint.Address": dbHost, "Endpoint.Port": dbPort},
	"AWS::ElastiCache::ReplicationGroup": {"PrimaryEndPoint.Address": redisHost, "PrimaryEndPoint.Port": redisPort,
		"ReaderEndPoint.Address": redisHost, "ReaderEndPoint.Port": redisPort},
	"AWS::ElasticLoadBalancingV2::LoadBalancer": {"DNSName": func(l Locals) string { return l.LBHost }},
}

func dbHost(l Locals) string    { return l.DBHost }
func dbPort(l Locals) string    { return strconv.Itoa(l.DBPort) }
func redisHost(l Locals) string { return l.RedisHost }
func redisPort(l Locals) string { return strconv.Itoa(l.RedisPort) }

// secretARN is the fake ARN a secret's Ref resolves to here: the logical id is its name.
const secretARNPrefix = "arn:aws:secretsmanager:" + harness.FakeRegion + ":" + harness.FakeAccountID + ":secret:"

// dynamicRef matches a {{resolve:secretsmanager:…}} dynamic reference to a secret of the
// template: its logical id, JSON key, version stage and id.
var dynamicRef = regexp.MustCompile(`\{\{resolve:secretsmanager:` + regexp.QuoteMeta(secretARNPrefix) + `([A-Za-z0-9]+)(?::SecretString:([^:}]*)(?::([^:}]*))?(?::([^:}]*))?)?\}\}`)

// ReadServer reads the ServerStack template at path. randomValue makes each generated
// secret value (the tests pass a random, URL-safe string).
func ReadServer(path string, randomValue func() string) (*Server, error) {
	t, err := stackspec.LoadTemplate(path)
	if err != nil {
		return nil, err
	}
	s := &Server{Path: path, Containers: map[string]*Container{}, t: t, secrets: map[string]any{}, outputs: map[string]any{}}
	var outs struct {
		Outputs map[string]struct{ Value any }
	}
	if err := readJSON(path, &outs); err != nil {
		return nil, err
	}
	for name, o := range outs.Outputs {
		s.outputs[name] = o.Value
	}
	for _, id := range t.OfType("AWS::SecretsManager::Secret") {
		g, ok := t.Resources[id].Properties["GenerateSecretString"].(map[string]any)
		if !ok {
			continue // SecretString: computed from the others when read (secretValue)
		}
		tmpl, _ := g["SecretStringTemplate"].(string)
		key, _ := g["GenerateStringKey"].(string)
		if tmpl == "" {
			s.secrets[id] = randomValue()
			continue
		}
		obj := map[string]any{}
		if err := json.Unmarshal([]byte(tmpl), &obj); err != nil || key == "" {
			return nil, fmt.Errorf("serverlive: secret %s: SecretStringTemplate %q with GenerateStringKey %q: %v", id, tmpl, key, err)
		}
		obj[key] = randomValue()
		s.secrets[id] = obj
	}
	if err := s.readContainers(); err != nil {
		return nil, err
	}
	return s, s.readBackends()
}

func (s *Server) readContainers() error {
	for _, id := range s.t.OfType("AWS::ECS::TaskDefinition") {
		var td struct {
			ContainerDefinitions []struct {
				Name                   string
				Command                []string
				Environment, Secrets   []map[string]any
				User                   string
				ReadonlyRootFilesystem bool
				MountPoints            []struct{ ContainerPath, SourceVolume string }
				HealthCheck            struct{ Command []string }
			}
			Volumes []map[string]any
		}
		b, _ := json.Marshal(s.t.Resources[id].Properties)
		if err := json.Unmarshal(b, &td); err != nil {
			return fmt.Errorf("serverlive: %s: %w", id, err)
		}
		scratch := map[string]bool{}
		for _, v := range td.Volumes {
			if len(v) != 1 || v["Name"] == nil {
				return fmt.Errorf("serverlive: %s: volume %v is not a task scratch volume (a name only), the one kind the test stands in for", id, v)
			}
			scratch[fmt.Sprint(v["Name"])] = true
		}
		for _, cd := range td.ContainerDefinitions {
			if s.Containers[cd.Name] != nil {
				return fmt.Errorf("serverlive: container %s is defined twice (%s and %s)", cd.Name, s.Containers[cd.Name].TaskDefinition, id)
			}
			c := &Container{TaskDefinition: id, Name: cd.Name, Command: cd.Command, Environment: map[string]any{}, Secrets: map[string]any{},
				User: cd.User, ReadOnlyRoot: cd.ReadonlyRootFilesystem}
			for _, m := range cd.MountPoints {
				if !scratch[m.SourceVolume] {
					return fmt.Errorf("serverlive: container %s mounts %s, not a scratch volume of %s", cd.Name, m.SourceVolume, id)
				}
				c.Volumes = append(c.Volumes, m.ContainerPath)
			}
			if hc := cd.HealthCheck.Command; len(hc) > 0 {
				if len(hc) != 2 || hc[0] != "CMD-SHELL" {
					return fmt.Errorf("serverlive: container %s: health check %q, want [CMD-SHELL, command]", cd.Name, hc)
				}
				c.HealthCheck = hc[1]
			}
			for _, e := range cd.Environment {
				c.Environment[fmt.Sprint(e["Name"])] = e["Value"]
			}
			for _, e := range cd.Secrets {
				c.Secrets[fmt.Sprint(e["Name"])] = e["ValueFrom"]
			}
			s.Containers[cd.Name] = c
		}
	}
	return nil
}

// readBackends reads the database, Redis and health check the template asks for.
func (s *Server) readBackends() error {
	str := func(id, prop string) (string, error) {
		v, err := s.resolve(s.t.Resources[id].Properties[prop], Locals{})
		if err != nil {
			return "", fmt.Errorf("serverlive: %s.%s: %w", id, prop, err)
		}
		return v, nil
	}
	dbs := append(s.t.OfType("AWS::RDS::DBInstance"), s.t.OfType("AWS::RDS::DBCluster")...)
	if len(dbs) != 1 {
		return fmt.Errorf("serverlive: %s: want one RDS instance or cluster, got %v", s.Path, dbs)
	}
	id := dbs[0]
	nameProp := "DBName"
	if s.t.Resources[id].Type == "AWS::RDS::DBCluster" {
		nameProp = "DatabaseName"
	}
	var errs [3]error
	s.DB.ID = id
	s.DB.User, errs[0] = str(id, "MasterUsername")
	s.DB.Password, errs[1] = str(id, "MasterUserPassword")
	s.DB.Name, errs[2] = str(id, nameProp)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	switch rgs := s.t.OfType("AWS::ElastiCache::ReplicationGroup"); len(rgs) {
	case 0:
	case 1:
		token, err := str(rgs[0], "AuthToken")
		if err != nil {
			return err
		}
		tls, _ := str(rgs[0], "TransitEncryptionEnabled")
		s.Redis = &struct {
			ID, Password string
			TLS          bool
		}{rgs[0], token, tls == "true"}
	default:
		return fmt.Errorf("serverlive: %s: more than one ElastiCache replication group: %v", s.Path, rgs)
	}
	for _, tg := range s.t.OfType("AWS::ElasticLoadBalancingV2::TargetGroup") {
		if p, _ := s.t.Resources[tg].Properties["HealthCheckPath"].(string); p != "" {
			if s.HealthPath != "" && s.HealthPath != p {
				return fmt.Errorf("serverlive: target groups check %s and %s", s.HealthPath, p)
			}
			s.HealthPath = p
		}
	}
	return nil
}

// Outputs are the template's outputs with loc's addresses, by "StackName:OutputName", as
// harness.Resolver.Outputs takes them for another stack's Fn::GetStackOutput.
func (s *Server) Outputs(loc Locals) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(s.outputs)) {
		v, err := s.resolve(s.outputs[name], loc)
		if err != nil {
			return nil, fmt.Errorf("serverlive: output %s: %w", name, err)
		}
		out[s.t.StackName()+":"+name] = v
	}
	return out, nil
}

// SecretARN is the ARN a Ref of secret id stands for here (Outputs and Env give these).
func SecretARN(id string) string { return secretARNPrefix + id }

// SecretOf is the logical id of the secret whose Value or field an env var of container
// name reads ("" when it reads none).
func (s *Server) SecretOf(name, envVar string) string {
	c := s.Containers[name]
	if c == nil {
		return ""
	}
	from, err := s.resolve(c.Secrets[envVar], Locals{})
	id, _, _ := strings.Cut(strings.TrimPrefix(from, secretARNPrefix), ":")
	if err != nil || !strings.HasPrefix(from, secretARNPrefix) {
		return ""
	}
	return id
}

// Env is the environment ECS would give container name, with loc's addresses and the
// secrets' values: every Environment value resolved, every Secrets entry read from its
// secret. A value the test cannot stand in for (an unknown intrinsic, attribute or secret)
// is an error naming the variable, so a template change the test does not know fails it.
func (s *Server) Env(name string, loc Locals) (map[string]string, error) {
	c := s.Containers[name]
	if c == nil {
		return nil, fmt.Errorf("serverlive: %s has no container %q (has %v)", s.Path, name, slices.Sorted(maps.Keys(s.Containers)))
	}
	env := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(c.Environment)) {
		v, err := s.resolve(c.Environment[k], loc)
		if err != nil {
			return nil, fmt.Errorf("serverlive: container %s: Environment %s: %w", name, k, err)
		}
		if strings.Contains(v, secretARNPrefix) {
			return nil, fmt.Errorf("serverlive: container %s: Environment %s carries a secret's ARN (%s): secrets reach containers as Secrets", name, k, v)
		}
		env[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(c.Secrets)) {
		from, err := s.resolve(c.Secrets[k], loc)
		if err == nil {
			env[k], err = s.secretValue(from, loc)
		}
		if err != nil {
			return nil, fmt.Errorf("serverlive: container %s: Secrets %s: %w", name, k, err)
		}
	}
	return env, nil
}

// secretValue reads a secret as ECS does for a ValueFrom (ARN[:json-key[:stage[:version]]]).
func (s *Server) secretValue(valueFrom string, loc Locals) (string, error) {
	rest, ok := strings.CutPrefix(valueFrom, secretARNPrefix)
	if !ok {
		return "", fmt.Errorf("ValueFrom %q is not a secret of this template", valueFrom)
	}
	id, spec, _ := strings.Cut(rest, ":")
	key, _, _ := strings.Cut(spec, ":")
	return s.secretField(id, key, loc)
}

// secretField is secret id's whole string (key "") or one field of its JSON.
func (s *Server) secretField(id, key string, loc Locals) (string, error) {
	v, ok := s.secrets[id]
	if res := s.t.Resources[id]; !ok && res != nil && res.Type == "AWS::SecretsManager::Secret" {
		str, err := s.resolve(res.Properties["SecretString"], loc)
		if err != nil {
			return "", fmt.Errorf("secret %s: SecretString: %w", id, err)
		}
		v, ok = str, true
	}
	if !ok {
		return "", fmt.Errorf("no secret %s in the template", id)
	}
	if key == "" {
		if obj, isObj := v.(map[string]any); isObj {
			b, _ := json.Marshal(obj)
			return string(b), nil
		}
		return v.(string), nil
	}
	obj, _ := v.(map[string]any)
	if f, ok := obj[key].(string); ok {
		return f, nil
	}
	return "", fmt.Errorf("secret %s has no JSON key %q (it has %v)", id, key, slices.Sorted(maps.Keys(obj)))
}

// resolve evaluates a template value to a string: addresses become loc's, a secret's Ref its
// fake ARN, the rest goes to the harness resolver (Fn::Join, Fn::Sub, Ref, pseudo
// parameters); a dynamic reference to a secret becomes the secret's value.
func (s *Server) resolve(v any, loc Locals) (string, error) {
	if v == nil {
		return "", fmt.Errorf("missing")
	}
	sub, err := s.substitute(v, loc)
	if err != nil {
		return "", err
	}
	r := harness.NewResolver(s.t, s.t.StackName())
	out, err := r.Resolve(sub)
	str, isString := out.(string)
	if err == nil && !isString {
		err = fmt.Errorf("want a string, got %v", out)
	}
	if err != nil {
		return "", err
	}
	for _, m := range dynamicRef.FindAllStringSubmatch(str, -1) {
		if m[3] != "" || m[4] != "" {
			return "", fmt.Errorf("dynamic reference %s pins a version", m[0])
		}
		val, err := s.secretField(m[1], m[2], loc)
		if err != nil {
			return "", err
		}
		str = strings.Replace(str, m[0], val, 1)
	}
	if strings.Contains(str, "{{resolve:") {
		return "", fmt.Errorf("dynamic reference the test cannot resolve in %q", str)
	}
	return str, nil
}

// substitute copies v with the addresses and secret ARNs replaced.
func (s *Server) substitute(v any, loc Locals) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = s.substitute(e, loc); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(x) == 1 && len(ga) == 2 {
			id, attr := fmt.Sprint(ga[0]), fmt.Sprint(ga[1])
			if res := s.t.Resources[id]; res != nil && addressAttrs[res.Type] != nil {
				if f := addressAttrs[res.Type][attr]; f != nil {
					return f(loc), nil
				}
				return nil, fmt.Errorf("Fn::GetAtt %s.%s (%s): no local stand-in for this attribute", id, attr, res.Type)
			}
		}
		if ref, ok := x["Ref"].(string); ok && len(x) == 1 {
			if id, ok := s.secretOf(ref); ok {
				return secretARNPrefix + id, nil
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			var err error
			if out[k], err = s.substitute(e, loc); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return v, nil
}

// secretOf is the secret behind a Ref: the secret itself, or the one a
// SecretTargetAttachment (an RDS secret with the host attached) names.
func (s *Server) secretOf(ref string) (string, bool) {
	res := s.t.Resources[ref]
	switch {
	case res == nil:
		return "", false
	case res.Type == "AWS::SecretsManager::Secret":
		return ref, true
	case res.Type == "AWS::SecretsManager::SecretTargetAttachment":
		target, _ := res.Properties["SecretId"].(map[string]any)
		id, _ := target["Ref"].(string)
		return s.secretOf(id)
	}
	return "", false
}

// readJSON decodes the file at path into v, numbers as written.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
