"""Transform throughput: onnxruntime running ``skvsc.onnx.to_onnx`` against ``transform``.

    python benchmarks/onnx_throughput.py                       # 10,000 rows, 1 thread
    python benchmarks/onnx_throughput.py --threads 2 --out out.json

The model is a default ``VariationalSparseCoder`` (784-400-200, MNIST-shaped
input) after one epoch on random rows: throughput does not depend on what the
model learned. Two workloads, each timed for both runtimes with repetitions
interleaved (order alternated) after a warm-up, medians reported: one call on
``--n-rows`` rows (float32), and ``--n-single`` calls of one row each (the
latency of serving one request). Writes nothing unless ``--out`` is given.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's skvsc


def timed(fn, repeat):
    """Seconds of each of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-rows", type=int, default=10_000)
    parser.add_argument("--n-single", type=int, default=500, help="calls of one row each")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    import torch

    from skvsc import VariationalSparseCoder, __version__
    from skvsc.onnx import to_onnx

    rng = np.random.default_rng(0)
    X = rng.random((args.n_rows, 784), dtype=np.float32)
    est = VariationalSparseCoder(max_iter=1, random_state=0, n_threads=args.threads)
    est.fit(X[: min(2000, args.n_rows)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = args.threads
    session = ort.InferenceSession(
        to_onnx(est).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def onnx_transform(rows):
        return session.run(None, {"X": rows})[0]

    Z, Z_onnx = est.transform(X), onnx_transform(X)
    max_diff = float(np.abs(Z - Z_onnx)[(Z != 0) == (Z_onnx != 0)].max())
    # Units whose activity probability lies within rounding of the threshold can
    # differ: the runtimes sum the matrix products in different orders.
    zero_mismatches = int(((Z == 0) != (Z_onnx == 0)).sum())
    singles = X[: args.n_single]
    workloads = {
        f"one call, {args.n_rows} rows": (
            lambda: est.transform(X),
            lambda: onnx_transform(X),
            args.n_rows,
        ),
        f"{args.n_single} calls of 1 row": (
            lambda: [est.transform(row[None]) for row in singles],
            lambda: [onnx_transform(row[None]) for row in singles],
            args.n_single,
        ),
    }
    rows = []
    for name, (ours, theirs, n) in workloads.items():
        ours(), theirs()  # warm-up
        t_ours, t_onnx = [], []
        for i in range(args.repeat):
            order = ((ours, t_ours), (theirs, t_onnx))
            for fn, times in order if i % 2 == 0 else order[::-1]:
                times += timed(fn, 1)
        ours_s, onnx_s = statistics.median(t_ours), statistics.median(t_onnx)
        rows.append(
            {
                "workload": name,
                "skvsc_rows_per_s": n / ours_s,
                "onnxruntime_rows_per_s": n / onnx_s,
                "speedup": ours_s / onnx_s,
            }
        )
    result = {
        "skvsc": __version__,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "threads": args.threads,
        "repeat": args.repeat,
        "max_abs_difference": max_diff,
        "zero_pattern_mismatches": zero_mismatches,
        "code_entries": int(Z.size),
        "rows": rows,
    }
    print(
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} thread(s), "
        f"medians of {args.repeat}; max |difference| {max_diff:.2g} (where both agree on "
        "zero), "
        f"zero pattern: {zero_mismatches} of {Z.size:,} entries differ\n"
    )
    print("| workload | skvsc transform (rows/s) | onnxruntime (rows/s) | onnxruntime / skvsc |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['workload']} | {row['skvsc_rows_per_s']:,.0f} | "
            f"{row['onnxruntime_rows_per_s']:,.0f} | {row['speedup']:.2f} x |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
