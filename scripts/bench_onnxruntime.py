"""Peer benchmark: onnxruntime (CPU, 1 thread) on an ONNX model at the input size medseg feeds it.
Usage: python3 scripts/bench_onnxruntime.py MODEL.onnx D H W                 (input [1, 1, D, H, W])
       python3 scripts/bench_onnxruntime.py MODEL.onnx --shape 1,256,64,64 --shape 1,1,4   (one per input)
       [--runs N]   (median of N runs, 3 by default)
Prints wall time and the process's CPU time per run, and the process's peak resident memory: on a
shared, busy machine the CPU time is the steadier figure (one thread: CPU time ≈ wall time when
nothing else runs)."""
import argparse
import resource
import statistics
import time

import numpy as np
import onnxruntime as ort

parser = argparse.ArgumentParser(description="onnxruntime (CPU, 1 thread) on an ONNX model")
parser.add_argument("model")
parser.add_argument("dims", nargs="*", type=int, metavar="D H W", help="a single input [1, 1, D, H, W]")
parser.add_argument("--shape", action="append", default=[], metavar="D0,D1,…", help="an input's shape, in order")
parser.add_argument("--runs", type=int, default=3)
args = parser.parse_args()
shapes = [[int(d) for d in s.split(",")] for s in args.shape]
if len(args.dims) == 3 and not shapes:
    shapes = [[1, 1, *args.dims]]
elif args.dims or not shapes:
    parser.error("give D H W, or one --shape per input")

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
feeds = {i.name: rng.random(shape, dtype=np.float32) for i, shape in zip(session.get_inputs(), shapes)}
times, cpu = [], []
for _ in range(args.runs):
    t, c = time.perf_counter(), time.process_time()
    session.run(None, feeds)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(f"{args.model.split('/')[-1]} input {' '.join(map(str, shapes))}: onnxruntime 1 thread median "
      f"{statistics.median(times):.3f} s (CPU {statistics.median(cpu):.3f} s) of {args.runs}; "
      f"peak RSS {peak_mb:.0f} MB")
