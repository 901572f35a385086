# Sluice. `make dev` starts everything on embedded defaults; `make test` runs
# every test, including the integration tests through the real Temporal dev
# server, kfake and ClickHouse.
SHELL := /bin/bash
GO ?= go
TOOLS := $(CURDIR)/.tools/bin
TEMPORAL := $(TOOLS)/temporal
TEMPORAL_CLI_VERSION := v1.5.1
export PATH := $(TOOLS):$(PATH)

.PHONY: dev test build tools deps vet bench clean

## dev: install what is missing, build, start the stack with demo traffic
dev: deps build
	./bin/sluice dev

## test: vet, then every test (unit, integration, end to end)
test: deps vet
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
	@command -v clickhouse-server >/dev/null || { \
	  echo "installing clickhouse-server (Debian package) ..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y clickhouse-server; }

clean:
	rm -rf bin .sluice

## bench: the bridge against the naive baseline on the embedded stack (one run, ~6 minutes)
bench: deps build
	./bin/sluice bench --markdown BENCHMARKS.run.md
