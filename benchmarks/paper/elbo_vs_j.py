"""Test ELBO (nats per example) vs latent dimension J: VAE and VSC alpha 0.2 / 0.5.

Trains on the 60,000 training images, scores the 10,000 test images with
``score`` (the mean ELBO; its negative is printed, lower is better) and prints
one table per dataset next to the published reproduction's best values.

Examples::

    python benchmarks/paper/elbo_vs_j.py --quick
    python benchmarks/paper/elbo_vs_j.py --datasets mnist fashion --epochs 30
"""

import numpy as np
from _protocol import data_dir, emit, fit_cached, load, model_params, parser, print_table

#: Published reproduction: best negative test ELBO and the J where it was found.
PUBLISHED = {
    "mnist": {"vae": "104.8 (J=16)", "vsc0.5": "111.6 (J=24)", "vsc0.2": "n/a"},
    "fashion": {"vae": "242.5 (J=16)", "vsc0.5": "246.9 (J=16)", "vsc0.2": "250.4 (J=24)"},
}
MODELS = (("vae", None), ("vsc", 0.2), ("vsc", 0.5))


def run(args, dataset):
    directory = data_dir(args.data_dir)
    X, _ = load(dataset, directory, "train", args.n_train)
    X_test, _ = load(dataset, directory, "test", args.n_train)
    rows = []
    for J in args.n_components:
        row = {"dataset": dataset, "J": J}
        for kind, alpha in MODELS:
            name = "vae" if kind == "vae" else f"vsc{alpha}"
            if name not in args.models:
                continue
            epochs = args.vae_epochs if kind == "vae" else args.epochs
            params = model_params(kind, J, alpha, epochs, args.seed, args.threads)
            model, seconds = fit_cached(kind, dataset, X, params, args.cache)
            row[name] = -model.score(X_test)
            row[f"{name}_train"] = model.loss_curve_[-1]
            row[f"{name}_fit_s"] = seconds
            emit(
                {
                    "what": "elbo",
                    "dataset": dataset,
                    "model": name,
                    "J": J,
                    "neg_elbo_test": row[name],
                    "epochs": model.n_iter_,
                    "fit_s": seconds,
                },
                args.out,
            )
        rows.append(row)
    best = {"J": "best (ours)", "dataset": dataset}
    for name in args.models:
        i = int(np.argmin([r[name] for r in rows]))
        best[name] = f"{rows[i][name]:.1f} (J={rows[i]['J']})"
    published = {"J": "published best", "dataset": dataset, **PUBLISHED.get(dataset, {})}
    print_table(
        [*rows, best, published],
        ["J", "vae", "vsc0.2", "vsc0.5", "vae_fit_s", "vsc0.5_fit_s"],
        title=f"{dataset}: negative test ELBO (nats/example), epochs: {args.epochs or 'default'}, "
        f"seed {args.seed}",
    )
    return rows


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="MNIST, J in {8, 32}, 3 epochs")
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion"])
    p.add_argument("--n-components", type=int, nargs="+", default=[8, 16, 32, 64, 128, 200])
    p.add_argument("--epochs", type=int, default=None, help="default: the estimators' max_iter")
    p.add_argument(
        "--models",
        nargs="+",
        default=["vae", "vsc0.2", "vsc0.5"],
        choices=["vae", "vsc0.2", "vsc0.5"],
    )
    p.add_argument("--vae-epochs", type=int, default=None, help="default: --epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="folder of pickled fits, shared by the scripts")
    args = p.parse_args()
    if args.quick:
        args.datasets, args.n_components, args.epochs = ["mnist"], [8, 32], args.epochs or 3
    if args.vae_epochs is None:
        args.vae_epochs = args.epochs
    for dataset in args.datasets:
        run(args, dataset)


if __name__ == "__main__":
    main()
