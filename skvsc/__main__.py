"""``python -m skvsc``: sparse codes as features, next to a VAE and the raw pixels.

Fits ``VariationalSparseCoder()`` with its defaults, the
``VariationalSparseCoder(alpha=0.01)`` (a sparser code: about two units of 200)
and ``VAETransformer()`` on the training images, then trains a logistic
regression and an SVC on each code (and on the raw pixels) and reports, on the
test images, the accuracy, how many code entries are non-zero, how many codes
are empty (all zeros) and the time each encoder took to fit.

By default it uses scikit-learn's bundled 8x8 digits (a stratified 75/25
split), which needs no download. ``--dataset mnist`` or ``--dataset fashion``
use the official MNIST / Fashion-MNIST training and test files from a data
directory (``--data-dir``, else the environment variable ``SKVSC_DATA``, else
the per-user cache directory of ``skvsc.datasets``).
"""

import argparse
import sys
import time
import warnings

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

from . import VAETransformer, VariationalSparseCoder, __version__
from ._device import resolve_device

PROG = "python -m skvsc"
DATASETS = {
    "digits": "scikit-learn digits (8x8 images, pixels / 16)",
    "mnist": "MNIST (28x28 images, pixels / 255)",
    "fashion": "Fashion-MNIST (28x28 images, pixels / 255)",
}
# The encoders of the table: (label, class, constructor arguments). The labels are the
# constructor calls as a user writes them; options given on the command line are added.
MODELS = [
    ("VariationalSparseCoder()", VariationalSparseCoder, {}),
    ("VariationalSparseCoder(alpha=0.01)", VariationalSparseCoder, {"alpha": 0.01}),
    ("VAETransformer()", VAETransformer, {}),
]


class DataError(Exception):
    """The data set cannot be loaded; the message says what to do."""


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            f"  {PROG}                                   # digits, the estimators' defaults\n"
            f"  {PROG} --threads 1                       # faster when other jobs share the cores\n"
            f"  {PROG} --max-iter 2                      # a quick check that it runs\n"
            f"  {PROG} --dataset mnist --data-dir DIR --n-train 10000 --max-iter 20\n"
            f"  SKVSC_DATA=DIR {PROG} --dataset fashion --download --n-train 10000\n"
            "\n"
            "MNIST files: DIR/mnist/ holds train-images-idx3-ubyte.gz,\n"
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and\n"
            "t10k-labels-idx1-ubyte.gz (the official IDX files, checked against their\n"
            "SHA-256 checksums); Fashion-MNIST uses DIR/fashion-mnist/ with the same\n"
            "names. On the full 60,000 training images the estimators' defaults take\n"
            "long on a CPU: use --n-train and --max-iter, or --device cuda."
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=(
            f"skvsc {__version__} (torch {torch.__version__}, scikit-learn "
            f"{sklearn.__version__}, Python {sys.version.split()[0]})"
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        default="digits",
        help="digits: scikit-learn's bundled digits (default, no download); "
        "mnist, fashion: MNIST or Fashion-MNIST from the data directory",
    )
    data.add_argument(
        "--data-dir",
        metavar="DIR",
        default=None,
        help="data directory of --dataset mnist/fashion, holding mnist/ or fashion-mnist/ "
        "(default: $SKVSC_DATA, else the per-user cache directory)",
    )
    data.add_argument(
        "--download",
        action="store_true",
        help="download missing MNIST / Fashion-MNIST files into the data directory "
        "(default: use only the files already there)",
    )
    data.add_argument(
        "--n-train",
        type=int,
        default=None,
        metavar="N",
        help="fit on a random subset of N training images (default: all of them)",
    )
    fit = parser.add_argument_group("training (defaults: the estimators')")
    fit.add_argument("--max-iter", type=int, default=None, metavar="N", help="epochs of each fit")
    fit.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="PyTorch threads of each fit (n_threads); 1 is often fastest on a busy machine",
    )
    fit.add_argument("--device", default=None, help="'auto', 'cpu', 'cuda' or 'cuda:1'")
    fit.add_argument(
        "--random-state", type=int, default=0, metavar="SEED", help="seed (default: 0)"
    )
    return parser


def _positive(parser, args, *names):
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")


def _check_options(parser, args):
    """Refuse option values the fits would refuse, before any data are loaded."""
    if not 0 <= args.random_state < 2**32:
        parser.error(f"--random-state must be in [0, 2**32 - 1], got {args.random_state}")
    if args.device is not None:
        try:
            resolve_device(args.device)
        except ValueError as exc:
            parser.error(f"--device: {exc}")


def _load(args):
    """``(X_train, X_test, y_train, y_test)`` of the chosen data set."""
    if args.dataset == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16.0  # pixels in [0, 1]
        return train_test_split(X, y, test_size=0.25, stratify=y, random_state=args.random_state)
    from .datasets import load_fashion_mnist, load_mnist

    loader = load_mnist if args.dataset == "mnist" else load_fashion_mnist
    if args.data_dir is not None:
        from pathlib import Path

        data_dir = Path(args.data_dir).expanduser()
        if data_dir.exists() and not data_dir.is_dir():
            raise DataError(
                f"the data directory {args.data_dir!r} is a file, not a directory. Pass "
                "--data-dir DIR, the directory that holds mnist/ or fashion-mnist/ (see --help)."
            )
        if not data_dir.exists() and not args.download:
            raise DataError(
                f"the data directory {args.data_dir!r} does not exist. Pass --data-dir DIR "
                "with the IDX files (see --help), or add --download to fetch them there."
            )
    try:
        X_train, y_train = loader(args.data_dir, split="train", download=args.download)
        X_test, y_test = loader(args.data_dir, split="test", download=args.download)
    except (OSError, ValueError) as exc:  # missing, corrupt or undownloadable files
        hint = "" if args.download else "\n(add --download to fetch the missing files)"
        raise DataError(f"cannot load {args.dataset}: {exc}{hint}") from None
    return X_train, X_test, y_train, y_test


def _subsample(X, y, n, random_state):
    if n is None or n >= len(X):
        return X, y
    index = np.random.default_rng(random_state).choice(len(X), size=n, replace=False)
    return X[index], y[index]


def _code_stats(Z):
    nonzero = (Z != 0).sum(axis=1)
    return {
        "nonzeros": float(nonzero.mean()),
        "width": Z.shape[1],
        "empty": float(np.mean(nonzero == 0)),
    }


def _accuracies(Z_train, Z_test, y_train, y_test):
    logreg = LogisticRegression(max_iter=2000).fit(Z_train, y_train)
    svc = SVC().fit(Z_train, y_train)
    return logreg.score(Z_test, y_test), svc.score(Z_test, y_test)


def _fit_encoder(estimator, X_train, X_test, y_train, y_test):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        estimator.fit(X_train)
        fit_s = time.perf_counter() - start
        Z_train, Z_test = estimator.transform(X_train), estimator.transform(X_test)
        elbo = estimator.score(X_test)
    row = _code_stats(Z_test)
    row["logreg"], row["svc"] = _accuracies(Z_train, Z_test, y_train, y_test)
    row["fit_s"] = fit_s
    row["elbo"] = elbo
    row["warnings"] = list(dict.fromkeys(str(w.message) for w in caught))
    return row


def _describe(label, estimator, row, n_train):
    """Lines on how a fit went: size, likelihood, epochs and why it stopped."""
    lines = [
        f"{label}: {estimator.module_.n_components} units, {estimator.likelihood_} likelihood, "
        f"device {estimator.device_}, {_epochs(estimator, n_train)}"
    ]
    lines += [f"    warning: {message}" for message in row["warnings"]]
    return lines


def _epochs(estimator, n_train):
    params = estimator.get_params()
    # max_iter="auto" resolves to a number of epochs for the training set size.
    limit = estimator._max_epochs(n_train)
    if estimator.n_iter_ < limit:
        monitored = "validation" if params["early_stopping"] else "training"
        return (
            f"stopped after {estimator.n_iter_} of {limit} epochs: the "
            f"{monitored} -ELBO did not improve by tol={params['tol']} nats for "
            f"n_iter_no_change={params['n_iter_no_change']} epochs"
        )
    return f"trained all {estimator.n_iter_} epochs (max_iter={params['max_iter']!r})"


def _elbo_lines(results):
    """Test ELBOs, grouped by likelihood: only models with the same one compare."""
    by_likelihood = {}
    for label, estimator, row in results:
        by_likelihood.setdefault(estimator.likelihood_, []).append((label, row["elbo"]))
    lines = []
    for likelihood, entries in by_likelihood.items():
        lines.append(
            f"Test ELBO per image, {likelihood} likelihood (nats, higher is better; "
            "comparable only between models with the same likelihood):"
        )
        lines += [f"    {label:<52}{elbo:>10.2f}" for label, elbo in entries]
    return lines


def _format_row(label, row, units):
    nonzeros = f"{row['nonzeros']:.1f} ({100 * row['nonzeros'] / row['width']:.0f}% of {units})"
    fit_s = "-" if row["fit_s"] is None else f"{row['fit_s']:.1f}"
    return (
        f"{label:<52}{row['logreg']:>7.3f}{row['svc']:>7.3f}  {nonzeros:<22}"
        f"{100 * row['empty']:>6.1f}%{fit_s:>9}"
    )


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    _positive(parser, args, "max_iter", "threads", "n_train")
    _check_options(parser, args)
    try:
        X_train, X_test, y_train, y_test = _load(args)
    except DataError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    X_train, y_train = _subsample(X_train, y_train, args.n_train, args.random_state)

    common = {"random_state": args.random_state}
    for option, param in (("max_iter", "max_iter"), ("threads", "n_threads"), ("device", "device")):
        if getattr(args, option) is not None:
            common[param] = getattr(args, option)

    print(
        f"skvsc {__version__}: {DATASETS[args.dataset]}, {len(X_train)} training and "
        f"{len(X_test)} test images; every model: "
        + ", ".join(f"{key}={value!r}" for key, value in common.items())
    )
    print(
        "Each encoder is fitted on the training images; a logistic regression (LogReg) and\n"
        "an SVC then learn the label from its codes (or from the raw pixels). Test accuracy,\n"
        "mean non-zero entries of a test code, test images whose code is all zeros (empty)\n"
        "and seconds to fit the encoder:\n"
    )
    print(f"{'encoder':<52}{'LogReg':>7}{'SVC':>7}  {'non-zeros':<22}{'empty':>7}{'fit (s)':>9}")
    results = []
    for label, cls, params in MODELS:
        estimator = cls(**params, **common)
        row = _fit_encoder(estimator, X_train, X_test, y_train, y_test)
        print(_format_row(label, row, "units"), flush=True)
        results.append((label, estimator, row))
    pixels = _code_stats(X_test)
    pixels["logreg"], pixels["svc"] = _accuracies(X_train, X_test, y_train, y_test)
    pixels["fit_s"] = None
    print(_format_row("raw pixels (no encoder)", pixels, "pixels"))

    print()
    for label, estimator, row in results:
        print("\n".join(_describe(label, estimator, row, len(X_train))))
    print()
    print("\n".join(_elbo_lines(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
