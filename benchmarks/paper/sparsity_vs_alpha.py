"""Sparsity vs alpha: mean fraction of active units per sample of the VSC code.

For each prior activity probability ``alpha`` the VSC (J fixed) is trained on
the 60,000 training images; the table gives the fraction of non-zeros of the
``transform`` code per test sample, the active units per sample, the dead units
(never active on the training set), the accuracy of LogisticRegression on 5,000
labels and the negative test ELBO.

Examples::

    python benchmarks/paper/sparsity_vs_alpha.py --quick
    python benchmarks/paper/sparsity_vs_alpha.py --datasets mnist fashion
"""

from _protocol import (
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


def run(args, dataset):
    directory = data_dir(args.data_dir)
    X, y = load(dataset, directory, "train", args.n_train)
    X_test, y_test = load(dataset, directory, "test", args.n_train)
    labelled = label_subset(len(X))
    rows = []
    for alpha in args.alphas:
        params = model_params("vsc", args.n_components, alpha, args.epochs, args.seed, args.threads)
        model, fit_s = fit_cached("vsc", dataset, X, params, args.cache)
        Z_train, Z_test = model.transform(X), model.transform(X_test)
        row = {"dataset": dataset, "alpha": alpha, **sparsity_stats(Z_train, Z_test)}
        row["acc_5k"] = logreg_accuracy(Z_train[labelled], y[labelled], Z_test, y_test)
        row["neg_elbo_test"] = -model.score(X_test)
        row["fit_s"] = fit_s
        emit({"what": "sparsity", **row}, args.out)
        rows.append(row)
    print_table(
        rows,
        ["alpha", "nonzero", "active_per_sample", "dead", "acc_5k", "neg_elbo_test", "fit_s"],
        title=f"{dataset}: VSC J={args.n_components}, sparsity vs alpha "
        f"(epochs: {args.epochs or 'default'})",
    )


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="MNIST, alpha in {0.01, 0.2}, 3 epochs")
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion"])
    p.add_argument("--alphas", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.2, 0.5])
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--epochs", type=int, default=None, help="default: the estimators' max_iter")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="folder of pickled fits, shared by the scripts")
    args = p.parse_args()
    if args.quick:
        args.datasets, args.alphas, args.epochs = ["mnist"], [0.01, 0.2], args.epochs or 3
    for dataset in args.datasets:
        run(args, dataset)


if __name__ == "__main__":
    main()
