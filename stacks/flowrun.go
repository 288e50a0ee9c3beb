package stacks

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// FlowRunRolesProps are what a flow run's ECS task reads before flow code starts.
type FlowRunRolesProps struct {
	// Repository holds the flow image.
	Repository awsecr.IRepository
	// LogGroup receives the flow runs' logs.
	LogGroup awslogs.ILogGroup
	// Secrets are passed to the flow run's container (the API key, or the auth string).
	Secrets PrefectSecrets
}

// FlowRunRoles are the two roles of every flow run, named in the work pool's defaults.
type FlowRunRoles struct {
	// ExecutionRole lets ECS pull the flow image, write logs and read the Prefect secret.
	ExecutionRole awsiam.IRole
	// TaskRole is what flow code may do in AWS: nothing until you grant it.
	TaskRole awsiam.IRole
}

// NewFlowRunRoles adds the roles FlowRunExecutionRole and FlowRunTaskRole to scope.
func NewFlowRunRoles(scope constructs.Construct, props FlowRunRolesProps) FlowRunRoles {
	exec := awsiam.NewRole(scope, jsii.String("FlowRunExecutionRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("Prefect flow runs (ECS execution): pull the flow image, write logs, read the Prefect secret"),
	})
	props.Repository.GrantPull(exec)
	exec.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*props.LogGroup.LogGroupArn() + ":*"),
	}))
	props.Secrets.GrantRead(exec)
	task := awsiam.NewRole(scope, jsii.String("FlowRunTaskRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.String("Prefect flow runs (task role): no permissions until you grant them"),
	})
	return FlowRunRoles{ExecutionRole: exec, TaskRole: task}
}
