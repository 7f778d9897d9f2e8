"""Screens of the default training on a validation split of MNIST.

First use (rejected): a cosine learning-rate decay. Second use: settings that
might close the ELBO gap between the default budget and a 100-epoch fit
(KL warm-up, epochs, learning rate, batch size; none did). Rows:
``../results/elbo_budget_screen.jsonl``, from an unpatched checkout:

    OUT=elbo_budget_screen.jsonl python lr_schedule_screen.py '{}' base
    OUT=elbo_budget_screen.jsonl python lr_schedule_screen.py '{"kl_warmup": 0.25}' warm025
    OUT=elbo_budget_screen.jsonl python lr_schedule_screen.py '{"max_iter": 26}' iter26
    (also kl_warmup 0.1, learning_rate_init 0.002 and 0.003, batch_size 64,
    batch_size 256 with learning_rate_init 0.002: the "params" of each row)

The default VSC on MNIST training images 0-49,999, scored on 50,000-59,999 (a
validation split; the test set is not used): validation -ELBO, the accuracy of
LogisticRegression on the codes of 5,000 fixed fitted images, non-zeros.
The decay is not in skvsc: it was screened with
``../results/lr_schedule_screen.patch`` applied to the training loop (the
learning rate falls from ``learning_rate_init`` to ``LR_FINAL`` times it
along a cosine over the scheduled steps). Rows: ``../results/lr_schedule_screen.jsonl``.

    python lr_schedule_screen.py '{}' base
    LR_FINAL=0.05 python lr_schedule_screen.py '{}' cos05
    LR_FINAL=0.05 python lr_schedule_screen.py '{"learning_rate_init": 0.002}' cos05_lr2e-3
"""

import json
import os
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

from skvsc import VariationalSparseCoder
from skvsc.datasets import load_mnist

OUT = os.environ.get("OUT", "lr_schedule_screen.jsonl")


def main():
    X, y = load_mnist(download=False, progress=False)  # data home: $SKVSC_DATA
    Xf, yf, Xv, yv = X[:50000], y[:50000], X[50000:], y[50000:]
    params, tag = json.loads(sys.argv[1]), sys.argv[2]
    seed = int(os.environ.get("SEED", "0"))
    est = VariationalSparseCoder(random_state=seed, n_threads=1, **params)
    start = time.perf_counter()
    est.fit(Xf)
    fit_s = time.perf_counter() - start
    idx = np.sort(np.random.RandomState(0).choice(50000, 5000, replace=False))
    Z, Zv = est.transform(Xf[idx]), est.transform(Xv)
    acc = LogisticRegression(max_iter=1000).fit(Z, yf[idx]).score(Zv, yv)
    row = {
        "tag": tag,
        "params": params,
        "lr_final": os.environ.get("LR_FINAL", "1"),
        "seed": str(seed),
        "epochs": est.n_iter_,
        "fit_s": fit_s,
        "neg_elbo_val": float(-est.score(Xv)),
        "acc_val": acc,
        "nonzero": float((Zv != 0).mean()),
        "dead": int(est.n_dead_units_),
    }
    print(json.dumps(row), flush=True)
    with open(OUT, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
