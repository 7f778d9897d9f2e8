"""Binarised MNIST as in the IWAE paper: dynamic binarisation, importance-sampled test log p(x).

The protocol of Burda, Grosse and Salakhutdinov (2016): the training images
are binarised afresh at every epoch (each pixel is 1 with probability its grey
level), the test images once with a fixed seed, and the test log-likelihood is
an importance-sampled estimate with k = 5,000 draws. With the public API only:
each epoch is one ``partial_fit`` on a new binarisation (which is why a
static binarisation, which overfits, is not used). Every ``--eval-every``
epochs the test ELBO and ``log_likelihood`` with ``--curve-draws`` draws on the
first ``--curve-rows`` test images are recorded and the model is saved to
``--cache-dir`` (training resumes from there); the run stops after
``--epochs`` epochs, ``--budget`` CPU seconds of training or ``--wall-budget`` seconds,
then estimates log p(x) on the first ``--final-rows`` test images (all by
default) with ``--final-draws``.

    python benchmarks/binarized_mnist.py --data-dir DIR --model vae --threads 1 \\
        --epochs 3280 --final-draws 5000 --out vae_binarized.jsonl
    python benchmarks/binarized_mnist.py --data-dir DIR --model vsc ...

The IWAE paper's models are not ours: two tanh layers of 200 units, 50
latent units, batch 20, 3,280 passes with a decaying learning rate. Here:
the estimators' default MLP (one ReLU layer of 400 units), 50 latent units
(``--n-components``), their default batch and learning rate.
"""

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.schedule import auto_learning_rate
from skvsc.datasets import load_mnist

MODELS = {"vae": VAETransformer, "vsc": VariationalSparseCoder}


def binarise(X, rng):
    """Each pixel 1 with probability its grey level (float32)."""
    return (rng.random(X.shape, dtype=np.float32) < X).astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SKVSC_DATA"))
    parser.add_argument("--model", default="vae", choices=sorted(MODELS))
    parser.add_argument("--params", default="{}", help="other estimator parameters (JSON)")
    parser.add_argument("--n-components", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=3280)
    parser.add_argument("--budget", type=float, default=float("inf"), help="training seconds")
    parser.add_argument("--wall-budget", type=float, default=float("inf"), help="wall seconds")
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--curve-rows", type=int, default=1000)
    parser.add_argument("--curve-draws", type=int, default=200)
    parser.add_argument("--final-draws", type=int, default=5000)
    parser.add_argument("--final-rows", type=int, default=None, help="first N test images")
    parser.add_argument("--n-train", type=int, default=None, help="first N images (smoke runs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", default="/tmp/skvsc_binarized")
    parser.add_argument("--out", default=None, help="append JSON lines here")
    parser.add_argument(
        "--set-params",
        default="{}",
        help="parameters (JSON) set on the cached model before training goes on, "
        "e.g. a lower learning rate for a last phase: '{\"learning_rate_init\": 3e-4}'",
    )
    parser.add_argument(
        "--lr-end",
        type=float,
        default=None,
        help="decay Adam's rate geometrically from learning_rate_init ('auto' resolved) "
        "to this over --decay-epochs epochs, then keep it (the IWAE paper decays its rate "
        "tenfold over its 3,280 passes)",
    )
    parser.add_argument("--decay-epochs", type=int, default=300)
    args = parser.parse_args(argv)

    X, _ = load_mnist(args.data_dir, download=False, progress=False)
    X_test, _ = load_mnist(args.data_dir, split="test", download=False, progress=False)
    X, X_test = X[: args.n_train], X_test[: args.n_train]
    X_test = binarise(X_test, np.random.default_rng(12345))  # once, fixed seed
    tag = f"{args.model}_J{args.n_components}_{args.params}_{len(X)}".replace(" ", "")
    if args.lr_end is not None:  # another schedule, another model: not resumed from the same file
        tag += f"_lr{args.lr_end:g}over{args.decay_epochs}"
    path = Path(args.cache_dir) / f"{tag}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            est, epoch, seconds = pickle.load(f)
    else:
        params = {"n_components": args.n_components, **json.loads(args.params)}
        est = MODELS[args.model](random_state=0, n_threads=args.threads, **params)
        epoch, seconds = 0, 0.0
    est.set_params(**json.loads(args.set_params))
    # From the command, not the checkpoint (whose rate is the decayed one); "auto" by the
    # estimator's own rule for this width and objective (1e-3 on MNIST, 3e-3 for prior="fixed")
    given = {**json.loads(args.params), **json.loads(args.set_params)}
    lr_start = given.get("learning_rate_init", "auto")
    if lr_start == "auto":
        lr_start = auto_learning_rate(X.shape[1], **est._auto_learning_rate_options())
    lr_start = float(lr_start)

    def learning_rate(epoch):
        """The rate of the epoch after ``epoch`` epochs: geometric, by epoch (so a resumed
        run follows the same schedule)."""
        fraction = min(epoch, args.decay_epochs) / args.decay_epochs
        return lr_start * (args.lr_end / lr_start) ** fraction

    def emit(row):
        row.update(model=args.model, params=args.params, epoch=epoch, train_s=seconds)
        row.update(set_params=args.set_params, learning_rate=est.get_params()["learning_rate_init"])
        if args.lr_end is not None:
            row.update(lr_end=args.lr_end, decay_epochs=args.decay_epochs)
        print(json.dumps(row), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")

    wall_start = time.perf_counter()
    while (
        epoch < args.epochs
        and seconds < args.budget
        and time.perf_counter() - wall_start < args.wall_budget
    ):
        Xb = binarise(X, np.random.default_rng(1_000_003 + epoch))  # a new one each epoch
        if args.lr_end is not None:
            est.set_params(learning_rate_init=learning_rate(epoch))
        start = time.process_time()
        est.partial_fit(Xb)
        seconds += time.process_time() - start
        epoch += 1
        if epoch % args.eval_every == 0:
            rows = X_test[: args.curve_rows]
            ll = est.log_likelihood(rows, n_draws=args.curve_draws, random_state=0)
            emit(
                {
                    "neg_elbo_test": float(-est.score(X_test)),
                    "neg_elbo_curve_rows": float(-est.score(rows)),
                    "neg_log_likelihood_curve_rows": float(-ll.mean()),
                    "curve_draws": args.curve_draws,
                }
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                pickle.dump((est, epoch, seconds), f)
    rows = X_test[: args.final_rows]
    ll = est.log_likelihood(rows, n_draws=args.final_draws, random_state=0)
    emit(
        {
            "final": True,
            "final_rows": len(rows),
            "neg_elbo_test": float(-est.score(X_test)),
            "neg_elbo_final_rows": float(-est.score(rows)),
            "neg_log_likelihood_test": float(-ll.mean()),
            "sem": float(ll.std() / np.sqrt(len(ll))),
            "final_draws": args.final_draws,
        }
    )


if __name__ == "__main__":
    main()
