# medseg — the two commands a fresh machine needs:
#   make serve   build the web app and serve it on http://127.0.0.1:$(PORT)
#   make test    run every test (native, wasm under node, browser)
# Each installs what is missing first (scripts/setup.sh), idempotently.

PORT ?= 8080
# Outside the clone so CI's fresh clones reuse earlier builds on the same machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/medseg-target
WASM := $(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-release/medseg.wasm

.PHONY: serve test test-native test-wasm test-browser web setup-build fuzz bench

serve: web
	scripts/setup.sh sample
	@echo "medseg: serving www/ on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	cd www && python3 -m http.server $(PORT) --bind 127.0.0.1

test: web test-native test-wasm test-browser

setup-build:
	scripts/setup.sh build

## The page's wasm module: release build with simd128, then wasm-bindgen --target web; then the
## service worker's list of what it keeps offline (www/sw-manifest.js).
web: setup-build
	cargo build --lib --target wasm32-unknown-unknown --profile wasm-release
	wasm-bindgen --target web --no-typescript --out-dir www/pkg $(WASM)
	@# A wasm that imports C functions ("env": malloc…) cannot load in a browser: fail here, not there.
	@if grep -q 'from "env"' www/pkg/medseg.js; then echo 'www/pkg: the wasm imports C functions from "env" (see src/web/libc.rs)'; exit 1; fi
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
