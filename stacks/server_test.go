package stacks

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
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
// reads; each container's whole environment (plain settings, the pool the connection budget
// counts on, verified TLS to the database, the UI's scratch directory and URLs, the Redis
// modules and timeouts in ha) and every credential as an ECS secret.
func TestServerTaskDefinitions(t *testing.T) {
	for _, c := range []struct {
		v          *env
		containers map[string]A // name → command
	}{
		{serverSingle(t), map[string]A{
			contract.MigrationContainer: strs(migrateCommand),
			contract.APIContainer:       {"prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200"},
		}},
		{serverHA(t), map[string]A{
			contract.MigrationContainer: strs(migrateCommand),
			contract.APIContainer:       {"prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200", "--no-services"},
			contract.ServicesContainer:  {"prefect", "server", "services", "start"},
		}},
	} {
		srv, mode := c.v.server, c.v.cfg.PrefectServer
		srv.count(t, "AWS::ECS::TaskDefinition", nil, len(c.containers))
		db := logicalID(c.v.e.Server.Database.Instance)
		dns := getAtt(logicalID(c.v.e.Server.LoadBalancer.LoadBalancer), "DNSName")
		url := join("http://", dns)
		for name, command := range c.containers {
			pool := serverPoolOf(mode, name)
			env := M{
				"PREFECT_HOME": WorkerPrefectHome, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
				"PREFECT_SERVER_DATABASE_DRIVER": "postgresql+asyncpg",
				"PREFECT_SERVER_DATABASE_HOST":   getAtt(db, "Endpoint.Address"), "PREFECT_SERVER_DATABASE_PORT": getAtt(db, "Endpoint.Port"),
				"PREFECT_SERVER_DATABASE_NAME": "prefect", "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
				"PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE":                       fmt.Sprint(pool.size),
				"PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW":                    fmt.Sprint(pool.overflow),
				"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_APPLICATION_NAME":   "prefect-" + name,
				"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_ENABLED":        "true",
				"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CA_FILE":        ServerDatabaseCAFile,
				"PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_TLS_CHECK_HOSTNAME": "true",
			}
			secrets := []string{"PREFECT_SERVER_DATABASE_USER", "PREFECT_SERVER_DATABASE_PASSWORD"}
			if name != contract.MigrationContainer {
				env["PREFECT_UI_URL"] = url
				secrets = append(secrets, "PREFECT_SERVER_API_AUTH_STRING")
			}
			if name == contract.APIContainer {
				env["PREFECT_UI_API_URL"] = join("http://", dns, "/api")
				env["PREFECT_UI_STATIC_DIRECTORY"] = WorkerPrefectHome + "/ui"
				env["PREFECT_SERVER_API_KEEPALIVE_TIMEOUT"] = "65"
			}
			if mode == ServerHA && name != contract.MigrationContainer {
				for k, v := range map[string]string{
					"PREFECT_MESSAGING_BROKER": "prefect_redis.messaging", "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
					"PREFECT_SERVER_EVENTS_CAUSAL_ORDERING":               "prefect_redis.ordering",
					"PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE":            "prefect_redis.lease_storage",
					"PREFECT_SERVER_WORKER_CHANNEL_CLEANUP_QUEUE_STORAGE": "prefect_redis.cleanup_queue",
					"PREFECT_REDIS_MESSAGING_SOCKET_TIMEOUT":              "10", "PREFECT_REDIS_MESSAGING_SOCKET_CONNECT_TIMEOUT": "5",
					"PREFECT_REDIS_WORKER_CLEANUP_QUEUE_SOCKET_TIMEOUT": "10", "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_SOCKET_CONNECT_TIMEOUT": "5",
				} {
					env[k] = v
				}
				secrets = append(secrets, "PREFECT_REDIS_MESSAGING_URL", "PREFECT_SERVER_DOCKET_URL", "PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL")
			}
			// CDK writes both lists sorted by name.
			var envList, secretList A
			for _, k := range slices.Sorted(maps.Keys(env)) {
				envList = append(envList, M{"Name": k, "Value": env[k]})
			}
			slices.Sort(secrets)
			for _, n := range secrets {
				secretList = append(secretList, objectLike(M{"Name": n}))
			}
			srv.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
				"Name": name, "Command": command, "ReadonlyRootFilesystem": true,
				"Environment": exact(envList), "Secrets": secretList,
			})}})
		}
		// No plain value is a credential.
		srv.count(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": arrayWith(objectLike(M{
			"Environment": arrayWith(objectLike(M{"Name": like("PASSWORD|_USER$|AUTH_STRING|REDIS_.*_URL$|DOCKET_URL|TOKEN")})),
		}))}, 0)
	}
	serverSingle(t).server.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
		"Name": contract.APIContainer, "PortMappings": A{objectLike(M{"ContainerPort": contract.ServerPort})}})}})
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
// and the NAT's address; the target group checks /api/ready, and the load balancer's idle timeout
// is explicit and below the API's keep-alive.
func TestServerLoadBalancer(t *testing.T) {
	ha := serverHA(t)
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", M{"Scheme": "internal"})
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::Listener", M{"Port": 80, "Protocol": "HTTP"})
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::TargetGroup", M{"HealthCheckPath": "/api/ready", "Port": 4200, "TargetType": "ip",
		"HealthCheckTimeoutSeconds": 10, "UnhealthyThresholdCount": 5})
	ha.server.has(t, "AWS::ElasticLoadBalancingV2::LoadBalancer", M{"LoadBalancerAttributes": arrayWith(M{"Key": "idle_timeout.timeout_seconds", "Value": "60"})})
	if serverKeepAlive <= serverIdleTimeout {
		t.Errorf("the API's keep-alive %d s does not outlast the load balancer's idle timeout %d s", serverKeepAlive, serverIdleTimeout)
	}
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
	}, M{"Name": "PREFECT_UI_URL", "Value": "https://prefect.example.com"})})}})
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

// TestServerRollouts: single never runs two servers (the old task stops first); ha keeps every
// API task serving during a roll; one services task at a time.
func TestServerRollouts(t *testing.T) {
	single, ha := serverSingle(t), serverHA(t)
	single.server.has(t, "AWS::ECS::Service", M{"DesiredCount": 1,
		"DeploymentConfiguration": objectLike(M{"MinimumHealthyPercent": 0, "MaximumPercent": 100})})
	single.server.count(t, "AWS::ECS::Service", M{"DeploymentConfiguration": objectLike(M{"MaximumPercent": 200})}, 0)
	api := logicalID(ha.e.Server.API)
	ha.server.resource(t, api, M{"DeploymentConfiguration": objectLike(M{"MinimumHealthyPercent": 100, "MaximumPercent": 200})})
	ha.server.resource(t, logicalID(ha.e.Server.Services), M{"DesiredCount": 1,
		"DeploymentConfiguration": objectLike(M{"MinimumHealthyPercent": 0, "MaximumPercent": 100})})
}

// TestServerConnectionBudget: the budget counts each deploy's worst moment against what the
// instance class leaves; the defaults fit, serverApiTaskCount=10 on db.t4g.micro is refused in
// one line that names the setting and both ways out, and each way out passes.
func TestServerConnectionBudget(t *testing.T) {
	cfg := func(m ServerMode, n int, class string) Config {
		c := DefaultConfig()
		serverMode(&c, m)
		c.ServerAPITaskCount, c.ServerDatabaseInstanceClass = n, class
		return c
	}
	// 1 GiB × 0.7 / 9531392 = 78, less 5 reserved.
	if got := serverConnectionLimit("db.t4g.micro"); got != 73 {
		t.Errorf("db.t4g.micro leaves %d connections, want 73", got)
	}
	for _, c := range []struct {
		m    ServerMode
		n    int
		want int
	}{
		{ServerSingle, 2, 19}, // one process with the services' pool (15), and the migration (4) beside it
		{ServerHA, 2, 47},     // 4 API tasks × 8 while the new start beside the old, + services 15
		{ServerHA, 3, 63},
	} {
		if got, how := serverConnections(cfg(c.m, c.n, "db.t4g.micro")); got != c.want {
			t.Errorf("%s with %d API tasks: %d connections (%s), want %d", c.m, c.n, got, how, c.want)
		}
	}
	err := checkServerDatabase(cfg(ServerHA, 10, "db.t4g.micro"))
	want := "config: serverApiTaskCount=10 needs up to 175 database connections during a deploy (20 API tasks × 8 while new tasks start beside the old, + 1 services task × 15), " +
		"more than serverDatabaseInstanceClass=db.t4g.micro leaves the server (73): set serverApiTaskCount to at most 3, or serverDatabaseInstanceClass=db.t4g.medium (room for 310)"
	if err == nil || err.Error() != want {
		t.Errorf("serverApiTaskCount=10 on db.t4g.micro:\n got %v\nwant %s", err, want)
	}
	for _, ok := range []Config{cfg(ServerHA, 3, "db.t4g.micro"), cfg(ServerHA, 10, "db.t4g.medium"), cfg(ServerSingle, 2, "db.t4g.micro")} {
		if err := checkServerDatabase(ok); err != nil {
			t.Errorf("%s, %d API tasks, %s: %v", ok.PrefectServer, ok.ServerAPITaskCount, ok.ServerDatabaseInstanceClass, err)
		}
	}
	if err := checkServerDatabase(cfg(ServerHA, 2, "db.t3.micro")); err == nil || !strings.Contains(err.Error(), "serverDatabaseInstanceClass=db.t3.micro is not valid") {
		t.Errorf("db.t3.micro: %v", err)
	}
	off := DefaultConfig()
	off.ServerDatabaseInstanceClass = "db.t4g.small"
	if err := checkServerDatabase(off); err == nil || !strings.Contains(err.Error(), "has no effect with prefectServer=off") {
		t.Errorf("a class without a server: %v", err)
	}
	// The class reaches the template.
	v := synth(t, "server-ha-medium", func(c *Config) { serverMode(c, ServerHA); c.ServerDatabaseInstanceClass = "db.t4g.medium" })
	v.server.has(t, "AWS::RDS::DBInstance", M{"DBInstanceClass": "db.t4g.medium"})
}

// TestServerImageCarriesRDSCA: Dockerfile.worker writes the RDS CA bundle where the
// containers' TLS setting reads it, readable by the container user.
func TestServerImageCarriesRDSCA(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile.worker"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem', '" + ServerDatabaseCAFile + "'",
		"chmod 0644 " + ServerDatabaseCAFile,
		"ssl.create_default_context(cafile='" + ServerDatabaseCAFile + "')",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("Dockerfile.worker lacks %q", want)
		}
	}
}

// TestServerHealthChecks: the API and the services containers have health checks, the
// migration (which exits) none.
func TestServerHealthChecks(t *testing.T) {
	ha := serverHA(t)
	for name, check := range map[string]string{contract.APIContainer: "/api/health", contract.ServicesContainer: "prefect:workers"} {
		ha.server.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
			"Name": name, "HealthCheck": objectLike(M{"Command": A{"CMD-SHELL", like(regexp.QuoteMeta(check))}}),
		})}})
	}
	ha.server.count(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
		"Name": contract.MigrationContainer, "HealthCheck": anyValue()})}}, 0)
}
