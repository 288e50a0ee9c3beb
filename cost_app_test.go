package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks"
)

// TestCostSettingsThroughTheEntryPoint: the cost settings as the CDK CLI passes them (`-c`,
// strings) through NewApp and Synth: a mistake is one line naming the key, the value and what
// is allowed; the lean private mode synthesizes (cdk-nag and the CDK validator included) with
// a NAT instance, the worker on Spot, and neither Container Insights nor flow logs.
func TestCostSettingsThroughTheEntryPoint(t *testing.T) {
	for _, r := range []entryRow{
		{name: "instance in public mode", ctx: map[string]any{"natProvider": "instance", "networkMode": "public"},
			want: "config: natProvider=instance has no effect with networkMode=public (no NAT): remove it, or set networkMode=private"},
		{name: "x86 NAT instance", ctx: map[string]any{"natProvider": "instance", "natInstanceType": "t3.nano"},
			want: "config: natInstanceType=t3.nano is not valid: want a Graviton (arm64) EC2 instance type such as t4g.nano, t4g.micro or c7g.medium"},
		{name: "worker Spot on arm64", ctx: map[string]any{"workerFargateSpot": "true", "cpuArchitecture": "arm64"},
			want: "config: workerFargateSpot=true needs cpuArchitecture=x86_64 (Fargate Spot does not run arm64 tasks)"},
		{name: "flow logs not a boolean", ctx: map[string]any{"flowLogs": "off"},
			want: "config: flowLogs=off is not valid: want true or false"},
		{name: "lean private mode", ctx: map[string]any{"natProvider": "instance", "natInstanceType": "t4g.micro", "workerFargateSpot": "true",
			"containerInsights": "false", "flowLogs": "false"},
			check: func(t *testing.T, env *stacks.Environment, msgs []string) {
				if len(env.Network.NatInstances) != 1 || *env.Network.NatInstances[0].Node().DefaultChild().(awsec2.CfnInstance).InstanceType() != "t4g.micro" {
					t.Errorf("NAT instances: %v", env.Network.NatInstances)
				}
				for _, m := range msgs {
					if strings.HasPrefix(m, "error") || strings.Contains(m, "AwsSolutions-") {
						t.Errorf("synthesis message: %s", m)
					}
				}
			}},
	} {
		t.Run(r.name, func(t *testing.T) {
			env, msgs, err := runEntry(t, r)
			switch {
			case r.want != "":
				if err == nil || err.Error() != r.want {
					t.Errorf("got %v, want %s", err, r.want)
				}
			case err != nil:
				t.Fatal(err)
			default:
				r.check(t, env, msgs)
			}
		})
	}
}
