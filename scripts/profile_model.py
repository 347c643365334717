"""Per-node profile of one ONNX model: medseg (tract, `medseg profile`) beside onnxruntime's own
profiler, on the same graph and input shapes, one thread each.

Usage: python3 scripts/profile_model.py MODEL.onnx --shape 1,1,256,256,256 [--shape …] [--runs 3]
           [--medseg BIN] [--top 25]
Needs onnxruntime and onnx (scripts/setup.sh bench) and a medseg binary (by default the release
build: cargo build --release --bin medseg).

Prints one table per ONNX node (the top N by medseg time, then a total of all of them) and one per
op type: FLOPs (from the graph after shape inference at these input shapes: onnx's, then
onnxruntime's symbolic one; "?" where neither finds the output's shape), milliseconds
(median over the runs) and GFLOP/s on each side, and the ratio medseg ms / onnxruntime ms.

How names meet. tract names its nodes after the ONNX node, often with a suffix
(`Conv_12.matmatmul`, `/x/mb-dispose-dims-3`): a tract node counts for the ONNX node with the
longest name (or output name) that is its name or a prefix of it followed by '.' or '-'.
onnxruntime fuses and rewrites nodes (Conv + Relu into a FusedConv named as the Conv, "fused /x/Gemm",
"/x/MatMul/MatMulAddFusion", "/x/Conv_output_0_nchwc"): such a node counts for the ONNX node whose
name (or output name) it is built on. Both fuse: a fused node's time lands on the ONNX node it is
named after (tract names a MatMul + Add after the Add). Anything unmatched keeps its own row, op
in brackets. An ONNX node without a name is named after its first output, as tract does; the
script then profiles a copy of the model with those names, on both sides.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

# Ops whose cost is one operation per output value; Reduce*-like ops cost one per input value;
# every other op (reshapes, copies, casts, gathers…) counts 0 FLOPs.
ELEMENTWISE = {
    "Abs", "Add", "Clip", "Div", "Elu", "Erf", "Exp", "Gelu", "HardSigmoid", "HardSwish", "LeakyRelu", "Log",
    "Max", "Min", "Mul", "Neg", "Pow", "PRelu", "Reciprocal", "Relu", "Sigmoid", "Sqrt", "Sub", "Tanh", "Where",
    "BatchNormalization", "DequantizeLinear", "QuantizeLinear",
}
OVER_INPUT = {
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceSumSquare",
    "Softmax", "LogSoftmax", "InstanceNormalization", "LayerNormalization", "ArgMax",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the ONNX model")
    parser.add_argument("--shape", action="append", required=True, metavar="D0,D1,…",
                        help="an input's shape; one per model input, in order")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (median); default 3")
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/medseg-target"))
    parser.add_argument("--medseg", default=f"{target}/release/medseg", help="the medseg binary")
    parser.add_argument("--top", type=int, default=25, help="nodes shown (the total counts all); default 25")
    args = parser.parse_args()
    shapes = [[int(d) for d in s.split(",")] for s in args.shape]
    if not Path(args.medseg).is_file():
        sys.exit(f"profile_model: no medseg binary at {args.medseg} (cargo build --release --bin medseg, or --medseg)")

    model = onnx.load(args.model)
    if len(shapes) != len(graph_inputs(model)):
        sys.exit(f"profile_model: the model takes {len(graph_inputs(model))} inputs, {len(shapes)} --shape given")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if any(not node.name for node in model.graph.node):
            for node in model.graph.node:
                node.name = node.name or node.output[0]
            path = os.path.join(tmp, "named.onnx")
            onnx.save(model, path)
        nodes = describe_nodes(model, shapes)
        producers = {output: node.name for node in model.graph.node for output in node.output}
        medseg = medseg_times(args.medseg, path, shapes, args.runs)
        onnxruntime = onnxruntime_times(path, shapes, args.runs, tmp)
    rows = join(nodes, producers, medseg, onnxruntime)
    print(f"{Path(args.model).name}, inputs {' '.join(args.shape)}, 1 thread each, median of {args.runs} run(s); "
          "ratio = medseg ms / onnxruntime ms")
    print_table(sorted(rows.values(), key=lambda r: -r["medseg"]), args.top)
    print()
    by_op = {}
    for row in rows.values():
        total = by_op.setdefault(row["op"], {"name": row["op"], "count": 0, "shape": "", "flops": 0,
                                             "medseg": 0.0, "ort": 0.0})
        total["count"] += 1
        for key in ("flops", "medseg", "ort"):
            total[key] += row[key]
    for total in by_op.values():
        total["op"] = str(total["count"])
    print_table(sorted(by_op.values(), key=lambda r: -r["medseg"]), len(by_op), first="op type", second="rows")


def graph_inputs(model):
    """The graph inputs that are not initializers: what a run is fed."""
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def describe_nodes(model, shapes):
    """{ONNX node name: {op, shape, flops}} from shape inference with the inputs fixed."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value, shape in zip(graph_inputs(fixed), shapes):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for d in shape:
            dims.add().dim_value = d
    known = {}
    # onnx's own inference, then onnxruntime's symbolic one for what that leaves open (it follows
    # Shape → Reshape chains further: the attention MatMuls of LiteMedSAM).
    for infer in (lambda m: onnx.shape_inference.infer_shapes(m, data_prop=True),
                  lambda m: SymbolicShapeInference.infer_shapes(m, auto_merge=True)):
        try:
            inferred = infer(fixed)
        except Exception as e:  # a graph an inference refuses still profiles, with fewer FLOPs known
            print(f"profile_model: shape inference failed ({e}); some FLOPs unknown", file=sys.stderr)
            continue
        for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
            dims = value.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                known.setdefault(value.name, [d.dim_value for d in dims])
    for tensor in fixed.graph.initializer:
        known[tensor.name] = list(tensor.dims)
    nodes = {}
    for node in fixed.graph.node:
        out = known.get(node.output[0]) if node.output else None
        nodes[node.name] = {"op": node.op_type, "shape": "×".join(map(str, out)) if out else "?",
                            "flops": flops(node, [known.get(i) for i in node.input], out)}
    return nodes


def flops(node, inputs, out):
    """Floating-point operations of one node (a multiply-add counts 2); 0 where shapes are unknown."""
    if out is None or any(s is None for s in inputs[:2]):
        return 0
    out_elems = int(np.prod(out))
    if node.op_type == "Conv":
        # Weights [Cout, Cin/group, k…]: each output value sums Cin/group · prod(k) products.
        return 2 * out_elems * int(np.prod(inputs[1][1:]))
    if node.op_type == "ConvTranspose":
        # Weights [Cin, Cout/group, k…]: each input value scatters into Cout/group · prod(k) outputs.
        return 2 * int(np.prod(inputs[0])) * int(np.prod(inputs[1][1:]))
    if node.op_type == "MatMul":
        return 2 * out_elems * inputs[0][-1]
    if node.op_type == "Gemm":
        trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
        return 2 * out_elems * inputs[0][0 if trans_a else 1]
    if node.op_type in ELEMENTWISE:
        return out_elems
    if node.op_type in OVER_INPUT:
        return int(np.prod(inputs[0]))
    return 0


def medseg_times(binary, path, shapes, runs):
    """[(tract node name, tract op, ms)] from `medseg profile`, one thread."""
    command = [binary, "profile", path, "--runs", str(runs), "--threads", "1"]
    for shape in shapes:
        command += ["--shape", ",".join(map(str, shape))]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"profile_model: {' '.join(command)} failed:\n{done.stderr.strip()}")
    return [(r["name"], r["op"], r["ms"]) for r in map(json.loads, done.stdout.splitlines())]


def onnxruntime_times(path, shapes, runs, tmp):
    """[(onnxruntime node name, op, ms)] from onnxruntime's profile: one warm-up run (left out),
    then the median of `runs` runs per node. Default graph optimizations, one thread."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tmp, "ort_profile")
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.random(shape, dtype=np.float32) for i, shape in zip(session.get_inputs(), shapes)}
    for _ in range(1 + runs):
        session.run(None, feeds)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    durations, ops = defaultdict(list), {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            name = event["name"][: -len("_kernel_time")]
            durations[name].append(event["dur"] / 1000)
            ops[name] = event.get("args", {}).get("op_name", "?")
    # A node's first event is the warm-up run's.
    return [(name, ops[name], statistics.median(times[1:] or times)) for name, times in durations.items()]


def onnx_node_for_tract(name, nodes, producers):
    """The ONNX node with the longest name (or output name) that is `name` or a prefix of it
    followed by '.' or '-': "Conv_12.matmatmul", "/in/mb-dispose-dims-3", "/x/Div_output_0-recip"."""
    for cut in [len(name)] + [m.start() for m in re.finditer(r"[.-]", name)][::-1]:
        if name[:cut] in nodes:
            return name[:cut]
        if name[:cut] in producers:
            return producers[name[:cut]]
    return None


def onnx_node_for_onnxruntime(name, nodes, producers):
    """The ONNX node an onnxruntime node stands for: its own name, or the name (or output name)
    a fusion or layout rewrite built on: "fused /x/Gemm", "/x/MatMul/MatMulAddFusion" (+ Add),
    "/x/Reshape_3_new_reshape", "/x/Conv_output_0_nchwc" (NCHWc layout)."""
    base = re.sub(r"(_new_reshape|_nchwc)+$", "", name.removeprefix("fused "))
    if base in nodes:
        return base
    if base in producers:
        return producers[base]
    cuts = [m.start() for m in re.finditer("/", base)][::-1]
    return next((base[:cut] for cut in cuts if base[:cut] in nodes), None)


def join(nodes, producers, medseg, onnxruntime):
    """One row per ONNX node, plus rows for what could not be matched: medseg's by tract node,
    onnxruntime's by the name it made them from (its "Gelu", "Gelu_token_7"… are one row)."""
    rows = {name: {"name": name, "medseg": 0.0, "ort": 0.0, **info} for name, info in nodes.items()}

    def add(name, op, key, ms):
        row = rows.setdefault(name, {"name": name, "op": f"[{op}]", "shape": "", "flops": 0,
                                     "medseg": 0.0, "ort": 0.0})
        row[key] += ms

    for name, op, ms in medseg:
        add(onnx_node_for_tract(name, nodes, producers) or f"medseg: {name}", op, "medseg", ms)
    for name, op, ms in onnxruntime:
        made = re.sub(r"(_token_\d+|_new_reshape)+$", "", name)
        add(onnx_node_for_onnxruntime(name, nodes, producers) or f"ort: {made}", op, "ort", ms)
    return rows


def tail(text, width):
    """`text`, or its end after an ellipsis when it is wider than `width` (names differ at the end)."""
    return text if len(text) <= width else "…" + text[-(width - 1):]


def print_table(rows, top, first="node", second="op"):
    """Rows sorted as given: the first `top`, then the total of all."""
    def rate(flops, ms):
        return f"{flops / ms / 1e6:.1f}" if flops and ms else "-"

    def line(row):
        ratio = f"{row['medseg'] / row['ort']:.2f}" if row["medseg"] and row["ort"] else "-"
        gflop = f"{row['flops'] / 1e9:.3f}" if row["flops"] else "-"
        print(f"{tail(row['name'], 44):<44} {row['op'][:22]:<22} {row['shape'][:20]:<20} {gflop:>9} "
              f"{row['medseg']:>10.1f} {rate(row['flops'], row['medseg']):>8} "
              f"{row['ort']:>10.1f} {rate(row['flops'], row['ort']):>8} {ratio:>7}")

    print(f"{first:<44} {second:<22} {'output':<20} {'GFLOP':>9} {'medseg ms':>10} {'GFLOP/s':>8} "
          f"{'ort ms':>10} {'GFLOP/s':>8} {'ratio':>7}")
    for row in rows[:top]:
        line(row)
    if len(rows) > top:
        print(f"… {len(rows) - top} more")
    line({"name": f"total ({len(rows)} rows)", "op": "", "shape": "",
          **{key: sum(r[key] for r in rows) for key in ("flops", "medseg", "ort")}})


if __name__ == "__main__":
    main()
