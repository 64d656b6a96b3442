# mlpipe entry points. `make demo` and `make test` are the README's two commands:
# each installs what is missing (Debian packages, as root), configures and builds.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps build demo test bench soak fuzz format format-check clean

all: build

deps:
	@scripts/install-deps.sh test

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD_DIR)

test: format-check build
	@scripts/install-deps.sh npm
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench:
	@scripts/install-deps.sh bench
	$(MAKE) build
	scripts/bench.sh $(BUILD_DIR)

# The reliability suite's soak for ten minutes (60 s in `make test`).
soak: build
	SOAK_SECONDS=$${SOAK_SECONDS:-600} $(BUILD_DIR)/tests/soak_test

# The fuzz targets under libFuzzer + ASan + UBSan (clang, in build-fuzz),
# FUZZ_SECONDS each; tests/reliability/fuzz.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/install-deps.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	find common services clients cli tests bench \( -name '*.cc' -o -name '*.h' \) \
	  -not -path '*/node_modules/*' | xargs clang-format -i

# Fails, naming the files, when a source differs from clang-format's layout.
format-check: deps
	@scripts/check-format.sh

clean:
	rm -rf $(BUILD_DIR)
