# fastapi-zdk: zero-downtime deploy kit for FastAPI on Kubernetes.
# `make help` lists the targets. Caches (Go builds, cluster binaries, base image,
# wheels, tools) live outside the repo in $(ZDK_CACHE).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ZDK_CACHE ?= $(HOME)/.cache/fastapi-zdk
VENV ?= $(CURDIR)/.venv
TOOLS_BIN := $(ZDK_CACHE)/tools/bin
VERSION ?= 0.0.1
PYTEST := $(VENV)/bin/python -m pytest

export ZDK_CACHE
export PATH := $(VENV)/bin:$(TOOLS_BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help
help: ## Show this help.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- installation
.PHONY: deps apt-packages tools
deps: apt-packages tools $(VENV)/.installed ## Install everything the project needs (apt, tools, Python venv).

apt-packages:
	@scripts/ensure-apt-packages.sh

tools:
	@scripts/install-tools.sh $(TOOLS_BIN)

# The venv's Python is the newest 3.12/3.13 on the machine, else python3 (scripts/venv-python.sh;
# ZDK_PYTHON=... overrides); requirements-dev.txt pins Ansible per Python with markers (3.12+:
# ansible 14 / core 2.21, 3.11: ansible 12 / core 2.19). .installed records the interpreter and a
# hash of the pins: a venv built by another Python or from other pins is rebuilt from scratch.
# fastapi-zdk (pinned in app/requirements.txt) is not on PyPI: the same pip command
# installs it from lib/fastapi-zdk, editable (its tests and mypy read the source), and the
# probe from tools/zdprobe, editable too (the `zdprobe` command, `import zdprobe`).
VENV_INPUTS := requirements-dev.txt app/requirements.txt lib/fastapi-zdk/pyproject.toml \
	tools/zdprobe/pyproject.toml
.PHONY: FORCE
$(VENV)/.installed: FORCE
	@python=$$(scripts/venv-python.sh); \
	want="python $$("$$python" -V 2>&1 | cut -d' ' -f2) $$python"$$'\n'"pins $$(cat $(VENV_INPUTS) | sha256sum | cut -d' ' -f1)"; \
	if [[ -f $@ && "$$(< $@)" == "$$want" ]]; then exit 0; fi; \
	if [[ -f $(VENV)/pyvenv.cfg ]]; then echo "rebuilding $(VENV): $${want%%$$'\n'*}, current pins"; rm -rf $(VENV); fi; \
	set -x; \
	"$$python" -m venv $(VENV); \
	$(VENV)/bin/pip install -q --upgrade pip; \
	$(VENV)/bin/pip install -q -r requirements-dev.txt -r app/requirements.txt -e lib/fastapi-zdk \
	  -e tools/zdprobe; \
	printf '%s\n' "$$want" > $@

# ---------------------------------------------------------------------- checks
.PHONY: test lint unit component e2e e2e-cluster-down
test: deps lint unit component e2e e2e-cluster-down ## Run every check: lint, unit, component, end-to-end on the local cluster, clean-up.

lint: deps ## Lint Python (ruff, mypy strict), YAML, Ansible (production profile) and the chart.
	ruff check .
	ruff format --check .
	mypy
	yamllint --strict .
	ansible-lint --profile production
	helm lint --strict charts/fastapi-app

unit: deps ## Fast tests: app handlers and settings, the fastapi-zdk package, chart rendering, role specs.
	$(PYTEST) -m "not component and not e2e and not cluster_down"

component: deps ## Real uvicorn/gunicorn processes with real signals; migrations on a real PostgreSQL.
	$(PYTEST) -m component

# The clean-up test tears the cluster down only when this run brought it up (or under
# CI=true): a cluster that was already running is the user's, with their deployment.
STARTED_BY_TESTS := /var/lib/fastapi-zdk/started-by-make-test
e2e: deps ## End-to-end tests on the local cluster (brings it up first), in namespaces of their own.
	@if scripts/cluster-answers.sh; then was_up=yes; else was_up=no; fi; \
	$(MAKE) --no-print-directory cluster-up; \
	if [ "$$was_up" = no ]; then touch $(STARTED_BY_TESTS); else rm -f $(STARTED_BY_TESTS); fi
	$(PYTEST) -m e2e

e2e-cluster-down: deps ## Take the local cluster down and assert nothing is left behind.
	$(PYTEST) -m cluster_down

# ----------------------------------------------------------------- chart docs
.PHONY: chart-docs
chart-docs: ## Regenerate the chart README's parameter table from values.yaml (@param comments).
	@tests/chart/install-readme-generator.sh $(ZDK_CACHE)/node
	$(ZDK_CACHE)/node/node_modules/.bin/readme-generator \
	  --values charts/fastapi-app/values.yaml --readme charts/fastapi-app/README.md

# --------------------------------------------------------------- local cluster
.PHONY: cluster-up cluster-down cluster-status cluster-binaries
# The pinned versions live in the role's defaults; read them from there.
CLUSTER_VERSIONS = $(shell awk '/^local_cluster_(kubernetes|etcd|coredns|traefik|gateway_api)_version:/ {print $$2}' roles/local_cluster/defaults/main.yml)

cluster-binaries: ## Compile (or find cached) the pinned Kubernetes, etcd, CoreDNS and Traefik binaries, with progress.
	roles/local_cluster/files/build-binaries.sh $(ZDK_CACHE)/bin $(CLUSTER_VERSIONS)

cluster-up: deps cluster-binaries ## Bring the local single-node Kubernetes up (idempotent).
	ansible-playbook playbooks/cluster.yml -e cluster_action=up
	ansible-playbook playbooks/deployer.yml

cluster-down: deps ## Remove the local cluster and everything it created.
	ansible-playbook playbooks/cluster.yml -e cluster_action=down

cluster-status: deps ## Show the local cluster's components and node.
	ansible-playbook playbooks/cluster.yml -e cluster_action=status

# -------------------------------------------------------------------- deploying
.PHONY: deploy
INVENTORY ?= inventory/local
deploy: deps ## Deploy VERSION (default 0.0.1) to INVENTORY (default inventory/local, brought up if it does not answer).
	@if [ "$(INVENTORY)" = inventory/local ] && ! scripts/cluster-answers.sh; then \
	  $(MAKE) --no-print-directory cluster-up; fi
	ansible-playbook -i $(INVENTORY) deploy.yml -e version=$(VERSION)

# ---------------------------------------------------------------------- images
.PHONY: base-image wheelhouse app-image
base-image: apt-packages ## Build (or find cached) localhost/fastapi-zdk/python-base:bookworm (debootstrap + python3).
	scripts/build-base-image.sh

wheelhouse: ## Download the app's wheels for the base image's Python into app/wheelhouse (offline image build).
	scripts/build-wheelhouse.sh

app-image: base-image wheelhouse ## Build 127.0.0.1:5000/fastapi-app:$(VERSION) locally (helper; deploys build their own).
	source scripts/podman-env.sh && podman build \
	  --build-arg BASE_IMAGE=localhost/fastapi-zdk/python-base:bookworm \
	  --build-arg APP_VERSION=$(VERSION) -t 127.0.0.1:5000/fastapi-app:$(VERSION) app/

# ------------------------------------------------------------------ benchmarks
.PHONY: bench bench-app
bench: bench-app bench-rollout ## Run every benchmark (not part of `make test`).

bench-app: deps ## Throughput of /endpoint with vs without the lifecycle middleware.
	cd app && $(VENV)/bin/python -m bench.app_middleware --json $(CURDIR)/reports/bench-app.json

.PHONY: bench-probe
bench-probe: deps ## zdprobe's own capacity: keep-alive 2000/s and fresh 1000/s, 20 s each, to a trivial app on 127.0.0.1.
	$(VENV)/bin/python -m tests.probe.bench_capacity --json $(CURDIR)/reports/bench-probe.json

.PHONY: bench-rollout
# At 2, 10 and 20 replicas, with deploy.yml on stock Ansible (linear) side by side (about 30
# minutes on 2 vCPUs); e.g. BENCH_ROLLOUT_ARGS="--replicas 2".
BENCH_ROLLOUT_ARGS ?= --replicas 2,10,20 --budget 2700 --stock-ansible
bench-rollout: deps ## deploy.yml vs bare helm upgrade --wait under the probe, by phase and replica count (needs the cluster).
	$(VENV)/bin/python -m bench.rollout --json $(CURDIR)/reports/bench-rollout.json \
	  --plot $(CURDIR)/reports/bench-rollout.png $(BENCH_ROLLOUT_ARGS)

# Not in `make bench` either: the default run takes about 55 minutes on 2 vCPUs. Options pass
# through, e.g. make soak SOAK_ARGS="--cycles 1 --rate 200" (python -m bench.soak --help).
.PHONY: soak
SOAK_ARGS ?=
soak: deps ## Soak: N cycles of upgrade, crashing release, rollback under load, naive control (needs the cluster).
	$(VENV)/bin/python -m bench.soak --json $(CURDIR)/reports/soak.json \
	  --plot $(CURDIR)/reports/soak.png $(SOAK_ARGS)

# -------------------------------------------------------------------- molecule
.PHONY: molecule
molecule: deps ## Molecule scenarios on the local cluster, namespace fastapi-molecule (not part of `make test`).
	molecule test --all
