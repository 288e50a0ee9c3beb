"""The AWS side of the live worker test, against moto, with the test's own credentials.

Reads one JSON request on stdin and writes one JSON answer on stdout:
  {"op": "setup", ...}  creates the resources a synthesized ComputeStack refers to
  {"op": "tasks", "cluster": C}  lists the cluster's tasks with their tags
  {"op": "send", "queue": Q, "body": B}  puts one message on a queue
"""
import json
import sys

import boto3

ECS_TASKS_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def setup(req):
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # The stack's VPC has DNS hostnames on (CDK's default). moto 5.2.5 needs it too: it builds
    # a Fargate task's network interface with a private DNS name that exists only then, and
    # RunTask fails with an AttributeError otherwise.
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.%d.0/24" % i)["Subnet"]["SubnetId"]
        for i in range(req["subnets"])
    ]
    groups = [
        ec2.create_security_group(GroupName="%s-%d" % (req["cluster"], i), Description="live worker test", VpcId=vpc)["GroupId"]
        for i in range(req["security_groups"])
    ]
    ecs = boto3.client("ecs")
    cluster = ecs.create_cluster(clusterName=req["cluster"], capacityProviders=["FARGATE", "FARGATE_SPOT"])["cluster"]["clusterArn"]
    iam = boto3.client("iam")
    roles = {name: iam.create_role(RoleName=name, AssumeRolePolicyDocument=ECS_TASKS_TRUST)["Role"]["Arn"] for name in req["roles"]}
    queue = boto3.client("sqs").create_queue(QueueName=req["queue"])["QueueUrl"]
    logs = boto3.client("logs")
    for name in req["log_groups"]:
        logs.create_log_group(logGroupName=name)
    return {"vpc": vpc, "subnets": subnets, "security_groups": groups, "cluster": cluster, "roles": roles, "queue": queue}


def tasks(req):
    ecs = boto3.client("ecs")
    arns = ecs.list_tasks(cluster=req["cluster"])["taskArns"]
    if not arns:
        return []
    described = ecs.describe_tasks(cluster=req["cluster"], tasks=arns, include=["TAGS"])["tasks"]
    return [
        {
            "taskArn": t["taskArn"],
            "clusterArn": t["clusterArn"],
            "taskDefinitionArn": t["taskDefinitionArn"],
            "tags": {tag["key"]: tag["value"] for tag in t.get("tags", [])},
        }
        for t in described
    ]


def send(req):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=req["queue"])["QueueUrl"]
    return {"MessageId": sqs.send_message(QueueUrl=url, MessageBody=req["body"])["MessageId"]}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump({"setup": setup, "tasks": tasks, "send": send}[request["op"]](request), sys.stdout)
