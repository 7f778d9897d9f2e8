"""Plots of fitted models: reconstructions, atoms, traversals, class activations, training.

matplotlib is an optional dependency (``pip install "skvsc[plot]"``), imported
only when a function is called. Functions drawing one panel take an ``ax`` and
return it; functions drawing a grid take a ``fig`` (a Figure or SubFigure) and
return it.

Image data are shown as ``image_shape`` images; when it is not given, a square
shape is inferred from the number of features (8 x 8 for scikit-learn's digits,
28 x 28 for MNIST).
"""

import math

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from ._diagnostics import ACTIVE_VARIANCE_THRESHOLD, class_activation
from ._vsc import VariationalSparseCoder

__all__ = [
    "plot_atoms",
    "plot_class_activation",
    "plot_reconstructions",
    "plot_training_curves",
    "plot_traversals",
]

_PANEL_INCHES = 1.1


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'skvsc.plotting needs matplotlib; install it with: pip install "skvsc[plot]"'
        ) from exc
    return plt


def _image_shape(n_features, image_shape):
    """``image_shape`` checked against ``n_features``, or a square shape."""
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"Cannot infer a square image shape from {n_features} features; "
                "pass image_shape=(height, width)."
            )
        return side, side
    shape = tuple(int(s) for s in image_shape)
    if math.prod(shape) != n_features:
        raise ValueError(f"image_shape={image_shape!r} does not hold {n_features} features.")
    return shape


def _n_components(estimator):
    return estimator.module_.n_components


def _is_sparse_coder(estimator):
    return isinstance(estimator, VariationalSparseCoder)


def _dense_rows(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def _grid(fig, nrows, ncols):
    """A figure (new when ``fig`` is None) and an (nrows, ncols) array of axes."""
    if fig is None:
        size = (max(2.0, _PANEL_INCHES * ncols), max(1.5, _PANEL_INCHES * nrows + 0.4))
        fig = _pyplot().figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def _show_images(axes, images, shape, vmin, vmax, cmap):
    for ax, image in zip(axes, images):
        ax.imshow(np.reshape(image, shape), cmap=cmap, vmin=vmin, vmax=vmax)


def _unit_order(estimator):
    """Units from the most to the least used, without dead (inactive) ones.

    Uses the training statistics: activation rates for VSC, posterior-mean
    variances (above Burda et al.'s 0.01) for the VAE. All units when no
    unit passes or the statistics are missing.
    """
    n_units = _n_components(estimator)
    if hasattr(estimator, "activation_rates_"):
        score, floor = estimator.activation_rates_, 0.0
    elif hasattr(estimator, "posterior_mean_variance_"):
        score, floor = estimator.posterior_mean_variance_, ACTIVE_VARIANCE_THRESHOLD
    else:
        return np.arange(n_units)
    order = np.argsort(-score, kind="stable")
    alive = order[score[order] > floor]
    return alive if alive.size else order


def _check_units(units, n_units):
    units = np.atleast_1d(np.asarray(units))
    if units.ndim != 1 or units.size == 0 or not np.issubdtype(units.dtype, np.integer):
        raise ValueError(f"units must be a non-empty sequence of ints, got {units!r}.")
    if units.min() < 0 or units.max() >= n_units:
        raise ValueError(f"units must lie in [0, {n_units - 1}], got {units.tolist()}.")
    return units


def plot_reconstructions(estimator, X, n=8, *, image_shape=None, cmap="gray", fig=None):
    """Show the first ``n`` rows of ``X`` above their reconstructions.

    A reconstruction decodes the code of :meth:`transform` (the exactly
    sparse code for :class:`~skvsc.VariationalSparseCoder`, whose number of
    active units titles each reconstruction).

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Data; its first ``n`` rows are shown.
    n : int, default=8
        Number of samples.
    image_shape : tuple of int, default=None
        Shape of one image; square when None.
    cmap : str, default="gray"
        Colour map of the images.
    fig : matplotlib Figure or SubFigure, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib Figure
        Two rows of ``n`` axes: data, then reconstructions.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VariationalSparseCoder
    >>> from skvsc.plotting import plot_reconstructions
    >>> X = load_digits().data / 16.0
    >>> vsc = VariationalSparseCoder(n_components=16, alpha=0.2, hidden_layer_sizes=(32,),
    ...                              max_iter=2, random_state=0).fit(X)
    >>> fig = plot_reconstructions(vsc, X, n=5)
    >>> len(fig.axes)
    10
    """
    check_is_fitted(estimator)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    X = X.iloc[:n] if hasattr(X, "iloc") else X[:n]  # keeps a DataFrame's feature names
    Z = estimator.transform(X)
    reconstructions = estimator.inverse_transform(Z)
    originals = _dense_rows(check_array(X, accept_sparse="csr", dtype=(np.float64, np.float32)))
    shape = _image_shape(originals.shape[1], image_shape)
    vmin = min(originals.min(), reconstructions.min())
    vmax = max(originals.max(), reconstructions.max())
    fig, axes = _grid(fig, 2, originals.shape[0])
    _show_images(axes[0], originals, shape, vmin, vmax, cmap)
    _show_images(axes[1], reconstructions, shape, vmin, vmax, cmap)
    axes[0, 0].set_ylabel("data")
    axes[1, 0].set_ylabel("reconstruction")
    if _is_sparse_coder(estimator):
        for ax, z in zip(axes[1], Z):
            ax.set_title(f"{np.count_nonzero(z)} active", fontsize="small")
    return fig


def plot_atoms(
    estimator,
    units=None,
    *,
    value=2.0,
    max_units=25,
    n_cols=None,
    image_shape=None,
    cmap="gray",
    fig=None,
):
    """Decode single-unit codes: unit ``j`` set to ``value``, every other unit 0.

    For :class:`~skvsc.VariationalSparseCoder` such a code is a valid sparse
    code with one active unit, and its decoding shows what the unit adds.

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.
    units : sequence of int, default=None
        Units to show. None shows the most used units of the training data
        (highest ``activation_rates_`` for VSC, highest
        ``posterior_mean_variance_`` for the VAE), dead ones left out, at most
        ``max_units``.
    value : float or array-like of shape (n_units,), default=2.0
        Value of the active unit (2 standard deviations of the slab prior).
    max_units : int, default=25
        Most units shown when ``units`` is None.
    n_cols : int, default=None
        Columns of the grid; about square when None.
    image_shape : tuple of int, default=None
        Shape of one image; square when None.
    cmap : str, default="gray"
        Colour map of the images.
    fig : matplotlib Figure or SubFigure, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib Figure
        One axes per unit, titled with the unit's index.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VariationalSparseCoder
    >>> from skvsc.plotting import plot_atoms
    >>> X = load_digits().data / 16.0
    >>> vsc = VariationalSparseCoder(n_components=16, alpha=0.2, hidden_layer_sizes=(32,),
    ...                              max_iter=2, random_state=0).fit(X)
    >>> fig = plot_atoms(vsc, units=[0, 1, 2])
    >>> [ax.get_title() for ax in fig.axes]
    ['unit 0', 'unit 1', 'unit 2']
    """
    check_is_fitted(estimator)
    n_units = _n_components(estimator)
    if units is None:
        units = _unit_order(estimator)[:max_units]
    units = _check_units(units, n_units)
    shape = _image_shape(estimator.n_features_in_, image_shape)
    Z = np.zeros((units.size, n_units))
    Z[np.arange(units.size), units] = np.broadcast_to(np.asarray(value, dtype=float), units.shape)
    atoms = estimator.inverse_transform(Z)
    n_cols = n_cols or math.ceil(math.sqrt(units.size))
    n_rows = math.ceil(units.size / n_cols)
    fig, axes = _grid(fig, n_rows, n_cols)
    axes = axes.ravel()
    _show_images(axes, atoms, shape, atoms.min(), atoms.max(), cmap)
    for ax, unit in zip(axes, units):
        ax.set_title(f"unit {unit}", fontsize="small")
    for ax in axes[units.size :]:
        ax.remove()
    return fig


def plot_traversals(
    estimator,
    x,
    units=None,
    *,
    span=3.0,
    n_steps=7,
    max_units=8,
    image_shape=None,
    cmap="gray",
    fig=None,
):
    """Latent traversals: vary each active unit of the code of ``x`` and decode.

    Row ``i`` decodes the code of ``x`` with unit ``units[i]`` moved by
    ``n_steps`` offsets evenly spaced in ``[-span, span]``; the middle column
    (offset 0 when ``n_steps`` is odd) is the reconstruction of ``x``.

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.
    x : {array-like, sparse matrix} of shape (n_features,) or (1, n_features)
        One sample.
    units : sequence of int, default=None
        Units to traverse. None takes the active units of the code of ``x``
        for VSC (largest magnitude first) and the active units of the
        training data for the VAE (largest posterior-mean variance first),
        at most ``max_units``.
    span : float, default=3.0
        Largest offset added to a unit's value.
    n_steps : int, default=7
        Number of offsets (columns).
    max_units : int, default=8
        Most units (rows) when ``units`` is None.
    image_shape : tuple of int, default=None
        Shape of one image; square when None.
    cmap : str, default="gray"
        Colour map of the images.
    fig : matplotlib Figure or SubFigure, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib Figure
        ``len(units)`` rows of ``n_steps`` axes.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VAETransformer
    >>> from skvsc.plotting import plot_traversals
    >>> X = load_digits().data / 16.0
    >>> vae = VAETransformer(n_components=4, hidden_layer_sizes=(32,), max_iter=2,
    ...                      random_state=0).fit(X)
    >>> fig = plot_traversals(vae, X[0], units=[0, 3], n_steps=5)
    >>> len(fig.axes)
    10
    """
    check_is_fitted(estimator)
    if not isinstance(n_steps, int | np.integer) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}.")
    if not hasattr(x, "iloc") or x.ndim != 2:  # a DataFrame row keeps its feature names
        x = check_array(x, accept_sparse="csr", dtype=(np.float64, np.float32), ensure_2d=False)
        x = x.reshape(1, -1) if x.ndim == 1 else x
    if x.shape[0] != 1:
        raise ValueError(f"x must be one sample, got {x.shape[0]} rows.")
    z = estimator.transform(x)[0].astype(np.float64)
    if units is None:
        if _is_sparse_coder(estimator):
            active = np.flatnonzero(z)
            units = active[np.argsort(-np.abs(z[active]), kind="stable")]
            if units.size == 0:
                raise ValueError("The code of x has no active unit; pass units= to traverse.")
        else:
            units = _unit_order(estimator)
        units = units[:max_units]
    units = _check_units(units, z.size)
    shape = _image_shape(x.shape[1], image_shape)
    offsets = np.linspace(-span, span, n_steps)
    Z = np.repeat(z[None, :], units.size * n_steps, axis=0)
    rows = np.repeat(np.arange(units.size), n_steps)
    Z[np.arange(Z.shape[0]), units[rows]] += np.tile(offsets, units.size)
    images = estimator.inverse_transform(Z)
    fig, axes = _grid(fig, units.size, n_steps)
    _show_images(axes.ravel(), images, shape, images.min(), images.max(), cmap)
    for ax, unit in zip(axes[:, 0], units):
        ax.set_ylabel(f"unit {unit}\n({z[unit]:+.2f})", fontsize="small")
    for ax, offset in zip(axes[0], offsets):
        ax.set_title(f"{offset:+.1f}", fontsize="small")
    return fig


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
        columns = _check_units(units, Z.shape[1])
    matrix = matrix[:, columns]
    if sort:
        order = _block_order(matrix)
        columns, matrix = columns[order], matrix[:, order]
    if ax is None:
        width = min(12.0, 2.0 + 0.2 * columns.size)
        _, ax = _pyplot().subplots(figsize=(width, 1.0 + 0.3 * classes.size), layout="constrained")
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
    sparse = _is_sparse_coder(estimator)
    n_panels = 3 if sparse else 2
    if fig is None:
        fig = _pyplot().figure(figsize=(3.2 * n_panels, 2.8), layout="constrained")
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
