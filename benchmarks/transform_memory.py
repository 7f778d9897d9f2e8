"""Peak memory of ``transform`` on a large input: it streams in batches.

The input is a float32 memory map on disk, so its pages are file-backed and do
not count in the process's anonymous memory (RssAnon); what transform itself
allocates does. A thread samples /proc/self/status while transform runs.

    python benchmarks/transform_memory.py                    # 1,000,000 x 784
    python benchmarks/transform_memory.py --n-rows 100000    # quicker

Linux only (reads /proc). The weights come from a one-epoch fit on a few
thousand random rows: memory does not depend on what the model learned.
"""

import argparse
import os
import tempfile
import threading
import time

import numpy as np


def memory_kib():
    """(RssAnon, VmRSS) of this process in KiB."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "VmRSS"):
                values[key] = int(rest.split()[0])
    return values["RssAnon"], values["VmRSS"]


class PeakSampler(threading.Thread):
    """Samples memory every ``interval`` seconds until stopped."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_anon = self.peak_rss = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            anon, rss = memory_kib()
            self.peak_anon, self.peak_rss = max(self.peak_anon, anon), max(self.peak_rss, rss)
            time.sleep(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def make_input(path, n_rows, n_features, chunk=50_000, seed=0):
    """A read-only float32 memory map of uniform [0, 1) rows, written chunk by chunk."""
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_rows, n_features))
    rng = np.random.default_rng(seed)
    for start in range(0, n_rows, chunk):
        stop = min(n_rows, start + chunk)
        X[start:stop] = rng.random((stop - start, n_features), dtype=np.float32)
    X.flush()
    del X
    return np.load(path, mmap_mode="r")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-rows", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=784)
    parser.add_argument("--n-components", type=int, default=200)
    parser.add_argument("--hidden", type=int, nargs="*", default=[400])
    parser.add_argument("--estimator", choices=["vsc", "vae"], default="vsc")
    parser.add_argument("--n-threads", type=int, default=None)
    parser.add_argument("--tmp-dir", default=None, help="where to write the input memmap")
    args = parser.parse_args()

    from skvsc import VAETransformer, VariationalSparseCoder

    cls = VariationalSparseCoder if args.estimator == "vsc" else VAETransformer
    est = cls(
        n_components=args.n_components,
        hidden_layer_sizes=tuple(args.hidden),
        max_iter=1,
        device="cpu",
        n_threads=args.n_threads,
        random_state=0,
    )
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        t0 = time.perf_counter()
        X = make_input(os.path.join(tmp, "X.npy"), args.n_rows, args.n_features)
        written = time.perf_counter() - t0
        print(f"input: {X.shape} float32 memmap, {X.nbytes / 2**20:.0f} MiB ({written:.1f} s)")
        est.fit(np.asarray(X[:4096]))
        est.transform(np.asarray(X[:10]))  # warm up kernels and allocator

        base_anon = memory_kib()[0]
        sampler = PeakSampler()
        sampler.start()
        t0 = time.perf_counter()
        Z = est.transform(X)
        seconds = time.perf_counter() - t0
        sampler.stop()

    out_mib = Z.nbytes / 2**20
    extra_mib = (sampler.peak_anon - base_anon) / 1024
    widest = max([args.n_features, *args.hidden, 3 * args.n_components])
    threads = args.n_threads or "default"
    lines = [
        f"model: {cls.__name__}(n_components={args.n_components}, "
        f"hidden_layer_sizes={tuple(args.hidden)}), torch threads: {threads}",
        f"transform: {args.n_rows:,} rows in {seconds:.1f} s ({args.n_rows / seconds:,.0f} rows/s)",
        f"output Z: {Z.shape} {Z.dtype}, {out_mib:.0f} MiB",
        f"peak anonymous memory during transform: +{extra_mib:.0f} MiB over the "
        f"{base_anon / 1024:.0f} MiB before, {extra_mib - out_mib:.0f} MiB beyond the output",
        f"peak resident memory (with the input's file pages): {sampler.peak_rss / 1024:.0f} MiB",
        f"for scale: the input is {X.nbytes / 2**20:.0f} MiB; one activation of width {widest} "
        f"for all rows at once would be {args.n_rows * widest * 4 / 2**20:.0f} MiB",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
