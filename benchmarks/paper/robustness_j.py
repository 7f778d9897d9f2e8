"""Accuracy of the default estimators' codes against the number of latent units J.

The paper's robustness claim, for the defaults: ``VariationalSparseCoder()`` and
``VAETransformer()`` with only ``n_components`` changed (and ``random_state``,
``n_threads``). Each is fitted on the training images; LogisticRegression is
trained on the codes of the fixed random 5,000 labelled images
(``_protocol.label_subset``) and scored on the test set. Each row also has the
non-zeros per test sample, the dead units (never non-zero on the training set)
and the inactive units (variance of the code over the training set below 0.01,
the activity measure of Burda et al. 2016, which also counts a VAE's collapsed
units: its dense code is never exactly zero).

Runs are resumable: a row already in ``--out`` (same dataset, estimator, J, seed,
training size and epochs) is skipped, and fitted models are pickled in
``--cache``. Runs go seed by seed, estimator by estimator, J in the order given.

Example (``docs/results.md``, "Robustness to the number of latent units")::

    OMP_NUM_THREADS=1 nice python benchmarks/paper/robustness_j.py --data-dir DIR \
        --dataset mnist --j 64 200 400 16 32 128 --estimators vsc vae --seeds 0 \
        --threads 1 --cache CACHE --out benchmarks/paper/results/robustness_j.jsonl

``--table`` prints the table of ``--out``'s rows; with ``--column LABEL=PATH:ESTIMATOR``
(repeated) it prints labelled columns of several files instead, e.g. the rows of
today's default next to those measured with a former one.
"""

import os
import subprocess
from pathlib import Path

import numpy as np
from _protocol import (  # puts skvsc on sys.path
    data_dir,
    emit,
    fit_cached,
    label_subset,
    load,
    logreg_accuracy,
    parser,
    read_rows,
    sparsity_stats,
)

KEY = ("dataset", "estimator", "J", "seed", "n_train", "max_iter")


def commit():
    """The checkout's commit (with ``+`` when it has uncommitted changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (head + ("+" if dirty else "")) or None


def done_keys(out):
    """Keys of the rows already in ``out``."""
    if not out or not Path(out).exists():
        return set()
    return {tuple(r.get(k) for k in KEY) for r in read_rows(out)}


def inactive_units(Z, threshold=0.01):
    """Units whose code varies less than ``threshold`` (variance) over ``Z``'s rows."""
    return int((np.var(np.asarray(Z, dtype=np.float64), axis=0) < threshold).sum())


def table(rows, dataset, columns=None):
    """Markdown table from rows: per J, each estimator's accuracy (mean over seeds,
    +- the sample standard deviation when there are several), non-zeros per test
    sample, dead and inactive units.

    ``columns``: ``(label, rows)`` pairs, one column each, labelled (rows measured
    with other defaults side by side); by default a VSC and a VAE column from
    ``rows``.
    """
    if columns is None:
        columns = [(k.upper(), [r for r in rows if r["estimator"] == k]) for k in ("vsc", "vae")]
        columns = [(label, group) for label, group in columns if group]
    columns = [(label, [r for r in group if r["dataset"] == dataset]) for label, group in columns]
    head = "| J | " + " | ".join(
        f"{label}: accuracy, non-zeros, dead, inactive" for label, _ in columns
    )
    lines = [head + " |", "|---|" + "---|" * len(columns)]
    for J in sorted({r["J"] for _, group in columns for r in group}):
        cells = []
        for _, column in columns:
            group = [r for r in column if r["J"] == J]
            if not group:
                cells.append("—")
                continue
            acc = 100 * np.array([r["accuracy"] for r in group])
            spread = f" ± {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
            mean = {k: np.mean([r[k] for r in group]) for k in ("active_per_sample", "dead")}
            inactive = np.mean([r["inactive"] for r in group])
            cells.append(
                f"{acc.mean():.2f} %{spread} ({len(acc)} seed{'s' * (len(acc) > 1)}), "
                f"{mean['active_per_sample']:.1f}, {mean['dead']:.0f}, {inactive:.0f}"
            )
        lines.append(f"| {J} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def column(spec):
    """``LABEL=PATH:ESTIMATOR`` (``--column``) -> ``(label, rows)``: the rows of the
    jsonl at ``PATH`` with that estimator."""
    label, sep, source = spec.partition("=")
    path, colon, kind = source.rpartition(":")
    if not (sep and colon and label and path) or kind not in ("vsc", "vae"):
        raise ValueError(f"--column {spec!r}: expected LABEL=PATH:vsc or LABEL=PATH:vae")
    return label, [r for r in read_rows(path) if r["estimator"] == kind]


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion", "digits"])
    p.add_argument("--j", type=int, nargs="+", default=[64, 200, 400, 16, 32, 128])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--estimators", nargs="+", default=["vsc", "vae"], choices=["vsc", "vae"])
    p.add_argument("--max-iter", type=int, default=None, help="default: the estimators' own")
    p.add_argument("--cache", default=None, help="folder of pickled fits")
    p.add_argument("--table", action="store_true", help="only print the table of --out's rows")
    p.add_argument(
        "--column",
        action="append",
        default=None,
        metavar="LABEL=PATH:ESTIMATOR",
        help="with --table, instead of --out: a column of the rows of PATH with that "
        "estimator (vsc or vae), labelled; repeat for several",
    )
    args = p.parse_args(argv)
    if args.table:
        if args.column:
            print(table(None, args.dataset, [column(spec) for spec in args.column]))
        else:
            print(table(read_rows(args.out), args.dataset))
        return
    directory = data_dir(args.data_dir)
    X, y = load(args.dataset, directory, "train", args.n_train)
    X_test, y_test = load(args.dataset, directory, "test", args.n_train)
    labelled = label_subset(len(X))
    done, code = done_keys(args.out), commit()  # read once: the code that runs
    rows = []
    for seed in args.seeds:
        for kind in args.estimators:
            for J in args.j:
                row = {
                    "dataset": args.dataset,
                    "estimator": kind,
                    "J": J,
                    "seed": seed,
                    "n_train": args.n_train,
                    "max_iter": args.max_iter,
                }
                if tuple(row[k] for k in KEY) in done:
                    print(f"skip {row} (in {args.out})", flush=True)
                    continue
                params = {"n_components": J, "random_state": seed, "n_threads": args.threads}
                if args.max_iter is not None:
                    params["max_iter"] = args.max_iter
                load_before = os.getloadavg()[0]
                model, fit_s = fit_cached(kind, args.dataset, X, params, args.cache)
                Z_train, Z_test = model.transform(X), model.transform(X_test)
                row.update(
                    accuracy=logreg_accuracy(Z_train[labelled], y[labelled], Z_test, y_test),
                    **sparsity_stats(Z_train, Z_test),
                    inactive=inactive_units(Z_train),
                    epochs=model.n_iter_,
                    fit_s=round(fit_s, 1),
                    load_before=load_before,
                    load_after=os.getloadavg()[0],
                    commit=code,
                )
                emit(row, args.out)
                rows.append(row)
    if rows:
        print(table(rows, args.dataset))


if __name__ == "__main__":
    main()
