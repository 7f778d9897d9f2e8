"""Are this checkout's estimator defaults faster to a good model than an earlier one's?

The estimator defaults of an earlier checkout (``--before DIR``; or ``.`` with
``--before-params '{"max_iter": 100}'`` to time a switch) against this one, each
imported in a subprocess with its own ``PYTHONPATH``, then the reproduction-style
loop (``_loops.ReproVSC``), on the same data: (a) VSC ``alpha=0.5, J=24``, time to
the reproduction's test -ELBO (111.6 nats); (b) the full defaults: fit time, test
-ELBO, accuracy of LogisticRegression on the codes of 5,000 training images,
non-zeros and dead units. ``--parts`` picks among ``before,after,repro``;
``--max-epochs`` caps (a), (b) and the loop (smoke runs).

    python benchmarks/ttq_defaults.py --before . --before-params '{"max_iter": 100}' \
        --parts before --threads 1 --budget 2400 --out ttq_before.json
    python benchmarks/ttq_defaults.py --before . --parts after --threads 1 --budget 2400
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import _common
import numpy as np
import torch
from _common import (
    REPO,
    TARGET_NEG_ELBO,
    add_common_args,
    finish,
    load_split,
    machine,
    start,
    timed,
)
from _loops import ReproVSC, repro_epoch, repro_test_neg_elbo

from skvsc._device import torch_threads

_TTQ_CHILD = r"""
import json, sys, time
import numpy as np
args = json.loads(sys.argv[1])
import skvsc
from skvsc import VariationalSparseCoder
from sklearn.linear_model import LogisticRegression
X, X_test = np.load(args["X"]), np.load(args["X_test"])
y, y_test = np.load(args["y"]), np.load(args["y_test"])
out = {"skvsc": skvsc.__file__}
# (a) VSC alpha=0.5, J=24, other parameters at their defaults: one epoch at a time
# (partial_fit follows the schedule of max_iter), scored after each (not timed).
params = {"random_state": 0, **args["params"]}
est = VariationalSparseCoder(**{**params, "n_components": 24, "alpha": 0.5})
cap = est._max_epochs(len(X))  # the epochs of its schedule ("auto" resolved)
cap = min(cap, args["max_epochs"] or cap)
train_s, curve, reached = 0.0, [], None
while len(curve) < cap and train_s < args["budget"] and reached is None:
    start = time.perf_counter()
    est.partial_fit(X)
    train_s += time.perf_counter() - start
    curve.append((train_s, float(-est.score(X_test))))
    if curve[-1][1] <= args["target"]:
        reached = train_s
out["target"] = {"epochs": len(curve), "train_s": train_s, "reached_s": reached, "curve": curve}
# (b) the full defaults: fit, then the final test -ELBO and the accuracy of a
# LogisticRegression on the sparse code of the first 5,000 labelled images.
if args["max_iter"]:
    params["max_iter"] = args["max_iter"]
est = VariationalSparseCoder(**params)
start = time.perf_counter()
est.fit(X)
fit_s = time.perf_counter() - start
Z, Z_test = est.transform(X[: args["n_labels"]]), est.transform(X_test)
clf = LogisticRegression(max_iter=1000).fit(Z, y[: args["n_labels"]])
out["defaults"] = {
    "params": {k: repr(v) for k, v in est.get_params().items()},
    "epochs": int(est.n_iter_),
    "fit_s": fit_s,
    "neg_elbo": float(-est.score(X_test)),
    "accuracy": float(clf.score(Z_test, y_test)),
    "active_fraction": float(np.mean(Z_test != 0)),
    "dead_units": int(getattr(est, "n_dead_units_", -1)),
}
print("TTQ_RESULT " + json.dumps(out))
"""


def bench_ttq_defaults(
    dataset,
    directory,
    n_train,
    before,
    budget,
    max_epochs,
    threads,
    before_params=None,
    parts=("before", "after", "repro"),
):
    """The estimator defaults of the checkout at ``before`` and of this one, each
    in a subprocess with its own ``PYTHONPATH``, then the reproduction-style loop,
    on the same data, one after the other.

    ``before_params`` (a dict) are estimator parameters set in the "before" child
    only: with ``before`` this checkout, that compares a switch (e.g. the earlier
    ``max_iter=100``) against the defaults. ``parts`` runs a subset."""
    import tempfile

    X, y = load_split(dataset, directory, "train", n_train)
    X_test, y_test = load_split(dataset, directory, "test", n_train)
    results = {"n": len(X), "n_test": len(X_test)}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, array in (("X", X), ("X_test", X_test), ("y", y), ("y_test", y_test)):
            paths[name] = str(Path(tmp) / f"{name}.npy")
            np.save(paths[name], array)
        child_args = {
            **paths,
            "budget": budget,
            "target": TARGET_NEG_ELBO,
            "max_epochs": max_epochs,
            "max_iter": max_epochs,
            "n_labels": min(5000, len(X)),
        }
        env = dict(os.environ)
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        children = (("before", Path(before).resolve(), before_params or {}), ("after", REPO, {}))
        for label, root, params in children:
            if label not in parts:
                continue
            env["PYTHONPATH"] = str(root)
            wall, proc = timed(
                subprocess.run,
                [sys.executable, "-c", _TTQ_CHILD, json.dumps({**child_args, "params": params})],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith("TTQ_RESULT ")]
            if proc.returncode or not line:
                raise RuntimeError(f"ttq-defaults child ({label}) failed:\n{proc.stderr[-3000:]}")
            results[label] = {**json.loads(line[0].split(" ", 1)[1]), "wall_s": wall}
            results[label]["params_set"] = params
            print(f"  ttq-defaults {label}: {results[label]['defaults']}", flush=True)
    if "repro" not in parts:
        return results
    # The reproduction-style loop, same data, bounded like the children.
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    repro = ReproVSC(24).to(_common.DEVICE)
    opt = torch.optim.Adam(repro.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=32, shuffle=True)
    train_s, curve, reached = 0.0, [], None
    max_epochs = max_epochs or 200
    while len(curve) < max_epochs and train_s < budget and reached is None:
        with torch_threads(threads):
            seconds, _ = timed(repro_epoch, repro, opt, loader, 0.5)
            train_s += seconds
            curve.append((train_s, repro_test_neg_elbo(repro, X_test, 0.5)))
        if curve[-1][1] <= TARGET_NEG_ELBO:
            reached = train_s
    results["reproduction-style loop"] = {
        "epochs": len(curve),
        "train_s": train_s,
        "reached_s": reached,
        "curve": curve,
    }
    return results


def report(q):
    lines = [
        f"Estimator defaults, before and after, on {q['n']} training images "
        f"({q['n_test']} test): (a) VSC alpha=0.5, J=24, time to test -ELBO <= "
        f"{TARGET_NEG_ELBO}; (b) the full defaults: fit time, test -ELBO, accuracy of "
        "LogisticRegression on the code (5,000 labels):",
        "",
        "| method | (a) epochs | (a) train s | (a) reached at (s) | (a) best -ELBO "
        "| (b) epochs | (b) fit s | (b) -ELBO | (b) accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("before", "after", "reproduction-style loop"):
        if name not in q:
            continue
        r = q[name]
        a = r.get("target", r)
        reached = f"{a['reached_s']:.0f}" if a["reached_s"] is not None else "not reached"
        best = min(c[1] for c in a["curve"]) if a["curve"] else float("nan")
        b = r.get("defaults")
        tail = (
            f"{b['epochs']} | {b['fit_s']:.0f} | {b['neg_elbo']:.1f} | {b['accuracy']:.3f}"
            if b
            else "- | - | - | -"
        )
        lines.append(
            f"| {name} | {a['epochs']} | {a['train_s']:.0f} | {reached} | {best:.1f} | {tail} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument(
        "--before",
        default=os.environ.get("SKVSC_BEFORE"),
        help="a checkout of the skvsc to compare with ($SKVSC_BEFORE)",
    )
    parser.add_argument(
        "--before-params", default=None, help='estimator parameters of the "before" child (JSON)'
    )
    parser.add_argument("--parts", default="before,after,repro")
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds per method")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap epochs (smoke runs)")
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    args = parser.parse_args(argv)
    if not args.before:
        raise SystemExit("needs --before (a checkout of the earlier skvsc)")
    directory = start(args)
    if args.dataset == "mnist" and directory is None:
        raise SystemExit("needs MNIST (--data-dir or SKVSC_DATA), or --dataset digits")
    q = bench_ttq_defaults(
        args.dataset,
        directory,
        args.n_train,
        args.before,
        args.budget,
        args.max_epochs,
        args.threads,
        before_params=json.loads(args.before_params) if args.before_params else None,
        parts=args.parts.split(","),
    )
    return finish({"machine": machine(args.dataset), "ttq_defaults": q}, report(q), args.out)


if __name__ == "__main__":
    main()
