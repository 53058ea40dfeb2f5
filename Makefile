# Two commands for a new machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DYNAMODB_LOCAL_NPM_VERSION := 11.1.0
# Generated requests per operation in `make fuzz` (`make test` runs the fuzzer's quick default).
FUZZ_EXAMPLES ?= 100
export DYNAMODB_LOCAL_DIR := $(CURDIR)/.cache/dynamodb-local
export DYNAMODB_LOCAL_NPM_VERSION
TYPESCRIPT_NPM_VERSION := 7.0.2
export TYPESCRIPT_DIR := $(CURDIR)/.cache/typescript
export TYPESCRIPT_NPM_VERSION
SCAN_TOOLS := $(CURDIR)/.cache/scan-tools
# pytest-xdist: workers for `make test` and `make test-integration` (TEST_WORKERS=0: one process).
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
TEST_TMP := test-artifacts/pytest-tmp

.PHONY: setup test check test-unit test-integration test-e2e fuzz lint run bench bench-load bench-processor bench-fanout bench-close capacity clean java dynamodb-local aws-tools browser typescript

# Everything the tests and the checks need (`make test`); `make run` needs only part of it.
setup: $(VENV)/.installed java dynamodb-local aws-tools browser typescript

# The project and what running it needs: `make run`.
$(VENV)/.installed-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	touch $@

# ... and the test and lint tools (pyproject's `test` extra).
$(VENV)/.installed: $(VENV)/.installed-run
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

java:
	scripts/ensure-java.sh

dynamodb-local: java
	scripts/install-dynamodb-local.sh

# cfn-lint and the SAM CLI, in their own venv (.cache/aws-tools): template checks; checkov
# and parliament, in another (.cache/scan-tools): the template's security scan.
aws-tools:
	scripts/install-aws-tools.sh

# template.yaml built (`sam build`), linted (`sam validate --lint`) and translated to the
# CloudFormation a first `sam deploy` creates (.aws-sam/deploy-check/template.cfn.json),
# without an AWS account; prints the resources and the parameters to set (docs/DEPLOY.md).
.PHONY: deploy-check
deploy-check: aws-tools
	.cache/aws-tools/bin/python scripts/deploy_check.py

# TypeScript's compiler (.cache/typescript), for the type check of the page's modules in web/.
typescript:
	scripts/install-typescript.sh

# Debian's headless Chromium for tests/browser (Playwright drives it; no browser download).
browser:
	scripts/install-browser.sh

# Everything CI runs (.ci/run): lint, then every test in one pytest run over the whole tree
# (pyproject's testpaths, fastest level first; no selection can come up empty, pytest's exit
# code 5), the fuzzer at its quick depth. Two workers, a test file each at a time: the stack
# tests wait on the clock much of their time. The least-privilege check reads what every
# worker's stacks did, so it runs once both have finished.
test: setup lint
	rm -rf $(TEST_TMP) && mkdir -p $(dir $(TEST_TMP))
	$(PY) -m pytest $(PYTEST_PARALLEL) --basetemp=$(TEST_TMP) $(PYTEST_ARGS)
	$(PY) -m pytest tests/e2e/test_least_privilege.py --iam-usage-from=$(TEST_TMP) $(PYTEST_ARGS)

# The inner loop: lint, the unit tests, the integration tests (DynamoDB Local, the local runtime).
check: lint test-unit test-integration

# The rules, the service and the handlers on the in-memory recorder: no Java, seconds.
test-unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# The ledger, the handlers and the local runtime against DynamoDB Local and the local SQS;
# the template against cfn-lint and SAM.
test-integration: $(VENV)/.installed dynamodb-local aws-tools
	$(PY) -m pytest tests/integration $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The whole application on the local runtime: the API end to end, faults, the quick fuzzer,
# the README's walk-throughs, and the page in Chromium.
test-e2e: setup
	$(PY) -m pytest tests/e2e tests/browser $(PYTEST_ARGS)

# The fuzzer at depth: many more generated requests per operation than `make test` sends.
fuzz: setup
	SAMSOLD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/e2e/test_fuzz.py $(PYTEST_ARGS)

# ruff (style), mypy (types) and import-linter (the layering of docs/ARCHITECTURE.md);
# tsc type-checks the page's JavaScript in web/js (tsconfig.json: checkJs, no output);
# checkov (its CloudFormation checks read SAM templates) and parliament (each function's
# IAM policy) scan template.yaml: a finding neither fixed nor suppressed with its reason
# in the template (checkov) or in scripts/lint_policies.py (parliament) fails.
lint: $(VENV)/.installed typescript aws-tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(TYPESCRIPT_DIR)/node_modules/.bin/tsc --project tsconfig.json
	$(SCAN_TOOLS)/bin/checkov --file template.yaml --framework cloudformation --skip-download --quiet --compact
	$(SCAN_TOOLS)/bin/python scripts/lint_policies.py template.yaml

# Only what running needs: the project's venv without the test extra, and DynamoDB Local.
# RUN_ARGS go to `samsold dev` (e.g. RUN_ARGS="--port 8000 --verbose").
run: $(VENV)/.installed-run dynamodb-local
	$(VENV)/bin/samsold dev $(RUN_ARGS)

# Benchmarks and the capacity model: `samsold-bench`, apart from the operator's `samsold`.
# Replay and verification throughput on one lot of 100,000 events and 1,000 lots of 100 (bench-results/bench.json).
bench: setup
	$(VENV)/bin/samsold-bench replay

# 2,000 concurrent bidders against a fresh local stack on 127.0.0.1 (bench-results/load.json).
bench-load: setup
	$(VENV)/bin/samsold-bench load

# The bid processor against a bare TransactWriteItems of its items, on one DynamoDB Local (bench-results/processor.json).
bench-processor: setup
	$(VENV)/bin/samsold-bench processor

# 2,000 WebSocket clients watching one lot on a fresh local stack, then 5 bids (bench-results/fanout.json).
bench-fanout: setup
	$(VENV)/bin/samsold-bench fanout

# 100 watched lots closing over the next minutes on a fresh local stack, every fifth extended: close lag (bench-results/close.json).
bench-close: setup
	$(VENV)/bin/samsold-bench close

# DynamoDB units per bid, ceilings and cost on an in-memory DynamoDB Local; rewrites docs/CAPACITY.md's tables.
capacity: setup
	$(VENV)/bin/samsold-bench capacity --update-doc docs/CAPACITY.md

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
