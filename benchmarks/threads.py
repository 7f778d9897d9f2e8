"""How many threads should a fit use, and what do ``GridSearchCV`` workers get?

Seconds per epoch of the default VSC (J = 200, batch 128) on ``--n-epoch-rows``
images for ``n_threads`` 1, 2 and None (automatic), interleaved, on the machine
as it is and with one extra CPU-bound process started here (``--no-busy`` skips
that); medians and the ratio of the automatic setting to the best fixed one.
Then ``GridSearchCV(n_jobs=2)`` over a small VSC: the number of torch threads and
``OMP_NUM_THREADS`` seen inside the workers (through scorers).

    python benchmarks/threads.py --repeats 3
"""

import argparse
import os
import subprocess
import sys
import time

import torch
from _common import add_common_args, finish, load_data, machine, median, start, timed

from skvsc import VariationalSparseCoder


def _worker_threads(estimator, X, y=None):
    return float(torch.get_num_threads())


def _worker_omp(estimator, X, y=None):
    return float(os.environ.get("OMP_NUM_THREADS", "nan"))


def bench_threads(X):
    from sklearn.model_selection import GridSearchCV

    small = VariationalSparseCoder(
        n_components=16, hidden_layer_sizes=(64,), max_iter=2, device="cpu", random_state=0
    )
    search = GridSearchCV(
        small,
        {"alpha": [0.1, 0.5]},
        cv=2,
        n_jobs=2,
        scoring={
            "elbo": lambda e, X, y=None: e.score(X),
            "threads": _worker_threads,
            "omp": _worker_omp,
        },
        refit="elbo",
    )
    seconds, _ = timed(search.fit, X[:4000])
    return {
        "cores": os.cpu_count(),
        "parent_torch_threads": torch.get_num_threads(),
        "worker_torch_threads": sorted(set(search.cv_results_["mean_test_threads"].tolist())),
        "worker_OMP_NUM_THREADS": sorted(set(search.cv_results_["mean_test_omp"].tolist())),
        "fit_s": seconds,
    }


def _busy_loop():
    """A CPU-bound process (the other user of the machine), killed by the caller."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def bench_thread_epochs(X, repeats, with_busy=True):
    """Seconds per epoch of the default VSC (J=200, batch 128) on ``X`` for
    ``n_threads`` 1, 2 and None (automatic), interleaved, on the machine as it is
    and with one extra CPU-bound process started here; medians and the ratio of
    the automatic setting to the best fixed one."""
    from skvsc._device import auto_threads, busy_cpus

    settings = (1, 2, None)
    states = ["as is", "one extra busy process"] if with_busy else ["as is"]
    out = {}
    for state in states:
        busy = _busy_loop() if state != "as is" else None
        try:
            if busy is not None:
                time.sleep(2.0)  # let it start before the load is read
            VariationalSparseCoder(max_iter=1, batch_size=128, random_state=0).fit(X[:512])
            runs = {str(t): [] for t in settings}
            chosen, loads = [], []
            for rep in range(repeats):
                for t in settings if rep % 2 == 0 else settings[::-1]:
                    if t is None:
                        chosen.append(auto_threads())
                    loads.append(os.getloadavg()[0])
                    est = VariationalSparseCoder(
                        max_iter=1, batch_size=128, random_state=rep, n_threads=t
                    )
                    seconds, _ = timed(est.fit, X)
                    runs[str(t)].append(seconds)
                    print(f"  threads [{state}] n_threads={t}: {seconds:.2f} s/epoch", flush=True)
            med = {t: median(v) for t, v in runs.items()}
            out[state] = {
                "seconds_per_epoch": med,
                "raw": runs,
                "auto_chose": chosen,
                "busy_cpus_seen": busy_cpus(),
                "load_1min": [min(loads), max(loads)],
                "auto_over_best": med["None"] / min(med["1"], med["2"]),
            }
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return {"n": len(X), "states": out}


def report(t, g):
    lines = [
        f"Seconds per epoch of the default VSC on {t['n']} images (batch 128, J=200), "
        f"medians of {t['repeats']} interleaved repetitions:",
        "",
        "| machine | 1-min load | n_threads=1 | 2 | None (auto) | auto chose | auto / best |",
        "|---|---|---|---|---|---|---|",
    ]
    for state, r in t["states"].items():
        sec = r["seconds_per_epoch"]
        lines.append(
            f"| {state} | {r['load_1min'][0]:.1f}-{r['load_1min'][1]:.1f} | "
            f"{sec['1']:.2f} | {sec['2']:.2f} | {sec['None']:.2f} | "
            f"{sorted(set(r['auto_chose']))} | {r['auto_over_best']:.2f} |"
        )
    lines += [
        "",
        f"GridSearchCV(n_jobs=2) on {g['cores']} cores: parent process "
        f"{g['parent_torch_threads']} torch threads, workers "
        f"{g['worker_torch_threads']} torch threads (OMP_NUM_THREADS in workers: "
        f"{g['worker_OMP_NUM_THREADS']}); search took {g['fit_s']:.1f} s.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-epoch-rows", type=int, default=10_000, help="rows per timed epoch")
    parser.add_argument("--no-busy", action="store_true", help="skip the extra busy process")
    args = parser.parse_args(argv)
    X, _, source = load_data(start(args), args.n_train)
    t = bench_thread_epochs(X[: args.n_epoch_rows], args.repeats, with_busy=not args.no_busy)
    t["repeats"] = args.repeats
    g = bench_threads(X)
    results = {"machine": machine(source), "thread_epochs": t, "threads": g}
    return finish(results, report(t, g), args.out)


if __name__ == "__main__":
    main()
