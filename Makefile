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
# binary-wide (see README, Measured, and `make check-dce`).
BUILD_TAGS    := grpcnotrace
LDFLAGS       := -s -w -buildid=
GOFLAGS_BUILD := -trimpath -tags $(BUILD_TAGS) -ldflags='$(LDFLAGS)'
# templ's generator (buildkit_report's page.templ -> page_templ.go), pinned in .ci/tools/templ
# at the version of the templ runtime in go.mod.
TEMPL_PATH    := module-src

# One multi-call binary per architecture holds every module (module-src/buildkit;
# the modules are listed once, in module-src/internal/modules).
BINARIES := $(foreach a,$(ARCHES),$(BIN_DIR)/jenkins_ha_buildkit_linux_$(a))
GO_SOURCES := $(shell find module-src -name '*.go' -not -name '*_test.go') go.mod go.sum Makefile

.PHONY: all build test test-matrix unit integration playbook-tests collection install clean lint example bench \
	generate check-generated check-dce

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

# Go code generated from templates (buildkit_report's page.templ): run after editing a .templ file and
# commit the *_templ.go it writes. The file names in the generated code are relative to TEMPL_PATH, so
# generate from here, not from the package's directory.
generate:
	$$(.ci/tools/build.sh templ) generate -path $(TEMPL_PATH)

# Fails when a committed *_templ.go is not what its .templ source generates, or when the generator
# (.ci/tools/templ/go.mod) and the runtime it generates for (go.mod) are not the same templ version.
check-generated:
	@runtime=$$($(GO) list -m -f '{{.Version}}' github.com/a-h/templ); \
	generator=$$(cd .ci/tools/templ && $(GO) list -m -f '{{.Version}}' github.com/a-h/templ); \
	[ "$$runtime" = "$$generator" ] || { echo "templ: the runtime (go.mod) is $$runtime but the generator (.ci/tools/templ/go.mod) is $$generator: pin one version in both, then make generate"; exit 1; }; \
	templ=$$(.ci/tools/build.sh templ) || exit 1; \
	if ! out=$$("$$templ" generate -check -path $(TEMPL_PATH) 2>&1); then \
	  echo "$$out"; echo "generated Go code is out of date with its .templ source: run make generate and commit the result"; exit 1; fi; \
	echo "generated code up to date (templ $$generator)"

# Fails when a reachable function looks methods up by reflection (reflect.Value.Method, or MethodByName
# with a name not known at compile time: text/template and html/template execution do): the linker then
# keeps every exported method of every reachable type (buildkit_report's html/template page cost 5.7 MB
# of the amd64 binary). The linker's dependency dump marks such functions <ReflectMethod>.
check-dce:
	@dump=$$(mktemp); trap 'rm -f "$$dump"' EXIT; \
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags $(BUILD_TAGS) -ldflags='$(LDFLAGS) -dumpdep' \
	  -o /dev/null ./module-src/buildkit >"$$dump" 2>&1 || { tail -20 "$$dump"; exit 1; }; \
	found=$$(grep -o '[^ ]* <ReflectMethod>' "$$dump" | sort -u); \
	if [ -n "$$found" ]; then echo "reachable reflective method lookups make the linker keep every exported method:"; echo "$$found"; exit 1; fi; \
	echo "no reachable reflective method lookup: unused methods are dropped"

# The whole suite: Go unit tests, integration tests against a real engine, and
# playbook tests through ansible-playbook. tests/run starts dockerd if needed.
test: build
	tests/run

# The suite on Debian's Docker 20.10, then its integration and playbook tests
# on a current Docker Engine (containerd image store) started beside it.
test-matrix: build
	TEST_ENGINES="debian current" TEST_CONTROLLERS="system trixie sid" tests/run

# Every test that needs no daemon: the Go packages (tests/integration skips
# itself with -short) and the action plugin's ansible-core internals.
unit:
	$(GO) test -short ./...
	PATH=/usr/bin:$$PATH python3 tests/unit/plugins/action/test_go_module.py

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
	tests/scripts/registry.sh start
	BUILDX=$$(.ci/tools/build.sh buildx) BUILDKITD=$$(.ci/tools/build.sh buildkitd) TRIVY=$$(.ci/tools/build.sh trivy) $(GO) run ./tests/bench $(BENCH_FLAGS)

clean:
	rm -rf $(BIN_DIR) build tests/output
