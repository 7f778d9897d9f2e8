"""The figure at the top of docs/performance.md, drawn from committed benchmark rows.

Left: how long the default fit of the 60,000 MNIST training images takes on a
2-core laptop-class CPU (one torch thread) and on an NVIDIA H200, and how long the
README's grid search (19 fits on 10,000 images) takes in two processes. Right:
samples encoded per second by ``transform`` against scikit-learn. Run from the
repository root::

    python docs/figures/performance.py

It writes ``docs/figures/performance.png`` and prints the numbers it drew.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
OUT = Path(__file__).resolve().parent / "performance.png"


def rows():
    cpu = json.loads((RESULTS / "ttq_after.json").read_text())
    cpu_fit = cpu["ttq_defaults"]["after"]["defaults"]["fit_s"]
    gpu = json.loads((RESULTS / "gpu-h200" / "after_default_fit.json").read_text())
    gpu_fit = gpu["default_fit"]["fit_s"]
    grids = [json.loads(line) for line in (RESULTS / "readme_grid.jsonl").read_text().splitlines()]
    grid = next(g for g in grids if g["max_iter"] == "auto")
    transform = json.loads((RESULTS / "transform.json").read_text())["transform"]["rows"]
    return cpu_fit, gpu_fit, grid["wall_s"], {r["method"]: r["per_s"] for r in transform}


def main():
    cpu_fit, gpu_fit, grid_s, per_s = rows()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.4), layout="constrained")
    labels = [
        "default fit, 60,000 images\n2-core CPU, one thread",
        "default fit, 60,000 images\nNVIDIA H200",
        "README grid search, 19 fits\n10,000 images, 2 processes",
    ]
    values = [cpu_fit, gpu_fit, grid_s]
    bars = left.barh(labels, values, color=["tab:blue", "tab:green", "tab:orange"])
    left.bar_label(bars, [f"{v:.0f} s" for v in values], padding=3, fontsize=8)
    left.set_xlim(0, max(values) * 1.2)
    left.invert_yaxis()
    left.tick_params(labelsize=8)
    left.set_xlabel("wall time (s)")
    left.set_title("How long a fit takes", fontsize=10)

    names = {
        "VariationalSparseCoder": "VSC",
        "PCA": "PCA",
        "BernoulliRBM": "BernoulliRBM",
        "MiniBatchDictionaryLearning (lasso_lars)": "dictionary, LARS",
        "MiniBatchDictionaryLearning (omp)": "dictionary, OMP",
    }
    shown = [m for m in names if m in per_s]
    bars = right.barh([names[m] for m in shown], [per_s[m] for m in shown], color="tab:blue")
    right.bar_label(bars, [f"{per_s[m]:,.0f}/s" for m in shown], padding=3, fontsize=8)
    right.set_xscale("log")
    right.set_xlim(100, max(per_s.values()) * 20)
    right.invert_yaxis()
    right.tick_params(labelsize=8)
    right.set_xlabel("samples encoded per second, 2-core CPU (log scale)", fontsize=9)
    right.set_title("How fast transform encodes (200 units)", fontsize=10)
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}: fit {cpu_fit:.1f} s (CPU), {gpu_fit:.1f} s (H200); grid {grid_s:.0f} s")
    for m in shown:
        print(f"  transform {m}: {per_s[m]:,.0f} samples/s")


if __name__ == "__main__":
    main()
