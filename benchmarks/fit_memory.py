"""How much memory does a fit take on MNIST-sized data?

In a subprocess: the RSS before fitting (interpreter, libraries, X) and the peak
RSS during a one-epoch fit of the default VSC on the 60,000 x 784 float32
training set (sampled every 5 ms), ``ru_maxrss``, and the peak of numpy/Python
allocations traced by ``tracemalloc`` during the fit. (``transform_memory.py``
measures ``transform`` on a large memory map.) Needs psutil.

    python benchmarks/fit_memory.py --threads 1
"""

import argparse
import json
import subprocess
import sys
import threading

from _common import add_common_args, finish, load_data, machine, start

from skvsc import VariationalSparseCoder


def memory_child(directory, threads, n_train):
    """Runs in a subprocess: RSS before and during a one-epoch fit on X."""
    import resource
    import tracemalloc

    import psutil

    proc = psutil.Process()
    X, _, source = load_data(directory, n_train)
    rss_data = proc.memory_info().rss
    est = VariationalSparseCoder(max_iter=1, random_state=0, device="cpu", n_threads=threads)
    peak = [rss_data]
    done = threading.Event()

    def sample():
        while not done.wait(0.005):
            peak[0] = max(peak[0], proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    sampler.start()
    est.fit(X)
    done.set()
    sampler.join()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "source": source,
                "X_bytes": X.nbytes,
                "rss_before_fit": rss_data,
                "rss_peak_during_fit": peak[0],
                "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "tracemalloc_peak_during_fit": traced_peak,
            }
        )
    )


def bench_memory(args):
    cmd = [sys.executable, __file__, "--child"]
    for option in ("data_dir", "threads", "n_train"):
        if getattr(args, option) is not None:
            cmd += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(m):
    mb = 1024**2
    return (
        f"Memory of a one-epoch fit on {m['X_bytes'] / mb:.0f} MB of float32 X "
        f"({m['source']}): RSS {m['rss_before_fit'] / mb:.0f} MB before fit (interpreter, "
        f"libraries, X), peak {m['rss_peak_during_fit'] / mb:.0f} MB during fit "
        f"(+{(m['rss_peak_during_fit'] - m['rss_before_fit']) / mb:.0f} MB), process "
        f"peak (ru_maxrss) {m['ru_maxrss'] / mb:.0f} MB; numpy/Python allocations "
        f"traced during fit: {m['tracemalloc_peak_during_fit'] / mb:.0f} MB."
    )


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    directory = start(args)
    if args.child:
        return memory_child(directory, args.threads, args.n_train)
    m = bench_memory(args)
    return finish({"machine": machine(m["source"]), "memory": m}, report(m), args.out)


if __name__ == "__main__":
    main()
