"""Classification accuracy vs latent dimension J: VSC sparse codes, VAE codes, baselines.

Codes are computed with each method's ``transform`` (for VSC also the dense
``encode_mean``, the published reproduction's protocol) and classified by
``LogisticRegression`` trained on a fixed random subset of 5,000 labelled
training images and on all 60,000, tested on the 10,000 test images. Dead
units (never non-zero on the 60,000 training images) and the mean fraction of
non-zeros per test sample are reported next to every accuracy. Several seeds
are run at the largest J. Baselines at the same J: PCA, BernoulliRBM and
MiniBatchDictionaryLearning, with their fit and transform times.

Examples::

    python benchmarks/paper/classify_vs_j.py --quick
    python benchmarks/paper/classify_vs_j.py --datasets mnist fashion --seeds 0 1 2
"""

import numpy as np
from _protocol import (
    Timer,
    data_dir,
    emit,
    fit_cached,
    label_subset,
    load,
    logreg_accuracy,
    model_params,
    parser,
    print_table,
    sparsity_stats,
)
from sklearn.decomposition import PCA, MiniBatchDictionaryLearning
from sklearn.neural_network import BernoulliRBM

PUBLISHED = {  # reproduction, features = encoder means, 5,000 labels
    "mnist": "VAE best 87.5 % (J=96); VSC alpha=0.01 mu 91.8 % (J=200)",
    "fashion": "VAE best 75.5 % (J=96); VSC alpha=0.01 mu 79.7 % (J=200)",
}


def baselines(J, seed, epochs, dict_epochs):
    """What a user would pick instead, at the same number of components."""
    return {
        "PCA": PCA(n_components=J, random_state=seed),
        "BernoulliRBM": BernoulliRBM(n_components=J, n_iter=epochs, random_state=seed),
        # OMP codes with 5 % non-zeros: the sparsity budget of the VSC target.
        "MiniBatchDictionaryLearning": MiniBatchDictionaryLearning(
            n_components=J,
            batch_size=256,
            max_iter=dict_epochs,
            transform_n_nonzero_coefs=max(2, round(0.05 * J)),
            random_state=seed,
        ),
    }


def score_codes(method, J, seed, Z_train, Z_test, data, all_labels):
    y, y_test, labelled = data
    row = {"method": method, "J": J, "seed": seed}
    row.update(sparsity_stats(Z_train, Z_test))
    row["acc_5k"] = logreg_accuracy(Z_train[labelled], y[labelled], Z_test, y_test)
    if all_labels:
        row["acc_60k"] = logreg_accuracy(Z_train, y, Z_test, y_test)
    return row


def run(args, dataset):
    directory = data_dir(args.data_dir)
    X, y = load(dataset, directory, "train", args.n_train)
    X_test, y_test = load(dataset, directory, "test", args.n_train)
    data = (y, y_test, label_subset(len(X)))
    rows = []

    def record(row, **extra):
        row.update(dataset=dataset, **extra)
        emit({"what": "classify", **row}, args.out)
        rows.append(row)

    for J in args.n_components:
        seeds = args.seeds if J == max(args.n_components) else args.seeds[:1]
        for seed in seeds:
            all_labels = args.all_labels and seed == args.seeds[0]
            kinds = ("vsc",) if args.seeds_vsc_only and seed != args.seeds[0] else ("vae", "vsc")
            for kind in kinds:
                epochs = args.vae_epochs if kind == "vae" else args.epochs
                params = model_params(kind, J, 0.01, epochs, seed, args.threads)
                model, fit_s = fit_cached(kind, dataset, X, params, args.cache)
                with Timer() as t:
                    Z_train, Z_test = model.transform(X), model.transform(X_test)
                name = "VAE (mu)" if kind == "vae" else "VSC alpha=0.01 (sparse code)"
                row = score_codes(name, J, seed, Z_train, Z_test, data, all_labels)
                record(row, fit_s=fit_s, transform_s=t.seconds, epochs=model.n_iter_)
                if kind == "vsc":  # the reproduction's protocol: dense slab means
                    Z_train, Z_test = model.encode_mean(X), model.encode_mean(X_test)
                    row = score_codes(
                        "VSC alpha=0.01 (encode_mean)", J, seed, Z_train, Z_test, data, all_labels
                    )
                    record(row, fit_s=fit_s, epochs=model.n_iter_)
        if J not in args.baseline_n_components:
            continue
        for name, est in baselines(
            J, args.seeds[0], args.baseline_epochs, args.dict_epochs
        ).items():
            with Timer() as t_fit:
                est.fit(X)
            with Timer() as t:
                Z_train, Z_test = est.transform(X), est.transform(X_test)
            row = score_codes(name, J, args.seeds[0], Z_train, Z_test, data, args.all_labels)
            record(row, fit_s=t_fit.seconds, transform_s=t.seconds)
    table = aggregate(rows)
    cols = [
        "method",
        "J",
        "n_seeds",
        "acc_5k",
        "acc_5k_sd",
        "acc_60k",
        "dead",
        "nonzero",
        "active_per_sample",
        "fit_s",
        "transform_s",
    ]
    print_table(
        table,
        cols,
        title=f"{dataset}: LogisticRegression accuracy on the test set "
        f"(epochs: VSC {args.epochs or 'default'}, VAE {args.vae_epochs or 'default'}, "
        f"baselines {args.baseline_epochs}); published: {PUBLISHED.get(dataset, 'n/a')}",
    )
    return rows


def aggregate(rows):
    """Mean over seeds (and the sample standard deviation of acc_5k)."""
    groups = {}
    for row in rows:
        groups.setdefault((row["method"], row["J"]), []).append(row)
    table = []
    for (method, J), group in groups.items():
        out = {"method": method, "J": J, "n_seeds": len(group)}
        for key in (
            "acc_5k",
            "acc_60k",
            "dead",
            "nonzero",
            "active_per_sample",
            "fit_s",
            "transform_s",
        ):
            values = [r[key] for r in group if key in r]
            if values:
                out[key] = float(np.mean(values))
        if len(group) > 1:
            out["acc_5k_sd"] = float(np.std([r["acc_5k"] for r in group], ddof=1))
        table.append(out)
    return table


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="MNIST, J in {32, 200}, 3 epochs, one seed, 5,000 labels only",
    )
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion"])
    p.add_argument("--n-components", type=int, nargs="+", default=[8, 16, 32, 64, 128, 200])
    p.add_argument(
        "--baseline-n-components",
        type=int,
        nargs="+",
        default=None,
        help="J values with baselines (default: all)",
    )
    p.add_argument("--epochs", type=int, default=None, help="default: the estimators' max_iter")
    p.add_argument(
        "--seeds-vsc-only", action="store_true", help="run the extra seeds for the VSC only"
    )
    p.add_argument("--vae-epochs", type=int, default=None, help="default: --epochs")
    p.add_argument("--baseline-epochs", type=int, default=10, help="BernoulliRBM n_iter")
    p.add_argument(
        "--dict-epochs", type=int, default=1, help="MiniBatchDictionaryLearning max_iter (slow)"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--no-all-labels",
        dest="all_labels",
        action="store_false",
        help="skip the classifier trained on all 60,000 labels",
    )
    p.add_argument("--cache", default=None, help="folder of pickled fits, shared by the scripts")
    args = p.parse_args()
    if args.quick:
        args.datasets, args.n_components, args.seeds = ["mnist"], [32, 200], args.seeds[:1]
        args.epochs, args.baseline_epochs, args.all_labels = args.epochs or 3, 2, False
        args.dict_epochs = 1
    if args.vae_epochs is None:
        args.vae_epochs = args.epochs
    if args.baseline_n_components is None:
        args.baseline_n_components = args.n_components
    for dataset in args.datasets:
        run(args, dataset)


if __name__ == "__main__":
    main()
