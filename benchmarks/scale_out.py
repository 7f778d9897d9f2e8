"""Scale-out figures (issue 20): memory and epoch time of in-memory, memmap and
dask fits, and one process against two torch.distributed ranks.

Every fit runs in a fresh subprocess (one torch thread) that samples its
anonymous memory (RssAnon in /proc/self/status: the pages of a memory-mapped
file are page cache, not RssAnon) every 5 ms. Input files go to a temporary
directory (``--tmp-dir``, default the system's) and are deleted afterwards;
nothing is written into the repository. Each result is one JSON line on
stdout.

    python benchmarks/scale_out.py sources --seeds 0 1 2   # MNIST: memory / memmap / dask
    python benchmarks/scale_out.py big --gigabytes 2.5     # a 2.5 GB float32 memmap, one epoch
    python benchmarks/scale_out.py ranks --n-rows 20000    # 1 process vs 2 ranks x 1 thread
    python benchmarks/scale_out.py steps --n-rows 20000 --gloo   # the same, per step, by phase
    python benchmarks/scale_out.py halves --repeats 5         # a step's compute at 128 and 64 rows
    python benchmarks/scale_out.py read --gigabytes 1      # the training source's read rate
    torchrun --standalone --nproc-per-node 2 benchmarks/scale_out.py allreduce --repeats 200

MNIST comes from ``--data-dir``, ``$SKVSC_DATA`` or skvsc's data home.
Linux only (reads /proc).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon in /proc/self/status")


class PeakSampler(threading.Thread):
    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval, self.peak = interval, 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_anon_kib())
            time.sleep(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()
        return self.peak


def estimator(args, **extra):
    from skvsc import VariationalSparseCoder

    hidden = tuple(args.hidden)
    return VariationalSparseCoder(
        n_components=args.n_components,
        hidden_layer_sizes=hidden,
        max_iter=args.epochs,
        n_threads=1,
        device="cpu",
        random_state=args.seed,
        **extra,
    )


def one_fit(args):
    """(subprocess) One fit of ``args.source`` data read from ``args.path``."""
    import torch

    torch.set_num_threads(1)
    X_file = np.load(args.path, mmap_mode="r")
    if args.source == "memory":
        X = np.array(X_file)  # loaded whole, as users do today
    elif args.source == "memmap":
        X = X_file
    else:
        import dask.array as da

        X = da.from_array(X_file, chunks=(args.dask_chunk, -1))
    est = estimator(args)
    base = rss_anon_kib()
    sampler = PeakSampler()
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    est.fit(X)
    fit_seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = sampler.stop()
    result = {
        "source": args.source,
        "shape": list(X_file.shape),
        "seed": args.seed,
        "epochs": args.epochs,
        "epoch_s": [round(h["time"], 2) for h in est.history_],
        "fit_s": round(fit_seconds, 2),
        "fit_cpu_s": round(cpu, 2),
        "rss_anon_before_mib": round(base / 1024),
        "rss_anon_growth_mib": round((peak - base) / 1024),
        "loss": round(est.loss_curve_[-1], 3),
    }
    if args.labels:
        from sklearn.linear_model import LogisticRegression

        y = np.load(args.labels)
        Z = est.transform(X_file[:5000])
        test = np.load(args.test_path)
        clf = LogisticRegression(max_iter=1000).fit(Z, y[:5000])
        result["accuracy"] = round(
            100 * clf.score(est.transform(test), np.load(args.test_labels)), 2
        )
    print(json.dumps(result), flush=True)


def child(args, *argv, launcher=()):
    """Run this script with ``argv`` in a fresh, niced process (under ``launcher``,
    python's arguments before the script, e.g. torchrun's); its JSON lines."""
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    command = ["nice", "-n", "5", sys.executable, *launcher, __file__, *argv]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    # Ranks print at once: their lines may interleave, so read the objects, not lines.
    return [json.loads(m) for m in re.findall(r"\{[^{}]*\}", out.stdout)]


def common(args):
    flags = ["--epochs", str(args.epochs), "--n-components", str(args.n_components)]
    return [*flags, "--hidden", *map(str, args.hidden)]


def mnist(args, tmp):
    from skvsc.datasets import load_mnist

    X, y = load_mnist(args.data_dir, download=False, progress=False)
    Xt, yt = load_mnist(args.data_dir, split="test", download=False, progress=False)
    X = X[: args.n_rows]
    paths = {}
    for name, value in (("X", X), ("y", y), ("Xt", Xt), ("yt", yt)):
        paths[name] = os.path.join(tmp, f"{name}.npy")
        np.save(paths[name], value)
    return paths


def sources(args):
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        paths = mnist(args, tmp)
        for seed in args.seeds:
            for source in args.which:
                extra = ["one", source, paths["X"], "--seed", str(seed), *common(args)]
                if args.accuracy:
                    extra += ["--labels", paths["y"], "--test-path", paths["Xt"]]
                    extra += ["--test-labels", paths["yt"]]
                for row in child(args, *extra):
                    print(json.dumps(row), flush=True)


def big(args):
    n_features = 784
    n_rows = int(args.gigabytes * 1e9 / (4 * n_features))
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        path = os.path.join(tmp, "big.npy")
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, n_features))
        rng = np.random.default_rng(0)
        for start in range(0, n_rows, 50_000):
            stop = min(n_rows, start + 50_000)
            X[start:stop] = rng.random((stop - start, n_features), dtype=np.float32)
        X.flush()
        del X
        extra = ["one", "memmap", path, "--seed", str(args.seeds[0]), *common(args)]
        for row in child(args, *extra):
            print(json.dumps(row), flush=True)


def ranks(args):
    """Epoch time of 1 process against ``--n-ranks`` ranks (1 thread each)."""
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        paths = mnist(args, tmp)
        for repeat in range(args.repeats):
            for n_ranks in (1, args.n_ranks):
                extra = ["rank-fit", paths["X"], "--seed", str(args.seeds[0]), *common(args)]
                launcher = ()
                if n_ranks > 1:
                    launcher = ("-m", "torch.distributed.run", "--standalone")
                    launcher += (f"--nproc-per-node={n_ranks}",)
                rows = child(args, *extra, launcher=launcher)
                for row in rows:
                    print(json.dumps({"repeat": repeat, "n_ranks": n_ranks, **row}), flush=True)


def rank_fit(args):
    """(subprocess, maybe under torchrun) One fit; each rank prints its times."""
    import torch

    torch.set_num_threads(1)
    X = np.load(args.path)
    cpu = time.process_time()
    est = estimator(args).fit(X)
    result = {
        "rank": int(os.environ.get("RANK", "0")),
        "epoch_s": [round(h["time"], 2) for h in est.history_],
        "fit_cpu_s": round(time.process_time() - cpu, 2),
        "loss": round(est.loss_curve_[-1], 3),
    }
    print(json.dumps(result), flush=True)


def steps(args):
    """Per-step breakdown of 1 process against ``--n-ranks`` ranks, interleaved
    (with ``--gloo``, also the ranks summing through gloo)."""
    runs = [(1, False), (args.n_ranks, False)] + ([(args.n_ranks, True)] if args.gloo else [])
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        paths = mnist(args, tmp)
        for repeat in range(args.repeats):
            for n_ranks, gloo in runs:
                extra = ["rank-steps", paths["X"], "--seed", str(args.seeds[0]), *common(args)]
                extra += ["--gloo"] if gloo else []
                extra += ["--batch-size", str(args.batch_size)]
                launcher = ()
                if n_ranks > 1:
                    launcher = ("-m", "torch.distributed.run", "--standalone")
                    launcher += (f"--nproc-per-node={n_ranks}",)
                load = os.getloadavg()[0]
                path = "one process" if n_ranks == 1 else ("gloo" if gloo else "shared memory")
                for row in child(args, *extra, launcher=launcher):
                    row = {"repeat": repeat, "n_ranks": n_ranks, "sums": path, **row}
                    print(json.dumps({**row, "load1": round(load, 2)}), flush=True)


def rank_steps(args):
    """(subprocess, maybe under torchrun) One fit with each phase of a step timed
    (wall and this thread's CPU, in ms per step): data, forward (with the batch
    means' collective, ``coll_sum``), backward, the gradients' collective
    (``coll_gradients``) or the split update (``coll_step``: the sum, the
    guard's check and this rank's part of Adam), the guard, Adam; and, through
    shared memory, ``barrier`` and ``exchange`` (which hold the waits)."""
    import contextlib

    import torch

    from skvsc._core import data, distributed, guard, optim, vae

    torch.set_num_threads(1)
    totals = {}

    @contextlib.contextmanager
    def timed(name):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            w, c = totals.get(name, (0.0, 0.0))
            totals[name] = (w + time.perf_counter() - wall, c + time.thread_time() - cpu)

    def wrap(owner, attr, name):
        original = getattr(owner, attr)

        def wrapper(*a, **k):
            with timed(name):
                return original(*a, **k)

        setattr(owner, attr, wrapper)

    wrap(data.DenseSource, "take", "data")
    wrap(vae.VAE, "objective", "forward+means")
    wrap(torch.Tensor, "backward", "backward")
    wrap(guard.StepGuard, "before_update", "guard")
    wrap(optim.Adam, "update" if hasattr(optim.Adam, "update") else "step", "adam")
    if hasattr(distributed, "DataParallel"):
        for attr in ("gradients", "sum"):
            if hasattr(distributed.DataParallel, attr):
                wrap(distributed.DataParallel, attr, "coll_" + attr)
    if hasattr(distributed, "shared_update"):
        wrap(distributed.shared_update.SharedUpdate, "step", "coll_step")
    if hasattr(distributed, "shared_sum"):
        wrap(distributed.shared_sum.SharedSum, "barrier", "barrier")
        wrap(distributed.shared_sum.SharedSum, "exchange", "exchange")
    if args.gloo:
        distributed.SHARED_MEMORY = False
    X = np.load(args.path)
    est = estimator(args, batch_size=args.batch_size)
    start, cpu = time.perf_counter(), time.process_time()
    est.fit(X)
    fit_s, cpu = time.perf_counter() - start, time.process_time() - cpu
    n_steps = est._run.step
    epoch_s = est.history_[-1]["time"]
    result = {"rank": int(os.environ.get("RANK", "0")), "epoch_s": round(epoch_s, 3)}
    result.update(fit_s=round(fit_s, 3), fit_cpu_s=round(cpu, 3))
    result["step_ms"] = round(1e3 * epoch_s / n_steps, 3)
    for name, (w, c) in sorted(totals.items()):
        result[name] = [round(1e3 * w / n_steps, 3), round(1e3 * c / n_steps, 3)]
    print(json.dumps(result), flush=True)


def halves(args):
    """CPU (this thread) of one training step's forward and backward pass of the
    default model at the global batch and at half of it, interleaved
    (``--repeats`` rounds of 100 steps): what a rank of two computes per step
    against one process, before any communication."""
    import torch

    from skvsc.datasets import load_mnist

    torch.set_num_threads(1)
    X, _ = load_mnist(args.data_dir, download=False, progress=False)
    est = estimator(args).fit(X[:256])
    model, schedule = est._run.model, est._run.schedule
    generator = torch.Generator().manual_seed(0)
    X = torch.as_tensor(X[: args.batch_size], dtype=torch.float32)
    sizes = (args.batch_size, args.batch_size // 2)
    totals = {(rows, phase): 0.0 for rows in sizes for phase in ("forward", "backward")}
    for _ in range(args.repeats):
        for rows in sizes:
            batch = X[:rows]
            for _ in range(100):
                cpu = time.thread_time()
                loss, _ = model.objective(batch, schedule.at(100), generator, None)
                totals[rows, "forward"] += time.thread_time() - cpu
                model.zero_grad(set_to_none=True)
                cpu = time.thread_time()
                loss.backward()
                totals[rows, "backward"] += time.thread_time() - cpu
    n = 100 * args.repeats
    for rows in sizes:
        ms = {phase: round(1e3 * totals[rows, phase] / n, 3) for phase in ("forward", "backward")}
        print(json.dumps({"mode": "halves", "rows": rows, **ms, "load1": os.getloadavg()[0]}))


def read(args):
    """Read rate of the training source alone: one epoch of batches from a
    memmap of ``--gigabytes`` (no model), twice (the second from the page cache)."""
    import torch

    from skvsc import VariationalSparseCoder, _chunked
    from skvsc._core.data import make_source

    torch.set_num_threads(1)
    n_features = 784
    n_rows = int(args.gigabytes * 1e9 / (4 * n_features))
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        path = os.path.join(tmp, "read.npy")
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, n_features))
        for start in range(0, n_rows, 50_000):
            X[start : start + 50_000] = 0.5
        X.flush()
        del X
        X = np.load(path, mmap_mode="r")
        rows = _chunked.fit_rows(VariationalSparseCoder(), X, reset=True)
        source = make_source(rows, "cpu")
        for repeat in range(2):
            generator = torch.Generator().manual_seed(repeat)
            start, cpu = time.perf_counter(), time.process_time()
            n = sum(len(b) for b, _ in source.epoch_batches(128, generator))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            result = {"mode": "read", "repeat": repeat, "rows": n, "wall_s": round(wall, 2)}
            gigabytes = n * 4 * n_features / 1e9
            result.update(cpu_s=round(cpu, 2), gb_per_cpu_s=round(gigabytes / cpu, 2))
            result["gb_per_wall_s"] = round(gigabytes / wall, 2)
            print(json.dumps(result), flush=True)


def allreduce(args):
    """(under torchrun) Time of one gloo all-reduce of the default model's gradient
    (937,337 floats: 3.75 MB) and of the aggregate prior's batch means (400 floats)."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    for n in (937_337, 400):
        tensor = torch.ones(n)
        for _ in range(5):
            dist.all_reduce(tensor)
        dist.barrier()
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.repeats):
            dist.all_reduce(tensor)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = {"mode": "allreduce", "rank": dist.get_rank(), "floats": n}
        result.update(ms_wall=round(1e3 * wall / args.repeats, 3))
        result.update(ms_cpu=round(1e3 * cpu / args.repeats, 3))
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "mode",
        choices=[
            "sources",
            "big",
            "ranks",
            "read",
            "allreduce",
            "one",
            "rank-fit",
            "steps",
            "rank-steps",
            "halves",
        ],
    )
    parser.add_argument("source", nargs="?", help="(one) memory, memmap or dask")
    parser.add_argument("path", nargs="?", help="(one, rank-fit) the .npy file")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--tmp-dir", default=None)
    parser.add_argument("--n-rows", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--n-components", type=int, default=200)
    parser.add_argument("--hidden", type=int, nargs="*", default=[400])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--which", nargs="*", default=["memory", "memmap", "dask"])
    parser.add_argument("--accuracy", action="store_true", help="(sources) LogReg on 5,000 codes")
    parser.add_argument("--gigabytes", type=float, default=2.5)
    parser.add_argument("--n-ranks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--gloo", action="store_true", help="(steps) also ranks through gloo")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dask-chunk", type=int, default=4096)
    parser.add_argument("--labels"), parser.add_argument("--test-path")
    parser.add_argument("--test-labels")
    args = parser.parse_args()
    if args.mode in ("rank-fit", "rank-steps"):  # positional: the path comes first here
        args.path = args.source
    modes = {
        "halves": halves,
        "sources": sources,
        "big": big,
        "ranks": ranks,
        "read": read,
        "allreduce": allreduce,
    }
    modes.update({"one": one_fit, "rank-fit": rank_fit, "steps": steps, "rank-steps": rank_steps})
    modes[args.mode](args)


if __name__ == "__main__":
    main()
