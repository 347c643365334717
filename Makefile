# medseg — the two commands a fresh machine needs:
#   make serve   build the web app and serve it on http://127.0.0.1:$(PORT)
#   make test    run every test (native, wasm under node, browser)
# Each installs what is missing first (scripts/setup.sh), idempotently.

PORT ?= 8080
# Outside the clone so CI's fresh clones reuse earlier builds on the same machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/medseg-target
WASM := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/medseg.wasm
# The threaded build: its own target folder (std rebuilt with atomics, other flags).
THREADS_TARGET_DIR := $(CARGO_TARGET_DIR)/threads
WASM_THREADS := $(THREADS_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/medseg.wasm
# A shared, imported memory (4 GiB at most) and the thread-local storage symbols wasm-bindgen's
# thread start-up needs.
THREADS_RUSTFLAGS := -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 \
	-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
	-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
	-C link-arg=--export=__tls_base

.PHONY: serve test test-native test-wasm test-browser web setup-build fuzz bench bench-models

serve: web
	scripts/setup.sh sample
	@echo "medseg: serving www/ on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop), cross-origin isolated"
	cd www && python3 ../scripts/serve.py $(PORT)

test: web test-native test-wasm test-browser

setup-build:
	scripts/setup.sh build

## The page's wasm modules, release builds with simd128 then wasm-bindgen --target web: www/pkg
## (single-threaded) and www/pkg-threads (feature `threads`: atomics, shared memory, std rebuilt for
## them with the toolchain's rust-src through RUSTC_BOOTSTRAP, rayon's pool on Web Workers via
## wasm-bindgen-rayon; www/lib/wasm.js picks one at run time). Then the service worker's list of what
## it keeps offline (www/sw-manifest.js).
web: setup-build
	cargo build --lib --target wasm32-unknown-unknown --profile wasm-release
	wasm-bindgen --target web --no-typescript --out-dir www/pkg $(WASM)
	RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$(THREADS_TARGET_DIR) CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$(THREADS_RUSTFLAGS)" \
		cargo build --lib --target wasm32-unknown-unknown --profile wasm-release --features threads -Z build-std=panic_abort,std
	@# Without --remove-name-section the std rebuilt for threads brings 30 MB of function names.
	rm -rf www/pkg-threads
	wasm-bindgen --target web --no-typescript --remove-name-section --out-dir www/pkg-threads $(WASM_THREADS)
	@# wasm-bindgen-rayon's pool workers import the module as '../../..' (a bundler's package
	@# folder); without a bundler they must name the file.
	sed -i "s|import('../../..')|import('../../../medseg.js')|" www/pkg-threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js
	@grep -q "import('../../../medseg.js')" www/pkg-threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js || \
		{ echo 'www/pkg-threads: the pool workers'"'"' import was not found to point at medseg.js'; exit 1; }
	@# A wasm that imports C functions ("env": malloc…) cannot load in a browser: fail here, not there.
	@for pkg in www/pkg www/pkg-threads; do if grep -q 'from "env"' $$pkg/medseg.js; then \
		echo "$$pkg: the wasm imports C functions from \"env\" (see src/web/libc.rs)"; exit 1; fi; done
	node scripts/precache.mjs

## The GPU backend's tests need an adapter: lavapipe (software Vulkan) where there is no GPU.
## Mesa wants a private runtime directory, which containers often lack. The public test files
## (scripts/setup.sh testdata) stand in for ../shared where it is absent; the closing summary
## names each test that still skipped (scripts/test_summary.sh).
test-native:
	scripts/setup.sh gpu testdata trimesh readers dicom
	mkdir -p -m 700 $${XDG_RUNTIME_DIR:=/tmp/medseg-xdg-$$(id -u)} && \
		XDG_RUNTIME_DIR=$$XDG_RUNTIME_DIR MEDSEG_REQUIRE_GPU=1 scripts/test_summary.sh cargo test --all-targets

## wasm32 tests under node; the wasm-release profile reuses the page build's compiled dependencies.
test-wasm: setup-build
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
		cargo test --profile wasm-release --target wasm32-unknown-unknown --test wasm_node

## The page in headless Chromium (playwright-core); uses the native binary to read saved files back.
test-browser: web
	scripts/setup.sh sample browser
	cargo build --bin medseg
	if [ -d ../shared/models/brainchop-tfjs ]; then \
		$(CARGO_TARGET_DIR)/debug/medseg models fetch --from ../shared/models/brainchop-tfjs model5_gw_ae; fi
	cd tests/e2e && MEDSEG_BIN=$(CARGO_TARGET_DIR)/debug/medseg MEDSEG_MODELS=$(CURDIR)/models npm test

## Fuzz every target in fuzz/ (see fuzz/README.md) for FUZZ_SECONDS each (600 by default), one
## after another, from seeds of real files (fuzz/seed.sh); FUZZ_TARGETS picks some. Installs
## nightly + cargo-fuzz first (scripts/setup.sh fuzz). Crashes land in fuzz/artifacts/TARGET/.
FUZZ_SECONDS ?= 600
fuzz:
	scripts/setup.sh fuzz
	fuzz/seed.sh
	cd fuzz && cargo +nightly fuzz build
	cd fuzz && for t in $${FUZZ_TARGETS:-$$(cargo +nightly fuzz list)}; do \
		echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
		cargo +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 \
			-print_final_stats=1 || exit 1; \
	done

## Benchmarks (not tests): decode natively, in wasm under node, with nibabel, and in the page.
BENCH_FILES ?= ../shared/data/brain/t1_crop.nii.gz ../shared/data/ct/example_ct.nii.gz
bench: web
	cargo build --release --bin medseg
	$(CARGO_TARGET_DIR)/release/medseg bench --runs 9 $(BENCH_FILES)
	wasm-bindgen --target nodejs --no-typescript --out-dir $(CARGO_TARGET_DIR)/pkg-node $(WASM)
	node scripts/bench_wasm_decode.mjs $(CARGO_TARGET_DIR)/pkg-node $(BENCH_FILES)
	python3 scripts/bench_nibabel.py $(BENCH_FILES)
	scripts/setup.sh browser
	cd tests/e2e && node bench.mjs $(abspath $(BENCH_FILES))

## Benchmark (not a test): deepbet, three MeshNets and LiteMedSAM against onnxruntime, 1 thread each,
## in one table: the page vs onnxruntime-web, native medseg vs onnxruntime, peak memory
## (scripts/bench_models.py). RUNS (default 3, MeshNets 1) and MODELS (a subset, e.g.
## MODELS=model5_gw_ae,litemedsam_decoder) choose.
BENCH_MESHNETS := model5_gw_ae model20chan3cls model30chan18cls
bench-models: web
	scripts/setup.sh bench browser
	cargo build --release --bin medseg
	if [ -d ../shared/models/brainchop-tfjs ]; then MEDSEG_MODELS=$(CURDIR)/models \
		$(CARGO_TARGET_DIR)/release/medseg models fetch --from ../shared/models/brainchop-tfjs $(BENCH_MESHNETS); fi
	python3 scripts/bench_models.py
