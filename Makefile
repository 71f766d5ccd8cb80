# cricket — see README.md. Everything here runs as root on Debian 12; the
# packages it needs (containerd, runc, CNI plugins, busybox-static, and gcc,
# pkg-config and libseccomp-dev to build cricket's shim) are installed by
# contrib/install-deps.sh when missing (make deps, which run, build and
# test go through).
GO      ?= go
BIN     := bin/cricketd
# cricket's containerd shim (runtime type io.containerd.cricket.v1), next to
# cricketd: a managed containerd finds it there. cgo (libcontainer's nsenter)
# and libseccomp (the seccomp build tag: libcontainer applies pods' seccomp
# profiles itself) are needed: gcc, pkg-config and libseccomp-dev.
SHIM    := bin/containerd-shim-cricket-v1
# Linked statically (libc.a from libc6-dev, libseccomp.a from
# libseccomp-dev): every container init and exec re-executes the shim's
# binary, and a static one starts without the dynamic loader (about half a
# millisecond) and maps less (internal/testrig builds it the same way).
SHIM_FLAGS := -tags "seccomp osusergo netgo" -ldflags '-extldflags "-static"'
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/cricket-cri/cricket/internal/version.Version=$(VERSION)
# The configuration `make run` uses (pinned sandboxes, the built-in bridge,
# a managed containerd) and extra flags, e.g. RUN_ARGS="--log-level debug".
RUN_CONFIG ?= contrib/run.toml
RUN_ARGS ?=

.PHONY: all deps build run test lint unit integration kubelet-e2e fuzz leakcheck bench bench-pull bench-smoke clean

all: build

# The Debian packages cricket needs (see the script); silent when present.
deps:
	@contrib/install-deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cricketd
	CGO_ENABLED=1 $(GO) build $(SHIM_FLAGS) -o $(SHIM) ./cmd/containerd-shim-cricket-v1

# Run cricketd with RUN_CONFIG: a managed containerd (started, supervised
# and stopped by cricketd), pinned sandboxes and the built-in bridge, on the
# default socket unix:///run/cricket/cricket.sock. The managed containerd
# has bin/ first in its PATH: pods run on bin/containerd-shim-cricket-v1.
run: build
	./$(BIN) --config $(RUN_CONFIG) $(RUN_ARGS)

# All tests: formatting and vet, then unit and integration tests with the
# race detector, then the kubelet suite, then a short side-by-side
# benchmark so that it cannot rot. Integration tests start their own
# containerd, registry and cricketd processes.
test: deps lint fuzz
	$(GO) test -race -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/test/kubelet$$')
	$(MAKE) kubelet-e2e
	$(MAKE) bench-smoke

# The kubelet end-to-end suite (test/kubelet): a real kubelet, built from
# the k8s.io/kubernetes module that test/kubelet/kubeletbin pins (the first
# build takes several minutes, the Go build cache keeps it) into
# bin/kubelet, runs standalone with static pods against test cricketds
# (with the race detector) in three node set-ups.
kubelet-e2e:
	$(GO) test -race -count=1 -timeout 60m -v ./test/kubelet/

# Side by side with containerd's built-in CRI plugin: cribench starts a
# registry, a containerd for cricket and one with its CRI plugin on, then
# drives both through the CRI API in alternation and prints medians, p90,
# p99 and the cricket/containerd ratio per operation.
# BENCH_ARGS="-network bridge" measures the built-in network backend,
# BENCH_ARGS="-sandbox-mode pinned" pods without a pause process.
BENCH_ARGS ?= -n 30 -parallel 10 -rounds 3
bench: build
	$(GO) build -o bin/cribench ./cmd/cribench
	./bin/cribench -self-host -compare $(BENCH_ARGS)

# PullImage side by side (cribench -pull): a large multi-layer image, one
# of many small layers and 4 images at once, removed and garbage-collected
# on both sides between pulls; medians and cricket/containerd ratios.
# BENCH_ARGS="-rounds 9" for more rounds, "-pull-only large" for one scenario.
bench-pull: build
	$(GO) build -o bin/cribench ./cmd/cribench
	./bin/cribench -self-host -compare -pull -rounds 5 $(BENCH_ARGS)

# The short form CI runs: both network modes and both sandbox modes, a few
# pods each. Its limits only catch gross regressions (the machine CI runs
# on is noisy): on cricket's own shim StartContainer and ExecSync take
# about 0.6 of containerd's time, and a runc-speed path (1.0) fails the
# 0.85 mark; a pinned bridge pod starts in well under half of
# containerd's time; the large image pulls in about 0.4 of containerd's
# time, and the old pull path (1.4-2.5) fails the 1.0 mark.
bench-smoke: build
	$(GO) build -o bin/cribench ./cmd/cribench
	./bin/cribench -self-host -compare -n 5 -parallel 3 -rounds 1 -max-ratio RunPodSandbox=1.5,StartContainer=0.85,ExecSync=0.85
	./bin/cribench -self-host -compare -network bridge -n 5 -parallel 3 -rounds 1 -max-ratio RunPodSandbox=1.5,StartContainer=0.85,ExecSync=0.85
	./bin/cribench -self-host -compare -network bridge -sandbox-mode pinned -n 5 -parallel 3 -rounds 1 -max-ratio RunPodSandbox=1,StartContainer=0.85,ExecSync=0.85
	./bin/cribench -self-host -compare -pull -pull-only large -rounds 3 -max-ratio 'pull large (1+4x50 MB)=1'

# Each fuzz target briefly (its committed seed corpus always runs with the
# unit tests); FUZZTIME=5m for a real session. A count of executions
# rather than a duration keeps short runs from ending mid-input.
FUZZTIME ?= 3000x
FUZZ_TARGETS := ./sandbox:FuzzValidate ./container:FuzzValidateAndSpec ./image:FuzzParseRef ./crilog:FuzzCopyRoundTrip
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

# The leak-focused integration tests: each lists netns, mounts, veths, IPAM
# allocations, cgroups, containerd containers/tasks/snapshots/leases and
# shims before and after, and fails on any difference.
leakcheck:
	$(GO) test -count=1 -timeout 30m -run 'Leave|Leak|Cycles|Parallel|Crash' ./test/...

lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

unit: lint
	CRICKET_SKIP_INTEGRATION=1 $(GO) test -race -count=1 ./...

integration:
	$(GO) test -race -count=1 -timeout 30m ./test/integration/

clean:
	rm -rf bin
