"""The paper's objective at its default budget, side by side with a reproduction-style loop.

``VariationalSparseCoder(prior="fixed", alpha=0.5, n_components=24)`` with every
other parameter at its default (the schedule of ``prior="fixed"``: see
``docs/performance.md``) against the reproduction-style loop of
``_loops.ReproVSC`` (``DataLoader``, batch 32, Adam 1e-3, the public
reproduction's model and loss) for ``--repro-epochs`` epochs. The epochs of the
two alternate (one of each in turn), so that both see the same load; skvsc
trains its schedule one ``partial_fit`` epoch at a time. Reported: training wall
and CPU seconds (scoring excluded), the test -ELBO after every epoch, the ratio
of the training times, and, after both, the test -ELBO of one plain
``fit`` call (what a user runs).

    python benchmarks/fixed_prior_budget.py --threads 1 --out fixed_budget.json
"""

import argparse
import time

import _common
import numpy as np
import torch
from _common import add_common_args, finish, load_data, machine, start
from _loops import ReproVSC, repro_epoch, repro_test_neg_elbo

from skvsc import VariationalSparseCoder
from skvsc._device import torch_threads

ALPHA, J = 0.5, 24


def _clocked(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def side_by_side(X, X_test, repro_epochs, threads):
    from torch.utils.data import DataLoader, TensorDataset

    est = VariationalSparseCoder(
        prior="fixed", alpha=ALPHA, n_components=J, random_state=0, n_threads=threads
    )
    ours_epochs = est._max_epochs(len(X))  # "auto" resolved, as fit does
    torch.manual_seed(0)
    repro = ReproVSC(J).to(_common.DEVICE)
    opt = torch.optim.Adam(repro.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=32, shuffle=True)
    runs = {
        "skvsc prior='fixed' (defaults)": (
            lambda: est.partial_fit(X),
            lambda: float(-est.score(X_test)),
            ours_epochs,
        ),
        "reproduction-style loop (batch 32)": (
            lambda: repro_epoch(repro, opt, loader, ALPHA),
            lambda: repro_test_neg_elbo(repro, X_test, ALPHA),
            repro_epochs,
        ),
    }
    state = {name: {"wall_s": [], "cpu_s": [], "neg_elbo": []} for name in runs}
    for epoch in range(max(r[2] for r in runs.values())):
        for name, (train, evaluate, n_epochs) in runs.items():
            if epoch >= n_epochs:
                continue
            s = state[name]
            with torch_threads(threads):
                wall, cpu = _clocked(train)
                s["neg_elbo"].append(evaluate())
            s["wall_s"].append(wall + (s["wall_s"][-1] if s["wall_s"] else 0.0))
            s["cpu_s"].append(cpu + (s["cpu_s"][-1] if s["cpu_s"] else 0.0))
        print(
            f"  epoch {epoch + 1}: "
            + " | ".join(
                f"{n} {s['wall_s'][-1]:.0f} s -ELBO {s['neg_elbo'][-1]:.2f}"
                for n, s in state.items()
            ),
            flush=True,
        )
    one_call = VariationalSparseCoder(
        prior="fixed", alpha=ALPHA, n_components=J, random_state=0, n_threads=threads
    )
    with torch_threads(threads):
        wall, cpu = _clocked(lambda: one_call.fit(X))
        state["fit() call"] = {
            "wall_s": [wall],
            "cpu_s": [cpu],
            "neg_elbo": [float(-one_call.score(X_test))],
            "epochs": one_call.n_iter_,
        }
    return state


def report(state):
    ours = state["skvsc prior='fixed' (defaults)"]
    repro = state["reproduction-style loop (batch 32)"]
    lines = [
        "| run | epochs | train wall s | train CPU s | test -ELBO |",
        "|---|---|---|---|---|",
    ]
    for name, s in state.items():
        epochs = s.get("epochs", len(s["neg_elbo"]))
        lines.append(
            f"| {name} | {epochs} | {s['wall_s'][-1]:.0f} | {s['cpu_s'][-1]:.0f} | "
            f"{s['neg_elbo'][-1]:.2f} |"
        )
    lines.append(
        f"\nwall-time ratio skvsc / reproduction: {ours['wall_s'][-1] / repro['wall_s'][-1]:.2f}"
        f" (CPU: {ours['cpu_s'][-1] / repro['cpu_s'][-1]:.2f})"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--repro-epochs", type=int, default=11)
    args = parser.parse_args(argv)
    X, X_test, source = load_data(start(args), args.n_train)
    X, X_test = np.ascontiguousarray(X), np.ascontiguousarray(X_test)
    state = side_by_side(X, X_test, args.repro_epochs, args.threads)
    results = {"machine": machine(source), "fixed_prior_budget": state}
    return finish(results, report(state), args.out)


if __name__ == "__main__":
    main()
