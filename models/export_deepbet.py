"""Exports deepbet's brain-extraction networks to the ONNX files medseg ships.

What
    PyPI `deepbet==1.0.2` (MIT, github.com/wwu-mmll/deepbet) ships two TorchScript networks
    (LinkNet3d, 2,126,258 parameters each, same architecture, different weights):
        data/models/bbox_model.pt  -> deepbet_bbox_w8.onnx   (whole head at 128^3, finds the brain's bounding box)
        data/models/model.pt       -> deepbet_model_w8.onnx  (the bounding box at 256^3, brain probability)
    Both take `input` float32 [N,1,D,H,W] (D, H, W multiples of 32) and return `probs` float32 [N,2,D,H,W]
    (softmax over the channel axis; channel 1 = brain).

How each file is made
    1. torch.onnx.export of the ScriptModule itself (legacy TorchScript exporter, dynamo=False, opset 17;
       axes N, D, H, W dynamic). This gives 182 nodes, 34 of them InstanceNormalization (affine=False, eps 1e-5).
    2. Every InstanceNormalization is rewritten as an exactly equivalent staged two-pass form:
           mean = Reshape(ReduceMean_D(ReduceMean_H(ReduceMean_W(x))))    (keepdims=0 between stages, -> [N,C,1,1,1])
           d = x - mean;  var = the same staged mean of d*d;  y = d / sqrt(var + eps)
       Why: onnxruntime (1.32) and tract (0.23.9) both reduce a whole 64^3/128^3 float32 feature map inaccurately.
       The directly exported graph differs from TorchScript by up to 4.7e-2 in probability (hundreds of voxels
       change side of 0.5); the staged form brings that to <= 2.5e-5 (onnxruntime) and <= 1.6e-4 (tract).
       keepdims=0 between the stages matters: with keepdims=1 tract merges the chain back into one reduction.
    3. `_w8`: every Conv/ConvTranspose weight is stored as int8 (symmetric, per output channel,
       scale = max|w| / 127, zero point 0) followed by DequantizeLinear; compute stays float32.
       This makes the files 4x smaller; tract folds the dequantisation at load time.
    Only the `_w8` files are written to the output directory; the float graphs live in a temporary directory
    (or in --keep-float DIR, for inspection). The procedure is the one documented in
    shared/models/deepbet-reference/README.md, and with torch 2.15 / onnx 1.23 it reproduces those files byte for byte.

How to run (from the repository root; CPU is enough, takes a few seconds)
    pip install torch==2.15.0 onnx onnxruntime
    pip install --no-deps deepbet==1.0.2
    python3 models/export_deepbet.py [--out-dir models/deepbet] [--keep-float DIR] [--verify [--scan T1.nii.gz]]
The script checks the SHA-256 of both .pt files before exporting and prints the SHA-256 and size of every output.
--verify also runs each exported graph with onnxruntime and compares it with TorchScript, on a random input or
on the inputs deepbet's own torch pipeline feeds the two networks for --scan T1.nii.gz.
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

PT_SHA256 = {
    "bbox_model.pt": "39a7b2b5f799faa1391ea97bfcdc0b9299f20d84f2316a4ff8918dc4685e40aa",
    "model.pt": "de8ee7c69654d0dd3935dc4a5d84571d8ecf4637a6bfc01df399c4c2bc86e0fd",
}
# What this procedure produced with torch 2.15.0 + onnx 1.23.2 (shared/models/deepbet-reference). Another
# torch/onnx version may serialise differently; that is reported, not treated as an error.
EXPECTED_SHA256 = {
    "deepbet_bbox.onnx": "7fdf3d76f73cdfdf929a3b1b9b8564ac3d79194b2e17484409a0b05342867552",
    "deepbet_model.onnx": "3be5dd3e11d367c10a61b9ea560e14f0fb1b8548d68130f3a64484a4a249a05d",
    "deepbet_bbox_w8.onnx": "a87265c3d83b8c0706d6b1d55fde9ee3d1f8acc5a1ce3dfcdbe02a6ededce8c1",
    "deepbet_model_w8.onnx": "16054f323aae3c825a04949a78f95184f61bf66091a117eddda5a6a8aca05c57",
}
# (source .pt, output stem, description)
MODELS = [
    ("bbox_model.pt", "deepbet_bbox", "bbox model, 128^3"),
    ("model.pt", "deepbet_model", "main model, 256^3"),
]
OPSET = 17
W8_PRECISION = "int8 weights (per-output-channel, symmetric) + DequantizeLinear; float32 compute"
SHAPE_5D = "/in_r/s5"  # shared Reshape target [0, 0, 1, 1, 1] = [N, C, 1, 1, 1]


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def find_pt(name):
    """Path of deepbet's data/models/NAME. The wheel installs it as site-packages/data/models/NAME
    (a top-level `data` folder next to the `deepbet` package, which deepbet.utils.DATA_PATH points at)."""
    try:
        files = importlib.metadata.files("deepbet") or []
    except importlib.metadata.PackageNotFoundError:
        sys.exit("deepbet is not installed: pip install --no-deps deepbet==1.0.2")
    version = importlib.metadata.version("deepbet")
    if version != "1.0.2":
        print(f"warning: deepbet {version} is installed; these files are defined for 1.0.2", file=sys.stderr)
    for f in files:
        if f.as_posix().endswith(f"data/models/{name}"):
            path = pathlib.Path(f.locate()).resolve()
            if path.is_file():
                return path
    sys.exit(f"data/models/{name} not found among deepbet's installed files")


def export_float(pt_path, onnx_path):
    """Step 1: the legacy TorchScript exporter applied to the ScriptModule."""
    import torch

    with warnings.catch_warnings():
        # Expected and harmless here: torch.jit.load / the legacy exporter are deprecated; a ScriptModule has no
        # Python signature; and instance_norm "train=True" only means it normalises with the input's own
        # statistics, which is what InstanceNorm3d(track_running_stats=False) does in eval mode too.
        warnings.simplefilter("ignore")
        model = torch.jit.load(str(pt_path), map_location="cpu").eval()
        return export_onnx(model, onnx_path, 64)


def export_onnx(module, onnx_path, side):
    """torch.onnx.export (legacy exporter, opset 17) of a [N,1,D,H,W] `input` -> `probs` network, axes N, D, H, W
    dynamic, traced on zeros of side^3; the exported model, loaded."""
    import torch

    dynamic = {0: "N", 2: "D", 3: "H", 4: "W"}
    torch.onnx.export(
        module,
        torch.zeros(1, 1, side, side, side),
        str(onnx_path),
        opset_version=OPSET,
        dynamo=False,
        input_names=["input"],
        output_names=["probs"],
        dynamic_axes={"input": dynamic, "probs": dynamic},
    )
    return onnx.load(str(onnx_path))


def constant(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def staged_mean(x, prefix, stages):
    """Mean over axes W, H, D as three ReduceMeans (keepdims=0 but for the last), reshaped to [N,C,1,1,1]."""
    a, b, c, out = (f"{prefix}/{s}" for s in stages)
    return [
        helper.make_node("ReduceMean", [x], [a], axes=[4], keepdims=0),
        helper.make_node("ReduceMean", [a], [b], axes=[3], keepdims=0),
        helper.make_node("ReduceMean", [b], [c], axes=[2], keepdims=1),
        helper.make_node("Reshape", [c, SHAPE_5D], [out]),
    ]


def staged_instance_norm(node, index, eps):
    """The 14 nodes that replace one InstanceNormalization (scale 1, bias 0); same output name."""
    x, y, p = node.input[0], node.output[0], f"/in_r{index}"
    return [
        constant(f"{p}/eps", np.array(eps, dtype=np.float32)),
        *staged_mean(x, p, ["ma", "mb", "mc", "mean"]),
        helper.make_node("Sub", [x, f"{p}/mean"], [f"{p}/d"]),
        helper.make_node("Mul", [f"{p}/d", f"{p}/d"], [f"{p}/d2"]),
        *staged_mean(f"{p}/d2", p, ["va", "vb", "vc", "var"]),
        helper.make_node("Add", [f"{p}/var", f"{p}/eps"], [f"{p}/ve"]),
        helper.make_node("Sqrt", [f"{p}/ve"], [f"{p}/std"]),
        helper.make_node("Div", [f"{p}/d", f"{p}/std"], [y]),
    ]


def rewrite_instance_norm(model):
    """Step 2: replace every InstanceNormalization by its staged two-pass form, in place.
    The exporter feeds each one from two Constant nodes (scale, bias); they must be ones and zeros
    (InstanceNorm3d with affine=False) and are dropped with it."""
    graph = model.graph
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}
    uses = {}
    for n in graph.node:
        for name in n.input:
            uses[name] = uses.get(name, 0) + 1

    drop, instance_norms = set(), []
    for n in graph.node:
        if n.op_type != "InstanceNormalization":
            continue
        scale, bias = (numpy_helper.to_array(constants[name].attribute[0].t) for name in n.input[1:3])
        if not (np.all(scale == 1) and np.all(bias == 0)):
            raise ValueError(f"{n.name}: InstanceNormalization with a non-trivial scale/bias")
        if any(uses[name] != 1 for name in n.input[1:3]):
            raise ValueError(f"{n.name}: scale/bias constant shared with another node")
        drop.update(n.input[1:3])
        instance_norms.append(n)

    nodes = [constant(SHAPE_5D, np.array([0, 0, 1, 1, 1], dtype=np.int64))]
    for n in graph.node:
        if n.op_type == "Constant" and n.output[0] in drop:
            continue
        if n.op_type == "InstanceNormalization":
            eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
            nodes.extend(staged_instance_norm(n, instance_norms.index(n), eps))
        else:
            nodes.append(n)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(instance_norms)


def quantize_weights(model):
    """Step 3: each Conv/ConvTranspose weight -> int8 (symmetric, per output channel) + DequantizeLinear.
    The output-channel axis is 0 for Conv ([Cout, Cin, k...]) and 1 for ConvTranspose ([Cin, Cout, k...])."""
    graph = model.graph
    axis_of = {}
    for n in graph.node:
        if n.op_type in ("Conv", "ConvTranspose"):
            axis_of.setdefault(n.input[1], 0 if n.op_type == "Conv" else 1)
    initializers = {t.name: t for t in graph.initializer}
    assert all(name in initializers for name in axis_of), "a Conv weight is not an initializer"

    kept, quantized, dequantize = [], [], []
    for t in graph.initializer:
        if t.name not in axis_of:
            kept.append(t)
            continue
        w, axis = numpy_helper.to_array(t).astype(np.float32), axis_of[t.name]
        other = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=other)
        scale = (amax / np.float32(127)).astype(np.float32)
        scale[scale == 0] = 1  # an all-zero channel: any scale gives q = 0
        shape = [-1 if i == axis else 1 for i in range(w.ndim)]
        q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        zero = np.zeros(scale.shape, dtype=np.int8)
        quantized += [
            numpy_helper.from_array(q, f"{t.name}_q"),
            numpy_helper.from_array(scale, f"{t.name}_scale"),
            numpy_helper.from_array(zero, f"{t.name}_zp"),
        ]
        dequantize.append(
            helper.make_node(
                "DequantizeLinear", [f"{t.name}_q", f"{t.name}_scale", f"{t.name}_zp"], [f"{t.name}_dq"], axis=axis
            )
        )

    for n in graph.node:
        if n.op_type in ("Conv", "ConvTranspose"):
            n.input[1] = f"{n.input[1]}_dq"
    nodes = dequantize + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + quantized)
    return len(dequantize)


def describe(model, pt_name, what, precision):
    model.doc_string = f"deepbet brain-extraction network ({what}); see README.md"
    props = {
        "source": f"PyPI deepbet 1.0.2 (MIT, github.com/wwu-mmll/deepbet), data/models/{pt_name}",
        "source_sha256": PT_SHA256[pt_name],
        "architecture": "LinkNet3d, 2,126,258 params",
        "export": "torch 2.15 torch.onnx.export(ScriptModule, dynamo=False, opset 17); "
        "InstanceNormalization rewritten as staged ReduceMean two-pass mean/var",
        "precision": precision,
        "input": "input float32 [N,1,D,H,W], D,H,W multiples of 32",
        "output": "probs float32 [N,2,D,H,W] softmax; channel 1 = brain",
    }
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)


def verify_inputs(scan):
    """The two networks' inputs: recorded from deepbet's own torch run on `scan` (BrainExtraction.run_model, i.e. the
    whole head at 128^3 for the bbox model and the brain's bounding box at 256^3 for the main model), or Gaussian
    noise around deepbet's normalised mean/std (128^3 for both, to save time) when scan is None."""
    if scan is None:
        rng = np.random.default_rng(0)
        return {pt: rng.standard_normal((1, 1, 128, 128, 128), dtype=np.float32) * 0.226 + 0.449 for pt, *_ in MODELS}
    import nibabel as nib
    import torch
    from deepbet import BrainExtraction  # needs deepbet's runtime deps (cc3d, fill_voids, ...)

    class Recorder(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.x = net, None

        def forward(self, x):
            self.x = x.numpy().copy()
            return self.net(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bet = BrainExtraction(no_gpu=True)
    bet.model, bet.bbox_model = Recorder(bet.model), Recorder(bet.bbox_model)
    img = nib.load(str(scan))
    x = nib.as_closest_canonical(img).get_fdata(dtype=np.float32)
    bet.run_model(x[..., 0] if x.ndim == 4 else x)
    return {"bbox_model.pt": bet.bbox_model.x, "model.pt": bet.model.x}


def verify(pt_path, float_path, w8_path, x, source):
    """Brain probability from onnxruntime (float and _w8 graphs) vs TorchScript on one input."""
    import onnxruntime as ort
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.jit.load(str(pt_path), map_location="cpu").eval()(torch.from_numpy(x)).numpy()[0, 1]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    for label, path in (("float", float_path), ("w8", w8_path)):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        p = session.run(["probs"], {"input": x})[0][0, 1]
        flips = int(((p > 0.5) != (ref > 0.5)).sum())
        size = "x".join(map(str, x.shape[2:]))
        print(f"    {label:5s} vs TorchScript ({source}, {size}): max |dprob| {np.abs(p - ref).max():.3g}, "
              f"voxels flipped at 0.5: {flips} of {int((ref > 0.5).sum())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = pathlib.Path(__file__).resolve().parent.parent
    parser.add_argument("--out-dir", type=pathlib.Path, default=root / "models" / "deepbet", help="where _w8 files go")
    parser.add_argument("--keep-float", type=pathlib.Path, help="also keep the float32 (rewritten) graphs here")
    parser.add_argument("--verify", action="store_true", help="compare with TorchScript using onnxruntime")
    parser.add_argument("--scan", type=pathlib.Path, help="NIfTI to verify on (default: random input)")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    inputs = verify_inputs(args.scan) if args.verify else {}
    source = "random" if args.scan is None else args.scan.name
    with tempfile.TemporaryDirectory() as tmp:
        float_dir = args.keep_float or pathlib.Path(tmp)
        float_dir.mkdir(parents=True, exist_ok=True)
        for pt_name, stem, what in MODELS:
            pt = find_pt(pt_name)
            digest = sha256(pt)
            if digest != PT_SHA256[pt_name]:
                sys.exit(f"{pt}: SHA-256 {digest}, expected {PT_SHA256[pt_name]}")
            print(f"{pt} (sha256 ok)")

            model = export_float(pt, pathlib.Path(tmp) / f"{stem}_raw.onnx")
            n_raw = len(model.graph.node)
            n_in = rewrite_instance_norm(model)
            describe(model, pt_name, what, "float32")
            onnx.checker.check_model(model)
            float_path = float_dir / f"{stem}.onnx"
            onnx.save(model, str(float_path))
            print(f"  exported {n_raw} nodes, rewrote {n_in} InstanceNormalization -> {len(model.graph.node)} nodes")

            n_q = quantize_weights(model)
            describe(model, pt_name, what, W8_PRECISION)
            onnx.checker.check_model(model)
            w8_path = args.out_dir / f"{stem}_w8.onnx"
            onnx.save(model, str(w8_path))
            print(f"  quantized {n_q} Conv/ConvTranspose weights")

            for path in ([float_path] if args.keep_float else []) + [w8_path]:
                digest = sha256(path)
                note = ""
                if path.name in EXPECTED_SHA256:
                    note = "  (= reference)" if digest == EXPECTED_SHA256[path.name] else "  (differs from reference)"
                print(f"  {path}  {path.stat().st_size:,} bytes  sha256 {digest}{note}")
            if args.verify:
                verify(pt, float_path, w8_path, inputs[pt_name], source)


if __name__ == "__main__":
    main()
