# prefect-ecs-cdk — the words users say. Every target installs what it needs (npm packages
# into node_modules/, Go modules, a Python venv in .venv/) and uses the pinned Node 22 and
# aws-cdk CLI from package.json, never a global install.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true

VENV      := .venv
VENV_SCAN := .venv-scan
VENV_PREV := .venv-prefect-prev
VENV_IMAGE := .venv-image
PYTHON    := $(CURDIR)/$(VENV)/bin/python
CDK       := node_modules/.bin/cdk
PKGS      := . ./stacks/... ./constructs/... ./lambda/... ./.ci/cdkci ./.ci/runner ./.ci/example
UV        := uv==0.13.8
CDK_FLAGS ?=
# Stacks the live worker test runs against (make test): <networkMode>-<ondemand|spot>.
LIVE_VARIANTS := private-ondemand private-spot public-ondemand public-spot
# The self-hosted server stacks the live server test reads (make test): server-<prefectServer>.
SERVER_VARIANTS := server-single server-ha

.PHONY: help deps synth diff deploy destroy test unit lint cfn-lint checkov reproducible example variants bench preview template schemas clean server-deps runner-deps

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@node --version | grep -q '^v22\.' || { echo "node_modules/.bin/node is not Node 22"; exit 1; }
	@# A module of its own keeps node_modules out of ./... (the CDK CLI ships Go init templates
	@# named %name%.template.go, which break go vet ./... and go test ./...).
	@printf 'module node_modules\n' >node_modules/go.mod
	@touch $@

# Three venvs, each from its pinned requirements: checkov's botocore pin conflicts with
# prefect-aws, and the previous Prefect release (the server's rollback drill) with the pinned one.
$(VENV)/.installed: flows/requirements-dev.txt flows/requirements.txt
$(VENV_SCAN)/.installed: flows/requirements-scan.txt
$(VENV_PREV)/.installed: flows/requirements-prev.txt
$(VENV)/.installed $(VENV_SCAN)/.installed $(VENV_PREV)/.installed:
	python3 -m venv $(@D)
	$(@D)/bin/pip install --quiet --disable-pip-version-check $(UV)
	$(@D)/bin/uv pip install --quiet --python $(CURDIR)/$(@D)/bin/python -r $<
	@touch $@

deps: node_modules/.installed ## install Node 22 + the CDK CLI, and the Go modules
	go mod download

# The CLI leaves the templates of stacks the app no longer has in cdk.out (after a change of
# stackPrefix, environments or pipeline), and cfn-lint, checkov and reproducible read every
# template there: synth starts from an empty assembly. The example's folders stay.
synth: deps ## write cdk.out: all stacks, offline, the configuration in cdk.json
	@[ ! -d cdk.out ] || find cdk.out -mindepth 1 -maxdepth 1 ! -name 'example*' ! -name variants -exec rm -rf {} +
	$(CDK) synth --quiet $(CDK_FLAGS)
	@echo "cdk.out: $$(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')"

diff: deps ## compare the stacks with what is deployed (needs AWS credentials)
	$(CDK) diff --all $(CDK_FLAGS)

deploy: deps ## deploy all stacks (needs AWS credentials and the API-key secret)
	$(CDK) deploy --all $(CDK_FLAGS)

destroy: deps ## remove all stacks; the work pool and deployments leave Prefect with them
	$(CDK) destroy --all $(CDK_FLAGS)

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l *.go stacks constructs lambda .ci); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet $(PKGS)

# Every template of cdk.out: the app's stacks and, with `pipeline` set, its stages' stacks, in
# their nested assemblies (cdk.out/assembly-<pipeline>-<environment>/). Other folders
# (example/, variants/) are the example's, which the Go tests scan.
TEMPLATES = $(wildcard cdk.out/*.template.json cdk.out/assembly-*/*.template.json)
NO_TEMPLATES := echo "no *.template.json in cdk.out: run make synth first"; exit 1

cfn-lint: $(VENV)/.installed ## cfn-lint every synthesized template
	@# W3005: CDK makes a function depend on its role policy on purpose (the policy must exist first).
	@[ -n "$(TEMPLATES)" ] || { $(NO_TEMPLATES); }
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- $(TEMPLATES)
	@echo "cfn-lint: 0 errors, 0 warnings in $(words $(TEMPLATES)) templates"

# checkov offline: no Prisma Cloud download or mapping, no package scan, no update check.
CHECKOV_ENV := BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN=false CKV_SKIP_PACKAGE_UPDATE_CHECK=true
CHECKOV     := $(CURDIR)/$(VENV_SCAN)/bin/checkov

checkov: $(VENV_SCAN)/.installed ## checkov every synthesized template (skips and reasons: stacks/findings.go)
	@[ -n "$(TEMPLATES)" ] || { $(NO_TEMPLATES); }
	@files=($(TEMPLATES)); args=(); for f in "$${files[@]}"; do args+=(-f "$$f"); done; \
	  if ! out=$$(env $(CHECKOV_ENV) $(CHECKOV) --framework cloudformation --quiet --compact --skip-download "$${args[@]}" 2>&1); then \
	    echo "$$out"; echo "checkov: fix each failed check, or add it with its reason to stacks/findings.go"; exit 1; \
	  fi; \
	  echo "checkov: $$(grep -o 'Passed checks.*' <<<"$$out") in $${#files[@]} templates"

# The example configuration (testdata/example: the cdk.json, flows and parameter schemas the
# project ships) as a project of its own (go run ./.ci/example: the repository's code linked),
# so that the product's integration synths never read the user's cdk.json and flows/.
EXAMPLE_PROJECT := $(CURDIR)/cdk.out/example-project
EXAMPLE_CDK     := cd $(EXAMPLE_PROJECT) && $(CURDIR)/$(CDK) synth --quiet

example: deps ## synthesize the example configuration (testdata/example, not cdk.json and flows/) into cdk.out/example/
	@go run ./.ci/example $(EXAMPLE_PROJECT)
	@rm -rf cdk.out/example; $(EXAMPLE_CDK) -o $(CURDIR)/cdk.out/example >$(CURDIR)/cdk.out/example.log 2>&1 || \
	  { tail -n 20 cdk.out/example.log; echo "example: the synth of testdata/example failed (cdk.out/example.log)"; exit 1; }
	@echo "example: cdk.out/example/ (testdata/example, what the integration tests read)"

# The live worker test runs against every network mode with Fargate Spot off and on, each with
# its own pool, self-hosted: the worker's event stream (the observer's) authenticates with the
# auth string off Cloud (lambda/internal/integration/liveworker_test.go). The server variants
# are the self-hosted server in both modes (stack PrefectServer; lambda/internal/serverlive).
# Each is the example configuration with its -c settings (make example builds the app first).
variants: example ## synthesize the live worker and server tests' variants of the example into cdk.out/variants/
	@rm -rf cdk.out/variants && mkdir -p cdk.out/variants; pids=(); \
	  for v in $(LIVE_VARIANTS); do \
	    spot=false; [[ $$v == *-spot ]] && spot=true; \
	    ( $(EXAMPLE_CDK) -o $(CURDIR)/cdk.out/variants/$$v -c networkMode=$${v%%-*} -c flowRunFargateSpot=$$spot \
	      -c workPoolName=live-$$v -c prefectAccountId= -c prefectWorkspaceId= \
	      -c prefectApiUrl=http://prefect.internal:4200/api \
	      -c prefectAuthStringSecret=arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-auth-string-AbCdEf \
	    ) >cdk.out/variants/$$v.log 2>&1 & pids+=($$!); \
	  done; \
	  for v in $(SERVER_VARIANTS); do \
	    ( $(EXAMPLE_CDK) -o $(CURDIR)/cdk.out/variants/$$v -c prefectServer=$${v#server-} \
	      -c prefectAccountId= -c prefectWorkspaceId= \
	    ) >cdk.out/variants/$$v.log 2>&1 & pids+=($$!); \
	  done; \
	  for p in "$${pids[@]}"; do wait $$p || { tail -n 20 cdk.out/variants/*.log; exit 1; }; done

# What the integration tests need: the venv, checkov, the example's template and variants.
INTEGRATION_ENV := PREFECT_ECS_CDK_INTEGRATION=1 PREFECT_PYTHON=$(PYTHON) CHECKOV=$(CHECKOV) \
  PREFECT_ECS_CDK_TEMPLATE=$(CURDIR)/cdk.out/example/PrefectCompute.template.json \
  PREFECT_ECS_CDK_LIVEWORKER_TEMPLATES="$(foreach v,$(LIVE_VARIANTS),$(CURDIR)/cdk.out/variants/$(v)/PrefectCompute.template.json)" \
  PREFECT_ECS_CDK_SERVER_VARIANTS="$(foreach v,$(SERVER_VARIANTS),$(CURDIR)/cdk.out/variants/$(v))" \
  PREFECT_ECS_CDK_PREV_PYTHON=$(CURDIR)/$(VENV_PREV)/bin/python

# $(call apt_install,TARGET,PACKAGES): apt-get install, as root or through sudo when this user
# has it without a password (GitHub's ubuntu-24.04 runners run as `runner`, not root, with
# passwordless sudo: docs.github.com "About GitHub-hosted runners", Administrative privileges).
# Anything else stops make with one line saying what is missing and how to install it.
apt_install = if ! command -v apt-get >/dev/null; then \
	    echo "$(1): $(2) not installed and no apt-get here: install $(2) with your package manager"; exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then as=(); \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as=(sudo); \
	  else echo "$(1): $(2) not installed, and $$(id -un) is neither root nor has passwordless sudo: run sudo apt-get install $(2)"; exit 1; fi; \
	  echo "$(1): installing $(2) (apt-get$${as:+ through sudo})"; \
	  "$${as[@]}" apt-get update -qq >/dev/null && "$${as[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null \
	    || { echo "$(1): apt-get install $(2) failed (its error is above): install $(2) and run make again"; exit 1; }

# The live server test (lambda/internal/serverlive) starts PostgreSQL and Redis on loopback and
# finds initdb under /usr/lib/postgresql/<version>/bin, Homebrew's opt/postgresql@<version>/bin
# or on PATH, and redis-server on PATH. On Debian and Ubuntu they are installed here when
# missing: ubuntu-24.04 runners have PostgreSQL 16 but no redis-server (actions/runner-images
# images/ubuntu/Ubuntu2404-Readme.md, Databases), so a runner always installs Redis. On macOS
# you install them with Homebrew.
PG_INITDB = shopt -s nullglob; pg=(/usr/lib/postgresql/*/bin/initdb /opt/homebrew/opt/postgresql@*/bin/initdb \
  /usr/local/opt/postgresql@*/bin/initdb $$(command -v initdb || true)); pg=$${pg[0]:-}
server-deps: ## install PostgreSQL and redis-server when missing (for the live server test), with sudo when not root
	@$(PG_INITDB); missing=(); [ -n "$$pg" ] || missing+=(postgresql); \
	  command -v redis-server >/dev/null || missing+=(redis-server); \
	  if [ $${#missing[@]} -gt 0 ] && [ "$$(uname -s)" = Darwin ]; then \
	    echo "server-deps: $${missing[*]} not installed: install them with Homebrew: brew install postgresql@16 redis"; exit 1; \
	  fi; \
	  if [ $${#missing[@]} -gt 0 ]; then $(call apt_install,server-deps,$${missing[*]}); fi; \
	  $(PG_INITDB); \
	  [ -n "$$pg" ] && command -v redis-server >/dev/null || { echo "server-deps: still no initdb or redis-server after installing $${missing[*]}"; exit 1; }; \
	  echo "server-deps: $$(dirname "$$pg"), $$(redis-server --version | cut -d' ' -f1-3)"

# The runner test (.ci/runner) runs the workflows' jobs as a non-root user with passwordless
# sudo, as GitHub's hosted runners do: this machine needs sudo for that user.
runner-deps: ## install sudo when missing (the runner test's runner user needs it)
	@command -v sudo >/dev/null || { $(call apt_install,runner-deps,sudo); }

# The user's configuration (cdk.json, flows/) is checked for what it is: its synth (cdk-nag and
# CDK's validator), cfn-lint, checkov and reproducibility; the Go tests and the integration
# synths (make example, make variants) test the code on the example configuration instead.
test: deps $(VENV)/.installed $(VENV_SCAN)/.installed $(VENV_PREV)/.installed lint server-deps runner-deps ## everything CI runs: lint, flows' tests, synth, cfn-lint, checkov, unit + integration tests
	$(MAKE) --no-print-directory flows-test
	$(MAKE) --no-print-directory actionlint
	$(MAKE) --no-print-directory synth
	$(MAKE) --no-print-directory cfn-lint
	$(MAKE) --no-print-directory checkov
	$(MAKE) --no-print-directory reproducible
	$(MAKE) --no-print-directory variants
	$(INTEGRATION_ENV) \
	  go tool gotestsum --format pkgname-and-test-fails -- -count=1 -timeout 20m $(PKGS)

# The flows' checks run against a local Prefect only: a temporary PREFECT_HOME, and no API URL
# or key from the environment (ephemeral mode: Prefect starts a throwaway server for the run).
FLOW_ENV := env -u PREFECT_API_URL -u PREFECT_API_KEY -u PREFECT_API_AUTH_STRING -u PREFECT_PROFILE \
  PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120 \
  PREFECT_SERVER_ANALYTICS_ENABLED=false

# The flow image's Python packages without Docker: flows/requirements.txt plus the Prefect that
# the Dockerfile's FROM line pins, resolved together (as pip does in the image) into a fresh
# .venv-image/ whenever either file changes, so a removed requirement does not linger. Uses the
# machine's python3 (the image has 3.12; image-check prints the difference).
$(VENV_IMAGE)/.installed: flows/requirements.txt Dockerfile $(VENV)/.installed
	@v=$$(sed -n 's|^FROM prefecthq/prefect:\([^-]*\)-python.*|\1|p' Dockerfile); \
	  [ -n "$$v" ] || { echo "Dockerfile: no FROM prefecthq/prefect:<version>-python<x.y> line"; exit 1; }; \
	  rm -rf $(@D); \
	  UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv venv --quiet --python "$$(command -v python3)" $(@D); \
	  $(VENV)/bin/uv pip install --quiet --python $(@D)/bin/python "prefect==$$v" -r flows/requirements.txt
	@touch $@

.PHONY: flows-test image-check run
image-check: $(VENV_IMAGE)/.installed ## import every prefect.yaml entrypoint as the flow image would (no Docker)
	@home=$$(mktemp -d); trap 'rm -rf "$$home"' EXIT; \
	  $(FLOW_ENV) PREFECT_HOME=$$home $(VENV_IMAGE)/bin/python -P -B .ci/flows.py image-check $(CURDIR)

flows-test: $(VENV)/.installed image-check ## pytest over flows/tests (prefect_test_harness, moto) and the image check
	@home=$$(mktemp -d); trap 'rm -rf "$$home"' EXIT; \
	  cd flows && $(FLOW_ENV) PREFECT_HOME=$$home PYTHONDONTWRITEBYTECODE=1 \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests

# make run FLOW=daily [PARAMS='{"rows": 5}']: the deployment's prefect.yaml parameters, PARAMS
# (a JSON object) over them, with the flow image's packages; AWS credentials come from your shell.
run: $(VENV_IMAGE)/.installed ## run one deployment's flow locally with its parameters: make run FLOW=<name> [PARAMS='{json}']
	@[ -n "$(FLOW)" ] || { echo "make run: name a deployment of flows/prefect.yaml: make run FLOW=<name>"; exit 2; }
	@home=$$(mktemp -d); trap 'rm -rf "$$home"' EXIT; \
	  cd flows && $(FLOW_ENV) PREFECT_HOME=$$home $(CURDIR)/$(VENV_IMAGE)/bin/python -P -B ../.ci/flows.py run "$$FLOW" "$${PARAMS:-}"

# actionlint is pinned in go.mod (go tool); it runs shellcheck over run: scripts only when
# shellcheck is on PATH, and GitHub's ubuntu-24.04 image has it (actionlint there runs it:
# actions/runner-images images/ubuntu/Ubuntu2404-Readme.md lists ShellCheck), so it is
# required here too: a finding that would fail make test on the runner fails it here first.
.PHONY: actionlint
actionlint: ## lint the GitHub Actions workflows in .github/workflows (with shellcheck)
	@command -v shellcheck >/dev/null || { 	  if [ "$$(uname -s)" = Darwin ]; then echo "actionlint: shellcheck not installed: brew install shellcheck"; exit 1; fi; 	  $(call apt_install,actionlint,shellcheck); }
	go tool actionlint -color=false
	@echo "actionlint: $$(ls .github/workflows/*.yml | wc -l) workflows, no problems ($$(shellcheck --version | sed -n 's/^version: /shellcheck /p'))"

reproducible: ## a second synth must give identical templates and asset hashes (a quiet `cdk diff`)
	@[ -n "$(TEMPLATES)" ] || { $(NO_TEMPLATES); }
	@second=$$(mktemp -d); trap 'rm -rf "$$second"' EXIT; \
	  $(CDK) synth --quiet -o "$$second" >/dev/null 2>&1; \
	  for f in $(TEMPLATES) $(wildcard cdk.out/*.assets.json cdk.out/assembly-*/*.assets.json); do \
	    cmp -s "$$f" "$$second/$${f#cdk.out/}" || { echo "not reproducible: $$f differs between two synths"; exit 1; }; \
	  done; \
	  echo "reproducible: two synths gave identical templates and asset hashes"

unit: deps ## the Go tests that need no venv and no cdk.out (fast)
	go test -count=1 $(PKGS)

# make stress: the Go suite STRESS_RUNS times while CPU hogs (2 per CPU: stress-ng or, without
# it, bash busy loops) keep the machine busy; the hogs end with the target, however it ends.
# Timing tests must not lean on wall-clock slack; this is how to see that they do not. Not part
# of CI. The integration tests run too, as make test runs them, after a synth of cdk.out and the
# variants (STRESS_INTEGRATION= leaves them out).
STRESS_RUNS ?= 3
STRESS_INTEGRATION ?= 1

.PHONY: stress
stress: deps $(VENV)/.installed $(VENV_SCAN)/.installed $(VENV_PREV)/.installed ## the Go suite 3 times (-count=1) under full CPU load: no test may lean on timing slack
	@command -v stress-ng >/dev/null || { apt-get update -qq && apt-get install -y -qq stress-ng; } >/dev/null 2>&1 || \
	  echo "stress: stress-ng could not be installed; loading the CPUs with bash busy loops"
	@hogs=$$(( 2 * $$(nproc) )); pids=(); \
	  trap 'kill "$${pids[@]}" 2>/dev/null || true; \
	    for i in $$(seq 50); do kill -0 "$${pids[@]}" 2>/dev/null || break; sleep 0.2; done; \
	    kill -KILL "$${pids[@]}" 2>/dev/null || true' EXIT; \
	  if command -v stress-ng >/dev/null; then \
	    stress-ng --cpu "$$hogs" --timeout 2h --quiet & pids+=($$!); \
	  else \
	    for i in $$(seq "$$hogs"); do { while :; do :; done; } & pids+=($$!); done; \
	  fi; \
	  env=(); \
	  if [ "$(STRESS_INTEGRATION)" = 1 ]; then \
	    $(MAKE) --no-print-directory synth >/dev/null && $(MAKE) --no-print-directory variants; \
	    env=($(INTEGRATION_ENV)); \
	  fi; \
	  echo "stress: $$hogs CPU hogs on $$(nproc) CPUs; $(STRESS_RUNS) runs of go test -count=1 $(PKGS) $${env[*]}"; \
	  for run in $$(seq $(STRESS_RUNS)); do \
	    start=$$SECONDS; \
	    if ! out=$$(env "$${env[@]}" go test -count=1 -timeout 30m $(PKGS) 2>&1); then \
	      echo "$$out"; echo "stress: run $$run of $(STRESS_RUNS) FAILED under load"; exit 1; \
	    fi; \
	    echo "stress: run $$run of $(STRESS_RUNS) passed in $$(( SECONDS - start )) s ($$(grep -c '^ok' <<<"$$out") packages ok)"; \
	  done

# make cost (issue 10 cost report): synthesizes with CDK_FLAGS, then prices every template
# in cdk.out (stacks/cost; list prices in stacks/cost/prices.go). The last line is the total.
.PHONY: cost
cost: deps ## synthesize, then print each fixed monthly item, the per-use rates, and `fixed monthly: $X.XX` last
	@$(MAKE) --no-print-directory synth >/dev/null
	@go run ./stacks/cost/cmd -dir cdk.out

bench: deps $(VENV)/.installed server-deps ## synth time at 2-2,000 deployments, unit-test time, Lambda cold start + latency, binary size, 2,000 creates
	@./.ci/bench

preview: deps $(VENV)/.installed ## apply the pool and deployments to a local Prefect server and print its UI address
	$(MAKE) --no-print-directory synth
	PREFECT_PYTHON=$(PYTHON) go run ./lambda/cmd/preview -template cdk.out/PrefectCompute.template.json

# Without a Prefect key or AWS credentials in the environment, the AWS CLI's (profile, SSO)
# and its region are exported for the command that follows (drift, status).
AWS_CLI_ENV := if [ -z "$${PREFECT_API_KEY:-}$${PREFECT_API_AUTH_STRING:-}$${AWS_ACCESS_KEY_ID:-}" ] && command -v aws >/dev/null; then \
	  eval "$$(aws configure export-credentials --format env 2>/dev/null)"; \
	  export AWS_REGION="$${AWS_REGION:-$$(aws configure get region 2>/dev/null)}"; \
	fi;

# make drift: the pool and deployments in cdk.out against what Prefect holds now (bin/drift
# exits 1 on drift, 2 on an error; make fails on either). The API and its key default to the
# stack's (the function's URL and secret in the template); PREFECT_API_URL with
# PREFECT_API_KEY, PREFECT_API_AUTH_STRING or a secret's ARN in PREFECT_API_KEY_SECRET_ARN
# override them.
.PHONY: drift
drift: ## compare the pool and deployments in cdk.out with Prefect, field by field (exit 1 on drift)
	@[ -f cdk.out/PrefectCompute.template.json ] || $(MAKE) --no-print-directory synth
	@$(AWS_CLI_ENV) \
	go build -o bin/drift ./lambda/cmd/drift && bin/drift -template cdk.out/PrefectCompute.template.json

# make status [ENV=<name>]: the smoke check between environments (the deploy workflow runs it
# after each environment's cdk deploy, which writes cdk.out). bin/status reads the Compute
# stack of cdk.out (the environment's with ENV) and waits, at most 10 minutes, until its work
# pool is READY with a worker polling it and every deployment exists in the pool; it exits 1
# when the time is up, 2 on an error, 3 when the API is a self-hosted server's internal load
# balancer, out of reach (STATUS_FLAGS=-unreachable=warn: a warning and exit 0). API and key
# as for drift. STATUS_FLAGS adds flags: -timeout 20m, -interval 30s, -stack <name>.
ENV ?=
STATUS_FLAGS ?=
.PHONY: status
status: ## wait until the work pool is READY (a worker polls) and every deployment exists: make status [ENV=<name>]
	@[ -f cdk.out/manifest.json ] || $(MAKE) --no-print-directory synth
	@$(AWS_CLI_ENV) \
	go build -o bin/status ./lambda/cmd/status && bin/status $(if $(ENV),-env '$(ENV)') $(STATUS_FLAGS)

template: $(VENV)/.installed ## refresh the embedded ECS base job template from the pinned prefect-aws
	PREFECT_HOME=$$(mktemp -d) PREFECT_SERVER_ANALYTICS_ENABLED=false \
	  $(VENV)/bin/prefect work-pool get-default-base-job-template --type ecs > constructs/prefectcr/ecs_base_job_template.json

# Synth embeds the file and stops when an entrypoint's file changed since (so make test, which
# synthesizes, fails on a stale file); TestSchemasFileIsCurrent also regenerates and compares it.
schemas: $(VENV)/.installed ## write each entrypoint's parameter schema (the pinned Prefect's) to stacks/prefectyaml/schemas.json
	@tmp=$$(mktemp); trap 'rm -f "$$tmp"' EXIT; \
	  (cd flows && PREFECT_HOME=$$(mktemp -d) PREFECT_SERVER_ANALYTICS_ENABLED=false \
	    $(PYTHON) ../stacks/prefectyaml/schemas.py) >"$$tmp"; \
	  cat "$$tmp" >stacks/prefectyaml/schemas.json; \
	  echo "stacks/prefectyaml/schemas.json: $$(grep -c '"sha256"' stacks/prefectyaml/schemas.json) entrypoints"

clean: ## remove build output (keeps node_modules and .venv)
	rm -rf cdk.out bin
