"""One hyper-parameter sweep run serially, on joblib's loky backend and on a Dask cluster.

A ``GridSearchCV`` over ``alpha`` x ``n_components`` of a
``VariationalSparseCoder -> LogisticRegression`` pipeline on a subset of MNIST,
run with:

- ``serial-1t``: ``n_jobs=1`` with one thread (torch, and numpy/scipy BLAS
  through threadpoolctl), as in the workers of the parallel modes;
- ``serial``: ``n_jobs=1`` with the default threads (one per core);
- ``loky``: ``n_jobs=2`` on joblib's default process backend;
- ``dask``: ``joblib.parallel_config(backend="dask")`` on a 2-worker
  ``LocalCluster`` (1 thread per worker, processes, 127.0.0.1);
- ``dask-notrim``: the same without the ``MALLOC_TRIM_THRESHOLD_=65536`` that
  dask's Nannies give their workers by default (it costs torch system time).

Each parallel mode is timed twice: ``cold`` includes starting the worker
processes (and the cluster) and their imports, ``warm`` reuses them. CPU time
is user + system time of this process and all its child processes (psutil).
The table also gives the torch threads seen inside the fits, and the largest
difference of the CV scores from those of the first mode (0: bit-identical).

Example::

    nice -n 5 python benchmarks/sweep.py
    python benchmarks/sweep.py --n-samples 1000 --max-iter 2 --modes serial-1t dask
"""

import argparse
import contextlib
import os
import time

import joblib
import numpy as np
import torch
from _common import load_split  # first: puts this checkout's skvsc on sys.path
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from skvsc import VariationalSparseCoder
from skvsc._device import torch_threads

MODES = ("serial-1t", "serial", "loky", "dask", "dask-notrim")
CLUSTER = dict(
    n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
)


def _threads(estimator, X, y=None):
    """Scorer reporting the torch threads of the process that ran the fit."""
    return float(torch.get_num_threads())


def make_search(args, n_jobs):
    pipe = Pipeline(
        [
            (
                "vsc",
                VariationalSparseCoder(
                    hidden_layer_sizes=(args.hidden,), max_iter=args.max_iter, random_state=0
                ),
            ),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    grid = {"vsc__alpha": args.alpha, "vsc__n_components": args.n_components}
    scoring = {"accuracy": "accuracy", "threads": _threads}
    # No refit: it runs in this process whatever the backend, so it only adds
    # the same serial time to every mode.
    return GridSearchCV(pipe, grid, cv=args.cv, n_jobs=n_jobs, scoring=scoring, refit=False)


class Clock:
    """Wall seconds, and user + system CPU seconds of this process and its
    children (living, or exited and reaped), since creation."""

    def __init__(self):
        import psutil

        self._me = psutil.Process()
        self._wall = time.perf_counter()
        self._cpu = self._cpu_times()

    def _cpu_times(self):
        me = self._me.cpu_times()
        times = {"self": me.user + me.system + me.children_user + me.children_system}
        for child in self._me.children(recursive=True):
            with contextlib.suppress(Exception):  # a child may exit meanwhile
                t = child.cpu_times()
                times[child.pid] = t.user + t.system
        return times

    def read(self):
        now = self._cpu_times()
        cpu = sum(value - self._cpu.get(key, 0.0) for key, value in now.items())
        return time.perf_counter() - self._wall, cpu


def run_mode(mode, args, X, y):
    """Yield ``(label, wall, cpu, search)`` rows of one mode."""
    if mode == "serial-1t":
        with torch_threads(1), threadpool_limits(1):
            clock = Clock()
            search = make_search(args, n_jobs=1).fit(X, y)
        yield "serial-1t (n_jobs=1, 1 thread)", *clock.read(), search
    elif mode == "serial":
        clock = Clock()
        search = make_search(args, n_jobs=1).fit(X, y)
        yield f"serial (n_jobs=1, {torch.get_num_threads()} threads)", *clock.read(), search
    elif mode == "loky":
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)  # make the first run cold
        for run in ("cold", "warm"):
            clock = Clock()
            search = make_search(args, n_jobs=2).fit(X, y)
            yield f"loky n_jobs=2, {run}", *clock.read(), search
        get_reusable_executor().shutdown(wait=True)
    elif mode in ("dask", "dask-notrim"):
        yield from dask_rows(args, X, y, trim=mode == "dask")
    else:
        raise ValueError(f"unknown mode {mode!r}")


def dask_rows(args, X, y, trim):
    """Cold and warm rows of a LocalCluster; ``trim=False`` unsets the
    ``MALLOC_TRIM_THRESHOLD_`` that dask's Nannies set by default."""
    import dask
    import distributed

    label = "dask 2x1" + ("" if trim else ", no trim")
    config = {} if trim else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    environ = dict(os.environ)  # the Nannies write their variables into it
    if not trim:
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    try:
        clock = Clock()
        with (
            dask.config.set(config),
            distributed.LocalCluster(**CLUSTER) as cluster,
            distributed.Client(cluster),
            joblib.parallel_config(backend="dask"),
        ):
            search = make_search(args, n_jobs=-1).fit(X, y)
            yield f"{label}, cold (+ cluster start)", *clock.read(), search
            clock = Clock()
            search = make_search(args, n_jobs=-1).fit(X, y)
            yield f"{label}, warm", *clock.read(), search
    finally:
        os.environ.clear()
        os.environ.update(environ)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder with mnist/ (else $SKVSC_DATA)")
    parser.add_argument("--n-samples", type=int, default=3000, help="first MNIST training images")
    parser.add_argument("--hidden", type=int, default=64, help="hidden layer size")
    parser.add_argument("--max-iter", type=int, default=5, help="epochs per fit")
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.05, 0.2])
    parser.add_argument("--n-components", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    args = parser.parse_args(argv)

    # --data-dir, else $SKVSC_DATA, else skvsc's data home.
    X, y = load_split(args.dataset, args.data_dir, "train", args.n_samples)
    n_fits = len(args.alpha) * len(args.n_components) * args.cv
    print(
        f"GridSearchCV: {n_fits} fits of VSC(hidden=({args.hidden},), max_iter={args.max_iter}) "
        f"-> LogisticRegression on {X.shape[0]} {args.dataset} images; {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start\n"
    )
    # Warm up torch in this process so that 'serial' does not pay first-call costs.
    VariationalSparseCoder(4, hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X[:256])

    columns = ("wall s", "CPU s", "CPU/wall", "threads", "max |d|")
    header = f"{'mode':<52} " + " ".join(f"{c:>8}" for c in columns)
    print(header)
    print("-" * len(header))
    reference = None
    for mode in args.modes:
        for label, wall, cpu, search in run_mode(mode, args, X, y):
            scores = search.cv_results_["mean_test_accuracy"]
            reference = scores if reference is None else reference
            threads = ",".join(f"{t:g}" for t in np.unique(search.cv_results_["mean_test_threads"]))
            diff = np.max(np.abs(scores - reference))
            print(
                f"{label:<52} {wall:8.1f} {cpu:8.1f} {cpu / wall:8.2f} {threads:>8} {diff:8.1e}",
                flush=True,
            )
    print(f"\nmean CV accuracies (last mode): {np.round(scores, 4).tolist()}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
