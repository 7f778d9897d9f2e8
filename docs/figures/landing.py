"""The landing page's figure: one MNIST digit, its sparse code, the atoms of its
active units and a traversal of its strongest unit.

The model is ``VariationalSparseCoder`` with its defaults (``n_components=200``,
``alpha=0.05``), fitted on the first 10,000 MNIST training images; the digit is
the first test image. Run from the repository root (about two minutes on one
CPU thread)::

    SKVSC_DATA=/path/to/data python docs/figures/landing.py

It writes ``docs/figures/sparse-code.png``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from skvsc import VariationalSparseCoder
from skvsc.datasets import load_mnist

OUT = Path(__file__).resolve().parent / "sparse-code.png"
N_ATOMS = 6
VALUES = np.linspace(-3, 3, 7)


def main():
    X, _ = load_mnist(split="train")
    X_test, _ = load_mnist(split="test")
    vsc = VariationalSparseCoder(random_state=0, n_threads=1).fit(X[:10_000])
    x = X_test[0]
    z = vsc.transform(x[None])[0]
    active = np.flatnonzero(z)
    strongest = active[np.argsort(-np.abs(z[active]))]

    fig = plt.figure(figsize=(10, 6.2), layout="constrained")
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[1.15, 1, 1])
    axes = top.subplots(1, 3, width_ratios=[1, 4, 1])
    axes[0].imshow(x.reshape(28, 28), cmap="gray")
    axes[0].set_title("a test digit", fontsize=9)
    axes[1].stem(active, z[active], basefmt=" ")
    axes[1].axhline(0, color="0.6", lw=0.8)
    axes[1].set_xlim(-2, vsc.n_components + 1)
    axes[1].set_title(
        f"its code: {len(active)} of {vsc.n_components} units non-zero, the rest exactly 0",
        fontsize=9,
    )
    axes[1].set_xlabel("latent unit", fontsize=8)
    axes[1].tick_params(labelsize=7)
    axes[2].imshow(vsc.inverse_transform(z[None])[0].reshape(28, 28), cmap="gray")
    axes[2].set_title("decoded code", fontsize=9)
    for ax in (axes[0], axes[2]):
        ax.set_axis_off()

    units = strongest[:N_ATOMS]
    codes = np.zeros((len(units), vsc.n_components))
    # Each unit at +-2 with the sign it has in this digit's code: the direction the digit uses.
    signs = np.sign(z[units])
    codes[np.arange(len(units)), units] = 2.0 * signs
    middle.suptitle("atoms: each of its strongest units decoded alone, the others 0", fontsize=9)
    atoms = vsc.inverse_transform(codes)
    for ax, unit, sign, atom in zip(middle.subplots(1, N_ATOMS), units, signs, atoms):
        ax.imshow(atom.reshape(28, 28), cmap="gray")
        ax.set_title(f"unit {unit} = {2 * sign:+g}", fontsize=8)
        ax.set_axis_off()

    unit = strongest[0]
    codes = np.tile(z, (len(VALUES), 1))
    codes[:, unit] = VALUES
    bottom.suptitle(
        f"traversal: unit {unit} of this code set to {VALUES[0]:g} ... {VALUES[-1]:g}, "
        "the other units unchanged",
        fontsize=9,
    )
    for ax, image, value in zip(
        bottom.subplots(1, len(VALUES)), vsc.inverse_transform(codes), VALUES
    ):
        ax.imshow(image.reshape(28, 28), cmap="gray")
        ax.set_title(f"{value:g}", fontsize=8)
        ax.set_axis_off()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT}: {len(active)} active units, {vsc.n_iter_} epochs")


if __name__ == "__main__":
    main()
