package iamcheck

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ECSTasksService is the service principal ECS passes task roles to (iam:PassedToService).
const ECSTasksService = "ecs-tasks.amazonaws.com"

// Mapper turns calls into the IAM requests AWS authorizes for them, including the implied
// ones: RegisterTaskDefinition and RunTask pass roles (iam:PassRole) and, when they send tags,
// tag the resource they create (ecs:TagResource with ecs:CreateAction). Feed it the calls of
// one caller in the order they were made: it remembers the task definitions registered so far
// to know their ARNs and roles.
type Mapper struct {
	// Partition and AccountID build ARNs from names; defaults "aws" and the account of the
	// ARNs seen, else "123456789012" (moto's default account).
	Partition, AccountID string

	taskDefs map[string]taskDef // by family
	tasks    int
}

type taskDef struct {
	revision int
	roles    []string
}

// NewMapper returns a Mapper for account in partition "aws".
func NewMapper(accountID string) *Mapper {
	return &Mapper{Partition: "aws", AccountID: accountID, taskDefs: map[string]taskDef{}}
}

// Requests returns the IAM requests that c needs; an unknown operation is an error, so a new
// call of the process under test cannot pass unchecked.
func (m *Mapper) Requests(c Call) ([]Request, error) {
	switch c.Service {
	case "ecs":
		return m.ecs(c)
	case "sqs":
		arn, err := m.queueARN(c)
		if err != nil {
			return nil, err
		}
		return []Request{{Action: c.Name(), Resource: arn}}, nil
	case "ec2":
		if strings.HasPrefix(c.Action, "Describe") {
			// EC2 Describe* operations have no resource-level permissions.
			return []Request{{Action: c.Name(), Resource: "*"}}, nil
		}
	case "logs":
		if c.Action == "GetLogEvents" {
			group := str(c.Params, "logGroupName")
			if group == "" {
				// logGroupIdentifier is a name or an ARN.
				group = str(c.Params, "logGroupIdentifier")
				if strings.HasPrefix(group, "arn:") {
					group = strings.TrimSuffix(group[strings.Index(group, ":log-group:")+len(":log-group:"):], ":*")
				}
			}
			return []Request{{Action: c.Name(), Resource: m.arn("logs", c.Region, "log-group:"+group+":log-stream:"+str(c.Params, "logStreamName"))}}, nil
		}
	case "sts":
		switch c.Action {
		case "GetCallerIdentity":
			// Needs no permission.
			return nil, nil
		case "AssumeRole":
			// Authorized on the role to assume (its trust policy is the other side).
			if role := str(c.Params, "RoleArn"); role != "" {
				return []Request{{Action: c.Name(), Resource: role}}, nil
			}
			return nil, fmt.Errorf("iamcheck: %s without RoleArn", c.Name())
		}
	case "cloudformation":
		return m.cloudFormation(c)
	}
	return nil, fmt.Errorf("iamcheck: no IAM mapping for %s (add one to iamcheck.Mapper)", c.Name())
}

func (m *Mapper) ecs(c Call) ([]Request, error) {
	switch c.Action {
	case "RegisterTaskDefinition":
		family := str(c.Params, "family")
		if family == "" {
			return nil, fmt.Errorf("iamcheck: RegisterTaskDefinition without family")
		}
		td := m.taskDefs[family]
		td.revision++
		td.roles = nil
		for _, k := range []string{"taskRoleArn", "executionRoleArn"} {
			if r := str(c.Params, k); r != "" {
				td.roles = append(td.roles, r)
			}
		}
		m.taskDefs[family] = td
		reqs := []Request{{Action: "ecs:RegisterTaskDefinition", Resource: "*"}}
		reqs = append(reqs, passRoles(td.roles, "RegisterTaskDefinition")...)
		if hasTags(c.Params) {
			reqs = append(reqs, Request{
				Action: "ecs:TagResource", Resource: m.taskDefARN(c.Region, family, td.revision),
				Context: map[string][]string{"ecs:CreateAction": {"RegisterTaskDefinition"}},
				Cause:   "RegisterTaskDefinition sends tags",
			})
		}
		return reqs, nil
	case "DescribeTaskDefinition", "DeregisterTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies":
		// No resource-level permissions.
		return []Request{{Action: c.Name(), Resource: "*"}}, nil
	case "RunTask":
		cluster := m.clusterARN(c.Region, str(c.Params, "cluster"))
		onCluster := map[string][]string{"ecs:cluster": {cluster}}
		family, rev, err := m.resolveTaskDef(str(c.Params, "taskDefinition"))
		if err != nil {
			return nil, err
		}
		reqs := []Request{{Action: "ecs:RunTask", Resource: m.taskDefARN(c.Region, family, rev), Context: onCluster}}
		roles := append([]string(nil), m.taskDefs[family].roles...)
		if o, ok := c.Params["overrides"].(map[string]any); ok {
			for _, k := range []string{"taskRoleArn", "executionRoleArn"} {
				if r := str(o, k); r != "" {
					roles = append(roles, r)
				}
			}
		}
		reqs = append(reqs, passRoles(dedupe(roles), "RunTask")...)
		if hasTags(c.Params) {
			// The task's ARN exists only once ECS created it; IAM authorizes the tagging on
			// that ARN. Its id is not in the request, so a stand-in id of the same shape is
			// used: only a policy that names task ids could tell the difference.
			m.tasks++
			id := fmt.Sprintf("%032x", m.tasks)
			reqs = append(reqs, Request{
				Action: "ecs:TagResource", Resource: m.taskARN(c.Region, cluster, id),
				Context: map[string][]string{"ecs:CreateAction": {"RunTask"}, "ecs:cluster": {cluster}},
				Cause:   "RunTask sends tags",
			})
		}
		return reqs, nil
	case "DescribeTasks", "StopTask":
		cluster := m.clusterARN(c.Region, str(c.Params, "cluster"))
		var ids []string
		if c.Action == "StopTask" {
			ids = []string{str(c.Params, "task")}
		} else if l, ok := c.Params["tasks"].([]any); ok {
			for _, x := range l {
				s, _ := x.(string)
				ids = append(ids, s)
			}
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("iamcheck: %s without tasks", c.Name())
		}
		var reqs []Request
		for _, id := range ids {
			reqs = append(reqs, Request{Action: c.Name(), Resource: m.taskARN(c.Region, cluster, id), Context: map[string][]string{"ecs:cluster": {cluster}}})
		}
		return reqs, nil
	}
	return nil, fmt.Errorf("iamcheck: no IAM mapping for %s (add one to iamcheck.Mapper)", c.Name())
}

// passRoles is the iam:PassRole request for each role an ECS call hands to ECS tasks.
func passRoles(roles []string, by string) []Request {
	var out []Request
	for _, r := range roles {
		out = append(out, Request{
			Action: "iam:PassRole", Resource: r,
			Context: map[string][]string{"iam:PassedToService": {ECSTasksService}},
			Cause:   by + " passes " + r,
		})
	}
	return out
}

// resolveTaskDef reads RunTask's taskDefinition (family, family:revision, or an ARN) into a
// family and revision registered earlier in the recording.
func (m *Mapper) resolveTaskDef(s string) (string, int, error) {
	if i := strings.Index(s, ":task-definition/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		s = s[i+len(":task-definition/"):]
	}
	family, revs, hasRev := strings.Cut(s, ":")
	td, known := m.taskDefs[family]
	if !known {
		return "", 0, fmt.Errorf("iamcheck: RunTask of task definition %q, which no earlier RegisterTaskDefinition of this caller created: its roles are unknown", s)
	}
	if !hasRev {
		return family, td.revision, nil
	}
	rev, err := strconv.Atoi(revs)
	if err != nil {
		return "", 0, fmt.Errorf("iamcheck: task definition revision %q", revs)
	}
	return family, rev, nil
}

// standInStackID stands for the id CloudFormation gives a stack (a UUID) when a call names the
// stack rather than its ARN: only a policy that names stack ids could tell the difference.
const standInStackID = "00000000-0000-0000-0000-000000000000"

// cloudFormation maps the stack reads `cdk diff` makes. IAM authorizes them on the stack's ARN,
// arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id> (Service Authorization
// Reference, AWS CloudFormation: the stack resource type); DescribeStacks without a stack
// lists every stack, on "*".
func (m *Mapper) cloudFormation(c Call) ([]Request, error) {
	switch c.Action {
	case "DescribeStacks", "GetTemplate", "ListStackResources":
		name := str(c.Params, "StackName")
		switch {
		case name == "" && c.Action == "DescribeStacks":
			return []Request{{Action: c.Name(), Resource: "*"}}, nil
		case name == "":
			return nil, fmt.Errorf("iamcheck: %s without StackName", c.Name())
		case strings.HasPrefix(name, "arn:"):
			return []Request{{Action: c.Name(), Resource: name}}, nil
		}
		return []Request{{Action: c.Name(), Resource: m.arn("cloudformation", c.Region, "stack/"+name+"/"+standInStackID)}}, nil
	}
	return nil, fmt.Errorf("iamcheck: no IAM mapping for %s (add one to iamcheck.Mapper)", c.Name())
}

func (m *Mapper) arn(service, region, resource string) string {
	return "arn:" + m.partition() + ":" + service + ":" + region + ":" + m.AccountID + ":" + resource
}

func (m *Mapper) partition() string {
	if m.Partition == "" {
		return "aws"
	}
	return m.Partition
}

func (m *Mapper) taskDefARN(region, family string, rev int) string {
	return m.arn("ecs", region, "task-definition/"+family+":"+strconv.Itoa(rev))
}

// clusterARN turns a cluster name into its ARN ("" is ECS's default cluster).
func (m *Mapper) clusterARN(region, cluster string) string {
	if strings.HasPrefix(cluster, "arn:") {
		return cluster
	}
	if cluster == "" {
		cluster = "default"
	}
	return m.arn("ecs", region, "cluster/"+cluster)
}

// taskARN turns a task id into the long ARN format, task/CLUSTER/ID.
func (m *Mapper) taskARN(region, clusterARN, task string) string {
	if strings.HasPrefix(task, "arn:") {
		return task
	}
	return m.arn("ecs", region, "task/"+clusterARN[strings.LastIndex(clusterARN, "/")+1:]+"/"+task)
}

// queueARN is the queue an SQS call addresses: QueueName (GetQueueUrl) or QueueUrl.
func (m *Mapper) queueARN(c Call) (string, error) {
	if name := str(c.Params, "QueueName"); name != "" {
		acct := str(c.Params, "QueueOwnerAWSAccountId")
		if acct == "" {
			acct = m.AccountID
		}
		return "arn:" + m.partition() + ":sqs:" + c.Region + ":" + acct + ":" + name, nil
	}
	u, err := url.Parse(str(c.Params, "QueueUrl"))
	if err != nil || u.Path == "" {
		return "", fmt.Errorf("iamcheck: %s without QueueName or QueueUrl", c.Name())
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 {
		return "", fmt.Errorf("iamcheck: %s: queue URL %q is not …/ACCOUNT/NAME", c.Name(), u)
	}
	return "arn:" + m.partition() + ":sqs:" + c.Region + ":" + parts[0] + ":" + parts[1], nil
}

func hasTags(params map[string]any) bool {
	l, ok := params["tags"].([]any)
	return ok && len(l) > 0
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
