"""Writes tests/reference/meshnet_onnxruntime.json: onnxruntime's logits for every MeshNet in
../shared/models/meshnet-onnx on a real 40³ block of norm.nii.gz, at fixed sample voxels.

Run from the repository root: python3 tests/make_meshnet_reference.py  (pip: onnxruntime nibabel)
The Rust tests run the same input through tract (ONNX and the TF.js import) and compare.
"""
import json
import pathlib

import nibabel as nib
import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OUT = ROOT / "tests" / "reference" / "meshnet_onnxruntime.json"
ORIGIN = [108, 100, 110]  # voxel (x, y, z) of the block's first corner in norm.nii.gz
SIZE = 40
SAMPLES = 96


def main():
    norm = nib.load(SHARED / "data/brain/norm.nii.gz").get_fdata().astype(np.float32)
    block = norm[ORIGIN[0]:ORIGIN[0] + SIZE, ORIGIN[1]:ORIGIN[1] + SIZE, ORIGIN[2]:ORIGIN[2] + SIZE]
    block = block / norm.max()  # min-max scaling of the whole scan (min is 0)
    x = np.ascontiguousarray(block.transpose(2, 1, 0))[None, None]  # [1,1,D=z,H=y,W=x]
    rng = np.random.default_rng(7)
    samples = rng.integers(0, SIZE, size=(SAMPLES, 3)).tolist()  # (d, h, w)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    models = {}
    for path in sorted((SHARED / "models/meshnet-onnx").glob("*.onnx")):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        logits = session.run(None, {"input": x})[0][0]  # [C, D, H, W]
        models[path.stem] = {
            "channels": int(logits.shape[0]),
            "values": [[float(v) for v in logits[:, d, h, w]] for d, h, w in samples],
        }
    OUT.write_text(json.dumps({"onnxruntime": ort.__version__, "origin_xyz": ORIGIN, "size": SIZE,
                               "scale": float(norm.max()), "samples_dhw": samples, "models": models}) + "\n")
    print(f"wrote {len(models)} models to {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
