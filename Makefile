# Sluice. `make dev` starts everything on embedded defaults; `make test` runs
# every test, including the integration tests through the real Temporal dev
# server, kfake and ClickHouse.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
TEMPORAL := $(TOOLS)/temporal
TEMPORAL_CLI_VERSION := v1.5.1
# temporal-dev: the same dev server on Temporal 1.32 (deploy/devserver), for
# what 1.29 lacks: a Pinned workflow moving to a new Worker Deployment
# Version at Continue-As-New.
TEMPORAL_DEV := $(TOOLS)/temporal-dev
export PATH := $(TOOLS):$(PATH)
# chDB: ClickHouse 26.5 as a library, the current engine the analytics tests
# run the schema and dashboards on (Debian's clickhouse-server is 18.16).
# chdb-go loads it from CHDB_LIB_PATH.
CHDB_VERSION := 26.5.3
CHDB_LIB := $(CURDIR)/.tools/chdb/$(CHDB_VERSION)/libchdb.so
export CHDB_LIB_PATH := $(CHDB_LIB)

.PHONY: dev test build tools temporal-dev deps test-deps apt vet bench clean chdb

## dev: install what is missing, build, start the stack with demo traffic
dev: deps build
	./bin/sluice dev

## test: vet, then every test (unit, integration, end to end)
test: test-deps vet
	$(GO) test -tags chdb -count=1 -timeout 30m ./...

build:
	$(GO) build -o bin/sluice ./cmd/sluice

vet:
	$(GO) vet ./...
	$(GO) vet -tags chdb ./analytics
	cd deploy/devserver && $(GO) vet .

## tools: build the Temporal CLI into .tools/bin (instant when present)
tools: $(TEMPORAL)

$(TEMPORAL):
	@echo "building the temporal CLI $(TEMPORAL_CLI_VERSION) from the Go module proxy (~4 minutes, once) ..."
	GOBIN=$(TOOLS) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

## temporal-dev: build deploy/devserver into .tools/bin (~8 minutes, once per change)
temporal-dev: $(TEMPORAL_DEV)

$(TEMPORAL_DEV): deploy/devserver/go.mod deploy/devserver/go.sum $(wildcard deploy/devserver/*.go)
	@echo "building temporal-dev (the dev server on Temporal 1.32) from the Go module proxy (~8 minutes, once) ..."
	cd deploy/devserver && $(GO) build -o $(TEMPORAL_DEV) .

## deps: the Temporal CLI and Debian's clickhouse-server, if missing
deps: tools
	@$(MAKE) --no-print-directory apt PKGS="clickhouse-server"

## test-deps: deps, plus chromium (the dashboards page is tested in it), chDB and examples/typescript's npm packages
test-deps: tools temporal-dev chdb
	@$(MAKE) --no-print-directory apt PKGS="clickhouse-server chromium"
	@command -v npm >/dev/null || { echo "examples/typescript needs Node.js >= 20.3 and npm on PATH"; exit 1; }
	@[ examples/typescript/node_modules/.package-lock.json -nt examples/typescript/package-lock.json ] || { \
	  echo "installing examples/typescript's npm packages (the Temporal TypeScript SDK: npm ci, ~280 MB, once) ..."; \
	  npm ci --prefix examples/typescript --no-audit --no-fund; }

## chdb: libchdb.so from npm's @chdb/lib-linux-x64-gnu into .tools/chdb (instant when present)
chdb: $(CHDB_LIB)

$(CHDB_LIB):
	@echo "fetching libchdb.so (chDB $(CHDB_VERSION), ClickHouse 26.5: a 160 MB npm package, 535 MB unpacked, once) ..."
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  cd "$$tmp" && npm pack --silent --cache "$$tmp/npm-cache" @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) >/dev/null; \
	  tar xzf chdb-lib-linux-x64-gnu-$(CHDB_VERSION).tgz package/libchdb.so; \
	  mkdir -p $(dir $(CHDB_LIB)) && mv package/libchdb.so $(CHDB_LIB)

# apt installs the Debian packages in PKGS whose command is missing.
apt:
	@missing=""; for p in $(PKGS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { \
	  echo "installing$$missing (Debian packages) ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $$missing; }

clean:
	rm -rf bin .sluice

## bench: the bridge against the naive baseline on the embedded stack (one run, ~6 minutes)
bench: deps build
	./bin/sluice bench --markdown BENCHMARKS.run.md
