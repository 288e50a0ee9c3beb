package stacks

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/prefect-ecs-cdk/prefect-ecs-cdk/stacks/prefectyaml"
)

// secretARN is the ARN of a secret imported by name.
func secretARN(name string) M { return accountARN("secretsmanager", ":secret:"+name) }

// networkOutput is a value the compute stack reads from the network stack's outputs.
func networkOutput(outputRe string) M { return stackOutput("PrefectNetwork", like(outputRe)) }

func TestNoSecretInAnyEnvironment(t *testing.T) {
	secretValue := regexp.MustCompile(`pnu_[A-Za-z0-9]{10,}|PREFECT_API_KEY"\s*,\s*"Value"`)
	for _, v := range []*env{defaults(t), public(t), selfHosted(t)} {
		for _, s := range v.stacks() {
			if secretValue.MatchString(jsonOf(s.json)) {
				t.Fatal("an API key or PREFECT_API_KEY environment value is in a template")
			}
		}
		// No container environment value is named like a secret.
		v.compute.count(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": arrayWith(objectLike(M{
			"Environment": arrayWith(objectLike(M{"Name": like("KEY|AUTH_STRING|SECRET")})),
		}))}, 0)
		for id, fn := range v.compute.find("AWS::Lambda::Function", nil) {
			for name := range fn["Properties"].(M)["Environment"].(M)["Variables"].(M) {
				if strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "_STRING") {
					t.Errorf("%s: %s holds a secret value; only secret ARNs may be passed", id, name)
				}
			}
		}
	}
}

func TestWorkerSecretWiring(t *testing.T) {
	cases := []struct {
		v    *env
		name string
		arn  any
	}{
		{defaults(t), "PREFECT_API_KEY", secretARN("prefect-api-key")},
		{selfHosted(t), "PREFECT_API_AUTH_STRING", selfHostedAuthARN},
	}
	for _, c := range cases {
		c.v.compute.count(t, "AWS::ECS::TaskDefinition", nil, 1)
		// Exactly one ECS secret, from the configured secret.
		c.v.compute.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
			"Secrets": A{exact(M{"Name": c.name, "ValueFrom": c.arn})},
		})}})
	}
}

func TestWorkerService(t *testing.T) {
	v := defaults(t)
	v.compute.count(t, "AWS::ECS::Service", nil, 1)
	v.compute.has(t, "AWS::ECS::Service", M{
		"DesiredCount":            1,
		"DeploymentConfiguration": M{"DeploymentCircuitBreaker": M{"Enable": true, "Rollback": true}},
		// Private mode: no public IP.
		"NetworkConfiguration": M{"AwsvpcConfiguration": M{"AssignPublicIp": "DISABLED"}},
	})
	v.compute.has(t, "AWS::ECS::TaskDefinition", M{"ContainerDefinitions": A{objectLike(M{
		"Command": A{"prefect", "worker", "start", "--pool", "ecs-fargate", "--type", "ecs", "--with-healthcheck", "--no-create-pool-if-not-found"},
		// The health check probes the worker's own /health.
		"HealthCheck": M{"Command": A{"CMD-SHELL", like(`127\.0\.0\.1:8080/health`)}},
	})}})
	public(t).compute.has(t, "AWS::ECS::Service", M{"NetworkConfiguration": M{"AwsvpcConfiguration": M{"AssignPublicIp": "ENABLED"}}})
	// The service waits for the pool: the worker does not create it.
	pool := v.compute.id(t, "Custom::PrefectWorkPool", nil)
	v.compute.hasResource(t, "AWS::ECS::Service", M{"DependsOn": arrayWith(pool)})
	selfHosted(t).compute.has(t, "AWS::ECS::TaskDefinition", M{"RuntimePlatform": M{"CpuArchitecture": "ARM64"}})
}

// TestWorkerRunsReadOnly: the worker runs as the images' non-root user on a read-only root
// filesystem; /tmp and PREFECT_HOME are task-local scratch volumes (no host path, no EFS).
func TestWorkerRunsReadOnly(t *testing.T) {
	defaults(t).compute.has(t, "AWS::ECS::TaskDefinition", M{
		"ContainerDefinitions": A{objectLike(M{
			"ReadonlyRootFilesystem": true,
			"User":                   fmt.Sprintf("%d:%d", ContainerUID, ContainerUID),
			"Environment":            arrayWith(M{"Name": "PREFECT_HOME", "Value": WorkerPrefectHome}),
			"MountPoints": exact(A{
				M{"ContainerPath": "/tmp", "ReadOnly": false, "SourceVolume": "tmp"},
				M{"ContainerPath": WorkerPrefectHome, "ReadOnly": false, "SourceVolume": "prefect-home"},
			}),
		})},
		// A volume with nothing but a name is task-local scratch storage.
		"Volumes": exact(A{M{"Name": "tmp"}, M{"Name": "prefect-home"}}),
	})
}

// TestDockerfilesMatchContainerUser: both images create the user the task definition runs
// as, and the worker image declares its writable paths as VOLUMEs owned by that user (ECS
// then mounts the scratch volumes with that owner instead of root).
func TestDockerfilesMatchContainerUser(t *testing.T) {
	id := fmt.Sprint(ContainerUID)
	common := []string{
		"groupadd --gid " + id + " prefect",
		"useradd --uid " + id + " --gid " + id + " --home-dir " + ContainerHome + " --create-home",
		"ENV HOME=" + ContainerHome,
	}
	for file, extra := range map[string][]string{
		"Dockerfile": {"install -d -o " + id + " -g " + id + " " + FlowWorkdir, "COPY --chown=" + id + ":" + id + " flows/ ./"},
		"Dockerfile.worker": {"install -d -o " + id + " -g " + id + " -m 0700 " + WorkerPrefectHome,
			"PREFECT_HOME=" + WorkerPrefectHome, `VOLUME ["/tmp", "` + WorkerPrefectHome + `"]`},
	} {
		b, err := os.ReadFile(filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range append(common, extra...) {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", file, want)
			}
		}
		users := regexp.MustCompile(`(?m)^USER (.+)$`).FindAllStringSubmatch(text, -1)
		if len(users) == 0 || users[len(users)-1][1] != id+":"+id {
			t.Errorf("%s: final USER %v, want %s:%s", file, users, id, id)
		}
	}
}

// TestWorkerIAM pins the worker task role's whole policy: the calls prefect-aws's ECS worker
// and observer make, each scoped to this pool, cluster, queue and the flow-run roles, and
// nothing else (no DeregisterTaskDefinition, no tagging of task definitions, no
// sqs:GetQueueAttributes).
func TestWorkerIAM(t *testing.T) {
	v := defaults(t)
	c := v.e.Compute
	cluster := logicalID(c.Cluster)
	onCluster := M{"ArnEquals": M{"ecs:cluster": getAtt(cluster, "Arn")}}
	tasks := accountARN("ecs", ":task/", ref(cluster), "/*")
	const family = ":task-definition/prefect_ecs-fargate_????????-????-????-????-????????????:*"
	statement := func(sid string, action, resource any, condition M) M {
		s := M{"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}
		if condition != nil {
			s["Condition"] = condition
		}
		return s
	}
	v.compute.has(t, "AWS::IAM::Policy", M{
		"Roles": A{ref(logicalID(c.WorkerTaskRole))},
		"PolicyDocument": M{"Statement": exact(A{
			statement("TaskDefinitions", A{"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}, "*", nil),
			statement("RunOnThisCluster", "ecs:RunTask", accountARN("ecs", family), onCluster),
			statement("ManageTasksOnThisCluster", A{"ecs:DescribeTasks", "ecs:StopTask"}, tasks, onCluster),
			statement("TagTasksOnRunTask", "ecs:TagResource", tasks, M{"StringEquals": M{"ecs:CreateAction": "RunTask"}}),
			statement("DescribeNetwork", A{"ec2:DescribeSubnets", "ec2:DescribeVpcs"}, "*", nil),
			statement("ReadFlowRunLogs", "logs:GetLogEvents", join(getAtt(logicalID(c.FlowRunLogGroup), "Arn"), ":*"), nil),
			statement("PassFlowRunRoles", "iam:PassRole",
				A{getAtt(logicalID(c.FlowRunExecutionRole), "Arn"), getAtt(logicalID(c.FlowRunTaskRole), "Arn")},
				M{"StringEquals": M{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}),
			statement("ConsumeObserverQueue", A{"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"},
				getAtt(logicalID(c.ObserverQueue), "Arn"), nil),
		})},
	})
	// RunTask covers every revision of this pool's per-deployment families, and no family of
	// a pool whose name merely starts with this one's.
	pattern := iamGlob(family)
	const id = "0b9e6f3a-2c4d-4e5f-8a7b-1c2d3e4f5a6b"
	for arn, match := range map[string]bool{
		":task-definition/prefect_ecs-fargate_" + id + ":1":      true,
		":task-definition/prefect_ecs-fargate_" + id + ":42":     true,
		":task-definition/prefect_ecs-fargate_x_" + id + ":1":    false,
		":task-definition/prefect_ecs-fargate_" + id + "x:1":     false,
		":task-definition/prefect_ecs-fargate-2_" + id + ":1":    false,
		":task-definition/prefect_ecs-fargate_" + id[:35] + ":1": false,
	} {
		if pattern.MatchString(arn) != match {
			t.Errorf("RunTask scope %s matches %s: %v, want %v", family, arn, !match, match)
		}
	}
	// The flow task role starts with no permissions.
	v.compute.count(t, "AWS::IAM::Policy", M{"Roles": arrayWith(ref(logicalID(c.FlowRunTaskRole)))}, 0)
}

// iamGlob compiles the tail of an IAM resource pattern: * is any run of characters, ? one.
func iamGlob(p string) *regexp.Regexp {
	q := regexp.QuoteMeta(p)
	q = strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(q)
	return regexp.MustCompile(q + "$")
}

// TestSecretReadGrants: every role that reads the Prefect secret gets exactly
// secretsmanager:GetSecretValue on it (ECS's default grant adds DescribeSecret, which
// nothing calls) and, with a customer-managed key, kms:Decrypt on that key only through
// Secrets Manager in the key's region.
func TestSecretReadGrants(t *testing.T) {
	for _, c := range []struct {
		v      *env
		secret any
		kms    bool
	}{
		{defaults(t), secretARN("prefect-api-key-??????"), false},
		{selfHosted(t), selfHostedAuthARN, true},
	} {
		compute := c.v.e.Compute
		readers := map[string]string{
			logicalID(compute.FlowRunExecutionRole):                           "FlowRunExecutionRole",
			logicalID(compute.WorkerService.TaskDefinition().ExecutionRole()): "WorkerTaskExecutionRole",
			logicalID(compute.Provider.Function().Role()):                     "PrefectResourcesRole",
		}
		for role, name := range readers {
			policy := c.v.compute.properties(t, "AWS::IAM::Policy", M{"Roles": A{ref(role)}})
			read, decrypt := statementsAbout(policy, "secretsmanager"), statementsAbout(policy, "kms")
			if len(read) != 1 {
				t.Errorf("%s: %d secret grants %s, want one", name, len(read), jsonOf(read))
			} else {
				matches(t, name+"'s secret grant", exact(M{"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": c.secret}), read[0])
			}
			switch {
			case !c.kms && len(decrypt) != 0:
				t.Errorf("%s: KMS grant %s without a customer-managed key", name, jsonOf(decrypt))
			case c.kms && len(decrypt) != 1:
				t.Errorf("%s: %d KMS grants %s, want one", name, len(decrypt), jsonOf(decrypt))
			case c.kms:
				matches(t, name+"'s KMS grant", exact(M{
					"Action": "kms:Decrypt", "Effect": "Allow", "Resource": selfHostedKeyARN,
					"Condition": M{"StringEquals": M{"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}},
				}), decrypt[0])
			}
		}
		// Nothing else may use the key.
		for id, p := range c.v.compute.find("AWS::IAM::Policy", nil) {
			props := p["Properties"].(M)
			if len(statementsAbout(props, "kms")) == 0 {
				continue
			}
			for _, r := range props["Roles"].(A) {
				if _, ok := readers[r.(M)["Ref"].(string)]; !ok {
					t.Errorf("%s lets %v use the secret's key", id, r)
				}
			}
		}
	}
}

func TestSecurityGroupsHaveNoIngress(t *testing.T) {
	for _, v := range []*env{defaults(t), public(t), selfHosted(t)} {
		endpoints := len(v.network.find("AWS::EC2::VPCEndpoint", M{"VpcEndpointType": "Interface"}))
		withIngress := v.network.find("AWS::EC2::SecurityGroup", M{"SecurityGroupIngress": anyValue()})
		// Only interface endpoints accept traffic: HTTPS from inside the VPC, nothing else.
		for id := range withIngress {
			if !strings.HasPrefix(id, "Vpc") {
				t.Errorf("%s has ingress", id)
			}
		}
		if len(withIngress) != endpoints {
			t.Errorf("%d security groups with ingress for %d interface endpoints", len(withIngress), endpoints)
		}
		v.network.count(t, "AWS::EC2::SecurityGroup", M{"SecurityGroupIngress": A{objectLike(M{
			"FromPort": 443, "ToPort": 443, "CidrIp": getAtt(logicalID(v.e.Network.Vpc), "CidrBlock"),
		})}}, endpoints)
		v.network.count(t, "AWS::EC2::SecurityGroupIngress", nil, 0)
	}
	// Self-hosted on port 4200: the worker may reach that port and HTTPS, nothing else.
	v := selfHosted(t)
	v.network.resource(t, logicalID(v.e.Network.WorkerSecurityGroup), M{"SecurityGroupEgress": A{
		objectLike(M{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}),
		objectLike(M{"IpProtocol": "tcp", "FromPort": 4200, "ToPort": 4200}),
	}})
}

func TestNetworkModes(t *testing.T) {
	cases := []struct {
		v         *env
		nat, ifes int
		private   bool
	}{
		{defaults(t), 1, 0, true},
		{public(t), 0, 5, false},
		{selfHosted(t), 2, 0, true},
	}
	for _, c := range cases {
		subnets := c.v.cfg.MaxAzs
		if c.private {
			subnets *= 2
		}
		c.v.network.count(t, "AWS::EC2::NatGateway", nil, c.nat)
		c.v.network.count(t, "AWS::EC2::VPCEndpoint", M{"VpcEndpointType": "Interface"}, c.ifes)
		c.v.network.count(t, "AWS::EC2::VPCEndpoint", nil, c.ifes+1) // and the S3 gateway
		c.v.network.count(t, "AWS::EC2::Subnet", nil, subnets)
		c.v.network.count(t, "AWS::EC2::FlowLog", nil, 1)
	}
}

// poolTemplate is the work pool's BaseJobTemplate, decoded with its intrinsics in place.
func poolTemplate(t *testing.T, v *env) any {
	t.Helper()
	return joinedJSON(t, v.compute.properties(t, "Custom::PrefectWorkPool", nil)["BaseJobTemplate"])
}

// poolDefaults matches a pool template whose variables have these defaults.
func poolDefaultsLike(defaults M) matcher {
	props := M{}
	for name, d := range defaults {
		props[name] = M{"default": d}
	}
	return objectLike(M{"variables": M{"properties": props}})
}

func TestWorkPoolTemplate(t *testing.T) {
	v := defaults(t)
	c := v.e.Compute
	v.compute.count(t, "Custom::PrefectWorkPool", nil, 1)
	v.compute.has(t, "Custom::PrefectWorkPool", M{"Name": "ecs-fargate", "Type": "ecs", "ServiceTimeout": "300"})
	matches(t, "default pool template", poolDefaultsLike(M{
		"cluster":                         getAtt(logicalID(c.Cluster), "Arn"),
		"vpc_id":                          networkOutput(`^PublishOutputRefVpc`),
		"execution_role_arn":              getAtt(logicalID(c.FlowRunExecutionRole), "Arn"),
		"task_role_arn":                   getAtt(logicalID(c.FlowRunTaskRole), "Arn"),
		"prefect_api_key_secret_arn":      secretARN("prefect-api-key"),
		"image":                           M{"Fn::Sub": like(`/cdk-hnb659fds-container-assets-`)},
		"cpu":                             1024,
		"memory":                          2048,
		"configure_cloudwatch_logs":       true,
		"match_latest_revision_in_family": true,
		"launch_type":                     "FARGATE",
		"network_configuration": exact(M{
			"subnets":        A{networkOutput(`^PublishOutputRefVpcprivateSubnet1`), networkOutput(`^PublishOutputRefVpcprivateSubnet2`)},
			"assignPublicIp": "DISABLED",
			"securityGroups": A{networkOutput(`^PublishOutputFnGetAttFlowRunSecurityGroup`)},
		}),
		"cloudwatch_logs_options": exact(M{
			"awslogs-create-group": "false",
			"awslogs-group":        ref(logicalID(c.FlowRunLogGroup)),
			"awslogs-region":       ref("AWS::Region"),
		}),
	}), poolTemplate(t, v))
	matches(t, "public+spot pool template", poolDefaultsLike(M{
		"launch_type":           "FARGATE_SPOT",
		"network_configuration": M{"assignPublicIp": "ENABLED"},
	}), poolTemplate(t, public(t)))
	matches(t, "self-hosted pool template", poolDefaultsLike(M{
		"prefect_api_key_secret_arn":         absent(),
		"prefect_api_auth_string_secret_arn": selfHostedAuthARN,
	}), poolTemplate(t, selfHosted(t)))
	// Flow runs run the arm64 flow image on arm64 (self-hosted is the arm64 variant), and an
	// x86_64 stack leaves the platform to ECS's default.
	taskDef := func(v *env) any {
		return poolTemplate(t, v).(map[string]any)["job_configuration"].(map[string]any)["task_definition"]
	}
	matches(t, "arm64 task definition", objectLike(M{
		"runtimePlatform": exact(M{"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}),
	}), taskDef(selfHosted(t)))
	matches(t, "x86_64 task definition", objectLike(M{"runtimePlatform": absent()}), taskDef(v))
}

func TestDeploymentsFromPrefectYaml(t *testing.T) {
	v := defaults(t)
	v.compute.count(t, "Custom::PrefectDeployment", nil, 2) // the example's prefect.yaml
	pool := v.compute.id(t, "Custom::PrefectWorkPool", nil)
	v.compute.all(t, "Custom::PrefectDeployment", M{
		// The pool resource's name: created after the pool, deleted before it.
		"WorkPoolName": getAtt(pool, "Name"),
		"PullSteps": serializedJSON(A{
			M{"prefect.deployments.steps.set_working_directory": M{"directory": "/opt/prefect/flows"}},
		}),
	})
	for id, d := range v.compute.find("Custom::PrefectDeployment", nil) {
		matches(t, id+" job variables", objectLike(M{"image": M{"Fn::Sub": like(`/cdk-hnb659fds-container-assets-`)}}),
			joinedJSON(t, d["Properties"].(M)["JobVariables"]))
	}
}

func TestObserverAndOutputs(t *testing.T) {
	v := defaults(t)
	v.compute.count(t, "AWS::Events::Rule", nil, 1)
	v.compute.has(t, "AWS::Events::Rule", M{"EventPattern": M{
		"detail-type": A{"ECS Task State Change"},
		"detail":      M{"clusterArn": A{getAtt(logicalID(v.e.Compute.Cluster), "Arn")}},
	}})
	v.compute.count(t, "AWS::SQS::Queue", nil, 1)
	v.compute.has(t, "AWS::SQS::Queue", M{"SqsManagedSseEnabled": true})
	for _, name := range []string{"ClusterArn", "VpcId", "FlowRunSubnetIds", "FlowRunSecurityGroupId", "FlowRunExecutionRoleArn", "FlowRunTaskRoleArn", "FlowImageUri", "FlowRunLogGroupName", "WorkPoolName"} {
		check(t, "output "+name, func() { v.compute.HasOutput(jsii.String(name), M{"Value": anyValue()}) })
	}
	v.compute.all(t, "AWS::Logs::LogGroup", M{"RetentionInDays": 30})
}

func TestCustomResourceFunction(t *testing.T) {
	v := defaults(t)
	v.compute.count(t, "AWS::Lambda::Function", nil, 1)
	v.compute.has(t, "AWS::Lambda::Function", M{
		"Runtime": "provided.al2023", "Architectures": A{"arm64"}, "Handler": "bootstrap",
		"Environment": M{"Variables": M{
			"PREFECT_API_URL":            like(`^https://api\.prefect\.cloud/api/accounts/`),
			"PREFECT_API_KEY_SECRET_ARN": anyValue(),
		}},
		// Prefect Cloud: the function needs no VPC.
		"VpcConfig": absent(),
	})
	if s, _ := v.compute.properties(t, "AWS::Lambda::Function", nil)["Timeout"].(float64); s == 0 || s >= 300 {
		t.Errorf("function timeout %v must be below the custom resources' ServiceTimeout", s)
	}
	// Self-hosted in private mode: the function runs in the VPC with the worker's security group.
	selfHosted(t).compute.has(t, "AWS::Lambda::Function", M{"VpcConfig": M{
		"SecurityGroupIds": A{networkOutput(`^PublishOutputFnGetAttWorkerSecurityGroup`)},
	}})
	// The function's role reads one secret and writes its own logs: nothing else.
	v.compute.has(t, "AWS::IAM::Policy", M{
		"Roles": A{ref(logicalID(v.e.Compute.Provider.Function().Role()))},
		"PolicyDocument": M{"Statement": A{
			objectLike(M{"Action": A{"logs:CreateLogStream", "logs:PutLogEvents"}}),
			objectLike(M{"Action": "secretsmanager:GetSecretValue"}),
		}},
	})
}

// TestCustomResourceFunctionInVpc: self-hosted in private mode, the function runs in the VPC,
// so its own role must let Lambda create, describe and delete the function's network
// interfaces (CDK adds AWSLambdaVPCAccessExecutionRole only to roles it creates), and the
// function must wait for that policy.
func TestCustomResourceFunctionInVpc(t *testing.T) {
	v := selfHosted(t)
	role := logicalID(v.e.Compute.Provider.Function().Role())
	interfaces := accountARN("ec2", ":network-interface/*")
	// New interfaces only in the two task subnets and with the worker's security group.
	subnet := func(n string) M {
		return join("arn:", ref("AWS::Partition"), ":ec2:", ref("AWS::Region"), ":*:subnet/", networkOutput(`^PublishOutputRefVpcprivateSubnet`+n))
	}
	v.compute.has(t, "AWS::IAM::Policy", M{
		"Roles": A{ref(role)},
		"PolicyDocument": M{"Statement": arrayWith(
			exact(M{"Sid": "DescribeNetworkInterfaces", "Effect": "Allow",
				"Action": A{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}, "Resource": "*"}),
			objectLike(M{"Sid": "CreateNetworkInterfaces", "Action": "ec2:CreateNetworkInterface", "Resource": A{
				interfaces,
				accountARN("ec2", ":security-group/", networkOutput(`^PublishOutputFnGetAttWorkerSecurityGroup`)),
				subnet("1"), subnet("2"),
			}}),
			objectLike(M{"Sid": "ManageNetworkInterfaces",
				"Action":   A{"ec2:AssignPrivateIpAddresses", "ec2:DeleteNetworkInterface", "ec2:UnassignPrivateIpAddresses"},
				"Resource": interfaces}),
		)},
	})
	// The function is created only after its network-interface grants.
	policy := v.compute.id(t, "AWS::IAM::Policy", M{"Roles": A{ref(role)}})
	v.compute.hasResource(t, "AWS::Lambda::Function", M{"DependsOn": arrayWith(policy)})
	// The grants are inline: no managed policies.
	v.compute.resource(t, role, M{"ManagedPolicyArns": absent()})
}

func TestRegistryImageParameters(t *testing.T) {
	v := defaults(t)
	v.registry.count(t, "AWS::SSM::Parameter", nil, 2)
	v.registry.all(t, "AWS::SSM::Parameter", M{"Value": M{"Fn::Sub": like(`/cdk-hnb659fds-container-assets-`)}})
}

// TestEnvironmentsInStages builds two environments as cdk.Stages of one app, as a CDK
// Pipelines stack will: names derived from the stage must not collide.
func TestEnvironmentsInStages(t *testing.T) {
	root := exampleRoot
	flows, err := prefectyaml.Load(filepath.Join(root, "flows", "prefect.yaml"), filepath.Join(root, "flows"), "ecs-fargate")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: appContext(t)})
	params := map[string]string{}
	for _, name := range []string{"Dev", "Prod"} {
		stage := awscdk.NewStage(app, jsii.String(name), nil)
		cfg := DefaultConfig()
		cfg.ProjectRoot = root
		e, err := NewEnvironment(stage, cfg, flows)
		if err != nil {
			t.Fatal(err)
		}
		p := *e.Registry.FlowImageParameter.ParameterName()
		if other, dup := params[p]; dup {
			t.Errorf("stages %s and %s share the parameter %s", other, name, p)
		}
		params[p] = name
	}
	asm := app.Synth(nil)
	if n := len(*asm.Stacks()); n != 0 {
		t.Errorf("stacks must live in the stages, %d at the top level", n)
	}
	for _, name := range []string{"Dev", "Prod"} {
		if stacks := *asm.GetNestedAssembly(jsii.String("assembly-" + name)).Stacks(); len(stacks) != 3 {
			t.Errorf("stage %s has %d stacks, want 3", name, len(stacks))
		}
	}
}

// importedVpc is the variant with vpcId set to vpcID, with what `cdk synth` caches in
// cdk.context.json after looking that VPC up: two public subnets (ids public…1 and public…2)
// and two private ones (private…1, private…2), each id 17 hex digits.
func importedVpc(t testing.TB, name, vpcID, public, private string) *env {
	subnet := func(id, cidr, az, rt string) map[string]interface{} {
		return map[string]interface{}{"subnetId": "subnet-" + id, "cidr": cidr, "availabilityZone": az, "routeTableId": "rtb-" + rt}
	}
	lookup := map[string]interface{}{
		"vpc-provider:account=123456789012:filter.vpc-id=" + vpcID + ":region=eu-west-1:returnAsymmetricSubnets=true": map[string]interface{}{
			"vpcId": vpcID, "vpcCidrBlock": "10.20.0.0/16", "ownerAccountId": "123456789012",
			"availabilityZones": []interface{}{},
			"subnetGroups": []interface{}{
				map[string]interface{}{"name": "Public", "type": "Public", "subnets": []interface{}{
					subnet(public+"1", "10.20.0.0/24", "eu-west-1a", public+"1"),
					subnet(public+"2", "10.20.1.0/24", "eu-west-1b", public+"1")}},
				map[string]interface{}{"name": "Private", "type": "Private", "subnets": []interface{}{
					subnet(private+"1", "10.20.16.0/20", "eu-west-1a", private+"1"),
					subnet(private+"2", "10.20.32.0/20", "eu-west-1b", private+"2")}},
			},
		},
	}
	return synthWith(t, name, func(c *Config) {
		c.VpcID = vpcID
		c.Account, c.Region = "123456789012", "eu-west-1"
	}, lookup)
}

// TestImportedVpc: with vpcId the stack creates no VPC, subnets or NAT and places everything
// in the looked-up VPC (CDK's dummy lookup result offline; the CLI fills it from the account).
func TestImportedVpc(t *testing.T) {
	v := importedVpc(t, "imported", "vpc-0123456789abcdef0", "0aaaaaaaaaaaaaaa", "0bbbbbbbbbbbbbbb")
	for _, typ := range []string{"AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::NatGateway", "AWS::EC2::FlowLog"} {
		v.network.count(t, typ, nil, 0)
	}
	v.network.all(t, "AWS::EC2::SecurityGroup", M{"VpcId": "vpc-0123456789abcdef0"})
	// The pool uses the imported VPC's private subnets.
	matches(t, "imported VPC pool template", poolDefaultsLike(M{
		"network_configuration": M{"subnets": A{"subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2"}},
	}), poolTemplate(t, v))
}

// TestDeploymentIDTwinsAreDistinct: two prefect.yaml entries whose names map to one
// construct id both synthesize: the first keeps the id, the second gets its hash suffix.
func TestDeploymentIDTwinsAreDistinct(t *testing.T) {
	root := exampleRoot
	flows := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root, "flows", "hello.py"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := "deployments:\n" +
		"  - {name: x-y, entrypoint: hello.py:ecs_flow}\n" +
		"  - {name: x y, entrypoint: hello.py:ecs_flow}\n"
	for name, text := range map[string][]byte{"hello.py": src, "prefect.yaml": []byte(yaml)} {
		if err := os.WriteFile(filepath.Join(flows, name), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := loadEnvironment(t, root, filepath.Join(flows, "prefect.yaml"), flows)
	var ids []string
	for _, d := range env.Compute.Deployments {
		ids = append(ids, *d.Node().Id())
	}
	if want := "DeploymentEcsFlowXY DeploymentEcsFlowXY" + deploymentHash("ecs-flow/x y"); strings.Join(ids, " ") != want {
		t.Errorf("got ids %v, want %s", ids, want)
	}
}
