"""Peer benchmark: nibabel's load + get_fdata() on the same files as `medseg bench`.
Usage: python3 scripts/bench_nibabel.py FILE... (median of 9 runs, ms)."""
import statistics
import sys
import time

import nibabel as nib

for path in sys.argv[1:]:
    times = []
    for _ in range(9):
        t0 = time.perf_counter()
        data = nib.load(path).get_fdata()
        times.append((time.perf_counter() - t0) * 1000)
        del data
    print(f"{path.split('/')[-1]:<40} nibabel load+get_fdata {statistics.median(times):8.1f} ms")
