"""One training step of the default VSC: skvsc's core loop with its own Adam, the
same loop with ``torch.optim.Adam(fused=True)``, and the hand-written loop of
``_loops.py`` (the default objective written out, torch's fused Adam).

Epochs of 64 steps on MNIST images, interleaved (order alternating), CPU
seconds per step of this process (``time.process_time``), medians and the
medians of per-epoch ratios; one JSON line per batch size::

    python benchmarks/step_compare.py --batch-sizes 32,128 --reps 11 --threads 1 \\
        --out step_compare.jsonl

``--against rate_control=1.0`` compares the core loop of the defaults with the
same loop of the defaults with those parameters (``name=value``)
instead, e.g. what the rate controller costs per step; a value written as an integer
stays one (``--against n_components=600``: the step of a wider code).
"""

import argparse
import json
import time
from statistics import median

import torch
from _common import add_common_args, load_data, start
from _loops import fused_adam, hand_epoch, hand_model, step_epoch, step_setup

from skvsc import VariationalSparseCoder
from skvsc._core.guard import StepGuard

N_STEPS = 64


def reference_runs(X, batch_size, core):
    """The runs the core loop is compared with by default: the same loop with
    torch's fused Adam, and the hand-written loop of ``_loops.py``."""
    theirs = step_setup(X, batch_size)
    theirs["optimizer"] = fused_adam(theirs["model"].parameters())
    theirs["guard"] = StepGuard(theirs["model"], theirs["optimizer"])
    est = VariationalSparseCoder()
    spec = est._resolved(est._check_params(), X.shape[1])
    torch.manual_seed(0)
    model = hand_model(spec, X.shape[1])
    opt = fused_adam(model.parameters())
    Xt = torch.from_numpy(X)

    def hand(_):
        hand_epoch(model, opt, Xt, batch_size, spec)

    return ("torch_adam", core, theirs), ("hand", hand, None)


def compare(X, batch_size, reps, against=None):
    X = X[: batch_size * N_STEPS]
    n_steps = -(-len(X) // batch_size)  # N_STEPS unless X is smaller
    ours = step_setup(X, batch_size)

    def core(parts):
        step_epoch(parts, batch_size)

    if against:  # only the loop with the other parameters: nothing else is built
        others = (("against", core, step_setup(X, batch_size, params=against)),)
    else:
        others = reference_runs(X, batch_size, core)
    runs = (("skvsc", core, ours), *others)
    for _, fn, parts in runs:
        fn(parts)  # warm-up
    ms = {name: [] for name, _, _ in runs}
    for rep in range(reps):
        for name, fn, parts in runs if rep % 2 else runs[::-1]:
            t0 = time.process_time()
            fn(parts)
            ms[name].append(1e3 * (time.process_time() - t0) / n_steps)
    row = {"batch_size": batch_size, "reps": reps, "ms_per_step": ms}
    for name in ms:
        row[f"median_ms_{name}"] = median(ms[name])
    for name in (name for name, _, _ in runs[1:]):  # > 1: skvsc's step is faster
        row[f"speedup_vs_{name}"] = median(t / s for t, s in zip(ms[name], ms["skvsc"]))
    return row


def number(text):
    """``"600"`` -> 600 (an int parameter such as ``n_components``), ``"1.0"`` -> 1.0."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--batch-sizes", default="32,128")
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument(
        "--against",
        nargs="+",
        default=None,
        help="name=value: compare with these parameters (ints or floats)",
    )
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    against = args.against and {k: number(v) for k, v in (a.split("=") for a in args.against)}
    X, _, source = load_data(start(args), args.n_train)
    print(f"data: {source}")
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        row = {**compare(X, batch_size, args.reps, against), "threads": args.threads}
        if against:
            row["against"] = against
            print(
                f"batch {batch_size}: defaults {row['median_ms_skvsc']:.2f} ms, {against} "
                f"{row['median_ms_against']:.2f} ms ({row['speedup_vs_against']:.3f} x)",
                flush=True,
            )
        else:
            adam, hand = row["speedup_vs_torch_adam"], row["speedup_vs_hand"]
            print(
                f"batch {batch_size}: skvsc {row['median_ms_skvsc']:.2f} ms, same loop with "
                f"torch's Adam {row['median_ms_torch_adam']:.2f} ms ({adam:.3f} x), "
                f"hand loop {row['median_ms_hand']:.2f} ms ({hand:.3f} x)",
                flush=True,
            )
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
