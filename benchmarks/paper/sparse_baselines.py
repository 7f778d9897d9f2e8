"""Exact-sparse codes at equal non-zeros per sample: TopK autoencoder,
MiniBatchDictionaryLearning (OMP) and the VSC.

For every dataset and every k in ``--k`` (non-zeros per sample):

- ``topk``: the TopK autoencoder of ``topk_autoencoder.py`` (the VSC's MLP,
  784-400-J-400-784, Bernoulli loss, Adam, batch 128, ``--epochs`` epochs,
  AuxK dead-latent loss), one fit per k;
- ``omp``: ``MiniBatchDictionaryLearning(n_components=J)``; the dictionary is
  fitted once per dataset and seed (its fit does not depend on k) and the codes
  are OMP codes with ``transform_n_nonzero_coefs=k``;
- ``vsc``: ``skvsc.VariationalSparseCoder(n_components=J, alpha=k/J,
  random_state=seed, n_threads=..., max_iter=--epochs, **--vsc-params)``: its
  exact-sparse ``transform`` code; ``alpha`` is meant as the fraction of active
  units, so the number of non-zeros is measured, not assumed;
- ``pixels``: LogisticRegression on the raw pixels (a reference, no k).

Protocol (as in the rest of ``benchmarks/paper``): representations are fitted
on the 60,000 training images (pixels in [0, 1]); LogisticRegression
(``_common.logreg_accuracy``) is trained on the codes of the fixed random
5,000 labelled training images (``_common.label_subset``) and scored on the
10,000 test images. With ``--validation`` the representations are fitted on
training images 0..49,999, the classifier on 5,000 of those, and everything is
scored on training images 50,000..59,999: use it, never the test set, to
choose settings. Every row records accuracy, non-zeros per sample (mean over
the evaluation images), their fraction, dead units (never non-zero on the
fitting images), empty codes (evaluation images with no non-zero), fit and
transform seconds, and the settings.

Dictionary fit settings (``--omp-params`` overrides them): ``alpha=1`` (the
L1 weight of the LARS codes during the fit, chosen on the MNIST validation
split, see ``docs/results.md``), ``batch_size=512``, ``max_iter=5`` epochs,
``max_no_improvement=None`` so that all 5 epochs run (the default early
stopping watches a noisy mini-batch cost), ``n_jobs=1``. Fitted on all the
fitting images.

Commands (run on two shared cores: ``nice``, one thread)::

    # settings screen of the TopK autoencoder, MNIST validation split
    OMP_NUM_THREADS=1 nice python benchmarks/paper/sparse_baselines.py \\
        --data-dir /work/shared/data --validation --datasets mnist --methods topk \\
        --k 5 20 --epochs 5 --topk-params '{"learning_rate_init": 3e-3}' \\
        --label "TopK lr=3e-3" --out benchmarks/paper/results/sparse_baselines_screen.jsonl
    # test protocol: TopK and OMP rows, then the figure from the jsonl
    OMP_NUM_THREADS=1 nice python benchmarks/paper/sparse_baselines.py \\
        --data-dir /work/shared/data --datasets mnist fashion --methods topk omp \\
        --k 2 5 10 20 --seeds 0 --epochs 20 --cache ~/skvsc-cache \\
        --out benchmarks/paper/results/sparse_baselines.jsonl
    python benchmarks/paper/sparse_baselines.py \\
        --from-jsonl benchmarks/paper/results/sparse_baselines.jsonl \\
        --references benchmarks/paper/results/sparse_baselines_references.json \\
        --figure docs/figures/accuracy-vs-nonzeros.png
    # the VSC rows (same protocol)
    OMP_NUM_THREADS=1 nice python benchmarks/paper/sparse_baselines.py \\
        --data-dir /work/shared/data --datasets mnist fashion --methods vsc \\
        --k 2 5 10 20 --epochs 20 --vsc-params '{}' \\
        --out benchmarks/paper/results/sparse_baselines.jsonl

The exact commands that produced the stored results are listed in
``benchmarks/paper/results/sparse_baselines.txt``.
"""

import argparse
import hashlib
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
from _common import Timer, data_dir, emit, label_subset, load, logreg_accuracy, sparsity_stats
from _common import print_table as common_print_table
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning

METHODS = {
    "topk": "TopK autoencoder",
    "omp": "MiniBatchDictionaryLearning (OMP)",
    "vsc": "VSC (sparse code)",
    "pixels": "raw pixels",
}
OMP_DEFAULTS = dict(
    alpha=1.0, batch_size=512, max_iter=5, max_no_improvement=None, fit_algorithm="lars"
)
N_VALIDATION_FIT = 50000


# -- data ------------------------------------------------------------------------
def splits(dataset, directory, validation, n_train=None):
    """(X_fit, y_fit, X_eval, y_eval): the training and test sets, or the
    validation split of the training set (fit on 0..49,999, evaluate on the
    rest)."""
    X, y = load(dataset, directory, "train", n_train)
    if validation:
        cut = N_VALIDATION_FIT if n_train is None else (4 * len(X)) // 5
        return X[:cut], y[:cut], X[cut:], y[cut:]
    X_test, y_test = load(dataset, directory, "test", n_train)
    return X, y, X_test, y_test


# -- fitting with a cache ----------------------------------------------------------
def cached(cache, key, fit):
    """``fit()`` -> model, timed; reuse a pickle named after ``key`` in ``cache``.

    Returns ``(model, fit_seconds, from_cache)``; the fit time of a cached model
    is the one measured when it was fitted.
    """
    path = None
    if cache:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        path = Path(cache).expanduser() / f"sparse-{key['method']}-{key['dataset']}-{digest}.pkl"
        if path.exists():
            with open(path, "rb") as f:
                model, seconds = pickle.load(f)
            return model, seconds, True
    with Timer() as t:
        model = fit()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump((model, t.seconds), f)
    return model, t.seconds, False


def topk_model(k, seed, args):
    from topk_autoencoder import TopKAutoencoder

    params = dict(n_components=args.n_components, k=k, max_iter=args.epochs, random_state=seed)
    params.update(args.topk_params)
    params.update(args.topk_params_k.get(str(k), {}))
    return TopKAutoencoder(n_threads=args.threads, **params), params


def vsc_model(k, seed, args):
    from skvsc import VariationalSparseCoder

    params = dict(
        n_components=args.n_components,
        alpha=k / args.n_components,
        random_state=seed,
        max_iter=args.epochs,
    )
    params.update(args.vsc_params)
    return VariationalSparseCoder(n_threads=args.threads, **params), params


def omp_params(k, seed, args):
    """Dictionary fit settings used for the codes with k non-zeros."""
    params = dict(OMP_DEFAULTS, n_components=args.n_components, random_state=seed)
    params.update(args.omp_params)
    params.update(args.omp_params_k.get(str(k), {}))
    return params


# -- scoring -------------------------------------------------------------------------
def score(Z_fit, y_fit, Z_eval, y_eval, labelled):
    """Accuracy and sparsity of codes; whether LogisticRegression converged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        acc = logreg_accuracy(Z_fit[labelled], y_fit[labelled], Z_eval, y_eval)
    row = {"acc": acc}
    row.update(sparsity_stats(Z_fit, Z_eval))
    row["logreg_converged"] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return row


def run(args, dataset):
    directory = data_dir(args.data_dir)
    X, y, X_eval, y_eval = splits(dataset, directory, args.validation, args.n_train)
    labelled = label_subset(len(X))
    split = "validation" if args.validation else "test"
    rows = []

    def record(method, k, seed, params, Z_fit, Z_eval, fit_s, from_cache, transform_s, **extra):
        row = {
            "what": "sparse_baselines",
            "dataset": dataset,
            "split": split,
            "method": METHODS[method],
            "label": args.label or METHODS[method],
            "k": k,
            "seed": seed,
            "epochs": extra.pop("epochs", None),
            "n_components": args.n_components,
            "n_fit": len(X),
            "n_eval": len(X_eval),
            "params": params,
        }
        row.update(score(Z_fit, y, Z_eval, y_eval, labelled))
        row.update(fit_s=fit_s, fit_from_cache=from_cache, transform_s=transform_s, **extra)
        emit(row, args.out)
        rows.append(row)

    for seed in args.seeds:
        if "pixels" in args.methods and seed == args.seeds[0]:
            record("pixels", None, None, {}, X, X_eval, 0.0, False, 0.0)
        if "omp" in args.methods:
            # one dictionary per distinct fit setting (usually one per dataset), its
            # OMP codes at every k that uses it
            by_setting = {}
            for k in args.k:
                params = omp_params(k, seed, args)
                by_setting.setdefault(json.dumps(params, sort_keys=True), []).append(k)
            for setting, ks in by_setting.items():
                params = json.loads(setting)
                X_dict = X
                if args.omp_fit_n and args.omp_fit_n < len(X):
                    # a fixed random subset (seeded by the seed), stated in the row
                    subset = np.random.RandomState(seed).choice(len(X), args.omp_fit_n, False)
                    X_dict = X[np.sort(subset)]
                    params["fit_n"] = args.omp_fit_n
                model = MiniBatchDictionaryLearning(
                    transform_algorithm="omp", n_jobs=1, **omp_params(ks[0], seed, args)
                )
                key = dict(method="omp", dataset=dataset, n_fit=len(X), **params)
                model, fit_s, from_cache = cached(
                    args.cache, key, lambda m=model, Xd=X_dict: m.fit(Xd)
                )
                for k in ks:
                    model.set_params(transform_n_nonzero_coefs=k)
                    with Timer() as t:
                        Z_fit, Z_eval = model.transform(X), model.transform(X_eval)
                    record(
                        "omp",
                        k,
                        seed,
                        params,
                        Z_fit,
                        Z_eval,
                        fit_s,
                        from_cache,
                        t.seconds,
                        epochs=params["max_iter"],
                        dict_n_iter=int(model.n_iter_),
                        dict_n_steps=int(model.n_steps_),
                    )
        for method, make in (("topk", topk_model), ("vsc", vsc_model)):
            if method not in args.methods:
                continue
            for k in args.k:
                model, params = make(k, seed, args)
                key = dict(method=method, dataset=dataset, n_fit=len(X), **params)
                model, fit_s, from_cache = cached(args.cache, key, lambda m=model: m.fit(X))
                with Timer() as t:
                    Z_fit, Z_eval = model.transform(X), model.transform(X_eval)
                extra = {"epochs": int(model.n_iter_)}
                if method == "topk":
                    extra.update(
                        eval_reconstruction=model.reconstruction_loss(X_eval),
                        train_loss_last_epoch=model.loss_curve_[-1],
                        dead_during_training=model.dead_curve_[-1],
                    )
                record(
                    method, k, seed, params, Z_fit, Z_eval, fit_s, from_cache, t.seconds, **extra
                )
    return rows


# -- table and figure ------------------------------------------------------------------
def aggregate(rows):
    """Mean over seeds of each (dataset, split, label, k), in first-seen order;
    of repeated (…, seed) rows the last one counts."""
    latest = {}
    for row in rows:
        latest[(row["dataset"], row["split"], row["label"], row["k"], row["seed"])] = row
    groups = {}
    for row in latest.values():
        groups.setdefault((row["dataset"], row["split"], row["label"], row["k"]), []).append(row)
    table = []
    for (dataset, split, label, k), group in groups.items():
        out = {"dataset": dataset, "split": split, "label": label, "k": k, "n_seeds": len(group)}
        for key in ("acc", "active_per_sample", "nonzero", "dead", "empty_codes", "fit_s"):
            out[key] = float(np.mean([r[key] for r in group]))
        if "eval_reconstruction" in group[0]:
            out["eval_rec"] = float(np.mean([r["eval_reconstruction"] for r in group]))
        if len(group) > 1:
            out["acc_sd"] = float(np.std([r["acc"] for r in group], ddof=1))
        out["epochs"] = group[0].get("epochs")
        table.append(out)
    return table


TABLE_COLUMNS = [
    "dataset",
    "split",
    "label",
    "k",
    "n_seeds",
    "acc",
    "active_per_sample",
    "nonzero",
    "dead",
    "empty_codes",
    "epochs",
    "fit_s",
    "eval_rec",
]


def _cell(row, col):
    """One table cell of ``row`` as text: percentages, the seed spread, "—" for None."""
    value = row.get(col, "")
    if col == "acc":
        return f"{100 * value:.2f} %" + (f" ± {100 * row['acc_sd']:.2f}" if "acc_sd" in row else "")
    if col in ("nonzero", "empty_codes"):
        return f"{100 * value:.2f} %"
    if isinstance(value, float):
        return f"{value:.1f}" if col != "dead" else f"{value:g}"
    return "—" if value is None else str(value)


def print_table(table):
    """The aggregated rows as a markdown table (``_common.print_table`` of text cells)."""
    common_print_table([{c: _cell(r, c) for c in TABLE_COLUMNS} for r in table], TABLE_COLUMNS)


def read_references(path):
    """``{dataset: {label: accuracy}}`` from a JSON file that holds either that
    or one ``{label: accuracy}`` for all datasets; non-numeric entries (such as
    a ``"provenance"`` note) are ignored."""
    if not path:
        return {}
    with open(path) as f:
        refs = json.load(f)
    flat = {k: v for k, v in refs.items() if isinstance(v, (int, float))}
    out = {}
    for key, value in refs.items():
        if isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
            out[key] = value
    return out or {"*": flat}


def figure(table, references, path, split):
    """Accuracy vs non-zeros per sample, one panel per dataset, one line per
    method; references (and the raw-pixel row) as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [r for r in table if r["split"] == split]
    datasets = list(dict.fromkeys(r["dataset"] for r in table)) or list(references)
    datasets = [d for d in datasets if d != "*"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 5.4), squeeze=False)
    names = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
    styles = {
        "VSC (sparse code)": dict(color="C3", marker="o", lw=2),
        "TopK autoencoder": dict(color="C0", marker="s"),
        "MiniBatchDictionaryLearning (OMP)": dict(color="C2", marker="^"),
    }
    # One colour per reference code across all panels (a colour by rank would give the
    # same dashed colour to different codes in the two panels).
    all_refs = set()
    for dataset in datasets:
        all_refs |= set(references.get("*", {})) | set(references.get(dataset, {}))
        all_refs |= {r["label"] for r in table if r["dataset"] == dataset and r["k"] is None}
    ref_colors = {label: f"C{4 + i}" for i, label in enumerate(sorted(all_refs))}
    for ax, dataset in zip(axes[0], datasets):
        rows = [r for r in table if r["dataset"] == dataset]
        for label in dict.fromkeys(r["label"] for r in rows if r["k"] is not None):
            pts = sorted((r["active_per_sample"], r["acc"]) for r in rows if r["label"] == label)
            ax.plot(*zip(*pts), label=label, **styles.get(label, dict(marker=".")))
        refs = dict(references.get("*", {}), **references.get(dataset, {}))
        refs.update({r["label"]: r["acc"] for r in rows if r["k"] is None})
        for label, acc in sorted(refs.items(), key=lambda kv: -kv[1]):
            ax.axhline(
                acc, color=ref_colors[label], ls="--", lw=1, label=f"{label}: {100 * acc:.1f} %"
            )
        ax.set_xscale("log")
        ticks = sorted({r["k"] for r in rows if r["k"] is not None})
        if ticks:
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
        ax.set_xlabel("non-zeros per sample (mean, measured)")
        ax.set_ylabel(f"{split} accuracy, LogisticRegression on 5,000 labels")
        ax.set_title(names.get(dataset, dataset))
        ax.grid(alpha=0.3)
        # Below the axes, where it can hide no curve.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"figure: {path}", flush=True)


def read_jsonl(path):
    with open(path) as f:
        return [
            r for r in map(json.loads, filter(str.strip, f)) if r.get("what") == "sparse_baselines"
        ]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="folder with mnist/ and fashion-mnist/")
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion"])
    p.add_argument("--methods", nargs="+", default=["topk", "omp"], choices=list(METHODS))
    p.add_argument("--k", type=int, nargs="+", default=[2, 5, 10, 20])
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=20, help="TopK and VSC epochs")
    p.add_argument("--topk-params", type=json.loads, default={}, help="JSON dict")
    p.add_argument("--omp-params", type=json.loads, default={}, help="JSON dict")
    p.add_argument(
        "--topk-params-k",
        type=json.loads,
        default={},
        help='JSON {"k": {...}}: settings of one k over --topk-params (chosen on validation)',
    )
    p.add_argument(
        "--omp-params-k",
        type=json.loads,
        default={},
        help='JSON {"k": {...}}: dictionary settings of one k over --omp-params; '
        "one dictionary is fitted per distinct setting",
    )
    p.add_argument(
        "--omp-fit-n",
        type=int,
        default=None,
        help="fit the dictionary on a fixed random subset of this many fitting images",
    )
    p.add_argument("--vsc-params", type=json.loads, default={}, help="JSON dict")
    p.add_argument("--label", default=None, help="name of this variant in tables and figure")
    p.add_argument("--validation", action="store_true", help="fit on 0..49,999, score 50k..60k")
    p.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    p.add_argument("--n-train", type=int, default=None, help="smoke tests only")
    p.add_argument("--cache", default=None, help="folder of pickled fits (reused)")
    p.add_argument("--out", default=None, help="append one JSON line per row here")
    p.add_argument("--references", default=None, help='JSON {"dataset": {"label": acc}}')
    p.add_argument("--figure", default=None, help="PNG: accuracy vs non-zeros")
    p.add_argument("--from-jsonl", default=None, help="only table and figure from this file")
    args = p.parse_args()

    split = "validation" if args.validation else "test"
    if args.from_jsonl:
        rows = read_jsonl(args.from_jsonl)
    else:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        rows = []
        with threadpool_limits(args.threads):
            for dataset in args.datasets:
                rows += run(args, dataset)
        if args.figure and args.out and Path(args.out).exists():
            rows = read_jsonl(args.out)  # the figure shows everything measured so far
    rows = [r for r in rows if r["split"] == split and r["dataset"] in args.datasets]
    table = aggregate(rows)
    print_table(table)
    if args.figure:
        figure(table, read_references(args.references), args.figure, split)


if __name__ == "__main__":
    main()
