"""Validation curves of ``prior="fixed"`` (alpha=0.5, J=24) under candidate schedules.

Chooses the training schedule of the paper's objective (issue 25) without the
test set: each candidate is trained on the first ``--n-fit`` MNIST training
images, one ``partial_fit`` epoch at a time over a schedule of ``max_iter``
epochs, and after every epoch the -ELBO of the last ``--n-val`` training images
(a validation split) is recorded with the training seconds so far (scoring
excluded). One JSON line per candidate goes to ``--out``.

    python benchmarks/paper/fixed_schedule_screen.py --threads 1 \\
        --candidates '{"plain": {"kl_warmup": 0, "usage_weight": 0, "max_iter": 12}}'
"""

import argparse
import json
import time

import numpy as np
from _protocol import add_common_args, data_dir, emit, load

from skvsc import VariationalSparseCoder


def curve(X_fit, X_val, params, seed, threads):
    """Validation -ELBO and training seconds after every epoch of the schedule."""
    params = dict(params)
    schedule_extra = params.pop("schedule", {})  # Schedule fields with no parameter
    est = VariationalSparseCoder(
        prior="fixed", alpha=0.5, n_components=24, random_state=seed, n_threads=threads
    ).set_params(**params)
    if schedule_extra:
        options = est._latent_options

        def patched():
            out = options()
            out["schedule_params"] = {**out["schedule_params"], **schedule_extra}
            return out

        est._latent_options = patched
    n_epochs = est._max_epochs(len(X_fit))  # "auto" resolved, as fit would
    seconds, neg_elbo, train_s = 0.0, [], []
    for _ in range(n_epochs):
        start = time.process_time()
        est.partial_fit(X_fit)
        seconds += time.process_time() - start
        train_s.append(seconds)
        neg_elbo.append(float(-est.score(X_val)))
    return {"epochs": n_epochs, "neg_elbo_val": neg_elbo, "train_cpu_s": train_s}


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--n-fit", type=int, default=50000)
    parser.add_argument("--n-val", type=int, default=10000)
    parser.add_argument("--candidates", required=True, help="JSON: name -> parameters")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X, _ = load("mnist", data_dir(args.data_dir), "train", args.n_fit + args.n_val)
    X = np.ascontiguousarray(X, dtype=np.float32)
    X_fit, X_val = X[: args.n_fit], X[args.n_fit :]
    for name, params in json.loads(args.candidates).items():
        row = {"script": "fixed_schedule_screen", "name": name, "params": params}
        row.update(seed=args.seed, **curve(X_fit, X_val, params, args.seed, args.threads))
        emit(row, args.out)


if __name__ == "__main__":
    main()
