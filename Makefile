# Thin wrapper around CMake. Every target first installs missing Debian packages.
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 300

.PHONY: all deps release demo test bench fuzz clean

all: release

deps:
	@./scripts/install-deps.sh

release: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)

demo: release
	@./scripts/demo.sh

# The test build is its own tree: AddressSanitizer + UBSan, warnings as errors.
test: deps
	@cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DKKS_SANITIZE=ON -DKKS_WERROR=ON -DKKS_TEST_HOOKS=ON >/dev/null
	@cmake --build build-test -j $(JOBS)
	@cd build-test && ctest --output-on-failure -j $(JOBS)

bench: release
	@./bench/run.sh build/bin

fuzz:
	@KKS_FUZZ=1 ./scripts/install-deps.sh
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKKS_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_frame fuzz_switch fuzz_scenario fuzz_metrics_head \
		fuzz_registry fuzz_seeds fuzz_key_file fuzz_addr fuzz_journal fuzz_credit_manifest fuzz_scrape
	@mkdir -p fuzz/corpus-run fuzz/corpus-switch-run && cp -n fuzz/corpus/* fuzz/corpus-run/ 2>/dev/null || true
	@mkdir -p fuzz/corpus-scenario-run && cp -n fuzz/corpus-scenario/* fuzz/corpus-scenario-run/ 2>/dev/null || true
	@mkdir -p fuzz/corpus-metrics-run && cp -n fuzz/corpus-metrics/* fuzz/corpus-metrics-run/ 2>/dev/null || true
	@build-fuzz/bin/fuzz_frame -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz/corpus-run
	@build-fuzz/bin/fuzz_switch -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz/corpus-switch-run
	@build-fuzz/bin/fuzz_scenario -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-dict=fuzz/scenario.dict -max_len=16384 fuzz/corpus-scenario-run
	@build-fuzz/bin/fuzz_metrics_head -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-max_len=6144 fuzz/corpus-metrics-run
	@for t in registry:registry seeds:seeds key_file:key addr:addr journal:journal \
		credit_manifest:credit scrape:scrape; do \
		mkdir -p fuzz/corpus-$${t#*:}-run && cp -n fuzz/corpus-$${t#*:}/* fuzz/corpus-$${t#*:}-run/ 2>/dev/null; \
		build-fuzz/bin/fuzz_$${t%%:*} -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			fuzz/corpus-$${t#*:}-run || exit 1; \
	done

clean:
	rm -rf build build-test build-fuzz
