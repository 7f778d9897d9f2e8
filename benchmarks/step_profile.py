"""Where does a training step of the default VSC go?

Milliseconds per step of the core training loop (no estimator overhead) of the
default VSC at each ``--batch-sizes`` (median of 5 epochs of ``--n-steps``), its
share of the matmul roofline, and a ``torch.profiler`` table of one more epoch:
top-level operators (CPU) or CUDA kernels per step, host reads per step, the
matrix products' share and the top operators by self time.

    python benchmarks/step_profile.py --batch-sizes 128 --threads 1
"""

import argparse

import _common
import torch
from _common import (
    add_common_args,
    finish,
    load_data,
    machine,
    matmul_gflops,
    median,
    model_flops,
    parse_batch_sizes,
    start,
    sync,
    timed,
)
from _loops import step_epoch, step_setup

from skvsc._device import torch_threads


def bench_profile(X, batch_size, threads, n_steps=64):
    """Milliseconds per training step of the default VSC (core loop, no estimator
    overhead), its share of the matmul roofline, and a ``torch.profiler`` table:
    operators (CPU) or kernels (CUDA) per step, the top ones by self time, and the
    host reads (``aten::_local_scalar_dense``) and synchronisations per step."""
    from torch.profiler import ProfilerActivity, profile

    X = X[: batch_size * n_steps]
    with torch_threads(threads):
        parts = step_setup(X, batch_size)

        def epoch():
            out = step_epoch(parts, batch_size)
            parts["guard"].check()
            sync()
            return out

        epoch()  # warm-up: allocator, thread pools, cuBLAS handles
        times = [timed(epoch)[0] / n_steps for _ in range(5)]
        gflops = matmul_gflops()
        cuda = _common.DEVICE.type == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            epoch()
    step_flops = model_flops(parts["model"])[0] * batch_size
    events = prof.events()
    averages = prof.key_averages()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    total = sum(getattr(a, key) for a in averages) or 1.0
    top = sorted(averages, key=lambda a: getattr(a, key), reverse=True)[:15]
    if cuda:
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        launched = len(kernels)
    else:
        launched = sum(1 for e in events if e.name.startswith("aten::") and e.cpu_parent is None)
    syncs = sum(
        1
        for e in events
        if e.name in ("aten::_local_scalar_dense", "cudaStreamSynchronize", "cudaDeviceSynchronize")
    )
    matmul = sum(getattr(a, key) for a in averages if a.key in ("aten::mm", "aten::addmm"))
    if cuda:
        matmul = sum(
            getattr(a, key) for a in averages if "gemm" in a.key.lower() or "sgemm" in a.key.lower()
        )
    ms = 1e3 * median(times)
    row = {
        "batch_size": batch_size,
        "threads": torch.get_num_threads() if threads is None else threads,
        "ms_per_step": ms,
        "samples_per_s": batch_size / (ms / 1e3),
        "gflops_mm": gflops,
        "roofline": step_flops / (ms / 1e3) / (gflops * 1e9),
        "ops_per_step": launched / n_steps,
        "host_reads_per_step": syncs / n_steps,
        "matmul_share": matmul / total,
        "top": [
            {"name": a.key, "share": getattr(a, key) / total, "calls_per_step": a.count / n_steps}
            for a in top
        ],
    }
    print(
        f"  profile bs={batch_size}: {ms:.3f} ms/step, {100 * row['roofline']:.0f} % of the "
        f"roofline ({gflops:.1f} GFLOP/s), {row['ops_per_step']:.0f} "
        f"{'kernels' if cuda else 'operators'}/step, {row['host_reads_per_step']:.2f} host "
        f"reads/step, matmul {100 * row['matmul_share']:.0f} %",
        flush=True,
    )
    return row


def report(rows):
    lines = [
        "Training step of the default VSC (core loop), medians of 5 epochs:",
        "",
        "| batch | threads | ms / step | samples/s | mm GFLOP/s | step / roofline "
        "| ops or kernels / step | host reads / step | matmul share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch_size']} | {r['threads']} | {r['ms_per_step']:.3f} | "
            f"{r['samples_per_s']:.0f} | {r['gflops_mm']:.1f} | {100 * r['roofline']:.0f} % | "
            f"{r['ops_per_step']:.0f} | {r['host_reads_per_step']:.2f} | "
            f"{100 * r['matmul_share']:.0f} % |"
        )
    for r in rows:
        top = "; ".join(
            f"{t['name'][:60]} {100 * t['share']:.1f} % ({t['calls_per_step']:.1f}/step)"
            for t in r["top"][:10]
        )
        lines += ["", f"top at batch {r['batch_size']}: {top}"]
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--batch-sizes", default="32,128,default")
    parser.add_argument("--n-steps", type=int, default=64, help="steps per timed epoch")
    args = parser.parse_args(argv)
    X, _, source = load_data(start(args), args.n_train)
    rows = [
        bench_profile(X, bs, args.threads, args.n_steps)
        for bs in parse_batch_sizes(args.batch_sizes, len(X))
    ]
    return finish({"machine": machine(source), "profile": rows}, report(rows), args.out)


if __name__ == "__main__":
    main()
