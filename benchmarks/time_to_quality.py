"""How long does skvsc take to reach the public reproduction's test ELBO?

Training time (scoring excluded) until the test -ELBO of VSC with
``alpha=0.5, n_components=24`` reaches the reproduction's 111.6 nats, for
skvsc's defaults (``partial_fit``, one epoch per call), the paper's objective
(``prior="fixed"``) with the default warm-up and as the plain ELBO
(``kl_warmup=0, usage_weight=0``), and a reproduction-style loop
(``_loops.ReproVSC``: ``DataLoader``, batch 32, separate heads,
``log gamma = -relu(-v)``, ``c = 50``, summed loss, ``loss.item()`` every step).
Epochs of the four are interleaved; each skvsc setting stops at the epochs of
its schedule, and every method at ``--budget`` seconds of training.

    python benchmarks/time_to_quality.py --threads 1 --budget 1800
"""

import argparse

import _common
import torch
from _common import (
    TARGET_NEG_ELBO,
    add_common_args,
    finish,
    load_data,
    machine,
    start,
    timed,
)
from _loops import ReproVSC, repro_epoch, repro_test_neg_elbo

from skvsc import VariationalSparseCoder
from skvsc._device import torch_threads

#: skvsc settings timed to quality: the defaults; the paper's objective
#: (``prior="fixed"``, whose training loss is the ELBO with a KL warm-up); and
#: that objective without warm-up or usage penalty (the plain ELBO), to separate
#: the training machinery from the choice of defaults. The default prior trains
#: a loss that is not the ELBO (docs/index.rst), so it need not reach the target.
TTQ_CONFIGS = {
    "skvsc (defaults)": {},
    "skvsc (prior='fixed')": {"prior": "fixed"},
    "skvsc (prior='fixed', plain ELBO)": {"prior": "fixed", "kl_warmup": 0.0, "usage_weight": 0.0},
}


def bench_time_to_quality(X, X_test, budget, threads, max_epochs=None):
    """Epochs of every method, interleaved; training time only (scoring excluded).

    ``max_epochs`` caps every method (None: each stops at its own schedule or the budget).
    """
    from torch.utils.data import DataLoader, TensorDataset

    alpha, J = 0.5, 24
    steps = {}
    for name, params in TTQ_CONFIGS.items():
        est = VariationalSparseCoder(
            n_components=J, alpha=alpha, random_state=0, device=_common.DEVICE, n_threads=threads
        ).set_params(**params)
        steps[name] = (
            lambda est=est: est.partial_fit(X),
            lambda est=est: -est.score(X_test),
            est._max_epochs(len(X)),  # the epochs of its schedule ("auto" resolved)
        )
    torch.manual_seed(0)
    repro = ReproVSC(J).to(_common.DEVICE)
    opt = torch.optim.Adam(repro.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=32, shuffle=True)
    steps["reproduction-style loop"] = (
        lambda: repro_epoch(repro, opt, loader, alpha),
        lambda: repro_test_neg_elbo(repro, X_test, alpha),
        None,
    )
    state = {
        name: {"train_s": 0.0, "epochs": 0, "neg_elbo": [], "curve_s": [], "reached_s": None}
        for name in steps
    }

    def running(name):
        s, schedule = state[name], steps[name][2]
        limits = [n for n in (schedule, max_epochs) if isinstance(n, int)]
        out_of_epochs = any(s["epochs"] >= n for n in limits)
        return s["reached_s"] is None and s["train_s"] < budget and not out_of_epochs

    while any(running(name) for name in steps):
        for name, (train, evaluate, _) in steps.items():
            if not running(name):
                continue
            s = state[name]
            with torch_threads(threads):
                seconds, _ = timed(train)
                s["neg_elbo"].append(evaluate())
            s["train_s"] += seconds
            s["epochs"] += 1
            s["curve_s"].append(s["train_s"])
            if s["neg_elbo"][-1] <= TARGET_NEG_ELBO:
                s["reached_s"] = s["train_s"]
        print(
            "  time to quality: "
            + " | ".join(
                f"{name} {s['epochs']} epochs {s['train_s']:.0f} s -ELBO {s['neg_elbo'][-1]:.1f}"
                for name, s in state.items()
            ),
            flush=True,
        )
    return state


def report(q, budget):
    lines = [
        f"Time to test -ELBO <= {TARGET_NEG_ELBO} (VSC alpha=0.5, J=24; training time, "
        f"scoring excluded; budget {budget:.0f} s each):",
        "",
        "| method | epochs | train s | reached at (s) | best test -ELBO |",
        "|---|---|---|---|---|",
    ]
    for name, s in q.items():
        reached = f"{s['reached_s']:.0f}" if s["reached_s"] is not None else "not reached"
        best = min(s["neg_elbo"]) if s["neg_elbo"] else float("nan")
        lines.append(f"| {name} | {s['epochs']} | {s['train_s']:.0f} | {reached} | {best:.1f} |")
    repro = q["reproduction-style loop"]["reached_s"]
    for name in TTQ_CONFIGS:
        if repro and q[name]["reached_s"]:
            ratio = q[name]["reached_s"] / repro
            lines.append(f"\n{name} / reproduction-style loop, time to quality: {ratio:.2f}")
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds per method")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="cap on every method's epochs (smoke tests)"
    )
    args = parser.parse_args(argv)
    X, X_test, source = load_data(start(args), args.n_train)
    q = bench_time_to_quality(X, X_test, args.budget, args.threads, args.max_epochs)
    results = {"machine": machine(source), "time_to_quality": q}
    return finish(results, report(q, args.budget), args.out)


if __name__ == "__main__":
    main()
