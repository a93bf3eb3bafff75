# jenkins_ha.buildkit — build the Go binary modules, test, package.
GO        ?= go
ARCHES    ?= amd64 arm64
BIN_DIR   := plugins/bin
comma     := ,
empty     :=
space     := $(empty) $(empty)
VERSION   := $(shell awk '/^version:/ {print $$2}' galaxy.yml)
# grpcnotrace: gRPC then leaves out golang.org/x/net/trace, whose html/template
# use (reflect.Value.Method) stops the linker from dropping unused methods
# binary-wide (buildkit_report's own html/template still does: see README, Measured).
GOFLAGS_BUILD := -trimpath -tags grpcnotrace -ldflags='-s -w -buildid='

# One multi-call binary per architecture holds every module (module-src/buildkit;
# the modules are listed once, in module-src/internal/modules).
BINARIES := $(foreach a,$(ARCHES),$(BIN_DIR)/jenkins_ha_buildkit_linux_$(a))
GO_SOURCES := $(shell find module-src -name '*.go' -not -name '*_test.go' -o -name '*.html' -not -name '*_test.go') go.mod go.sum Makefile

.PHONY: all build test test-matrix unit integration playbook-tests collection install clean lint example bench

all: build

build: $(BINARIES) $(BIN_DIR)/THIRD_PARTY_NOTICES.txt

# Static, stripped binaries, one per architecture.
$(BIN_DIR)/jenkins_ha_buildkit_linux_%: $(GO_SOURCES)
	@mkdir -p $(BIN_DIR)
	CGO_ENABLED=0 GOOS=linux GOARCH=$* $(GO) build $(GOFLAGS_BUILD) -o $@ ./module-src/buildkit
	@chmod 0755 $@
	@sha256sum $@ | cut -d' ' -f1 > $@.sha256

# The licences and notices of the Go modules linked into the binaries, shipped beside them.
$(BIN_DIR)/THIRD_PARTY_NOTICES.txt: go.mod go.sum tools/notices/main.go
	@mkdir -p $(BIN_DIR)
	$(GO) run ./tools/notices -platforms $(subst $(space),$(comma),$(foreach a,$(ARCHES),linux/$(a))) -o $@ ./module-src/buildkit

# The whole suite: Go unit tests, integration tests against a real engine, and
# playbook tests through ansible-playbook. tests/run starts dockerd if needed.
test: build
	tests/run

# The suite on Debian's Docker 20.10, then its integration and playbook tests
# on a current Docker Engine (containerd image store) started beside it.
test-matrix: build
	TEST_ENGINES="debian current" TEST_CONTROLLERS="system trixie sid" tests/run

unit:
	$(GO) test ./module-src/... -short

collection: build
	ansible-galaxy collection build --force --output-path build .

install: collection
	ansible-galaxy collection install --force -p ./build/collections build/jenkins_ha-buildkit-$(VERSION).tar.gz

example: build
	tests/scripts/engine.sh
	ansible-playbook playbooks/build-example.yml

# Side-by-side benchmarks (medians and ratios in one run); BENCH_FLAGS=-quick for CI.
bench: build
	tests/scripts/engine.sh
	BUILDX=$$(.ci/tools/build.sh buildx) TRIVY=$$(.ci/tools/build.sh trivy) $(GO) run ./tests/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN_DIR) build tests/output
