#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs made of real files (the corpus is git-ignored):
#   read_nifti   NIfTI scans under 2 MB from ../shared/data and www/sample, and .hdr+.img pairs
#   manifest     models/catalog.json, each of its models as a manifest, models/litemedsam/medsam.json
#   tfjs_import  brainchop TF.js model.json + NUL + weight shards (models/, ../shared/models/brainchop-tfjs)
#   onnx_load    ONNX files under 1 MB (../shared/models/meshnet-onnx) and tiny graphs (seeds/make_seeds.py)
#   picture      PNGs (www icons, seeds/make_seeds.py) and the JPEGs jpeg-decoder's crate ships
#   read_scan    the public DICOM/MGZ/NIfTI-2 files, a DICOM slice, the NIfTI seeds, NRRD files from pynrrd
# Idempotent: a seed is named by the SHA-1 of its bytes, as libFuzzer names what it adds.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=..
SHARED=${MEDSEG_SHARED:-../../shared}
[ -d "$SHARED" ] || echo "seed.sh: no shared data at $SHARED: fewer seeds" >&2

# add TARGET FILE...: copies each existing file under 2 MB into corpus/TARGET.
add() {
    local target=$1 file
    shift
    mkdir -p "corpus/$target"
    for file in "$@"; do
        [ -f "$file" ] && [ "$(stat -c %s "$file")" -lt 2000000 ] || continue
        cp "$file" "corpus/$target/$(sha1sum "$file" | cut -c1-40)"
    done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# NIfTI: single files, and each .hdr with its .img as one input (the target splits at 348 bytes).
mapfile -t scans < <(find "$SHARED/data" "$ROOT/www/sample" -name '*.nii' -o -name '*.nii.gz' 2>/dev/null | sort)
add read_nifti "${scans[@]}"
while IFS= read -r hdr; do
    cat "$hdr" "${hdr%.hdr}.img" > "$tmp/pair" 2>/dev/null && add read_nifti "$tmp/pair"
done < <(find "$SHARED/data" -name '*.hdr' 2>/dev/null)

# Every reader by content (read_scan): the pinned public DICOM, MGZ and NIfTI-2 files, a slice of
# the example DICOM series, the NIfTI seeds above, and NRRD files pynrrd writes.
add read_scan "$ROOT"/tests/data/public/pydicom/data/test_files/*.dcm "$ROOT"/tests/data/public/nibabel/tests/data/*.mgz \
    "$ROOT"/tests/data/public/nibabel/tests/data/example_nifti2.nii.gz "${scans[@]}"
first_slice=$(find "$SHARED/data/ct/example_ct_dicom" -type f 2>/dev/null | sort | head -1)
[ -n "$first_slice" ] && add read_scan "$first_slice"
if python3 -c 'import nrrd' 2>/dev/null; then
    python3 - "$tmp" <<'PY'
import sys, numpy as np, nrrd
out = sys.argv[1]
nrrd.write(f"{out}/a.nrrd", np.arange(24, dtype=np.int16).reshape(2, 3, 4),
           {"space": "left-posterior-superior", "space directions": np.eye(3), "space origin": [1, 2, 3], "encoding": "gzip"})
nrrd.write(f"{out}/b.nrrd", np.arange(24, dtype=np.float32).reshape(2, 3, 4), {"encoding": "raw", "endian": "big"})
PY
    add read_scan "$tmp"/a.nrrd "$tmp"/b.nrrd
fi

# Manifests: the catalog, each model in it on its own, MedSAM's.
add manifest "$ROOT/models/catalog.json" "$ROOT/models/litemedsam/medsam.json" "$ROOT"/models/*/manifest.json
python3 - "$ROOT/models/catalog.json" "$tmp" <<'PY'
import json, sys
for i, model in enumerate(json.load(open(sys.argv[1]))["models"]):
    json.dump(model, open(f"{sys.argv[2]}/manifest{i}.json", "w"), indent=2)
PY
add manifest "$tmp"/manifest*.json

# TF.js: model.json, a NUL byte, then its shards in order; every model.json also alone.
for json in "$ROOT"/models/*/model.json "$SHARED"/models/brainchop-tfjs/*/model.json; do
    [ -f "$json" ] || continue
    add tfjs_import "$json"
    mapfile -t shards < <(python3 -c 'import json,sys; [print(p) for g in json.load(open(sys.argv[1]))["weightsManifest"] for p in g["paths"]]' "$json")
    { cat "$json"; printf '\0'; for s in "${shards[@]}"; do cat "$(dirname "$json")/$s"; done; } > "$tmp/tfjs" && add tfjs_import "$tmp/tfjs"
done

# ONNX: the small MeshNets (< 1 MB each), and tiny graphs of other operations.
for onnx in "$SHARED"/models/meshnet-onnx/*.onnx "$ROOT"/models/*/*.onnx; do
    [ -f "$onnx" ] && [ "$(stat -c %s "$onnx")" -lt 1000000 ] && add onnx_load "$onnx"
done

# Pictures: the app's icons, the JPEGs of jpeg-decoder's crate (in cargo's registry once built).
add picture "$ROOT"/www/*.png
mapfile -t jpegs < <(find "${CARGO_HOME:-$HOME/.cargo}"/registry/src -path '*jpeg-decoder-*' -name '*.jpg' -size -200k 2>/dev/null)
add picture "${jpegs[@]}"

python3 seeds/make_seeds.py "$tmp/made"
for dir in "$tmp"/made/*/; do
    add "$(basename "$dir")" "$dir"*
done

for dir in corpus/*/; do
    echo "seed.sh: $(ls "$dir" | wc -l) seeds in $dir" >&2
done
