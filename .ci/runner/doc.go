// Package runner runs the repository's GitHub Actions workflows the way GitHub's hosted
// ubuntu-24.04 runner runs them, so `make test` catches a workflow that would fail on its
// first real run. It reads the workflow files (strictly: a key it does not know is an error)
// and runs what they say:
//
//   - Jobs in the order of their needs, each `if:` evaluated (success() by default), matrix
//     legs from strategy.matrix (here, the real environments job's output), fail-fast and
//     max-parallel (legs start in matrix order), job outputs from step outputs.
//   - Every job on a machine of its own (machine.go): a private mount and PID namespace over
//     the host's /usr, /etc, /var and /opt, whose image layer has no redis-server and a user
//     `runner` (uid 1001) with passwordless sudo, as the hosted image has (sources in
//     machine.go). Steps run as that user; `sudo apt-get install` really installs, into the
//     job's own layer, and leaves the host untouched. Package scripts start no services.
//   - `run:` steps as the runner does (shell.go): the script in a file under RUNNER_TEMP,
//     `bash -e {0}` without a shell, `bash --noprofile --norc -e -o pipefail {0}` with
//     `shell: bash`, the shell also from `defaults.run.shell` of the job or the workflow (not
//     inside a composite action); `${{ }}` substituted from the github, env, vars, secrets,
//     matrix, needs, steps, runner, job, strategy and inputs contexts (expr.go); GITHUB_OUTPUT,
//     GITHUB_ENV and GITHUB_PATH read after each step; GitHub's default environment variables.
//   - Local composite actions (`uses: ./…`): their own steps, with their inputs.
//
// `uses:` steps of other actions get stand-ins (actions.go), each refusing inputs it does not
// reproduce:
//
//   - actions/checkout: git fetch of the event's commit, depth 1, from the origin repository
//     (the test's clone of this repository, in place of github.com), as the runner user.
//   - actions/setup-go: the machine's Go, when it is go.mod's version; the host's module and
//     build caches under the job's own layer (where setup-go's cache would be restored), plus
//     the build-cache layers of the run's ended jobs.
//   - actions/setup-node: node_modules' pinned Node (node_modules/node/bin) first on PATH.
//   - aws-actions/configure-aws-credentials: only with `id-token: write`; assumes
//     role-to-assume with a web identity at the AWS stand-in and exports what the action does,
//     plus AWS_ENDPOINT_URL (the CDK CLI's SDK v3 honours it: every call reaches the stand-in).
//   - actions/upload-artifact, actions/download-artifact: a directory per artifact for the run.
//   - docker/setup-buildx-action, docker/setup-qemu-action: nothing (there is no Docker
//     engine); the one step that would build images, cdk deploy, is substituted.
//
// The AWS stand-in (aws.go) is moto behind a proxy that knows each access key's role, can deny
// an account's roles everything, and holds deployed templates for cdk diff --method=template.
// The GitHub stand-in (github.go) serves the issue-comment endpoints with per-job tokens.
//
// What differs from GitHub, on purpose (each is named where it is set): a test substitutes
// steps it cannot run as written (Options.Substitutions: make test, which would run this test
// inside itself; cdk deploy); npm's download cache is shared by the run's machines; a
// pull_request event checks out the head commit (the test's pull requests are fast-forwards,
// so GitHub's merge commit has the same tree); GitHub Environments have no protection rules;
// concurrency groups are not applied; a job without timeout-minutes stops after 30 minutes
// (GitHub's default is 360); the host's TLS and proxy settings reach the steps. The
// test runs the committed HEAD of the repository (PREFECT_ECS_CDK_RUNNER_REPO names another).
//
// The test needs root (namespaces, overlayfs), the integration suite's venv (moto) and
// node_modules, sudo on the host (make runner-deps), and PREFECT_ECS_CDK_INTEGRATION=1:
//
//	PREFECT_ECS_CDK_INTEGRATION=1 go test ./.ci/runner -run TestWorkflows -v
//	PREFECT_ECS_CDK_RUNNER_REPO=/path/to/other/checkout PREFECT_ECS_CDK_INTEGRATION=1 go test ./.ci/runner -v
package runner
