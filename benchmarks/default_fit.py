"""How long does ``VariationalSparseCoder()`` take on full MNIST, and how good is it?

The default estimator on the 60,000 MNIST images (``--device cuda`` on a GPU):
fit seconds, epochs, seconds per epoch, samples/s, peak GPU memory (CUDA), test
-ELBO, and the sparse-codes protocol (LogisticRegression on the codes of the
first 5,000 training images, scored on the 10,000 test images): accuracy,
non-zeros and dead units.

    python benchmarks/default_fit.py --device cuda

``--rate-control 0 1 1 0`` fits once per value, in that order, with that
``rate_control`` (0 is the default): side by side, so that their fit times
compare under the same load (each row records the load average).
``--variants '{}' '{"gate": "tied"}' ...`` does the same with any parameters
(a JSON dict per fit, ``{}`` the defaults); ``--dataset fashion`` fits
Fashion-MNIST instead.
"""

import argparse
import json
import os

import _common
import numpy as np
import torch
from _common import add_common_args, finish, load_split, machine, median, start, timed

from skvsc import VariationalSparseCoder


def bench_default_fit(dataset, directory, n_train, threads, seed=0, params=None):
    """``VariationalSparseCoder()`` on the 60,000 MNIST images: fit time, epochs, seconds
    per epoch, samples/s, peak memory (GPU: ``torch.cuda.max_memory_allocated``), test
    -ELBO and the sparse-code accuracy of the sparse-codes protocol (LogisticRegression on
    the codes of the first 5,000 training images, 10,000 test images)."""
    from sklearn.linear_model import LogisticRegression

    X, y = load_split(dataset, directory, "train", n_train)
    X_test, y_test = load_split(dataset, directory, "test", n_train)
    if _common.DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats(_common.DEVICE)
    est = VariationalSparseCoder(
        random_state=seed, device=_common.DEVICE, n_threads=threads, **(params or {})
    )
    load_start = os.getloadavg()[0]
    fit_s, _ = timed(est.fit, X)
    epoch_s = [h["time"] for h in est.history_]
    Z, Z_test = est.transform(X[:5000]), est.transform(X_test)
    clf = LogisticRegression(max_iter=1000).fit(Z, y[:5000])
    row = {
        "device": str(_common.DEVICE),
        "fit_s": fit_s,
        "epochs": est.n_iter_,
        "s_per_epoch": median(epoch_s),
        "samples_per_s": len(X) / median(epoch_s),
        "neg_elbo_test": float(-est.score(X_test)),
        "accuracy": float(clf.score(Z_test, y_test)),
        "nonzeros": float(np.mean(Z_test != 0)),
        "active_per_sample": float(np.mean((Z_test != 0).sum(axis=1))),
        "dead_units": int(est.n_dead_units_),
        "empty_codes": float(np.mean((Z_test != 0).sum(axis=1) == 0)),
        "load_1min": [load_start, os.getloadavg()[0]],
        **(params or {}),
    }
    if _common.DEVICE.type == "cuda":
        row["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(_common.DEVICE) / 2**20
    print(f"  default fit: {row}", flush=True)
    return row


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--dataset", choices=["mnist", "fashion", "digits"], default="mnist")
    parser.add_argument(
        "--rate-control",
        type=float,
        nargs="+",
        default=None,
        help="one fit per value, in order, with that rate_control (side by side)",
    )
    parser.add_argument(
        "--variants",
        type=json.loads,
        nargs="+",
        default=None,
        help="one fit per JSON dict of parameters, in order ({} = the defaults; side by side)",
    )
    args = parser.parse_args(argv)
    directory = start(args)
    if args.dataset != "digits" and directory is None:
        raise SystemExit(f"needs {args.dataset} (--data-dir or SKVSC_DATA), or --dataset digits")
    variants = args.variants
    if args.rate_control is not None:
        variants = (variants or []) + [{"rate_control": r} for r in args.rate_control]
    if variants is None:
        row = bench_default_fit(args.dataset, directory, args.n_train, args.threads)
        return finish({"machine": machine(args.dataset), "default_fit": row}, _line(row), args.out)
    rows = [
        bench_default_fit(args.dataset, directory, args.n_train, args.threads, params=params)
        for params in variants
    ]
    report = "\n".join(_line(row) for row in rows)
    return finish({"machine": machine(args.dataset), "fits": rows}, report, args.out)


def _line(row):
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())


if __name__ == "__main__":
    main()
