# tracep — see README.md. Every target runs as root on a machine with Go;
# `make generate` also needs clang and bpftool (Debian: clang llvm libbpf-dev bpftool).

GO       ?= go
VERSION  ?= $(shell git describe --tags --match 'v*' --dirty 2>/dev/null || echo v0.1.0-dev)
LDFLAGS  := -X github.com/tracep/tracep/cmd/tracep/internal/base.Version=$(VERSION)
BIN      := bin/tracep
# Fuzz targets run a bounded number of inputs each in `make test` (FUZZTIME=0
# skips them); a count, not a duration, since a duration sometimes ends in the
# fuzz engine's own "context deadline exceeded" on a loaded machine.
FUZZTIME ?= 50000x

.PHONY: all build run test check unit fuzz bench generate fmt clean

all: build

# Static (no cgo): no dynamic loader at each start (~2 ms, ~10 ms of CPU
# with the traced command) and no libc pages (1.3 MB of RSS). -as USER then
# looks USER up in /etc/passwd and /etc/group only, not through NSS.
# bin/tracep holds the tracers; bin/tracep-full, beside it, the commands and
# flags that link net/http, crypto/tls or testscript (ca, script, view,
# demo, -web, -net), which tracep hands over to it.
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tracep
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)-full ./cmd/tracep/tracep-full

# The built-in demo: a workload traced inside a throwaway network namespace
# that serves a fake internet (tracep hands it to tracep-full). Needs root.
run: build
	./$(BIN) demo

# Everything CI checks. Privileged tests skip without root unless
# TRACEP_REQUIRE_PRIVILEGED=1, which turns those skips into failures.
test: check unit fuzz

check:
	@unformatted="$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd examples && $(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...

# The examples module (its own go.mod) uses tracep as another project would.
unit:
	$(GO) test -race -count=1 ./...
	cd examples && $(GO) test -race -count=1 ./...

fuzz:
	@if [ "$(FUZZTIME)" != "0" ]; then ci/fuzz.sh $(FUZZTIME); fi

# The tracer table (ci/bench: each tracer as a process on fixed workloads,
# scoped bursts and whole-system spread-out runs, medians of BENCH_RUNS
# runs, then start-up times), the scoped bursts ten times larger, then the
# Go benchmarks' figures. See README.md.
BENCH_RUNS ?= 5
bench: build
	$(GO) run ./ci/bench -tracep $(BIN) -runs $(BENCH_RUNS)
	$(GO) run ./ci/bench -tracep $(BIN) -runs 1 -scale 10 -mode scoped -only exec,net,dns,tls,ca
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./...

# Regenerate the committed bpf2go output (needs clang and bpftool).
generate:
	$(GO) generate ./backends/...

fmt:
	gofmt -w $$(find . -name '*.go' -not -path './.git/*')

clean:
	rm -rf bin
