package stacks

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticache"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// serverDatabaseName is the server's database in the PostgreSQL instance.
const serverDatabaseName = "prefect"

// ServerDatabaseProps are the database's inputs.
type ServerDatabaseProps struct {
	// Config gives the mode (Multi-AZ in ha), backup retention and log retention.
	Config  Config
	Network *NetworkStack
	// Clients may connect on the database's port.
	Clients awsec2.ISecurityGroup
}

// ServerDatabase is the server's PostgreSQL.
type ServerDatabase struct {
	Instance awsrds.DatabaseInstance
	// Secret holds the generated credentials (JSON: username, password, host, …).
	Secret awssecretsmanager.ISecret
	// MultiAZ is whether it has a standby in a second AZ (ha).
	MultiAZ bool
}

// serverPostgresVersion is the PostgreSQL the database is created with (Prefect needs
// ≥ 14.9); RDS applies later minor versions in maintenance windows (AutoMinorVersionUpgrade).
var serverPostgresVersion = awsrds.PostgresEngineVersion_VER_16_13()

// NewServerDatabase adds Database: PostgreSQL 16 (serverPostgresVersion) of
// serverDatabaseInstanceClass, encrypted, in the server subnets, Multi-AZ in ha, with
// generated credentials in Secrets Manager, backups kept serverBackupRetentionDays, deletion
// protection on and a final snapshot when CloudFormation removes it.
func NewServerDatabase(scope constructs.Construct, props ServerDatabaseProps) ServerDatabase {
	cfg := props.Config
	sg := awsec2.NewSecurityGroup(scope, jsii.String("DatabaseSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: props.Network.Vpc, Description: jsii.String("Prefect server database: ingress from the server tasks only, no egress"),
		AllowAllOutbound: jsii.Bool(false),
	})
	db := awsrds.NewDatabaseInstance(scope, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		SecurityGroups: &[]awsec2.ISecurityGroup{sg},
		Engine: awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
			Version: serverPostgresVersion,
		}),
		InstanceType:            awsec2.NewInstanceType(jsii.String(strings.TrimPrefix(cfg.ServerDatabaseInstanceClass, "db."))),
		Vpc:                     props.Network.Vpc,
		VpcSubnets:              props.Network.ServerSubnets,
		MultiAz:                 jsii.Bool(cfg.PrefectServer == ServerHA),
		AllocatedStorage:        jsii.Number(20),
		MaxAllocatedStorage:     jsii.Number(100),
		StorageType:             awsrds.StorageType_GP3,
		StorageEncrypted:        jsii.Bool(true),
		Credentials:             awsrds.Credentials_FromGeneratedSecret(jsii.String("prefect"), nil),
		DatabaseName:            jsii.String(serverDatabaseName),
		BackupRetention:         awscdk.Duration_Days(jsii.Number(float64(cfg.ServerBackupRetentionDays))),
		DeletionProtection:      jsii.Bool(true),
		RemovalPolicy:           awscdk.RemovalPolicy_SNAPSHOT,
		CopyTagsToSnapshot:      jsii.Bool(true),
		AutoMinorVersionUpgrade: jsii.Bool(true),
		PubliclyAccessible:      jsii.Bool(false),
	})
	db.Connections().AllowDefaultPortFrom(props.Clients, jsii.String("Prefect server tasks"))
	return ServerDatabase{Instance: db, Secret: db.Secret(), MultiAZ: cfg.PrefectServer == ServerHA}
}

// ServerRedisProps are Redis's inputs.
type ServerRedisProps struct {
	Network *NetworkStack
	// Clients may connect on Redis's port.
	Clients awsec2.SecurityGroup
}

// ServerRedis is the ha server's message broker and cache.
type ServerRedis struct {
	Group awselasticache.CfnReplicationGroup
	// Token is the generated AUTH token; URL is rediss://:<token>@<primary>:<port>/0, the
	// one value Prefect's messaging, docket and cleanup-queue settings take (ECS secrets).
	Token, URL    awssecretsmanager.ISecret
	SecurityGroup awsec2.SecurityGroup
}

// redisPort is Redis's (and Valkey's) port.
const redisPort = 6379

// NewServerRedis adds Redis: a Valkey replication group of a primary and a replica in two
// AZs (automatic failover), TLS in transit, encrypted at rest, an AUTH token from a
// generated secret (a dynamic reference: the template holds no secret), in the server
// subnets, reachable from Clients only.
func NewServerRedis(scope constructs.Construct, props ServerRedisProps) *ServerRedis {
	net := props.Network
	sg := awsec2.NewSecurityGroup(scope, jsii.String("RedisSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: net.Vpc, Description: jsii.String("Prefect server Redis: ingress from the server tasks only"), AllowAllOutbound: jsii.Bool(false),
	})
	sg.AddIngressRule(props.Clients, awsec2.Port_Tcp(jsii.Number(redisPort)), jsii.String("Prefect server tasks"), nil)
	props.Clients.AddEgressRule(sg, awsec2.Port_Tcp(jsii.Number(redisPort)), jsii.String("Redis"), nil)
	subnets := awselasticache.NewCfnSubnetGroup(scope, jsii.String("RedisSubnets"), &awselasticache.CfnSubnetGroupProps{
		Description: jsii.String("Prefect server Redis"),
		SubnetIds:   toAny(*net.Vpc.SelectSubnets(net.ServerSubnets).SubnetIds),
	})
	token := newGeneratedSecret(scope, "RedisToken", "Prefect server Redis AUTH token", 64)
	group := awselasticache.NewCfnReplicationGroup(scope, jsii.String("Redis"), &awselasticache.CfnReplicationGroupProps{
		ReplicationGroupDescription: jsii.String("Prefect server messaging"),
		Engine:                      jsii.String("valkey"),
		EngineVersion:               jsii.String("8.0"),
		CacheNodeType:               jsii.String(serverRedisNodeType),
		NumCacheClusters:            jsii.Number(2),
		AutomaticFailoverEnabled:    jsii.Bool(true),
		MultiAzEnabled:              jsii.Bool(true),
		AtRestEncryptionEnabled:     jsii.Bool(true),
		TransitEncryptionEnabled:    jsii.Bool(true),
		AuthToken:                   token.SecretValue().UnsafeUnwrap(),
		CacheSubnetGroupName:        subnets.Ref(),
		SecurityGroupIds:            jsii.Strings(*sg.SecurityGroupId()),
		Port:                        jsii.Number(redisPort),
		AutoMinorVersionUpgrade:     jsii.Bool(true),
		SnapshotRetentionLimit:      jsii.Number(1),
	})
	url := awssecretsmanager.NewSecret(scope, jsii.String("RedisUrl"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Prefect server Redis URL with its token (PREFECT_REDIS_MESSAGING_URL, PREFECT_SERVER_DOCKET_URL, PREFECT_REDIS_WORKER_CLEANUP_QUEUE_URL)"),
		SecretStringValue: awscdk.SecretValue_UnsafePlainText(awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("rediss://:"), token.SecretValue().UnsafeUnwrap(), jsii.String("@"),
			group.AttrPrimaryEndPointAddress(), jsii.String(":"), group.AttrPrimaryEndPointPort(), jsii.String("/0"),
		})),
	})
	return &ServerRedis{Group: group, Token: token, URL: url, SecurityGroup: sg}
}

// toAny is ids as the []interface{} of an L1 property.
func toAny(ids []*string) *[]interface{} {
	out := make([]interface{}, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return &out
}

// serverRedisNodeType is the smallest Graviton node ElastiCache offers.
const serverRedisNodeType = "cache.t4g.micro"

// ServerLoadBalancerProps are the load balancer's inputs.
type ServerLoadBalancerProps struct {
	// Config gives the certificate and domain (HTTPS, internet-facing) and the allowed CIDRs.
	Config  Config
	Network *NetworkStack
}

// ServerLoadBalancer is the API's Application Load Balancer.
type ServerLoadBalancer struct {
	LoadBalancer  awselasticloadbalancingv2.ApplicationLoadBalancer
	Listener      awselasticloadbalancingv2.ApplicationListener
	SecurityGroup awsec2.SecurityGroup
	// HTTPS is whether the listener serves HTTPS (serverCertificateArn).
	HTTPS bool
	// NatPeers are the NAT's public addresses it admits (internet-facing only).
	NatPeers []awsec2.IPeer
	// URL is the server's URL: https://<serverDomain>, or http://<internal DNS name>.
	URL *string
}

// NewServerLoadBalancer adds LoadBalancer: with serverCertificateArn internet-facing in the
// public subnets with an HTTPS listener for serverDomain; without, internal in the task
// subnets with an HTTP listener. Only serverAllowedCidrs (default: the VPC's CIDR) and the
// worker may connect: the worker's security group for the internal one; for the
// internet-facing one the NAT's public IPs, from which the worker and function reach it.
func NewServerLoadBalancer(scope constructs.Construct, props ServerLoadBalancerProps) ServerLoadBalancer {
	cfg, net := props.Config, props.Network
	port := awsec2.Port_Tcp(jsii.Number(float64(cfg.ServerPort())))
	sg := awsec2.NewSecurityGroup(scope, jsii.String("LoadBalancerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc: net.Vpc, Description: jsii.String("Prefect server load balancer: the allowed CIDRs and the worker"), AllowAllOutbound: jsii.Bool(false),
	})
	cidrs := cfg.ServerAllowedCidrs
	if len(cidrs) == 0 {
		cidrs = []string{vpcCidr(cfg, net)}
	}
	for _, c := range cidrs {
		sg.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(c)), port, jsii.String("allowed clients (serverAllowedCidrs)"), nil)
	}
	subnets := net.TaskSubnets
	var natPeers []awsec2.IPeer
	if cfg.ServerHTTPS() {
		subnets = &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC}
		for _, ip := range net.NatPublicIPs {
			peer := awsec2.Peer_Ipv4(awscdk.Fn_Join(jsii.String(""), &[]*string{ip, jsii.String("/32")}))
			sg.AddIngressRule(peer, port, jsii.String("the worker and function, through the NAT"), nil)
			natPeers = append(natPeers, peer)
		}
	} else {
		sg.AddIngressRule(net.WorkerSecurityGroup, port, jsii.String("the worker and the custom-resource function"), nil)
		sg.AddIngressRule(net.FlowRunSecurityGroup, port, jsii.String("flow runs"), nil)
	}
	alb := awselasticloadbalancingv2.NewApplicationLoadBalancer(scope, jsii.String("LoadBalancer"), &awselasticloadbalancingv2.ApplicationLoadBalancerProps{
		Vpc: net.Vpc, InternetFacing: jsii.Bool(cfg.ServerHTTPS()), VpcSubnets: subnets, SecurityGroup: sg,
		DropInvalidHeaderFields: jsii.Bool(true),
		// Explicit, and below the API's keep-alive (serverKeepAlive).
		IdleTimeout: awscdk.Duration_Seconds(jsii.Number(serverIdleTimeout)),
	})
	lb := ServerLoadBalancer{LoadBalancer: alb, SecurityGroup: sg, HTTPS: cfg.ServerHTTPS(), NatPeers: natPeers}
	if cfg.ServerHTTPS() {
		lb.Listener = alb.AddListener(jsii.String("Https"), &awselasticloadbalancingv2.BaseApplicationListenerProps{
			Port: jsii.Number(443), Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTPS, Open: jsii.Bool(false),
			Certificates: &[]awselasticloadbalancingv2.IListenerCertificate{
				awselasticloadbalancingv2.ListenerCertificate_FromArn(jsii.String(cfg.ServerCertificateARN)),
			},
			SslPolicy: awselasticloadbalancingv2.SslPolicy_RECOMMENDED_TLS,
		})
		lb.URL = jsii.String("https://" + cfg.ServerDomain)
	} else {
		lb.Listener = alb.AddListener(jsii.String("Http"), &awselasticloadbalancingv2.BaseApplicationListenerProps{
			Port: jsii.Number(80), Protocol: awselasticloadbalancingv2.ApplicationProtocol_HTTP, Open: jsii.Bool(false),
		})
		lb.URL = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("http://"), alb.LoadBalancerDnsName()})
	}
	return lb
}

// vpcCidr is the VPC's CIDR: the literal vpcCidr for a VPC the stack creates (so that
// scanners read the rule), the looked-up block for an imported one.
func vpcCidr(cfg Config, net *NetworkStack) string {
	if cfg.VpcID == "" {
		return cfg.VpcCidr
	}
	return *net.Vpc.VpcCidrBlock()
}
