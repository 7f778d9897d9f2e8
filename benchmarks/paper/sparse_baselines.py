"""Exact-sparse codes at equal non-zeros per sample: sparse autoencoders (TopK,
BatchTopK, JumpReLU), MiniBatchDictionaryLearning (OMP) and the VSC.

For every dataset and every k in ``--k`` (non-zeros per sample):

- ``topk``: the TopK autoencoder of ``benchmarks/baselines/topk.py`` (the VSC's MLP,
  784-400-J-400-784, Bernoulli loss, Adam, batch 128, ``--epochs`` epochs,
  AuxK dead-latent loss), one fit per k;
- ``batchtopk``, ``jumprelu``: the BatchTopK (k x batch non-zeros per batch, a
  global threshold at inference; AuxK) and JumpReLU (learned thresholds, an L0
  penalty ``l0_coef``, set per k with ``--method-params-k``) autoencoders of
  ``benchmarks/baselines``, same networks and training;
- ``omp``: ``MiniBatchDictionaryLearning(n_components=J)``; the dictionary is
  fitted once per dataset and seed (its fit does not depend on k) and the codes
  are OMP codes with ``transform_n_nonzero_coefs=k``;
- ``vsc``: ``skvsc.VariationalSparseCoder(n_components=J, alpha=k/J,
  random_state=seed, n_threads=..., max_iter=--epochs, **--vsc-params)``: its
  exact-sparse ``transform`` code; ``alpha`` is meant as the fraction of active
  units, so the number of non-zeros is measured, not assumed; with ``--vsc-cap`` the same
  fit's code with at most k non-zeros (``transform_n_nonzero_coefs=k``) is scored too;
- ``vsc_truncated``: the budget chosen after fitting: one ``VariationalSparseCoder`` at
  ``alpha=--truncate-alpha`` (0.1), its code with ``transform_n_nonzero_coefs=k`` (at most
  k of the active units, those of largest ``|mu|``) at every k; the fit is the ``vsc`` fit of
  that alpha, shared through ``--cache``;
- ``pixels``: LogisticRegression on the raw pixels (a reference, no k).

Protocol (as in the rest of ``benchmarks/paper``): representations are fitted
on the 60,000 training images (pixels in [0, 1]); LogisticRegression
(``_protocol.logreg_accuracy``) is trained on the codes of the fixed random
5,000 labelled training images (``_protocol.label_subset``) and scored on the
10,000 test images. With ``--validation`` the representations are fitted on
training images 0..49,999, the classifier on 5,000 of those, and everything is
scored on training images 50,000..59,999: use it, never the test set, to
choose settings. Every row records accuracy, non-zeros per sample (mean over
the evaluation images), their fraction, dead units (never non-zero on the
fitting images), empty codes (evaluation images with no non-zero), fit and
transform seconds, and the settings; ``--tuned`` adds the accuracy of a LogisticRegression
whose ``C`` and per-unit scaling are chosen by 5-fold CV on the labelled codes
(``_protocol.tuned_logreg_accuracy``), and the choice.

Dictionary fit settings (``--omp-params`` overrides them): ``alpha=1`` (the
L1 weight of the LARS codes during the fit, chosen on the MNIST validation
split, see ``docs/results.md``), ``batch_size=512``, ``max_iter=5`` epochs,
``max_no_improvement=None`` so that all 5 epochs run (the default early
stopping watches a noisy mini-batch cost), ``n_jobs=1``. Fitted on all the
fitting images.

Example (one thread; ``docs/results.md`` section 7 lists the commands behind the
stored rows and the figure)::

    OMP_NUM_THREADS=1 nice python benchmarks/paper/sparse_baselines.py --validation \\
        --datasets mnist --methods topk batchtopk --k 5 10 20 40 --epochs 20 --out rows.jsonl
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from _frontier import (
    aggregate,
    figure,
    frontier_table,
    print_table,
    read_jsonl,
    read_references,
)
from _protocol import (
    Timer,
    cached,
    data_dir,
    emit,
    label_subset,
    logreg_accuracy,
    sparsity_stats,
    splits,
    tuned_logreg_accuracy,
)
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning

METHODS = {
    "topk": "TopK autoencoder",
    "batchtopk": "BatchTopK autoencoder",
    "jumprelu": "JumpReLU autoencoder",
    "omp": "MiniBatchDictionaryLearning (OMP)",
    "vsc": "VSC (sparse code)",
    "vsc_truncated": "VSC, one fit truncated to k",
    "pixels": "raw pixels",
}
OMP_DEFAULTS = dict(
    alpha=1.0, batch_size=512, max_iter=5, max_no_improvement=None, fit_algorithm="lars"
)


def autoencoder_model(method, k, seed, args):
    """A baseline of ``benchmarks/baselines`` for ``k`` non-zeros per sample: TopK and
    BatchTopK take ``k``; JumpReLU has no ``k`` (its sparsity follows ``l0_coef``, set per
    k with ``--method-params-k``), so its non-zeros are measured, as the VSC's are."""
    import baselines

    cls = {
        "topk": baselines.TopKAutoencoder,
        "batchtopk": baselines.BatchTopKAutoencoder,
        "jumprelu": baselines.JumpReLUAutoencoder,
    }[method]
    params = dict(n_components=args.n_components, max_iter=args.epochs, random_state=seed)
    if method != "jumprelu":
        params["k"] = k
    if method == "topk":
        params.update(args.topk_params)
        params.update(args.topk_params_k.get(str(k), {}))
    params.update(args.method_params.get(method, {}))
    params.update(args.method_params_k.get(method, {}).get(str(k), {}))
    return cls(n_threads=args.threads, **params), params


def vsc_model(k, seed, args, alpha=None):
    """The VSC of ``k`` non-zeros (``alpha=k/J``), or of ``alpha`` when given."""
    from skvsc import VariationalSparseCoder

    params = dict(
        n_components=args.n_components,
        alpha=k / args.n_components if alpha is None else alpha,
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
def score(Z_fit, y_fit, Z_eval, y_eval, labelled, tuned=False):
    """Accuracy and sparsity of codes; whether LogisticRegression converged; with
    ``tuned``, the accuracy of the classifier chosen by CV on the labelled codes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        acc = logreg_accuracy(Z_fit[labelled], y_fit[labelled], Z_eval, y_eval)
    row = {"acc": acc}
    row.update(sparsity_stats(Z_fit, Z_eval))
    row["logreg_converged"] = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if tuned:
        accuracy, choice = tuned_logreg_accuracy(Z_fit[labelled], y_fit[labelled], Z_eval, y_eval)
        row.update(tuned_acc=accuracy, tuned_C=choice["C"], tuned_scaled=choice["scaled"])
    return row


def run(args, dataset):
    directory = data_dir(args.data_dir)
    X, y, X_eval, y_eval = splits(dataset, directory, args.validation, args.n_train)
    labelled = label_subset(len(X))
    split = "validation" if args.validation else "test"
    rows = []

    def record(method, k, seed, params, Z_fit, Z_eval, fit_s, from_cache, transform_s, **extra):
        label = extra.pop("label", None) or args.label or METHODS[method]
        row = {
            "what": "sparse_baselines",
            "dataset": dataset,
            "split": split,
            "method": METHODS[method],
            "label": label,
            "k": k,
            "seed": seed,
            "epochs": extra.pop("epochs", None),
            "n_components": args.n_components,
            "n_fit": len(X),
            "n_eval": len(X_eval),
            "params": params,
        }
        row.update(score(Z_fit, y, Z_eval, y_eval, labelled, args.tuned))
        row.update(fit_s=fit_s, fit_from_cache=from_cache, transform_s=transform_s, **extra)
        emit(row, args.out)
        rows.append(row)

    def record_capped(model, k, cap, seed, params, fit_s, from_cache, label, method="vsc"):
        """Score ``model``'s code with at most ``cap`` non-zeros per sample."""
        model.set_params(transform_n_nonzero_coefs=cap)
        try:
            with Timer() as t:
                Z_fit, Z_eval = model.transform(X), model.transform(X_eval)
        finally:
            model.set_params(transform_n_nonzero_coefs=None)
        extra = dict(epochs=int(model.n_iter_), transform_n_nonzero_coefs=cap, label=label)
        extra["rank"] = "magnitude"  # the rule of transform_n_nonzero_coefs (gamma before)
        record(method, k, seed, params, Z_fit, Z_eval, fit_s, from_cache, t.seconds, **extra)

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
        for method in ("topk", "batchtopk", "jumprelu", "vsc"):
            if method not in args.methods:
                continue
            for k in args.k:
                if method == "vsc":
                    model, params = vsc_model(k, seed, args)
                else:
                    model, params = autoencoder_model(method, k, seed, args)
                key = dict(method=method, dataset=dataset, n_fit=len(X), **params)
                model, fit_s, from_cache = cached(args.cache, key, lambda m=model: m.fit(X))
                with Timer() as t:
                    Z_fit, Z_eval = model.transform(X), model.transform(X_eval)
                extra = {"epochs": int(model.n_iter_)}
                if method != "vsc":
                    extra.update(
                        eval_reconstruction=model.reconstruction_loss(X_eval),
                        train_loss_last_epoch=model.loss_curve_[-1],
                        dead_during_training=model.dead_curve_[-1],
                    )
                record(
                    method, k, seed, params, Z_fit, Z_eval, fit_s, from_cache, t.seconds, **extra
                )
                if method == "vsc" and args.vsc_cap:
                    # the capped row of a labelled fit carries its label
                    capped = f"{args.label}, ≤ k" if args.label else "VSC alpha=k/J, ≤ k"
                    record_capped(model, k, k, seed, params, fit_s, from_cache, capped)
        if "vsc_truncated" in args.methods:
            alpha = args.truncate_alpha
            model, params = vsc_model(None, seed, args, alpha=alpha)
            key = dict(method="vsc", dataset=dataset, n_fit=len(X), **params)
            model, fit_s, from_cache = cached(args.cache, key, lambda m=model: m.fit(X))
            for k in args.k:
                label = args.label or f"VSC alpha={alpha:g}, truncated to k"
                record_capped(model, k, k, seed, params, fit_s, from_cache, label, "vsc_truncated")
    return rows


def main(argv=None):
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
    p.add_argument(
        "--vsc-cap",
        action="store_true",
        help="also score each vsc fit's code with at most k non-zeros",
    )
    p.add_argument(
        "--truncate-alpha",
        type=float,
        default=0.1,
        help="alpha of the one fit that vsc_truncated truncates to every k",
    )
    p.add_argument(
        "--method-params",
        type=json.loads,
        default={},
        help='JSON {"method": {...}}: settings of topk, batchtopk or jumprelu',
    )
    p.add_argument(
        "--method-params-k",
        type=json.loads,
        default={},
        help='JSON {"method": {"k": {...}}}: settings of one k (e.g. jumprelu\'s l0_coef)',
    )
    p.add_argument(
        "--tuned",
        action="store_true",
        help="also score a LogisticRegression whose C and scaling are chosen by CV on the "
        "labelled codes (tuned_acc, tuned_C, tuned_scaled)",
    )
    p.add_argument("--label", default=None, help="name of this variant in tables and figure")
    p.add_argument("--validation", action="store_true", help="fit on 0..49,999, score 50k..60k")
    p.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    p.add_argument("--n-train", type=int, default=None, help="smoke tests only")
    p.add_argument("--cache", default=None, help="folder of pickled fits (reused)")
    p.add_argument("--out", default=None, help="append one JSON line per row here")
    p.add_argument("--references", default=None, help='JSON {"dataset": {"label": acc}}')
    p.add_argument("--figure", default=None, help="PNG: accuracy vs non-zeros")
    p.add_argument(
        "--exclude-labels", nargs="+", default=[], help="with --from-jsonl: rows left out"
    )
    p.add_argument(
        "--frontier-table",
        action="store_true",
        help="also print each dataset's table of k by method (mean ± sd over seeds)",
    )
    p.add_argument(
        "--from-jsonl",
        nargs="+",
        default=None,
        help="only table and figure from these files (a later file's row of the same "
        "label, k and seed replaces an earlier one)",
    )
    args = p.parse_args(argv)

    split = "validation" if args.validation else "test"
    if args.from_jsonl:
        rows = [row for path in args.from_jsonl for row in read_jsonl(path)]
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
    if args.from_jsonl:  # the table and figure of the asked k, without the left-out labels
        rows = [r for r in rows if r["k"] is None or r["k"] in args.k]
        rows = [r for r in rows if r["label"] not in args.exclude_labels]
    table = aggregate(rows)
    print_table(table)
    if args.frontier_table:
        for dataset in dict.fromkeys(r["dataset"] for r in table):
            print(f"\n{dataset}\n\n" + "\n".join(frontier_table(table, dataset)), flush=True)
    if args.figure:
        figure(table, read_references(args.references), args.figure, split)


if __name__ == "__main__":
    main()
