"""Regenerates the `cdk diff` outputs in this folder with the pinned CDK CLI.

Each *.diff file is what `cdk diff --method=template --fail-on=never --no-color STACK...`
(the pull-request workflow's command) printed, stdout and stderr together as the workflow's
`2>&1 | tee` captures them, against a local AWS stand-in (moto server) holding the "deployed"
templates. Nothing here is written by hand: the texts are the CLI's own.

    .venv/bin/python .ci/cdkci/testdata/generate.py     (from the repository root; about 3 minutes)

What is deployed (A) and what the pull request synthesizes (B), per environment:
  dev      A: prefectServer=ha.  B: single. The Redis replication group, its secrets and security
           group are destroyed, task definitions replaced, IAM and security-group tables change.
           The deployed Network template's BootstrapVersion parameter named another qualifier
           (a Parameters-only change there).
  prod     A: prefectServer=single, as B, but the database and a log group were deployed under
           other logical IDs (a refactor renamed them), the log group with DeletionPolicy Retain:
           the database is destroyed, the log group orphaned. logRetentionDays 30 -> 60. The
           Registry's flow image changed: its template differs only in Outputs.
  same     dev after B was deployed: "There were no differences" in every stack.
  staging  never deployed: every resource is an addition (a large diff).
  qa       not in cdk.json: "No stack found" (the CLI exits 1).
  denied   the credentials may not call cloudformation:GetTemplate (moto enforcing IAM).
  synth-error  an invalid cdk.json setting: the app exits 1 during synth.
"""

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
ACCOUNT = "123456789012"  # moto's default account
PARTS = ("Network", "Registry", "Server", "Compute")
BOOTSTRAP_VERSION = "/cdk-bootstrap/hnb659fds/version"
CDK = os.path.join(ROOT, "node_modules", ".bin", "cdk")
REGIONS = {"dev": "us-east-1", "prod": "eu-west-1", "staging": "eu-west-1"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT, DENIED_PORT = free_port(), free_port()


def environments(server):
    return json.dumps({name: {"account": ACCOUNT, "region": region, "order": i + 1, "prefectServer": server.get(name, "single")}
                       for i, (name, region) in enumerate(REGIONS.items())})


def open_moto():
    """A moto server in this process (deploy reaches into its backend)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(port=PORT, verbose=False)
    server.start()
    return server


def enforcing_moto():
    """A moto server of its own that checks IAM from the 4th request on: the first three create
    a user who may do anything but read templates and assume roles (like a diff role without
    cloudformation:GetTemplate, and the bootstrap roles not trusting it). A denied AssumeRole
    makes the CLI fall back to these credentials, as it does on AWS."""
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    proc = subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "moto_server"), "-p", str(DENIED_PORT)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://localhost:{DENIED_PORT}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    iam = client("iam", DENIED_PORT, "us-east-1")
    iam.create_user(UserName="diff")
    iam.put_user_policy(UserName="diff", PolicyName="no-templates", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "NotAction": ["cloudformation:GetTemplate", "sts:AssumeRole"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="diff")["AccessKey"]
    return proc, key["AccessKeyId"], key["SecretAccessKey"]


def client(service, port, region, key="testing", secret="testing"):
    return boto3.client(service, endpoint_url=f"http://localhost:{port}", region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret)


def aws_env(port, key="testing", secret="testing", region="us-east-1"):
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://localhost:{port}", AWS_ACCESS_KEY_ID=key,
               AWS_SECRET_ACCESS_KEY=secret, AWS_REGION=region, CDK_DISABLE_CLI_TELEMETRY="true",
               CDK_DISABLE_VERSION_CHECK="true", CI="true", GITHUB_ACTIONS="true",
               PATH=os.path.join(ROOT, "node_modules", ".bin") + os.pathsep + os.environ["PATH"])
    env.pop("FORCE_COLOR", None)
    return env


def synth(repo, out, env, *context):
    args = [CDK, "synth", "--quiet", "-o", out]
    for c in context:
        args += ["-c", c]
    subprocess.run(args, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def diff(repo, app, names, env, name, *context):
    """Runs the workflow's diff command and writes NAME.diff; returns the exit status."""
    args = [CDK, "diff", "--method=template", "--fail-on=never", "--no-color"]
    if app:
        args += ["--app", app]
    for c in context:
        args += ["-c", c]
    res = subprocess.run(args + names, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with open(os.path.join(HERE, name + ".diff"), "wb") as f:
        f.write(res.stdout)
    print(f"{name}.diff: exit {res.returncode}, {len(res.stdout)} bytes")
    return res.returncode


def deploy(region, name, template):
    """Stores template as the deployed template of stack name. moto cannot create our resources,
    so the stack is created from a stub and its template replaced in moto's backend (this process
    runs the server, so it holds the backend)."""
    client("cloudformation", PORT, region).create_stack(
        StackName=name, TemplateBody=json.dumps({"Resources": {"Stub": {"Type": "AWS::SNS::Topic"}}}))
    redeploy(region, name, template)


def main():
    if not os.path.exists(CDK):
        raise SystemExit("run `make deps` first (node_modules/.bin/cdk)")
    work = tempfile.mkdtemp(prefix="cdkci-testdata-")
    repo = os.path.join(work, "repo")
    shutil.copytree(ROOT, repo, symlinks=True, ignore=shutil.ignore_patterns(".git", "cdk.out", "cdk.context.json"))
    server = open_moto()
    denied, key, secret = enforcing_moto()
    try:
        for region in set(REGIONS.values()):
            client("ssm", PORT, region).put_parameter(Name=BOOTSTRAP_VERSION, Value="30", Type="String")
        client("ssm", DENIED_PORT, "us-east-1", key, secret).put_parameter(Name=BOOTSTRAP_VERSION, Value="30", Type="String")
        env = aws_env(PORT)
        base = ["prefectAccountId=", "prefectWorkspaceId=", "prefectServer=single"]
        a, b = os.path.join(work, "a"), os.path.join(work, "b")
        synth(repo, a, env, *base, "logRetentionDays=30", "environments=" + environments({"dev": "ha"}))
        synth(repo, b, env, *base, "logRetentionDays=60", "environments=" + environments({}))
        deployed = {}
        for name in ("dev", "prod"):
            for part in PARTS:
                stack = f"Prefect-{name}-{part}"
                with open(os.path.join(a, stack + ".template.json")) as f:
                    deployed[stack] = json.load(f)
        edit_history(deployed)
        for stack, template in deployed.items():
            deploy(REGIONS[stack.split("-")[1]], stack, template)
        for name, region in REGIONS.items():
            diff(repo, b, stacks(name), aws_env(PORT, region=region), name)
        for stack in stacks("dev"):
            with open(os.path.join(b, stack + ".template.json")) as f:
                redeploy(REGIONS["dev"], stack, json.load(f))
        diff(repo, b, stacks("dev"), aws_env(PORT, region=REGIONS["dev"]), "same")
        diff(repo, b, stacks("qa"), env, "qa")
        client("cloudformation", DENIED_PORT, "us-east-1", key, secret).create_stack(
            StackName="Prefect-dev-Network", TemplateBody=json.dumps({"Resources": {"Stub": {"Type": "AWS::SNS::Topic"}}}))
        diff(repo, b, stacks("dev"), aws_env(DENIED_PORT, key, secret), "denied")
        diff(repo, None, stacks("dev"), env, "synth-error", "workerCpu=3")
    finally:
        server.stop()
        denied.terminate()
    shutil.rmtree(work)


def redeploy(region, name, template):
    """Replaces the deployed template of stack name, as a deploy of it would."""
    from moto.cloudformation.models import cloudformation_backends

    stack = cloudformation_backends[ACCOUNT][region].get_stack(name)
    stack.template = json.dumps(template)
    stack.template_dict = template


def stacks(name):
    return [f"Prefect-{name}-{p}" for p in PARTS]


def edit_history(deployed):
    """What differs in the deployed templates besides the configuration (see the module doc)."""
    net = deployed["Prefect-dev-Network"]
    net["Parameters"]["BootstrapVersion"]["Default"] = "/cdk-bootstrap/oldqualif/version"
    srv = deployed["Prefect-prod-Server"]
    rename(srv, "AWS::RDS::DBInstance", "Db")
    logs = rename(srv, "AWS::Logs::LogGroup", "Logs")
    srv["Resources"][logs]["DeletionPolicy"] = srv["Resources"][logs]["UpdateReplacePolicy"] = "Retain"
    out = deployed["Prefect-prod-Registry"]["Outputs"]["FlowImageUriOutput"]["Value"]
    out["Fn::Sub"] = out["Fn::Sub"][:-64] + "0" * 64


def rename(template, type_, prefix):
    """Gives the first resource of type_ another logical ID, and every reference to it."""
    old = next(k for k, v in template["Resources"].items() if v["Type"] == type_)
    new = prefix + old
    text = json.dumps(template).replace(f'"{old}"', f'"{new}"').replace("${" + old + ".", "${" + new + ".")
    template.clear()
    template.update(json.loads(text))
    return new


if __name__ == "__main__":
    sys.exit(main())
