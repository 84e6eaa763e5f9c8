# Targets for people; CI runs .ci/run.
FUZZTIME ?= 1m
# package:target pairs; every parser of the project has one.
FUZZ_TARGETS = parser:FuzzParseFlow parser:FuzzFastPath parser:FuzzParseEvent parser:FuzzStatsLines \
	parser:FuzzSysctlAndKernelLog parser:FuzzDecoder parser:FuzzParseAddr parser:FuzzTimeFromName \
	parser:FuzzBundleManifest parser:FuzzBundleArchive parser:FuzzExpectEvent \
	report:FuzzReadJSON rules:FuzzLoad rules:FuzzSet collector/netlinkct:FuzzFlow capture:FuzzDecode capture:FuzzReader \
	collector:FuzzKmsgRecords collector:FuzzConnlabel collector:FuzzDecodeExpectEvent cmd/ctdiag:FuzzSysctlFlag \
	ruleset:FuzzParse ruleset:FuzzRuleMsg ruleset:FuzzXt ruleset:FuzzSetElemMsg
# conntrack's XML and the filter expressions (one tokenizer, the registered options).
FUZZ_TARGETS += parser:FuzzXML filter:FuzzFilter

.PHONY: build test unit integration check-clean package scorecard engine-diff bench bench-tui bench-live bench-exporter fuzz lint

build:
	go build -o ctdiag ./cmd/ctdiag

# The whole suite (kernel tests run as root, and skip otherwise).
test:
	go test ./...

# Only the unit tests: every kernel test skips under -short.
unit:
	go test -short ./...

# Exactly the tests that need the real kernel (root, iproute2, nftables,
# conntrack): they, and only they, are named TestKernel….
integration:
	go test -count=1 -run '^TestKernel' ./...

# The suite, failing if it leaves anything behind (files, tmux sockets,
# namespaces, processes); CI runs this.
check-clean:
	scripts/check-clean.sh go test ./...

# The .deb (dist/), with man pages and shell completions.
package:
	scripts/package.sh

# The engine against the kernel with more random sequences (root).
SEQUENCES ?= 100000
SEED ?= 7
engine-diff:
	go test -count=1 -timeout 120m -v -run KernelEngineRandom ./internal/testkit/kerneldiff -engine.sequences=$(SEQUENCES) -engine.seed=$(SEED)

# The scorecard at every size, L (≥ 200,000 entries a scenario) included:
# minutes on 2 cores; go test ./... plays S and M (root).
scorecard:
	go test -count=1 -timeout 30m -v -run 'TestKernelScorecard' ./cmd/ctdiag -scorecard.sizes S,M,L

bench:
	scripts/bench.sh

# The terminal UI at 1M entries (needs tmux and bc).
bench-tui:
	scripts/bench-tui.sh

# Live table and events at 1M entries (root): see docs/PERFORMANCE.md.
bench-live:
	scripts/bench-live.sh

# The exporter at 1M entries: scrapes, memory, CPU with 10k events/s (root).
bench-exporter:
	scripts/bench-exporter.sh

fuzz:
	for pt in $(FUZZ_TARGETS); do p=$${pt%%:*}; f=$${pt#*:}; \
		go test ./$$p -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; done

# staticcheck: go install honnef.co/go/tools/cmd/staticcheck@v0.6.1
lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	staticcheck ./...
