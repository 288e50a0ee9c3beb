package contract

import (
	"regexp"
	"strconv"
	"strings"
)

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

// Migration container layout shared by the ServerStack and the live server test.
const (
	// MigrationContainer upgrades the database's schema to the image's Prefect (never down)
	// and exits.
	MigrationContainer = "migrate"
	// APIContainer serves the API and UI (with the services in single mode).
	APIContainer = "api"
	// ServicesContainer runs `prefect server services start` (ha mode).
	ServicesContainer = "services"
	// ServerPort is the port the API container listens on.
	ServerPort = 4200
	// ServerDatabaseCAFile is where the worker image (Dockerfile.worker) holds the RDS
	// certificate bundle the server containers verify the database against; the live
	// server test puts its own database's CA in its place.
	ServerDatabaseCAFile = "/usr/local/share/rds/global-bundle.pem"
)

// Migration is the typed property set of a Custom::PrefectMigration.
type Migration struct {
	Cluster        string
	TaskDefinition string
	Container      string
	Subnets        []string
	SecurityGroups []string
	AssignPublicIP bool
}

// Properties encodes m as the resource's properties (lists as JSON arrays through
// tokenJSON, so the synth side's tokens resolve).
func (m Migration) Properties(tokenJSON func(any) string) map[string]any {
	return map[string]any{
		PropCluster:        m.Cluster,
		PropTaskDefinition: m.TaskDefinition,
		PropContainer:      m.Container,
		PropSubnets:        tokenJSON(m.Subnets),
		PropSecurityGroups: tokenJSON(m.SecurityGroups),
		PropAssignPublicIP: strconv.FormatBool(m.AssignPublicIP),
	}
}

var (
	clusterARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255}$`)
	taskDefARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/[A-Za-z0-9_-]{1,255}:\d+$`)
	subnetRE     = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgRE         = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
)

// ParseMigration reads Custom::PrefectMigration properties strictly and reports every
// problem at once.
func ParseMigration(m map[string]any) (*Migration, error) {
	p := newProps(m)
	mg := &Migration{
		Cluster:        p.str(PropCluster),
		TaskDefinition: p.str(PropTaskDefinition),
		Container:      p.str(PropContainer),
		Subnets:        p.strList(PropSubnets),
		SecurityGroups: p.strList(PropSecurityGroups),
		AssignPublicIP: p.boolean(PropAssignPublicIP),
	}
	if mg.Cluster != "" && !clusterARNRE.MatchString(mg.Cluster) {
		p.fail(PropCluster, "want an ECS cluster ARN, got %s", Quote(mg.Cluster))
	}
	if mg.TaskDefinition != "" && !taskDefARNRE.MatchString(mg.TaskDefinition) {
		p.fail(PropTaskDefinition, "want an ECS task definition ARN with its revision, got %s", Quote(mg.TaskDefinition))
	}
	checkIDs(p, PropSubnets, mg.Subnets, subnetRE, "subnet-")
	checkIDs(p, PropSecurityGroups, mg.SecurityGroups, sgRE, "sg-")
	if err := p.done(MigrationType); err != nil {
		return nil, err
	}
	return mg, nil
}

// checkIDs requires 1-16 ids of one shape (awsvpc allows at most 16 subnets and 5 groups;
// ECS reports the exact limit).
func checkIDs(p *props, name string, ids []string, re *regexp.Regexp, prefix string) {
	if len(ids) == 0 {
		p.fail(name, "want at least one %s id", strings.TrimSuffix(prefix, "-"))
		return
	}
	for i, id := range ids {
		if !re.MatchString(id) {
			p.fail(name, "item %d: want a %s… id, got %s", i, prefix, Quote(id))
		}
	}
}
