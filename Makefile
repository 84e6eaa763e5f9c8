# Targets for people; CI runs .ci/run.
FUZZTIME ?= 1m
FUZZ_TARGETS = FuzzParseFlow FuzzFastPath FuzzParseEvent FuzzStatsLines FuzzSysctlAndKernelLog FuzzDecoder FuzzParseAddr

.PHONY: build test integration engine-diff bench fuzz lint

build:
	go build -o ctdiag ./cmd/ctdiag

# The whole suite (kernel tests run as root, and skip otherwise).
test:
	go test ./...

# Only the tests that need the real kernel (root, iproute2, nftables, conntrack).
integration:
	go test -count=1 -run Kernel ./...
	go test -count=1 ./internal/netnstest/

# The engine against the kernel with more random sequences (root).
SEQUENCES ?= 100000
SEED ?= 7
engine-diff:
	go test -count=1 -timeout 120m -v -run KernelEngineRandom ./internal/kerneldiff -engine.sequences=$(SEQUENCES) -engine.seed=$(SEED)

bench:
	scripts/bench.sh

fuzz:
	for f in $(FUZZ_TARGETS); do go test ./parser -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; done
	go test ./capture -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME)
	go test ./capture -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME)

# staticcheck: go install honnef.co/go/tools/cmd/staticcheck@v0.6.1
lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...
	staticcheck ./...
