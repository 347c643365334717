#!/usr/bin/env python3
"""Writes small seed files the shared data lacks into OUT_DIR/<target>/: tiny ONNX graphs of
the operations medseg's models use (needs the PyPI package onnx; skipped without it) and small
PNGs of every colour type and bit depth (standard library only).

usage: make_seeds.py OUT_DIR
"""
import os
import struct
import sys
import zlib


def write(out, target, name, data):
    folder = os.path.join(out, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def adam7(grey, w, h):
    """The seven interlaced passes of an 8-bit grey image, each row with its filter byte."""
    out = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
        xs = range(x0, w, dx)
        if len(xs):
            for y in range(y0, h, dy):
                out += b"\0" + bytes(grey[y][x] for x in xs)
    return out


def png(width, height, colour_type, depth, rows, extra=b"", interlace=0, raw=None):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = raw if raw is not None else b"".join(b"\0" + row for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace))
        + extra
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def pngs(out):
    w, h = 5, 3
    grey = [bytes((x * 50 + y) % 256 for x in range(w)) for y in range(h)]
    write(out, "picture", "grey8.png", png(w, h, 0, 8, grey))
    write(out, "picture", "grey16.png", png(w, h, 0, 16, [bytes(v for b in r for v in (b, 7)) for r in grey]))
    write(out, "picture", "grey_alpha.png", png(w, h, 4, 8, [bytes(v for b in r for v in (b, 200)) for r in grey]))
    write(out, "picture", "rgb8.png", png(w, h, 2, 8, [bytes(v for b in r for v in (b, 255 - b, 9)) for r in grey]))
    write(out, "picture", "rgba8.png", png(w, h, 6, 8, [bytes(v for b in r for v in (b, 3, 9, 128)) for r in grey]))
    plte = struct.pack(">I", 6) + b"PLTE" + b"\0\0\0\xff\xff\xff"
    plte += struct.pack(">I", zlib.crc32(b"PLTE\0\0\0\xff\xff\xff"))
    write(out, "picture", "palette1.png", png(8, 2, 3, 1, [b"\xa5", b"\x5a"], extra=plte))
    write(out, "picture", "interlaced.png", png(w, h, 0, 8, None, interlace=1, raw=adam7(grey, w, h)))


def onnx_graphs(out):
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        print("make_seeds.py: no onnx package (pip install onnx): no ONNX graph seeds", file=sys.stderr)
        return

    def weights(name, dims):
        n = 1
        for d in dims:
            n *= d
        return helper.make_tensor(name, TensorProto.FLOAT, dims, [0.1 * (i % 7) for i in range(n)])

    def save(name, nodes, inits, inputs, outputs):
        graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="medseg fuzz seed")
        write(out, "onnx_load", name + ".onnx", model.SerializeToString())

    x5 = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, "D", "H", "W"])
    y5 = helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)
    # A MeshNet-like chain: dilated same-padded 3D convolutions, ReLU, instance norm, softmax.
    save(
        "conv_chain",
        [
            helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3, 3], dilations=[2, 2, 2], pads=[2] * 6),
            helper.make_node("Relu", ["c1"], ["r1"]),
            helper.make_node("InstanceNormalization", ["r1", "s", "t"], ["n1"], epsilon=1e-5),
            helper.make_node("Conv", ["n1", "w2"], ["c2"], kernel_shape=[1, 1, 1]),
            helper.make_node("Softmax", ["c2"], ["logits"], axis=1),
        ],
        [weights("w1", [2, 1, 3, 3, 3]), weights("b1", [2]), weights("s", [2]), weights("t", [2]), weights("w2", [3, 2, 1, 1, 1])],
        [x5],
        [y5],
    )
    # Operations beyond a chain: a skip connection, element-wise arithmetic and a constant.
    save(
        "skip",
        [
            helper.make_node("Conv", ["input", "w1"], ["c1"], kernel_shape=[3, 3, 3], pads=[1] * 6),
            helper.make_node("Constant", [], ["k"], value=helper.make_tensor("k", TensorProto.FLOAT, [], [0.5])),
            helper.make_node("Mul", ["c1", "k"], ["m"]),
            helper.make_node("Add", ["m", "input"], ["logits"]),
        ],
        [weights("w1", [1, 1, 3, 3, 3])],
        [x5],
        [y5],
    )
    # A 2D network with two inputs (like MedSAM's decoder): MatMul, Reshape, Concat, Sigmoid.
    a = helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 4, 2, 2])
    b = helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 1, 4])
    save(
        "two_inputs",
        [
            helper.make_node("Reshape", ["image_embeddings", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["mm"]),
            helper.make_node("Reshape", ["boxes", "shape2"], ["bx"]),
            helper.make_node("Concat", ["mm", "bx"], ["cat"], axis=1),
            helper.make_node("Sigmoid", ["cat"], ["low_res_masks"]),
            helper.make_node("ReduceMean", ["cat"], ["iou_predictions"], keepdims=0),
        ],
        [
            helper.make_tensor("shape", TensorProto.INT64, [2], [1, 16]),
            helper.make_tensor("shape2", TensorProto.INT64, [2], [1, 4]),
            weights("w", [16, 4]),
        ],
        [a, b],
        [helper.make_tensor_value_info("low_res_masks", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("iou_predictions", TensorProto.FLOAT, None)],
    )
    # Quantized weights (QDQ), as the int8 models use.
    save(
        "qdq",
        [
            helper.make_node("DequantizeLinear", ["wq", "scale", "zero"], ["w"]),
            helper.make_node("Conv", ["input", "w"], ["logits"], kernel_shape=[1, 1, 1]),
        ],
        [
            helper.make_tensor("wq", TensorProto.INT8, [2, 1, 1, 1, 1], [3, -4]),
            helper.make_tensor("scale", TensorProto.FLOAT, [], [0.05]),
            helper.make_tensor("zero", TensorProto.INT8, [], [0]),
        ],
        [x5],
        [y5],
    )
    # Pooling, resizing and transposes, as a U-shaped network uses them.
    save(
        "unet_ops",
        [
            helper.make_node("MaxPool", ["input"], ["p"], kernel_shape=[2, 2, 2], strides=[2, 2, 2]),
            helper.make_node("Resize", ["p", "", "scales"], ["u"], mode="nearest"),
            helper.make_node("Transpose", ["u"], ["t"], perm=[0, 1, 4, 3, 2]),
            helper.make_node("Clip", ["t", "lo", "hi"], ["logits"]),
        ],
        [
            helper.make_tensor("scales", TensorProto.FLOAT, [5], [1, 1, 2, 2, 2]),
            helper.make_tensor("lo", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0]),
        ],
        [x5],
        [y5],
    )


if __name__ == "__main__":
    out = sys.argv[1]
    pngs(out)
    onnx_graphs(out)
