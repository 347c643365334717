"""Peer benchmark: onnxruntime (CPU, 1 thread) on an ONNX model at the input size medseg feeds it.
Usage: python3 scripts/bench_onnxruntime.py MODEL.onnx D H W   (median of 3 runs, seconds)
Prints wall time and the process's CPU time per run: on a shared, busy machine the CPU time is
the steadier figure (one thread: CPU time ≈ wall time when nothing else runs)."""
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
times, cpu = [], []
for _ in range(3):
    t, c = time.perf_counter(), time.process_time()
    session.run(None, {session.get_inputs()[0].name: x})
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(f"{path.split('/')[-1]} input {dims}: onnxruntime 1 thread median {statistics.median(times):.1f} s "
      f"(CPU {statistics.median(cpu):.1f} s)")
