# weft -- the thin top-level Makefile: users type make demo / make test.
# The real build is CMake (CMakeLists.txt); each target first makes sure the
# Debian build dependencies are installed (scripts/deps.sh).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-long sanitize coverage bench fuzz clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)

# Every test in its short form (ctest -LE long): under 8 minutes here.
test: build
	@CTEST_ARGS="-LE long $(CTEST_ARGS)" bash scripts/run_tests.sh $(BUILD)

# The full forms of the long scenarios (ctest label `long`): many seeds,
# the 1,000-node membership runs.
test-long: build
	@CTEST_ARGS="-L long $(CTEST_ARGS)" bash scripts/run_tests.sh $(BUILD)

# The `make test` suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (leaks too): any report fails the test that caused it.
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DWEFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  CTEST_ARGS="-LE long $(CTEST_ARGS)" bash scripts/run_tests.sh build-asan

# `make test` built with coverage; per-file line and branch figures (gcovr),
# and whether the targets of docs/ARCHITECTURE.md §Tests are met.
coverage: deps
	@bash scripts/coverage.sh build-cov

bench: build
	bash bench/run.sh $(BUILD)

# libFuzzer (clang) on every decoder; FUZZ_SECONDS per target (default 60).
# Optimised (-O2) with assertions kept: the sanitizers stay, the speed
# (execs/s, fuzz/README.md) is what finds bugs.
fuzz: deps
	CC=clang cmake -S . -B build-fuzz -G Ninja -DWEFT_FUZZ=ON -DWEFT_SANITIZE=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g"
	cmake --build build-fuzz -j $(JOBS)
	bash scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-cov
