"""MNIST test log-likelihood (importance-sampled) beside the test ELBO, per model.

Fits (or loads from the cache) ``VAETransformer()``, ``VariationalSparseCoder()``
and ``VariationalSparseCoder(prior="fixed")`` at their defaults on the 60,000
MNIST training images, then reports on the 10,000 test images the ELBO
(``score``) and ``log_likelihood`` with ``--n-draws`` draws, with the time of
each. Fitted models are cached under ``--cache-dir`` (``/tmp`` by default);
nothing is written into the repository unless ``--json`` says so.

    python benchmarks/log_likelihood.py --data-dir /work/shared/data
    python benchmarks/log_likelihood.py --models vae --n-draws 5000 --n-test 1000
    python benchmarks/log_likelihood.py --timing-only --models vsc   # the speed check
"""

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc.datasets import load_mnist

MODELS = {
    "vae": lambda **kw: VAETransformer(**kw),
    "vsc": lambda **kw: VariationalSparseCoder(**kw),
    "fixed": lambda **kw: VariationalSparseCoder(prior="fixed", **kw),
}


def fitted(name, X, cache_dir, n_threads, params):
    """The model ``name`` fitted on ``X`` (random_state=0), from the cache when there."""
    tag = name + "".join(f"_{k}={v}" for k, v in sorted(params.items()))
    path = Path(cache_dir) / f"{tag}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f), None
    est = MODELS[name](random_state=0, n_threads=n_threads, **params)
    start = time.perf_counter()
    est.fit(X)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(est, f)
    return est, seconds


def decoder_flops(est):
    """Matrix-product FLOPs of one decoder pass (2 per weight)."""
    return 2 * sum(p.numel() for p in est.module_.decoder.parameters() if p.dim() >= 2)


def roofline(n_threads):
    """float32 GFLOP/s of a 2048 x 2048 torch.mm (best of 3)."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        torch.mm(a, b)
        best = min(_timed(lambda: torch.mm(a, b)) for _ in range(3))
    finally:
        torch.set_num_threads(previous)
    return 2 * 2048**3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SKVSC_DATA"))
    parser.add_argument("--cache-dir", default="/tmp/skvsc_log_likelihood")
    parser.add_argument("--models", default="vae,vsc,fixed")
    parser.add_argument("--params", default="{}", help="JSON parameters for every model")
    parser.add_argument("--n-draws", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument(
        "--n-is", type=int, default=None, help="estimate log p(x) on the first N test rows only"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing-only", action="store_true", help="skip the ELBO")
    parser.add_argument("--json", help="append the rows to this JSON-lines file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, _ = load_mnist(args.data_dir, download=False, progress=False)
    X_test, _ = load_mnist(args.data_dir, split="test", download=False, progress=False)
    X_test = X_test[: args.n_test]
    params = json.loads(args.params)
    rows = []
    for name in args.models.split(","):
        est, fit_seconds = fitted(name, X, args.cache_dir, args.threads, params)
        est.set_params(n_threads=args.threads)
        row = {"model": name, "params": params, "n_test": len(X_test), "n_draws": args.n_draws}
        row["n_is"] = len(X_test[: args.n_is])
        row["fit_seconds"] = fit_seconds
        if not args.timing_only:
            row["elbo"] = est.score(X_test)
            row["elbo_is_rows"] = est.score(X_test[: args.n_is])  # the rows of the estimate
        peak = roofline(args.threads)
        start = time.perf_counter()
        X_is = X_test[: args.n_is]
        ll = est.log_likelihood(X_is, n_draws=args.n_draws, random_state=args.seed)
        seconds = time.perf_counter() - start
        flops = decoder_flops(est) * args.n_draws * len(X_is)
        row.update(
            log_likelihood=float(ll.mean()),
            log_likelihood_sem=float(ll.std() / np.sqrt(len(ll))),
            seconds=seconds,
            decoder_gflops=flops / seconds / 1e9,
            roofline_gflops=peak,
            roofline_share=flops / seconds / 1e9 / peak,
            load=os.getloadavg()[0],
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(
        "\n| model | -ELBO (all test) | -ELBO (IS rows) | -log p(x) (IS, draws) | IS seconds |"
        " decoder GFLOP/s | roofline |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        elbo = f"{-r['elbo']:.2f} | {-r['elbo_is_rows']:.2f}" if "elbo" in r else "- | -"
        print(
            f"| {r['model']} | {elbo} | {-r['log_likelihood']:.2f} +- "
            f"{r['log_likelihood_sem']:.2f} ({r['n_draws']}, {r['n_is']} rows) | "
            f"{r['seconds']:.1f} | {r['decoder_gflops']:.0f} | {100 * r['roofline_share']:.0f} % |"
        )


if __name__ == "__main__":
    main()
