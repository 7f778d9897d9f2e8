"""How fast is ``transform`` against scikit-learn's decompositions?

Transform throughput at ``n_components=200`` of ``VariationalSparseCoder`` and
``VAETransformer`` (one epoch of training: speed does not depend on what was
learned), ``PCA``, ``BernoulliRBM`` and ``MiniBatchDictionaryLearning`` (OMP,
LARS-lasso and CD-lasso transforms, default ``transform_alpha``) on the test
images; the dictionary transforms are timed on ``--n-small`` rows and the rate
extrapolated. Also the VSC transform as a fraction of the matmul roofline.

    python benchmarks/transform_throughput.py --threads 2 --repeats 3
"""

import argparse
import warnings

import _common
from _common import (
    N_COMPONENTS,
    add_common_args,
    clocked,
    finish,
    load_data,
    machine,
    matmul_gflops,
    median,
    model_flops,
    start,
)

from skvsc import VAETransformer, VariationalSparseCoder


def bench_transform(X, X_test, repeats, threads, n_small, flops_transform, J=N_COMPONENTS):
    """Transform throughput at n_components=200; slow methods on a subsample."""
    from sklearn.decomposition import PCA, MiniBatchDictionaryLearning
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import BernoulliRBM

    fit_rows = X[:10_000]
    vsc = VariationalSparseCoder(
        n_components=J, max_iter=1, random_state=0, device=_common.DEVICE, n_threads=threads
    )
    vae = VAETransformer(
        n_components=J,
        max_iter=1,
        random_state=0,
        device=_common.DEVICE,
        n_threads=threads,
    )
    dico_fit = X[:10_000]
    dico = MiniBatchDictionaryLearning(J, batch_size=256, max_iter=1, random_state=0)
    dico.fit(dico_fit)
    methods = {
        "VariationalSparseCoder": (vsc.fit(fit_rows), None, None),
        "VAETransformer": (vae.fit(fit_rows), None, None),
        "PCA": (PCA(J, random_state=0).fit(X), None, None),
        "BernoulliRBM": (
            BernoulliRBM(J, n_iter=1, random_state=0).fit(fit_rows),
            None,
            None,
        ),
    }
    for algorithm in ("omp", "lasso_lars", "lasso_cd"):
        methods[f"MiniBatchDictionaryLearning ({algorithm})"] = (dico, n_small, algorithm)
    speeds = {name: [] for name in methods}
    cpu_speeds = {name: [] for name in methods}
    gflops = []
    for rep in range(repeats):
        gflops.append(matmul_gflops(cpu=True))
        for name, (est, n_rows, algorithm) in methods.items():
            if algorithm is not None:
                est.set_params(transform_algorithm=algorithm)
            rows = X_test if n_rows is None else X_test[:n_rows]
            with warnings.catch_warnings():
                # lasso_cd at the default transform_alpha warns about convergence
                warnings.simplefilter("ignore", ConvergenceWarning)
                wall, cpu, _ = clocked(est.transform, rows)
            speeds[name].append(len(rows) / wall)
            cpu_speeds[name].append(len(rows) / cpu)
        done = ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in speeds.items())
        print(f"  transform rep {rep}: {done}", flush=True)
    vsc_speed = median(speeds["VariationalSparseCoder"])
    table = []
    for name, (_, n_rows, _) in methods.items():
        table.append(
            {
                "method": name,
                "rows_timed": len(X_test) if n_rows is None else n_rows,
                "per_s": median(speeds[name]),
                "vsc_speedup": vsc_speed / median(speeds[name]),
                "per_cpu_s": median(cpu_speeds[name]),
            }
        )
    roof = {
        clock: median(
            [
                s * flops_transform / (g[k] * 1e9)
                for s, g in zip(runs["VariationalSparseCoder"], gflops)
            ]
        )
        for k, (clock, runs) in enumerate((("wall", speeds), ("cpu", cpu_speeds)))
    }
    return table, roof, median([g[0] for g in gflops])


def report(t):
    lines = [
        f"Transform at n_components={t['n_components']}, medians of {t['repeats']} repetitions; "
        f"VSC transform at {100 * t['roofline_fraction']['wall']:.0f} % of the matmul "
        f"roofline per wall second ({t['gflops']:.1f} GFLOP/s), "
        f"{100 * t['roofline_fraction']['cpu']:.0f} % per CPU second:",
        "",
        "| method | rows timed | samples/s | VSC is x faster | samples per CPU second |",
        "|---|---|---|---|---|",
    ]
    for r in t["rows"]:
        lines.append(
            f"| {r['method']} | {r['rows_timed']} | {r['per_s']:.0f} | "
            f"{r['vsc_speedup']:.1f} | {r['per_cpu_s']:.0f} |"
        )
    lines.append("(Rows timed below the test set's size: throughput extrapolated linearly.)")
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-small", type=int, default=500, help="rows timed for dictionaries")
    parser.add_argument("--n-components", type=int, default=N_COMPONENTS)
    args = parser.parse_args(argv)
    X, X_test, source = load_data(start(args), args.n_train)
    J = args.n_components
    module = VariationalSparseCoder(J, max_iter=1, device="cpu").fit(X[:256]).module_
    flops = model_flops(module)[2]
    rows, roof, gflops = bench_transform(
        X, X_test, args.repeats, args.threads, args.n_small, flops, J
    )
    t = {"rows": rows, "roofline_fraction": roof, "gflops": gflops, "repeats": args.repeats}
    t["n_components"] = J
    return finish({"machine": machine(source), "transform": t}, report(t), args.out)


if __name__ == "__main__":
    main()
