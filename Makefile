# cricket — see README.md. Everything here runs as root on Debian 12 with
# containerd, runc, containernetworking-plugins and busybox-static installed
# (.ci/run installs them).
GO      ?= go
BIN     := bin/cricketd
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/cricket-cri/cricket/internal/version.Version=$(VERSION)
# Arguments for `make run`, e.g. RUN_ARGS="--log-level debug".
RUN_ARGS ?=

.PHONY: all build run test lint unit integration clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cricketd

# Run cricketd with a managed containerd (started, supervised and stopped by
# cricketd) on the default socket unix:///run/cricket/cricket.sock.
run: build
	./$(BIN) --containerd-managed $(RUN_ARGS)

# All tests: formatting and vet, then unit and integration tests with the
# race detector. Integration tests start their own containerd, registry and
# cricketd processes.
test: lint
	$(GO) test -race -count=1 -timeout 30m ./...

lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

unit: lint
	CRICKET_SKIP_INTEGRATION=1 $(GO) test -race -count=1 ./...

integration:
	$(GO) test -race -count=1 -timeout 30m ./test/...

clean:
	rm -rf bin
