# Sluice. `make dev` starts everything on embedded defaults; `make test` runs
# every test, including the integration tests through the real Temporal dev
# server, kfake and ClickHouse.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
TEMPORAL := $(TOOLS)/temporal
TEMPORAL_CLI_VERSION := v1.5.1
export PATH := $(TOOLS):$(PATH)

.PHONY: dev test build tools deps test-deps apt vet bench clean

## dev: install what is missing, build, start the stack with demo traffic
dev: deps build
	./bin/sluice dev

## test: vet, then every test (unit, integration, end to end)
test: test-deps vet
	$(GO) test -count=1 -timeout 30m ./...

build:
	$(GO) build -o bin/sluice ./cmd/sluice

vet:
	$(GO) vet ./...

## tools: build the Temporal CLI into .tools/bin (instant when present)
tools: $(TEMPORAL)

$(TEMPORAL):
	@echo "building the temporal CLI $(TEMPORAL_CLI_VERSION) from the Go module proxy (~4 minutes, once) ..."
	GOBIN=$(TOOLS) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

## deps: the Temporal CLI and Debian's clickhouse-server, if missing
deps: tools
	@$(MAKE) --no-print-directory apt PKGS="clickhouse-server"

## test-deps: deps, plus chromium (the dashboards page is tested in it)
test-deps: tools
	@$(MAKE) --no-print-directory apt PKGS="clickhouse-server chromium"

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
