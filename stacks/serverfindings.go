package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/constructs-go/constructs/v10"
)

// serverFindings are the findings of the ServerStack (prefectServer), each with its reason;
// ApplyFindings records them with Findings. Each selects nothing without a server.
var serverFindings = []Finding{
	{
		On: onServer(func(s *ServerStack) []constructs.IConstruct {
			var out []constructs.IConstruct
			for _, t := range serverTasks(s) {
				out = append(out, t)
			}
			return out
		}),
		Nag: "AwsSolutions-ECS2",
		Reason: "The server containers' environment holds only non-secret settings (the database's address, port and name, " +
			"module names, the UI's API URL); the database user and password, the auth string and the Redis URL are ECS secrets.",
	},
	{
		On: onServer(func(s *ServerStack) []constructs.IConstruct {
			var out []constructs.IConstruct
			for _, t := range serverTasks(s) {
				out = append(out, t.ExecutionRole())
			}
			return out
		}),
		Nag: "AwsSolutions-IAM5", AppliesTo: []string{"Resource::*"},
		Reason: "ecr:GetAuthorizationToken supports no resource-level permissions; everything else is scoped to the worker " +
			"image repository, the server's log group and its secrets.",
	},
	{
		On:  onServer(func(s *ServerStack) []constructs.IConstruct { return list(s.Migration.Function().Role()) }),
		Nag: "AwsSolutions-IAM5",
		AppliesTo: []string{`/^Resource::<[A-Za-z0-9]+Logs[A-Za-z0-9]+\.Arn>:\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):task-definition\/[A-Za-z0-9_-]+:\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ecs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):task\/<Cluster[A-Za-z0-9]+>\/\*$/`},
		Reason: "The migration function writes streams of its own log group only; it runs any revision of the migration task " +
			"definition's family (each deploy registers a new one) on this cluster only, and watches or stops that cluster's tasks, " +
			"whose ids ECS picks at run time.",
	},
	{
		On:      onServer(func(s *ServerStack) []constructs.IConstruct { return serverSecrets(s) }),
		Nag:     "AwsSolutions-SMG4",
		Checkov: []string{"CKV_AWS_149"},
		Reason: "The server's generated secrets (database credentials, auth string, Redis token and URL) are read by ECS when a " +
			"task starts: a rotation would leave running tasks with the old value (a rotated database password or Redis token " +
			"locks them out), so rotate by a deploy that replaces the secret; they use Secrets Manager's AWS-managed key, " +
			"as no other account or service reads them.",
	},
	{
		On:  onServer(func(s *ServerStack) []constructs.IConstruct { return list(s.Database.Instance) }),
		Nag: "AwsSolutions-RDS11",
		Reason: "PostgreSQL's default port: the database sits in isolated subnets and admits the server tasks' security group " +
			"only; another port would hide nothing from a client that already has network access.",
	},
	{
		On: onServer(func(s *ServerStack) []constructs.IConstruct {
			if s.Database.MultiAZ {
				return nil
			}
			return list(s.Database.Instance)
		}),
		Nag:     "AwsSolutions-RDS3",
		Checkov: []string{"CKV_AWS_157"},
		Reason: "prefectServer=single is the low-cost mode: a single-AZ database (a failed AZ stops the server until RDS " +
			"recovers the instance; backups restore it elsewhere); prefectServer=ha runs it Multi-AZ.",
	},
	{
		On:      onServer(func(s *ServerStack) []constructs.IConstruct { return list(s.Database.Instance) }),
		Checkov: []string{"CKV_AWS_161", "CKV_AWS_118", "CKV_AWS_129", "CKV_AWS_353"},
		Reason: "Prefect connects with a password (asyncpg has no IAM token refresh), held in Secrets Manager and passed as an " +
			"ECS secret; enhanced monitoring and log exports would add CloudWatch cost (RDS keeps the PostgreSQL logs for " +
			"download), and db.t4g.micro has no Performance Insights.",
	},
	{
		On:      onServer(func(s *ServerStack) []constructs.IConstruct { return list(s.LoadBalancer.LoadBalancer) }),
		Nag:     "AwsSolutions-ELB2",
		Checkov: []string{"CKV_AWS_91", "CKV_AWS_150", "CKV2_AWS_28"},
		Reason: "The load balancer admits only the allowed CIDRs and the worker, and Prefect authenticates every API call; " +
			"access logs would need a bucket of their own (with its own access logging) for traffic the API tasks already log. " +
			"Deletion protection would stop cdk destroy; a WAF would cost more than the server for a private API.",
	},
	{
		On: onServer(func(s *ServerStack) []constructs.IConstruct {
			if s.LoadBalancer.HTTPS {
				return nil
			}
			return list(s.LoadBalancer.Listener)
		}),
		Checkov: []string{"CKV_AWS_2", "CKV_AWS_103", "CKV2_AWS_20"},
		Reason: "Without serverCertificateArn the load balancer is internal and serves HTTP inside the VPC only (no certificate " +
			"can match its own DNS name); set serverCertificateArn and serverDomain for HTTPS.",
	},
	{
		On: onServer(func(s *ServerStack) []constructs.IConstruct {
			return list(s.Migration.Function().Node().DefaultChild())
		}),
		Checkov: []string{"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117"},
		Reason: "The migration function runs only when CloudFormation invokes it during a deploy and calls only the ECS API; " +
			"a failed call fails the deploy, so a dead-letter queue would hold events nobody can replay, reserved concurrency " +
			"would withhold account capacity for one call per deploy, and a VPC would add a NAT dependency for nothing.",
	},
	{
		On: onServer(func(s *ServerStack) []constructs.IConstruct {
			if !s.LoadBalancer.HTTPS || len(s.LoadBalancer.NatPeers) == 0 {
				return nil
			}
			return list(s.LoadBalancer.SecurityGroup)
		}),
		Nag: "CdkNagValidationFailure", AppliesTo: []string{"AwsSolutions-EC23"},
		Reason: "The internet-facing load balancer admits the NAT's own public addresses (/32 each, for the worker and the " +
			"function), which exist only at deploy time; cdk-nag cannot read such a rule, and every other rule is a literal CIDR.",
	},
	{
		On:      onServer(func(s *ServerStack) []constructs.IConstruct { return ofType("AWS::Logs::LogGroup", s) }),
		Checkov: []string{"CKV_AWS_158"},
		Reason: "CloudWatch Logs encrypts every log group at rest; the server's logs carry no credentials (they reach the " +
			"containers as ECS secrets), so a customer-managed key would add cost and upkeep only.",
	},
}

// onServer selects constructs of the server stack; nothing when there is none.
func onServer(f func(s *ServerStack) []constructs.IConstruct) func(e *Environment) []constructs.IConstruct {
	return func(e *Environment) []constructs.IConstruct {
		if e.Server == nil {
			return nil
		}
		return f(e.Server)
	}
}

// serverTasks are the server's task definitions.
func serverTasks(s *ServerStack) []awsecs.TaskDefinition {
	out := []awsecs.TaskDefinition{s.MigrateTask, s.API.TaskDefinition()}
	if s.Services != nil {
		out = append(out, s.Services.TaskDefinition())
	}
	return out
}

// serverSecrets are the server's generated secrets.
func serverSecrets(s *ServerStack) []constructs.IConstruct {
	// The instance's secret is its attachment; the generated secret is the child Secret.
	out := list(s.AuthString, mustChild(s.Database.Instance, "Secret"))
	if s.Redis != nil {
		out = append(out, s.Redis.Token, s.Redis.URL)
	}
	return out
}

func init() { Findings = append(Findings, serverFindings...) }
