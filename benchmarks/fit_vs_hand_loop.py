"""Is ``VariationalSparseCoder.fit`` as fast as a hand-written PyTorch loop?

Fit throughput of the default VSC (``max_iter=--epochs``) against a minimal
hand-written loop of the same network (784-400-200), batch size, objective and
Adam (``_loops.hand_fit``), timed with torch's default Adam and with
``fused=True``, at each ``--batch-sizes``. Repetitions are interleaved (order
alternated) and preceded by a warm-up; medians and medians of ratios, per wall
second and per CPU second of this process. Also the float32 GFLOP/s of a
2048 x 2048 ``torch.mm`` measured before every repetition, and fit throughput x
matmul FLOPs per sample as a fraction of it (the "roofline"). ``fit`` also runs
a diagnostic encoding pass over the training data (about 13 % of one epoch),
which a few epochs amortise.

    python benchmarks/fit_vs_hand_loop.py --threads 1 --repeats 5 --epochs 2
    python benchmarks/fit_vs_hand_loop.py --n-train 6000 --repeats 2 --epochs 1   # minutes
"""

import argparse

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
)
from _loops import hand_fit, skvsc_fit

NAMES = ("skvsc", "hand", "hand_fused")


def bench_fit(X, batch_sizes, repeats, epochs, threads):
    """Interleaved repetitions of skvsc fit, the hand loop (default and fused Adam)
    and the matmul roofline; returns one row per batch size and the model's FLOPs."""
    n = len(X) * epochs
    rows, flops = [], None
    for bs in batch_sizes:
        runs = {f"{k}_{clock}": [] for k in (*NAMES, "gflops") for clock in ("wall", "cpu")}
        skvsc_fit(X[: 4 * bs], bs, 1, 0, threads)  # warm-up (thread pools, allocator)
        hand_fit(X[: 4 * bs], bs, 1, 0)
        for rep in range(repeats):
            gflops = matmul_gflops(cpu=True)
            runs["gflops_wall"].append(gflops[0])
            runs["gflops_cpu"].append(gflops[1])
            # Alternate the order so that neither side always runs first.
            for name in NAMES if rep % 2 == 0 else NAMES[::-1]:
                if name == "skvsc":
                    wall, cpu, est = skvsc_fit(X, bs, epochs, rep, threads)
                    flops = flops or model_flops(est.module_)
                else:
                    wall, cpu = hand_fit(X, bs, epochs, rep, fused=name == "hand_fused")
                runs[f"{name}_wall"].append(n / wall)
                runs[f"{name}_cpu"].append(n / cpu)
            print(
                f"  fit bs={bs} rep {rep}: skvsc {runs['skvsc_wall'][-1]:.0f}/s, hand "
                f"{runs['hand_wall'][-1]:.0f}/s, hand+fused Adam {runs['hand_fused_wall'][-1]:.0f}"
                f"/s, mm {gflops[0]:.1f} GFLOP/s",
                flush=True,
            )
        row = {"batch_size": bs, "raw": runs}
        for clock in ("wall", "cpu"):
            ours, gf = runs[f"skvsc_{clock}"], runs[f"gflops_{clock}"]
            for name in NAMES:
                row[f"{name}_{clock}"] = median(runs[f"{name}_{clock}"])
            for name in NAMES[1:]:
                theirs = runs[f"{name}_{clock}"]
                row[f"ratio_{name}_{clock}"] = median(a / b for a, b in zip(ours, theirs))
            row[f"gflops_{clock}"] = median(gf)
            row[f"roofline_{clock}"] = median(r * flops[0] / (g * 1e9) for r, g in zip(ours, gf))
        rows.append(row)
    return rows, flops


def report(f):
    train, forward, transform = f["flops"]
    lines = [
        f"Fit, {f['epochs']} epoch(s) of {f['n']} samples, medians of {f['repeats']} "
        "interleaved repetitions (samples/s):",
        "",
        "| batch | skvsc | hand loop | ratio | hand + fused Adam | ratio "
        "| mm GFLOP/s | fit / roofline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for clock, label in (("wall", "per wall second"), ("cpu", "per CPU second")):
        for r in f["rows"]:
            lines.append(
                f"| {r['batch_size']} ({label}) | {r[f'skvsc_{clock}']:.0f} | "
                f"{r[f'hand_{clock}']:.0f} | {r[f'ratio_hand_{clock}']:.2f} | "
                f"{r[f'hand_fused_{clock}']:.0f} | {r[f'ratio_hand_fused_{clock}']:.2f} | "
                f"{r[f'gflops_{clock}']:.1f} | {100 * r[f'roofline_{clock}']:.0f} % |"
            )
    lines += [
        "",
        f"Matmul FLOPs per sample: training step {train / 1e6:.2f} M, forward "
        f"{forward / 1e6:.2f} M, transform (encoder trunk + the heads the code reads) "
        f"{transform / 1e6:.2f} M.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit measurement")
    parser.add_argument("--batch-sizes", default="32,128,default")
    args = parser.parse_args(argv)
    X, _, source = load_data(start(args), args.n_train)
    batch_sizes = parse_batch_sizes(args.batch_sizes, len(X))
    rows, flops = bench_fit(X, batch_sizes, args.repeats, args.epochs, args.threads)
    fit = {"n": len(X), "epochs": args.epochs, "repeats": args.repeats}
    fit.update(rows=rows, flops=flops)
    return finish({"machine": machine(source), "fit": fit}, report(fit), args.out)


if __name__ == "__main__":
    main()
