"""Charts: the class-by-unit activation matrix and the training curves."""

import numpy as np
from sklearn.utils import column_or_1d
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from .._diagnostics import class_activation
from ._common import check_units, is_sparse_coder, pyplot


def _block_order(matrix):
    """Columns grouped by the row where they peak, strongest first in each group."""
    peak = matrix.argmax(axis=0)
    strength = matrix[peak, np.arange(matrix.shape[1])]
    return np.lexsort((-strength, peak))


def plot_class_activation(
    estimator, X, y, *, statistic="magnitude", units="used", sort=True, cmap="viridis", ax=None
):
    """Class-by-unit mean activation matrix of the codes of ``X``.

    Each row is a class, each column a latent unit; a sparse code whose units
    specialise shows a block structure (the feature-activation figures of
    Tonolini et al.).

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data to encode.
    y : array-like of shape (n_samples,)
        Class labels.
    statistic : {"magnitude", "rate"}, default="magnitude"
        ``"magnitude"``: mean ``|z_j|`` over the samples of a class;
        ``"rate"``: fraction of them on which unit j is active (non-zero).
    units : "used", "all" or sequence of int, default="used"
        Columns: ``"used"`` keeps the units active on some sample of ``X``.
    sort : bool, default=True
        Group the columns by the class where they are most active.
    cmap : str, default="viridis"
        Colour map.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes
        The matrix as an image (``ax.images[0].get_array()``, shape
        (n_classes, n_units shown)); tick labels name the classes and, up
        to 50 columns, the units.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VariationalSparseCoder
    >>> from skvsc.plotting import plot_class_activation
    >>> X, y = load_digits(return_X_y=True)
    >>> vsc = VariationalSparseCoder(n_components=16, alpha=0.2, hidden_layer_sizes=(32,),
    ...                              max_iter=2, random_state=0).fit(X / 16.0)
    >>> ax = plot_class_activation(vsc, X / 16.0, y, units="all")
    >>> ax.images[0].get_array().shape
    (10, 16)
    """
    check_is_fitted(estimator)
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    Z = estimator.transform(X)
    classes, matrix = class_activation(Z, y, statistic)
    if isinstance(units, str) and units == "used":
        columns = np.flatnonzero((Z != 0).any(axis=0))
        if columns.size == 0:
            raise ValueError("No unit is active on X; pass units='all' to show them anyway.")
    elif isinstance(units, str) and units == "all":
        columns = np.arange(Z.shape[1])
    elif isinstance(units, str):
        raise ValueError(f"units must be 'used', 'all' or a sequence of ints, got {units!r}.")
    else:
        columns = check_units(units, Z.shape[1])
    matrix = matrix[:, columns]
    if sort:
        order = _block_order(matrix)
        columns, matrix = columns[order], matrix[:, order]
    if ax is None:
        width = min(12.0, 2.0 + 0.2 * columns.size)
        _, ax = pyplot().subplots(figsize=(width, 1.0 + 0.3 * classes.size), layout="constrained")
    image = ax.imshow(matrix, aspect="auto", cmap=cmap, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, label="mean |z|" if statistic == "magnitude" else "rate")
    ax.set_yticks(np.arange(classes.size), [str(c) for c in classes])
    ax.set_ylabel("class")
    if columns.size <= 50:
        ax.set_xticks(np.arange(columns.size), [str(u) for u in columns], fontsize="small")
    else:
        ax.set_xticks([])
    ax.set_xlabel("latent unit")
    return ax


def plot_training_curves(estimator, *, fig=None):
    """Training curves from ``history_``, one panel per quantity.

    Panels: the training -ELBO, its reconstruction part and the validation
    -ELBO (with ``early_stopping``); the KL part; for
    :class:`~skvsc.VariationalSparseCoder`, the mean number of active units
    per sample. All are per-sample epoch means during training.

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.
    fig : matplotlib Figure or SubFigure, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib Figure
        Two panels (VAE) or three (VSC), sharing the epoch axis.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VAETransformer
    >>> from skvsc.plotting import plot_training_curves
    >>> X = load_digits().data / 16.0
    >>> vae = VAETransformer(n_components=4, hidden_layer_sizes=(32,), max_iter=3,
    ...                      early_stopping=True, random_state=0).fit(X)
    >>> fig = plot_training_curves(vae)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['training -ELBO', 'reconstruction', 'validation -ELBO']
    """
    check_is_fitted(estimator)
    history = estimator.history_
    if not history:
        raise ValueError("The estimator has no training history.")
    epochs = [h["epoch"] for h in history]
    sparse = is_sparse_coder(estimator)
    n_panels = 3 if sparse else 2
    if fig is None:
        fig = pyplot().figure(figsize=(3.2 * n_panels, 2.8), layout="constrained")
    axes = fig.subplots(1, n_panels, sharex=True, squeeze=False)[0]
    ax = axes[0]
    ax.plot(epochs, [h["loss"] for h in history], label="training -ELBO")
    ax.plot(epochs, [h["reconstruction"] for h in history], "--", label="reconstruction")
    if any("validation_score" in h for h in history):
        val = [(h["epoch"], -h["validation_score"]) for h in history if "validation_score" in h]
        ax.plot(*zip(*val), label="validation -ELBO")
    ax.set_ylabel("nats per sample")
    ax.legend(fontsize="small")
    axes[1].plot(epochs, [h["kl"] for h in history], color="C3", label="KL")
    axes[1].set_ylabel("KL (nats per sample)")
    if sparse:
        axes[2].plot(epochs, [h["active_units"] for h in history], color="C2")
        axes[2].set_ylabel("active units per sample")
    for ax in axes:
        ax.set_xlabel("epoch")
    return fig
