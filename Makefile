# weft -- the thin top-level Makefile: users type make demo / make test.
# The real build is CMake (CMakeLists.txt); each target first makes sure the
# Debian build dependencies are installed (scripts/deps.sh).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build demo test test-long sanitize bench fuzz clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)

test: build
	@CTEST_ARGS="-LE long $${CTEST_ARGS:-}" bash scripts/run_tests.sh $(BUILD)

# The full forms of the long scenarios (ctest label `long`).
test-long: build
	@CTEST_ARGS="-L long $${CTEST_ARGS:-}" bash scripts/run_tests.sh $(BUILD)

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DWEFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 bash scripts/run_tests.sh build-asan

bench: build
	bash bench/run.sh $(BUILD)

# libFuzzer (clang) on every decoder; FUZZ_SECONDS per target (default 60).
fuzz: deps
	CC=clang cmake -S . -B build-fuzz -G Ninja -DWEFT_FUZZ=ON -DWEFT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build build-fuzz -j $(JOBS)
	bash scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

clean:
	rm -rf $(BUILD) build-asan build-fuzz
