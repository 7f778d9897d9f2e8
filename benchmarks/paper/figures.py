"""Qualitative figures of a VSC (alpha=0.01): latent traversals and single-unit atoms.

Traversals: for a few test images, each active unit of the sparse code
(``transform``) is set to values from -3 to 3 while the others keep their
values, and the code is decoded (``inverse_transform``). Atoms: the decoded
code with one unit set to +2 (left) and -2 (right) and all others zero, for the
units most often active on the test set. Saves PNG files in ``--fig-dir``.

Examples::

    python benchmarks/paper/figures.py --quick --fig-dir /tmp/figures
    python benchmarks/paper/figures.py --datasets mnist fashion --fig-dir docs/figures
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _protocol import data_dir, fit_cached, load, model_params, parser

VALUES = np.linspace(-3, 3, 7)


def traversal_figure(model, X_test, indices, max_units, path):
    Z = model.transform(X_test[indices])
    rows = []  # (image index, unit or None, decoded images)
    for i, z in zip(indices, Z):
        active = np.flatnonzero(z)
        active = active[np.argsort(-np.abs(z[active]))][:max_units]
        rows.append((i, None, [X_test[i], model.inverse_transform(z[None])[0]]))
        for j in active:
            codes = np.repeat(z[None], len(VALUES), axis=0)
            codes[:, j] = VALUES
            rows.append((i, j, list(model.inverse_transform(codes))))
    n_cols = len(VALUES)
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(n_cols * 0.9, len(rows) * 0.9))
    for r, (i, j, images) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
        label = f"test {i}: input, code" if j is None else f"unit {j}"
        axes[r, 0].set_title(label, fontsize=6, loc="left")
    fig.suptitle(f"Traversals of active units, values {VALUES[0]:g} .. {VALUES[-1]:g}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def atoms_figure(model, X_test, n_atoms, path):
    usage = (model.transform(X_test) != 0).mean(axis=0)
    units = np.argsort(-usage)[:n_atoms]
    J = model.n_components
    plus, minus = np.zeros((len(units), J)), np.zeros((len(units), J))
    plus[np.arange(len(units)), units], minus[np.arange(len(units)), units] = 2.0, -2.0
    images = np.concatenate([model.inverse_transform(plus), model.inverse_transform(minus)], 1)
    n_cols = 8
    n_rows = -(-len(units) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 1.6, n_rows * 0.95))
    for ax in np.ravel(axes):
        ax.axis("off")
    for k, (unit, img) in enumerate(zip(units, images)):
        ax = np.ravel(axes)[k]
        pair = np.hstack([img[:784].reshape(28, 28), img[784:].reshape(28, 28)])
        ax.imshow(pair, cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"unit {unit}: {100 * usage[unit]:.1f} %", fontsize=6)
    fig.suptitle(
        "Single-unit atoms (+2 | -2), most used units first; % of test images "
        "where the unit is active",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="MNIST, 3 epochs")
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion"])
    p.add_argument("--n-components", type=int, default=200)
    p.add_argument("--epochs", type=int, default=None, help="default: the estimators' max_iter")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="folder of pickled fits, shared by the scripts")
    p.add_argument("--fig-dir", required=True, help="where the PNG files go (e.g. docs/figures)")
    args = p.parse_args()
    if args.quick:
        args.datasets, args.epochs = ["mnist"], args.epochs or 3
    fig_dir = Path(args.fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        X, _ = load(dataset, data_dir(args.data_dir), "train", args.n_train)
        X_test, _ = load(dataset, data_dir(args.data_dir), "test", args.n_train)
        params = model_params("vsc", args.n_components, 0.01, args.epochs, args.seed, args.threads)
        model, _ = fit_cached("vsc", dataset, X, params, args.cache)
        indices = np.random.RandomState(args.seed).choice(len(X_test), 4, replace=False)
        suffix = "-quick" if args.quick else ""
        path = fig_dir / f"{dataset}-traversals{suffix}.png"
        traversal_figure(model, X_test, indices, 4, path)
        print(f"wrote {path}")
        path = fig_dir / f"{dataset}-atoms{suffix}.png"
        atoms_figure(model, X_test, 32, path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
