"""Codes of the convolutional network family (``network="conv"``) under the protocol of
``docs/results.md``: conv VSC, a conv VAE's dense code, a conv TopK autoencoder, and the
MLP VSC, fitted here one after another so that their fit times compare.

Fits ``METHOD`` with the JSON ``params`` on the 60,000 training images (``--validation``:
on images 0-49,999, scored on 50,000-59,999, never the test set; ``--n-fit N``: on the
first N of those only, for short screens), classifies the codes of a fixed random 5,000
of the fitted images (``_protocol.label_subset``) with LogisticRegression(max_iter=1000),
scores the evaluation images, and appends one JSON row per code: accuracy, non-zeros,
active units per image, dead units, epochs, fit wall time, the fit's CPU time (of this
one-thread process: what the fit itself cost) and the load average of the machine around
the fit (the fit times of a shared machine need it). ``--caps`` adds a row
per cap on the active units of VSC's code (``transform_n_nonzero_coefs``), from the same
fit. ``--tuned`` adds to each row the accuracy of a LogisticRegression whose ``C`` and
per-unit scaling are chosen by 5-fold CV on the labelled codes
(``_protocol.tuned_logreg_accuracy``), and the choice.

METHOD is ``vsc`` (``VariationalSparseCoder(**params)``), ``vae`` (``VAETransformer``)
or ``topk`` (``baselines.TopKAutoencoder``, whose ``network="conv"`` uses the
convolutions of skvsc's conv family). Fitted models are pickled in ``--cache`` and
reused.

Example (the rows of ``docs/images_screens.md``)::

    SKVSC_DATA=/path/to/data OMP_NUM_THREADS=1 python benchmarks/paper/conv_codes.py \
        mnist vsc '{"network": "conv", "alpha": 0.025, "random_state": 0}' conv-s0 \
        --caps 10 --cache ~/cache --out benchmarks/paper/results/conv_codes.jsonl
"""

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

from _protocol import (  # puts benchmarks/ on sys.path
    Timer,
    data_dir,
    emit,
    label_subset,
    load,
    logreg_accuracy,
    sparsity_stats,
    tuned_logreg_accuracy,
    with_defaults_tag,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_model(method, params):
    if method == "vsc":
        from skvsc import VariationalSparseCoder

        return VariationalSparseCoder(n_threads=1, **params)
    if method == "vae":
        from skvsc import VAETransformer

        return VAETransformer(n_threads=1, **params)
    from baselines import TopKAutoencoder

    return TopKAutoencoder(n_threads=1, **params)


def fit_cached(method, dataset, n_fit, validation, params, X, cache):
    """``(model, fit_seconds, load_before, load_after, fit_cpu_seconds)``, from
    ``cache`` when fitted before (``fit_cpu_seconds`` None in older caches)."""
    # a VSC fit that leaves the gate or the rate controller to "auto" is keyed by
    # the defaults it was fitted with (the image defaults changed: _protocol.py)
    tagged = with_defaults_tag(params, method)
    key = json.dumps([method, dataset, n_fit, validation, tagged], sort_keys=True)
    path = None
    if cache:
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        path = Path(cache).expanduser() / f"conv-{method}-{dataset}-{digest}.pkl"
        if path.exists():
            with open(path, "rb") as f:
                return (*pickle.load(f), None)[:5]
    model = make_model(method, params)
    load_before = os.getloadavg()[0]
    cpu_start = time.process_time()  # this process's CPU time: less noisy than wall time
    with Timer() as t:
        model.fit(X)
    result = (model, t.seconds, load_before, os.getloadavg()[0], time.process_time() - cpu_start)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(result, f)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["mnist", "fashion", "digits"])
    parser.add_argument("method", choices=["vsc", "vae", "topk"])
    parser.add_argument("params", help="JSON dict of the model's parameters")
    parser.add_argument("tag", help="a name for the rows")
    parser.add_argument("--validation", action="store_true", help="score on 50,000-59,999")
    parser.add_argument("--n-fit", type=int, default=None, help="fit on the first N only")
    parser.add_argument("--caps", type=int, nargs="*", default=[], help="VSC code caps")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cache", default=None, help="folder for the fitted models")
    parser.add_argument("--out", default=None, help="append the JSON rows here")
    parser.add_argument("--n-train", type=int, default=None, help="first N images (smoke runs)")
    parser.add_argument(
        "--tuned",
        action="store_true",
        help="also score a LogisticRegression whose C and scaling are chosen by CV "
        "on the labelled codes (tuned_accuracy, tuned_C, tuned_scaled)",
    )
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    for key in ("hidden_layer_sizes", "conv_channels", "image_shape"):
        if key in params:
            params[key] = tuple(params[key])

    directory = data_dir(args.data_dir)
    X, y = load(args.dataset, directory, "train", args.n_train)
    if args.validation:
        cut = 50_000 if args.n_train is None else (4 * len(X)) // 5
        X, y, X_eval, y_eval = X[:cut], y[:cut], X[cut:], y[cut:]
    else:
        X_eval, y_eval = load(args.dataset, directory, "test", args.n_train)
    X, y = X[: args.n_fit], y[: args.n_fit]

    model, seconds, load_before, load_after, cpu_seconds = fit_cached(
        args.method, args.dataset, len(X), args.validation, params, X, args.cache
    )
    labelled = label_subset(len(X))
    caps = [None] + (args.caps if args.method == "vsc" else [])
    for cap in caps:
        if args.method == "vsc":
            model.set_params(transform_n_nonzero_coefs=cap)
        Z, Z_eval = model.transform(X), model.transform(X_eval)
        row = {
            "dataset": args.dataset,
            "method": args.method,
            "tag": args.tag,
            "params": params,
            "cap": cap,
            "evaluated_on": "validation" if args.validation else "test",
            "n_fit": len(X),
            "fit_s": round(seconds, 1),
            "fit_cpu_s": None if cpu_seconds is None else round(cpu_seconds, 1),
            "load_avg": [round(load_before, 2), round(load_after, 2)],
            "accuracy": logreg_accuracy(Z[labelled], y[labelled], Z_eval, y_eval),
            **sparsity_stats(Z, Z_eval),
            "epochs": int(model.n_iter_),
        }
        if args.tuned:
            accuracy, choice = tuned_logreg_accuracy(Z[labelled], y[labelled], Z_eval, y_eval)
            row.update(tuned_accuracy=accuracy, tuned_C=choice["C"], tuned_scaled=choice["scaled"])
        emit(row, args.out)


if __name__ == "__main__":
    main()
