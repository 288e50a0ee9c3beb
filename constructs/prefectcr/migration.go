package prefectcr

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
)

const (
	// migrationTimeout bounds one migration call: starting a Fargate task (image pull
	// included) and the migrations of a fresh database take minutes, not seconds.
	migrationTimeout = 900
	// migrationServiceTimeout is above migrationTimeout, so the function's own FAILED
	// arrives first.
	migrationServiceTimeout = 1000
)

// MigrationProps describe the one-shot migration task and where it runs.
type MigrationProps struct {
	// ProjectRoot holds go.mod; the function is the custom-resource binary of NewProvider.
	ProjectRoot  string
	LogRetention awslogs.RetentionDays
	// Cluster runs TaskDefinition, whose container Container must exit 0.
	Cluster        awsecs.ICluster
	TaskDefinition awsecs.TaskDefinition
	Container      string
	// Subnets and SecurityGroups place the task; AssignPublicIP for subnets without NAT.
	Subnets        []*string
	SecurityGroups []*string
	AssignPublicIP bool
}

// Migration is a Custom::PrefectMigration and the function that serves it.
type Migration interface {
	constructs.IConstruct
	// Function is the custom-resource function (a second instance of the provider's binary).
	Function() awslambda.IFunction
	Resource() awscdk.CustomResource
}

type migration struct {
	customResource
	fn awslambda.Function
}

func (m *migration) Function() awslambda.IFunction { return m.fn }

// NewMigration adds a Custom::PrefectMigration: on create, and on every update that changes
// a property (a new task-definition revision: a new image or Prefect version), the function
// runs the migration task once and waits for its container to exit 0. Its role may run only
// that task definition's family on the cluster, watch and stop tasks there, and pass the
// task's two roles to ECS. Resources that need the migrated database depend on Resource().
func NewMigration(scope constructs.Construct, id string, props MigrationProps) (Migration, error) {
	c, fn, err := newFunction(scope, id, functionProps{
		ProjectRoot:     props.ProjectRoot,
		LogRetention:    props.LogRetention,
		RoleDescription: "Prefect server migration: runs the migration task once per deploy, writes its logs",
		Description:     "prefect-ecs-cdk: runs the Prefect server's database migration task once per deploy",
		Timeout:         migrationTimeout,
		grant:           func(role awsiam.Role) { grantMigration(role, props) },
	})
	if err != nil {
		return nil, err
	}
	spec := contract.Migration{
		Cluster:        *props.Cluster.ClusterArn(),
		TaskDefinition: *props.TaskDefinition.TaskDefinitionArn(),
		Container:      props.Container,
		AssignPublicIP: props.AssignPublicIP,
	}
	for _, s := range props.Subnets {
		spec.Subnets = append(spec.Subnets, *s)
	}
	for _, g := range props.SecurityGroups {
		spec.SecurityGroups = append(spec.SecurityGroups, *g)
	}
	res := newCustomResource(c, fn, contract.MigrationType, spec.Properties(tokenJSON(c)), migrationServiceTimeout)
	return &migration{customResource: customResource{Construct: c, res: res}, fn: fn}, nil
}

// grantMigration lets role run the migration task and nothing else: RunTask on the revisions
// of its family on this cluster, DescribeTasks and StopTask on this cluster's tasks, and
// PassRole of the task's roles to ECS tasks only.
func grantMigration(role awsiam.IRole, props MigrationProps) {
	stack := awscdk.Stack_Of(role)
	td := props.TaskDefinition
	arn := func(resource, name string) *string {
		return stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ecs"), Resource: jsii.String(resource), ResourceName: jsii.String(name),
			ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		})
	}
	onCluster := &map[string]interface{}{"ArnEquals": map[string]interface{}{"ecs:cluster": props.Cluster.ClusterArn()}}
	passed := []*string{td.TaskRole().RoleArn()}
	if exec := td.ExecutionRole(); exec != nil {
		passed = append(passed, exec.RoleArn())
	}
	for _, st := range []*awsiam.PolicyStatementProps{
		{Sid: jsii.String("RunMigrationTask"), Actions: jsii.Strings("ecs:RunTask"), Resources: &[]*string{arn("task-definition", *td.Family()+":*")}, Conditions: onCluster},
		{Sid: jsii.String("WatchMigrationTask"), Actions: jsii.Strings("ecs:DescribeTasks", "ecs:StopTask"),
			Resources: &[]*string{arn("task", *props.Cluster.ClusterName()+"/*")}, Conditions: onCluster},
		{Sid: jsii.String("PassMigrationTaskRoles"), Actions: jsii.Strings("iam:PassRole"), Resources: &passed,
			Conditions: &map[string]interface{}{"StringEquals": map[string]interface{}{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
	} {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(st))
	}
}
