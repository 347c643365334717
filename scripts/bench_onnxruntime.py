"""Peer benchmark: onnxruntime (CPU, 1 thread) on an ONNX model at the input size medseg feeds it.
Usage: python3 scripts/bench_onnxruntime.py MODEL.onnx D H W   (median of 3 runs, seconds)"""
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

path, *dims = sys.argv[1:]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).random((1, 1, *map(int, dims)), dtype=np.float32)
times = []
for _ in range(3):
    t = time.perf_counter()
    session.run(None, {session.get_inputs()[0].name: x})
    times.append(time.perf_counter() - t)
print(f"{path.split('/')[-1]} input {dims}: onnxruntime 1 thread median {statistics.median(times):.1f} s")
