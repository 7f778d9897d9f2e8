"""One training step of the conv network family against the MLP's.

The core training loop (no estimator overhead) of ``VariationalSparseCoder``
with the MLP defaults and with ``network="conv"`` (or any ``--variants``: a
JSON dict of name -> estimator parameters), Bernoulli likelihood, J = 200, on
MNIST images. Epochs of ``--n-steps`` steps, interleaved (the order alternates
each repetition), CPU seconds of this process per step; medians over
``--reps``, each variant's ratio to the first, and the load average around the
run (the machine is shared). ``--profile`` adds a ``torch.profiler`` table per
variant: the operators with the most self time per step, by input shape::

    python benchmarks/conv_step.py --threads 1 --reps 9 --out conv_step.json
"""

import argparse
import json
import os
import time
from statistics import median

from _common import add_common_args, finish, load_data, machine, start
from _loops import step_epoch, step_setup

VARIANTS = {"mlp": {}, "conv": {"network": "conv"}}


def setup(X, params, seed=0):
    """Model, optimizer, source, schedule and guard of a VSC with ``params``, as
    ``fit`` builds them."""
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    return step_setup(X, None, seed, params)


def interleaved_seconds(epochs, reps, n_steps):
    """CPU seconds of this process per step, ``{name: [one per repetition]}``, of
    the ``epochs`` (name -> a call that runs one epoch of ``n_steps`` steps):
    one warm-up epoch each, then ``reps`` repetitions whose order alternates."""
    for epoch in epochs.values():
        epoch()
    seconds = {name: [] for name in epochs}
    for rep in range(reps):
        for name in list(epochs) if rep % 2 == 0 else list(reversed(epochs)):
            start_cpu = time.process_time()
            epochs[name]()
            seconds[name].append((time.process_time() - start_cpu) / n_steps)
    return seconds


def profile_table(parts, batch_size, n_steps, top=12):
    """The operators with the most self CPU time, ms per step, by input shape."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step_epoch(parts, batch_size)
    events = sorted(
        prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total
    )
    return [
        {
            "op": e.key,
            "ms_per_step": round(e.self_cpu_time_total / 1e3 / n_steps, 3),
            "shapes": str(e.input_shapes)[:100],
        }
        for e in events[:top]
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=10, help="steps per timed epoch")
    parser.add_argument("--reps", type=int, default=9, help="timed epochs per variant")
    parser.add_argument("--variants", default=json.dumps(VARIANTS), help="JSON name -> params")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    directory = start(args)
    n_train = args.batch_size * args.n_steps
    X, _, source = load_data(directory, n_train=min(n_train, args.n_train or n_train))
    variants = {name: setup(X, params) for name, params in json.loads(args.variants).items()}
    n_steps = -(-len(X) // args.batch_size)
    load_start = os.getloadavg()[0]
    epochs = {
        name: (lambda parts=parts: step_epoch(parts, args.batch_size))
        for name, parts in variants.items()
    }
    seconds = interleaved_seconds(epochs, args.reps, n_steps)
    first = next(iter(variants))
    rows = []
    for name, values in seconds.items():
        rows.append(
            {
                "variant": name,
                "ms_per_step": round(1e3 * median(values), 2),
                "ratio": round(median(values) / median(seconds[first]), 3),
                "median_rep_ratio": round(
                    median(v / w for v, w in zip(values, seconds[first], strict=True)), 3
                ),
            }
        )
    results = {"machine": machine(source), "load_1min_start": load_start, "rows": rows}
    results.update(batch_size=args.batch_size, n_steps=n_steps, reps=args.reps)
    report = "\n".join(
        f"{r['variant']:>12}: {r['ms_per_step']:8.2f} ms/step  x{r['ratio']:.2f} "
        f"(median of per-rep ratios x{r['median_rep_ratio']:.2f})"
        for r in rows
    )
    if args.profile:
        results["profile"] = {}
        for name, parts in variants.items():
            results["profile"][name] = table = profile_table(parts, args.batch_size, n_steps)
            report += f"\n\n{name}: top operators, ms per step\n" + "\n".join(
                f"{t['ms_per_step']:7.2f}  {t['op']:<28} {t['shapes']}" for t in table
            )
    finish(results, report, args.out)


if __name__ == "__main__":
    main()
