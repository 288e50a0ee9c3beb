package stacks

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

// serverMode turns the server on, as `-c prefectServer=<m> -c prefectAccountId= -c
// prefectWorkspaceId=` does.
func serverMode(c *Config, m ServerMode) {
	c.PrefectServer = m
	c.PrefectAccountID, c.PrefectWorkspaceID = "", ""
}

func serverSingle(t testing.TB) *env {
	return synth(t, "server-single", func(c *Config) { serverMode(c, ServerSingle) })
}

func serverHA(t testing.TB) *env {
	return synth(t, "server-ha", func(c *Config) { serverMode(c, ServerHA) })
}

// serverHTTPS is ha with a certificate and domain: an internet-facing load balancer.
func serverHTTPS(t testing.TB) *env {
	return synth(t, "server-https", func(c *Config) {
		serverMode(c, ServerHA)
		c.ServerCertificateARN = testCertificateARN
		c.ServerDomain = "prefect.example.com"
		c.ServerAllowedCidrs = []string{"203.0.113.0/24"}
		c.ServerAPITaskCount = 3
		c.ServerBackupRetentionDays = 14
	})
}

// serverPublic is single in public mode (no NAT): the function goes to the isolated subnets.
func serverPublic(t testing.TB) *env {
	return synth(t, "server-public", func(c *Config) {
		serverMode(c, ServerSingle)
		c.NetworkMode = NetworkPublic
	})
}

const testCertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"

// TestServerOnlyWhenOn: prefectServer=off (the default) builds no server stack, and changes
// nothing else; single and ha add <prefix>Server.
func TestServerOnlyWhenOn(t *testing.T) {
	if defaults(t).e.Server != nil {
		t.Error("prefectServer=off built a server stack")
	}
	for _, v := range []*env{serverSingle(t), serverHA(t)} {
		if v.e.Server == nil || *v.e.Server.StackName() != "PrefectServer" {
			t.Fatalf("%s: no PrefectServer stack", v.cfg.PrefectServer)
		}
	}
}

// TestServerTaskDefinitions: the containers and commands of the contract the live server test
// reads, the database settings as plain values and every credential as an ECS secret.
func TestServerTaskDefinitions(t *testing.T) {
	dbEnv := A{
		M{"Name": "PREFECT_SERVER_DATABASE_DRIVER", "Value": "postgresql+asyncpg"},
		M{"Name": "PREFECT_SERVER_DATABASE_HOST", "Value": getAtt(logicalID(serverSingle(t).e.Server.Database.Instance), "Endpoint.Address")},
		M{"Name": "PREFECT_SERVER_DATABASE_PORT", "Value": getAtt(logicalID(serverSingle(t).e.Server.Database.Instance), "Endpoint.Port")},
		M{"Name": "PREFECT_SERVER_DATABASE_NAME", "Value": "prefect"},
		M{"Name": "PREFECT_SERVER_DATABASE_MIGRATE_ON_START", "Value": "false"},
	}
	redisEnv := A{
		M{"Name": "PREFECT_MESSAGING_BROKER", "Value": "prefect_redis.messaging"},
		M{"Name": "PREFECT_MESSAGING_CACHE", "Value": "prefect_redis.messaging"},
		M{"Name": "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING", "Value": "prefect_redis.ordering"},
		M{"Name": "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE", "Value": "prefect_redis.lease_storage"},
	}
	// CDK writes both lists sorted by name; arrayWith matches in order.
	byName := func(entries ...any) any {
		slices.SortFunc(entries, func(a, b any) int { return strings.Compare(a.(M)["Name"].(string), b.(M)["Name"].(string)) })
		return arrayWith(entries...)
	}
	secretNames := func(names ...string) any {
		slices.Sort(names)
		out := A{}
		for _, n := range names {
			out = append(out, objectLike(M{"Name": n}))
		}
		return arrayWith(out...)
	}
	dbSecrets := []string{"PREFECT_SERVER_DATABASE_USER", "PREFECT_SERVER_DATABASE_PASSWORD"}
	runSecrets := append(slices.Clone(dbSecrets), "PREFECT_SERVER_API_AUTH_STRING")
	redisSecrets := append(append([]string{}, runSecrets...), "PREFECT_REDIS_MESSAGING_URL", "PREFECT_SERVER_DOCKET_URL")
	uiURL := M{"Name": "PREFECT_UI_API_URL", "Value": anyValue()}
	for _, c := range []struct {
		v          *env
		containers map[string]M
	}{
		{serverSingle(t), map[string]M{
			contract.MigrationContainer: {"Command": A(strs(migrateCommand)), "Environment": byName(dbEnv...), "Secrets": secretNames(dbSecrets...)},
			contract.APIContainer: {"Command": A{"prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200"},
				"Environment": byName(append(A{uiURL}, dbEnv...)...), "Secrets": secretNames(runSecrets...),
				"PortMappings": A{objectLike(M{"ContainerPort": contract.ServerPort})}},
		}},
		{serverHA(t), map[string]M{
			contract.MigrationContainer: {"Command": A(strs(migrateCommand)), "Environment": byName(dbEnv...)},
			contract.APIContainer: {"Command": A{"prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200", "--no-services"},
				"Environment": byName(append(append(A{uiURL}, dbEnv...), redisEnv...)...), "Secrets": secretNames(redisSecrets...)},
			contract.ServicesContainer: {"Command": A{"prefect", "server", "services", "start"},
				"Environment": byName(append(A{uiURL}, dbEnv...)...), "Secrets": secretNames(redisSecrets...)},
		}},
	} {
		srv := c.v.server
		srv.count(t, "AWS::ECS::TaskDefinition", nil, len(c.containers))
		for name, props := range c.containers {
			props["Name"] = name
			props["ReadonlyRootFilesystem"] = true
			srv.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(props)}})
		}
		// No plain value is a credential; the migration reads no auth string.
		srv.count(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": arrayWith(objectLike(M{
			"Environment": arrayWith(objectLike(M{"Name": like("PASSWORD|_USER$|AUTH_STRING|MESSAGING_URL|DOCKET_URL|TOKEN")})),
		}))}, 0)
		srv.count(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
			"Name": contract.MigrationContainer, "Secrets": arrayWith(objectLike(M{"Name": "PREFECT_SERVER_API_AUTH_STRING"})),
		})}}, 0)
	}
	// The single API also runs the services: one task; ha spreads serverApiTaskCount.
	serverSingle(t).server.has(t, "AWS::ECS::Service", M{"DesiredCount": 1})
	serverHA(t).server.has(t, "AWS::ECS::Service", M{"DesiredCount": 2})
	serverHTTPS(t).server.has(t, "AWS::ECS::Service", M{"DesiredCount": 3})
}

func strs(ss []string) A {
	out := A{}
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

// TestServerDatabase: PostgreSQL 16, encrypted, in the isolated subnets, single-AZ or
// Multi-AZ by mode, backups from config, deletion protection, a snapshot on removal.
func TestServerDatabase(t *testing.T) {
	for _, c := range []struct {
		v       *env
		multiAZ bool
		backups int
	}{{serverSingle(t), false, 7}, {serverHA(t), true, 7}, {serverHTTPS(t), true, 14}} {
		c.v.server.hasResource(t, "AWS::RDS::DBInstance", M{
			"Properties": objectLike(M{
				"Engine": "postgres", "EngineVersion": like(`^16\.`), "DBInstanceClass": "db.t4g.micro",
				"MultiAZ": c.multiAZ, "StorageEncrypted": true, "DeletionProtection": true,
				"BackupRetentionPeriod": c.backups, "PubliclyAccessible": false, "DBName": "prefect",
			}),
			"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot",
		})
		c.v.server.has(t, "AWS::RDS::DBSubnetGroup", M{"SubnetIds": A{
			networkOutput("VpcserverSubnet1"), networkOutput("VpcserverSubnet2"),
		}})
		c.v.server.has(t, "AWS::SecretsManager::Secret", M{"GenerateSecretString": objectLike(M{"SecretStringTemplate": `{"username":"prefect"}`})})
	}
}

// TestServerRedis: ha only; Valkey with a replica in another AZ, TLS, and its AUTH token a
// dynamic reference to a generated secret (no plaintext in the template).
func TestServerRedis(t *testing.T) {
	serverSingle(t).server.count(t, "AWS::ElastiCache::ReplicationGroup", nil, 0)
	ha := serverHA(t)
	token := logicalID(ha.e.Server.Redis.Token)
	ha.server.has(t, "AWS::ElastiCache::ReplicationGroup", M{
		"Engine": "valkey", "CacheNodeType": "cache.t4g.micro", "NumCacheClusters": 2,
		"AutomaticFailoverEnabled": true, "MultiAZEnabled": true,
		"TransitEncryptionEnabled": true, "AtRestEncryptionEnabled": true,
		"AuthToken": join("{{resolve:secretsmanager:", ref(token), ":SecretString:::}}"),
	})
	ha.server.has(t, "AWS::ElastiCache::SubnetGroup", M{"SubnetIds": A{networkOutput("VpcserverSubnet1"), networkOutput("VpcserverSubnet2")}})
	ha.server.has(t, "AWS::SecretsManager::Secret", M{"GenerateSecretString": M{"ExcludePunctuation": true, "IncludeSpace": false, "PasswordLength": 64}})
	ha.server.has(t, "AWS::EC2::SecurityGroupIngress", M{"GroupId": getAtt(logicalID(ha.e.Server.Redis.SecurityGroup), "GroupId"),
		"FromPort": redisPort, "SourceSecurityGroupId": getAtt(logicalID(ha.e.Server.TaskSecurityGroup), "GroupId")})
}

// TestServerLoadBalancer: internal and HTTP without a certificate, admitting the VPC's CIDR
// and the worker; internet-facing HTTPS for the domain with one, admitting the allowed CIDRs
// and the NAT's address; the API's health check is /api/health.
func TestServerLoadBalancer(t *testing.T) {
	ha := serverHA(t)
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", M{"Scheme": "internal"})
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::Listener", M{"Port": 80, "Protocol": "HTTP"})
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", M{"HealthCheckPath": "/api/health", "Port": 4200, "TargetType": "ip"})
	sg := logicalID(ha.e.Server.LoadBalancer.SecurityGroup)
	ha.server.has(t, "AWS::EC2::SecurityGroup", M{"SecurityGroupIngress": exact(A{
		M{"CidrIp": "10.0.0.0/16", "Description": "allowed clients (serverAllowedCidrs)", "FromPort": 80, "IpProtocol": "tcp", "ToPort": 80},
	})})
	ha.server.has(t, "AWS::EC2::SecurityGroupIngress", M{"GroupId": getAtt(sg, "GroupId"), "FromPort": 80, "SourceSecurityGroupId": networkOutput("WorkerSecurityGroup")})
	ha.server.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{"Environment": arrayWith(M{
		"Name": "PREFECT_UI_API_URL", "Value": join("http://", getAtt(logicalID(ha.e.Server.LoadBalancer.LoadBalancer), "DNSName"), "/api"),
	})})}})

	https := serverHTTPS(t)
	https.server.has(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", M{"Scheme": "internet-facing"})
	https.server.has(t, "AWS::ElasticLoadBalancingV2::Listener", M{"Port": 443, "Protocol": "HTTPS",
		"Certificates": A{M{"CertificateArn": testCertificateARN}}})
	https.server.has(t, "AWS::EC2::SecurityGroup", M{"SecurityGroupIngress": arrayWith(
		objectLike(M{"CidrIp": "203.0.113.0/24", "FromPort": 443}),
		objectLike(M{"CidrIp": join(networkOutput("EIP"), "/32"), "FromPort": 443}),
	)})
	https.server.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{"Environment": arrayWith(M{
		"Name": "PREFECT_UI_API_URL", "Value": "https://prefect.example.com/api",
	})})}})
	// Nothing is open to the world.
	for _, v := range []*env{ha, https} {
		if strings.Contains(jsonOf(v.server.json), "0.0.0.0/0\", \"Description\": \"allowed") {
			t.Error("the load balancer admits 0.0.0.0/0")
		}
	}
}

// TestServerMigration: one Custom::PrefectMigration runs the migrate task on the server's
// cluster before the API and services start, through a second instance of the custom-resource
// function (the same asset as the Compute stack's), whose role may run only that task.
func TestServerMigration(t *testing.T) {
	v := serverHA(t)
	s := v.e.Server
	v.server.count(t, contract.MigrationType, nil, 1)
	v.server.has(t, contract.MigrationType, M{
		contract.PropCluster:        getAtt(logicalID(s.Cluster), "Arn"),
		contract.PropTaskDefinition: ref(logicalID(s.MigrateTask)),
		contract.PropContainer:      contract.MigrationContainer,
		contract.PropAssignPublicIP: "false",
		contract.PropSecurityGroups: anyValue(),
		contract.PropSubnets:        anyValue(),
	})
	migration := logicalID(s.Migration.Resource())
	v.server.count(t, "AWS::ECS::Service", nil, 2)
	for id, svc := range v.server.find("AWS::ECS::Service", nil) {
		if !strings.Contains(jsonOf(svc["DependsOn"]), migration) {
			t.Errorf("%s does not wait for the migration", id)
		}
	}
	serverPublic(t).server.has(t, contract.MigrationType, M{contract.PropAssignPublicIP: "true"})
	// The same code asset as the Compute stack's function.
	code := func(st stackTemplate) string {
		for _, fn := range st.find("AWS::Lambda::Function", M{"Handler": "bootstrap"}) {
			return jsonOf(fn["Properties"].(M)["Code"].(M)["S3Key"])
		}
		return ""
	}
	if a, b := code(v.server), code(v.compute); a == "" || a != b {
		t.Errorf("migration function code %s, compute function code %s: want one asset", a, b)
	}
	policy := v.server.properties(t, "AWS::IAM::Policy", M{"Roles": A{ref(logicalID(s.Migration.Function().Role()))}})
	var actions []string
	for _, st := range policy["PolicyDocument"].(M)["Statement"].(A) {
		actions = append(actions, actionsOf(st.(M))...)
	}
	want := "ecs:DescribeTasks ecs:RunTask ecs:StopTask iam:PassRole logs:CreateLogStream logs:PutLogEvents"
	if got := strings.Join(slices.Sorted(slices.Values(actions)), " "); got != want {
		t.Errorf("migration role actions %s, want %s", got, want)
	}
	if !strings.Contains(jsonOf(policy), `"iam:PassedToService":"ecs-tasks.amazonaws.com"`) &&
		!strings.Contains(jsonOf(policy), `"iam:PassedToService": "ecs-tasks.amazonaws.com"`) {
		t.Errorf("PassRole is not limited to ECS tasks: %s", jsonOf(policy))
	}
}

// TestServerComputeWiring: the worker and the function use the server's load balancer and
// generated auth string, the function runs in the VPC, and Compute deploys after Server.
func TestServerComputeWiring(t *testing.T) {
	for _, v := range []*env{serverSingle(t), serverPublic(t)} {
		url := join("http://", stackOutput("PrefectServer", like("LoadBalancer.*DNSName")), "/api")
		auth := stackOutput("PrefectServer", like("AuthString"))
		v.compute.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
			"Environment": arrayWith(M{"Name": "PREFECT_API_URL", "Value": url}),
			"Secrets":     A{exact(M{"Name": "PREFECT_API_AUTH_STRING", "ValueFrom": auth})},
		})}})
		v.compute.has(t, "AWS::Lambda::Function", M{
			"Environment": M{"Variables": M{contract.EnvAPIURL: url, contract.EnvAuthStringSecretARN: auth}},
			"VpcConfig":   M{"SecurityGroupIds": A{networkOutput("WorkerSecurityGroup")}},
		})
		deps := v.e.Compute.Dependencies()
		found := false
		for _, d := range *deps {
			found = found || *d.StackName() == "PrefectServer"
		}
		if !found {
			t.Errorf("%s: Compute does not depend on Server", v.cfg.NetworkMode)
		}
	}
	// The worker may reach the internal load balancer's HTTP port.
	serverSingle(t).network.has(t, "AWS::EC2::SecurityGroup", M{"SecurityGroupEgress": arrayWith(objectLike(M{"FromPort": 80, "CidrIp": "0.0.0.0/0"}))})
	// Public mode: the function is in the isolated subnets, with a Secrets Manager endpoint.
	pub := serverPublic(t)
	pub.compute.has(t, "AWS::Lambda::Function", M{"VpcConfig": M{"SubnetIds": A{networkOutput("VpcserverSubnet1"), networkOutput("VpcserverSubnet2")}}})
	pub.network.has(t, "AWS::EC2::VPCEndpoint", M{"ServiceName": join("com.amazonaws.", ref("AWS::Region"), ".secretsmanager")})
}

// TestServerSubnetsAppendedLast: the server's isolated subnets come after every existing
// subnet, so turning the server on moves no CIDR (private and public mode alike).
func TestServerSubnetsAppendedLast(t *testing.T) {
	cidrs := func(v *env) []string {
		var out []string
		subnets := v.network.find("AWS::EC2::Subnet", nil)
		for _, id := range slices.Sorted(maps.Keys(subnets)) {
			out = append(out, id+"="+subnets[id]["Properties"].(M)["CidrBlock"].(string))
		}
		return out
	}
	for _, c := range []struct{ off, on *env }{
		{defaults(t), serverSingle(t)},
		{synth(t, "public-plain", func(c *Config) { c.NetworkMode = NetworkPublic }), serverPublic(t)},
	} {
		before, after := cidrs(c.off), cidrs(c.on)
		kept := 0
		for _, b := range before {
			for _, a := range after {
				if a == b {
					kept++
				}
			}
		}
		if kept != len(before) || len(after) != len(before)+2 {
			t.Errorf("%s: subnets moved or missing: before %v, after %v", c.on.cfg.NetworkMode, before, after)
		}
		c.on.network.has(t, "AWS::EC2::Subnet", M{"MapPublicIpOnLaunch": false, "Tags": arrayWith(M{"Key": "aws-cdk:subnet-type", "Value": "Isolated"})})
	}
}
