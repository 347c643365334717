"""The models against onnxruntime, one thread each, in one table (`make bench-models`): medseg's
page against onnxruntime-web in the same headless Chromium, medseg natively against onnxruntime
natively, and peak memory. It runs the existing benchmarks and reads their output:
  page         tests/e2e/bench_segment.mjs (--backend cpu --threads 1), bench_medsam.mjs (--threads 1)
  ort-web      tests/e2e/bench_ort.mjs, bench_ort_medsam.mjs (THREADS=1)
  native       medseg bench --model NAME | --medsam (--backend cpu --threads 1)
  onnxruntime  scripts/bench_onnxruntime.py
Environment: RUNS (runs per benchmark, median; default 3, MeshNets 1), MODELS (a comma-separated
subset of the rows: deepbet, model5_gw_ae, model20chan3cls, model30chan18cls, litemedsam_encoder,
litemedsam_decoder), MEDSEG (the binary; default $CARGO_TARGET_DIR/release/medseg).
Needs make web's www/pkg, scripts/setup.sh browser and bench, the MeshNets in models/ (medseg
models fetch) and their ONNX files in ../shared/models/meshnet-onnx.
A benchmark that fails leaves "failed" in its cells and its message under the table.
"""
import functools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
E2E = ROOT / "tests/e2e"
T1 = SHARED / "data/brain/t1_crop.nii.gz"
NORM = SHARED / "data/brain/norm.nii.gz"
CT = SHARED / "data/ct/example_ct.nii.gz"
MESHNET_ONNX = SHARED / "models/meshnet-onnx"
DEEPBET = ROOT / "models/deepbet"
LITEMEDSAM = ROOT / "models/litemedsam"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/medseg-target"))
MEDSEG = os.environ.get("MEDSEG", str(TARGET / "release/medseg"))
MESHNETS = ["model5_gw_ae", "model20chan3cls", "model30chan18cls"]
MEDSAM_PARTS = {"litemedsam_encoder": [[1, 3, 256, 256]], "litemedsam_decoder": [[1, 256, 64, 64], [1, 1, 4]]}

FOOTNOTES = """\
Times: median of {runs}, 1 thread each, CPU; ratio = medseg time / onnxruntime time (>1: medseg slower).
deepbet: medseg (page, native) = the whole pipeline on t1_crop (intensity, the bbox network at 128³, crop,
  the brain network at 256³, postprocessing); onnxruntime(-web) = its two networks alone on random input,
  deepbet_model_w8 at 256³ + deepbet_bbox_w8 at 128³ (times added, memory the larger of the two).
MeshNets: medseg = the whole pipeline on norm.nii.gz (256³), the network streamed a few planes at a time;
  onnxruntime(-web) = the network alone on a 256³ random volume in one piece.
LiteMedSAM: page = the box tool on liver slices of example_ct: decoder = a box on an encoded slice,
  encoder = a box on a new slice (slice preparation + encoder + decoder) minus that; native = medseg bench
  --medsam (middle axial slice, encoder with the slice's preparation); onnxruntime(-web) = the ONNX encoder
  [1,3,256,256] and decoder [1,256,64,64] + [1,1,4] on random input.
Memory: page = the worker's wasm memory at the end (it only grows: its peak; MedSAM's one worker for both
  rows), ort-web = the wasm memory onnxruntime-web made, native = the process's peak RSS (medseg bench
  --medsam: one process for both rows)."""


class Failed(Exception):
    """A benchmark that did not run or whose output could not be read."""


def run(command, cwd=ROOT, env=None):
    """The command's stdout; Failed with the end of its output if it fails."""
    print(f"[bench-models] {' '.join(map(str, command))}", file=sys.stderr, flush=True)
    started = time.monotonic()
    done = subprocess.run(list(map(str, command)), cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True)
    print(f"[bench-models]   {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise Failed(f"exit status {done.returncode}: {' | '.join(tail)}")
    return done.stdout


def grab(pattern, text):
    """The groups of `pattern`'s first match in `text`, as numbers."""
    match = re.search(pattern, text, re.M)
    if not match:
        raise Failed(f"no line matching {pattern!r} in: {' | '.join(text.strip().splitlines()[-3:])}")
    return [float(g) for g in match.groups()]


# Each benchmark returns (seconds, MB).

def page_segment(model, scan, runs):
    out = run(["node", "bench_segment.mjs", model, scan, runs, "--backend", "cpu", "--threads", "1"], cwd=E2E)
    return grab(r"median of \d+: inference ([\d.]+) s, .*peak wasm memory (\d+) MB", out)


def ort_web(folder, size, model, runs):
    out = run(["node", "bench_ort.mjs", folder, size, size, size, model], cwd=E2E, env={"THREADS": "1", "RUNS": str(runs)})
    failure = re.search(rf"^{model}: onnxruntime-web failed: (.*)$", out, re.M)
    if failure:
        raise Failed(failure[1])
    return grab(rf"^{model} \[.*?\]: onnxruntime-web \(wasm, 1 thread\(s\)\) ([\d.]+) s.*wasm memory (\d+) MB", out)


def native_segment(model, scan, runs):
    out = run([MEDSEG, "bench", "--model", model, "--backend", "cpu", "--threads", "1", "--runs", runs, scan],
              env={"MEDSEG_MODELS": os.environ.get("MEDSEG_MODELS", str(ROOT / "models"))})
    return grab(r": ([\d.]+) s median of \d+ .*peak RSS (\d+) MB", out)


def ort_native(model_path, shapes, runs):
    command = ["python3", "scripts/bench_onnxruntime.py", model_path, "--runs", runs]
    for shape in shapes:
        command += ["--shape", ",".join(map(str, shape))]
    return grab(r"median ([\d.]+) s .*peak RSS (\d+) MB", run(command))


def both(first, second):
    """Two networks one after the other: times added, the larger memory."""
    return [first[0] + second[0], max(first[1], second[1])]


@functools.cache
def page_medsam(runs):
    """{part: (seconds, MB)} from the page's box tool: `runs` new slices after the first one."""
    out = run(["node", "bench_medsam.mjs", runs + 1, "--threads", "1"], cwd=E2E)
    new, decoder, mb = grab(r"median ([\d.]+) ms per new slice .*decoder only median ([\d.]+) ms .*"
                            r"wasm memory (\d+) MB", out)
    return {"litemedsam_encoder": [(new - decoder) / 1000, mb], "litemedsam_decoder": [decoder / 1000, mb]}


def ort_web_medsam(part, runs):
    out = run(["node", "bench_ort_medsam.mjs", part.removeprefix("litemedsam_")], cwd=E2E,
              env={"THREADS": "1", "RUNS": str(runs)})
    failure = re.search(rf"^{part}: onnxruntime-web failed: (.*)$", out, re.M)
    if failure:
        raise Failed(failure[1])
    ms, mb = grab(rf"^{part}: onnxruntime-web .* median (\d+) ms of .*wasm memory (\d+) MB", out)
    return [ms / 1000, mb]


@functools.cache
def native_medsam(runs):
    out = run([MEDSEG, "bench", "--medsam", "--backend", "cpu", "--threads", "1", "--runs", runs, CT])
    encoder, decoder, mb = grab(r"^example_ct\.nii\.gz\s+([\d.]+)\s+([\d.]+)\s+(\d+)", out)
    return {"litemedsam_encoder": [encoder / 1000, mb], "litemedsam_decoder": [decoder / 1000, mb]}


def rows(runs_asked):
    """(name, scan, {column: benchmark}) per row; each benchmark is called when its cell is filled."""
    runs = runs_asked or 3
    yield "deepbet", T1.name, {
        "page": lambda: page_segment("deepbet", T1, runs),
        "ort-web": lambda: both(ort_web(DEEPBET, 256, "deepbet_model_w8", runs),
                                ort_web(DEEPBET, 128, "deepbet_bbox_w8", runs)),
        "native": lambda: native_segment("deepbet", T1, runs),
        "onnxruntime": lambda: both(ort_native(DEEPBET / "deepbet_model_w8.onnx", [[1, 1, 256, 256, 256]], runs),
                                    ort_native(DEEPBET / "deepbet_bbox_w8.onnx", [[1, 1, 128, 128, 128]], runs)),
    }
    meshnet_runs = runs_asked or 1
    for name in MESHNETS:
        yield name, NORM.name, {
            "page": lambda name=name: page_segment(name, NORM, meshnet_runs),
            "ort-web": lambda name=name: ort_web(MESHNET_ONNX, 256, name, meshnet_runs),
            "native": lambda name=name: native_segment(name, NORM, meshnet_runs),
            "onnxruntime": lambda name=name: ort_native(MESHNET_ONNX / f"{name}.onnx", [[1, 1, 256, 256, 256]],
                                                        meshnet_runs),
        }
    for part, shapes in MEDSAM_PARTS.items():
        yield part, CT.name, {
            "page": lambda part=part: page_medsam(runs)[part],
            "ort-web": lambda part=part: ort_web_medsam(part, runs),
            "native": lambda part=part: native_medsam(runs)[part],
            "onnxruntime": lambda part=part, shapes=shapes: ort_native(LITEMEDSAM / f"{part}.onnx", shapes, runs),
        }


def seconds(value):
    if value is None:
        return "failed"
    return f"{value:.1f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def megabytes(value):
    return "failed" if value is None else f"{value:.0f}"


def main():
    runs_asked = int(os.environ["RUNS"]) if os.environ.get("RUNS") else None
    known = ["deepbet", *MESHNETS, *MEDSAM_PARTS]
    asked = [m for m in os.environ.get("MODELS", "").split(",") if m] or known
    if unknown := set(asked) - set(known):
        sys.exit(f"bench_models: unknown MODELS {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    if not Path(MEDSEG).is_file():
        sys.exit(f"bench_models: no medseg binary at {MEDSEG} (cargo build --release --bin medseg)")
    table, problems = [], []
    for name, scan, benchmarks in rows(runs_asked):
        if name not in asked:
            continue
        cells = {}
        for column, benchmark in benchmarks.items():
            try:
                cells[column] = benchmark()
            except Failed as e:
                cells[column] = [None, None]
                problems.append(f"{name}, {column}: {e}")
        table.append((name, scan, cells))
    header = ("model", "scan", "page", "ort-web", "ratio", "native", "onnxruntime", "ratio",
              "page MB", "ort-web MB", "native MB", "ort MB")
    widths = (20, 18, 9, 9, 6, 9, 11, 6, 8, 10, 9, 7)
    print("  ".join(f"{h:<{w}}" if i < 2 else f"{h:>{w}}" for i, (h, w) in enumerate(zip(header, widths))))
    for name, scan, c in table:
        (page, page_mb), (web, web_mb) = c["page"], c["ort-web"]
        (native, native_mb), (ort, ort_mb) = c["native"], c["onnxruntime"]
        values = (name, scan, seconds(page), seconds(web), ratio(page, web), seconds(native), seconds(ort),
                  ratio(native, ort), megabytes(page_mb), megabytes(web_mb), megabytes(native_mb), megabytes(ort_mb))
        print("  ".join(f"{v:<{w}}" if i < 2 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(values, widths))))
    print()
    print(FOOTNOTES.format(runs=f"{runs_asked} run(s)" if runs_asked else "3 runs (MeshNets 1)"))
    for problem in problems:
        print(f"failed: {problem}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
