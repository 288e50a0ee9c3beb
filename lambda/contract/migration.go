package contract

// The self-hosted server's migration (issue 9): Custom::PrefectMigration runs the
// server's database migration as one ECS task, once per deploy that changes the task
// definition (a new image or Prefect version), and the API and services wait for it.

// MigrationType is the CloudFormation type of the one-shot migration task.
const MigrationType = "Custom::PrefectMigration"

// Properties of Custom::PrefectMigration. Subnets and SecurityGroups are JSON-encoded lists
// (every property is a string, see props).
const (
	// PropCluster is the ECS cluster ARN the task runs in.
	PropCluster = "Cluster"
	// PropTaskDefinition is the migration task definition's ARN; a new ARN means a new run.
	PropTaskDefinition = "TaskDefinition"
	// PropContainer is the container whose exit code decides success.
	PropContainer = "Container"
	// PropSubnets and PropSecurityGroups place the task (awsvpc); JSON lists of ids.
	PropSubnets        = "Subnets"
	PropSecurityGroups = "SecurityGroups"
	// PropAssignPublicIP is "true" only for subnets without a NAT route (public mode).
	PropAssignPublicIP = "AssignPublicIp"
)

// AttrTaskArn is the migration task's ARN (Fn::GetAtt), for finding its logs.
const AttrTaskArn = "TaskArn"

// Migration container layout shared by the ServerStack and the live server test.
const (
	// MigrationContainer runs `prefect server database upgrade -y` and exits.
	MigrationContainer = "migrate"
	// APIContainer serves the API and UI (with the services in single mode).
	APIContainer = "api"
	// ServicesContainer runs `prefect server services start` (ha mode).
	ServicesContainer = "services"
	// ServerPort is the port the API container listens on.
	ServerPort = 4200
)
