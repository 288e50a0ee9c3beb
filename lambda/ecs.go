package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/contract"
	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/lambda/resources"
)

// ecsTasks runs the server's migration task (resources.Tasks). The client is built on first
// use from the role's credentials in the environment, like the Secrets Manager client, and
// AWS_ENDPOINT_URL_ECS (or AWS_ENDPOINT_URL) points tests at a local endpoint.
type ecsTasks struct {
	getenv func(string) string
	once   sync.Once
	client *ecs.Client
	err    error
}

func (e *ecsTasks) api() (*ecs.Client, error) {
	e.once.Do(func() {
		cfg, err := lambdaAWSConfig(e.getenv)
		if err != nil {
			e.err = err
			return
		}
		e.client = ecs.NewFromConfig(cfg, func(o *ecs.Options) {
			if ep := firstNonEmpty(e.getenv("AWS_ENDPOINT_URL_ECS"), e.getenv("AWS_ENDPOINT_URL")); ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
	})
	return e.client, e.err
}

func (e *ecsTasks) RunTask(ctx context.Context, m *contract.Migration, startedBy string) (string, error) {
	c, err := e.api()
	if err != nil {
		return "", err
	}
	public := types.AssignPublicIpDisabled
	if m.AssignPublicIP {
		public = types.AssignPublicIpEnabled
	}
	out, err := c.RunTask(ctx, &ecs.RunTaskInput{
		Cluster:        aws.String(m.Cluster),
		TaskDefinition: aws.String(m.TaskDefinition),
		LaunchType:     types.LaunchTypeFargate,
		Count:          aws.Int32(1),
		StartedBy:      aws.String(startedBy),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: m.Subnets, SecurityGroups: m.SecurityGroups, AssignPublicIp: public,
		}},
	})
	if err != nil {
		return "", err
	}
	if len(out.Tasks) == 1 && out.Tasks[0].TaskArn != nil {
		return *out.Tasks[0].TaskArn, nil
	}
	var why []string
	for _, f := range out.Failures {
		why = append(why, aws.ToString(f.Arn)+": "+aws.ToString(f.Reason)+" "+aws.ToString(f.Detail))
	}
	if len(why) == 0 {
		why = append(why, "ECS returned no task and no failure")
	}
	return "", errors.New(strings.Join(why, "; "))
}

func (e *ecsTasks) DescribeTask(ctx context.Context, cluster, taskARN, container string) (*resources.TaskState, error) {
	c, err := e.api()
	if err != nil {
		return nil, err
	}
	out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{taskARN}})
	if err != nil {
		return nil, err
	}
	if len(out.Tasks) != 1 {
		return nil, fmt.Errorf("ECS does not know task %s", taskARN)
	}
	t := out.Tasks[0]
	st := &resources.TaskState{
		LastStatus: aws.ToString(t.LastStatus), StopCode: string(t.StopCode), StoppedReason: aws.ToString(t.StoppedReason),
	}
	for _, ct := range t.Containers {
		if aws.ToString(ct.Name) == container {
			st.ContainerReason = aws.ToString(ct.Reason)
			if ct.ExitCode != nil {
				code := int(*ct.ExitCode)
				st.ExitCode = &code
			}
		}
	}
	return st, nil
}

func (e *ecsTasks) StopTask(ctx context.Context, cluster, taskARN, reason string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	_, err = c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(cluster), Task: aws.String(taskARN), Reason: aws.String(reason)})
	return err
}

var _ resources.Tasks = (*ecsTasks)(nil)
