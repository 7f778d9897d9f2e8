"""Image panels: reconstructions, atoms (single-unit codes) and latent traversals."""

import math

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._common import (
    check_units,
    checked_image_shape,
    code_width,
    dense_rows,
    grid,
    is_sparse_coder,
    show_images,
    unit_order,
)


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
    originals = dense_rows(check_array(X, accept_sparse="csr", dtype=(np.float64, np.float32)))
    shape = checked_image_shape(originals.shape[1], image_shape)
    vmin = min(originals.min(), reconstructions.min())
    vmax = max(originals.max(), reconstructions.max())
    fig, axes = grid(fig, 2, originals.shape[0])
    show_images(axes[0], originals, shape, vmin, vmax, cmap)
    show_images(axes[1], reconstructions, shape, vmin, vmax, cmap)
    axes[0, 0].set_ylabel("data")
    axes[1, 0].set_ylabel("reconstruction")
    if is_sparse_coder(estimator):
        for ax, z in zip(axes[1], Z):
            ax.set_title(f"{np.count_nonzero(z)} active", fontsize="small")
    return fig


def plot_atoms(
    estimator,
    units=None,
    *,
    value="typical",
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
    value : "typical", float or array-like of shape (n_units,), default="typical"
        Value of the active unit. ``"typical"``: each unit's typical signed
        value, ``unit_values_`` (the median of its non-zero values on the
        training data: units are one-signed as a rule, and a fixed positive
        value shows the opposite of what a negative unit does); 2 (two
        standard deviations of the slab prior) for the VAE and for models
        saved without ``unit_values_``.
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
    n_units = code_width(estimator)
    if units is None:
        units = unit_order(estimator)[:max_units]
    units = check_units(units, n_units)
    shape = checked_image_shape(estimator.n_features_in_, image_shape)
    Z = np.zeros((units.size, n_units))
    if isinstance(value, str):
        if value != "typical":
            raise ValueError(f"value must be 'typical' or numbers, got {value!r}.")
        typical = getattr(estimator, "unit_values_", None)
        value = 2.0 if typical is None else np.asarray(typical)[units]
    Z[np.arange(units.size), units] = np.broadcast_to(np.asarray(value, dtype=float), units.shape)
    atoms = estimator.inverse_transform(Z)
    n_cols = n_cols or math.ceil(math.sqrt(units.size))
    n_rows = math.ceil(units.size / n_cols)
    fig, axes = grid(fig, n_rows, n_cols)
    axes = axes.ravel()
    show_images(axes, atoms, shape, atoms.min(), atoms.max(), cmap)
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
        if is_sparse_coder(estimator):
            active = np.flatnonzero(z)
            units = active[np.argsort(-np.abs(z[active]), kind="stable")]
            if units.size == 0:
                raise ValueError("The code of x has no active unit; pass units= to traverse.")
        else:
            units = unit_order(estimator)
        units = units[:max_units]
    units = check_units(units, z.size)
    shape = checked_image_shape(x.shape[1], image_shape)
    offsets = np.linspace(-span, span, n_steps)
    Z = np.repeat(z[None, :], units.size * n_steps, axis=0)
    rows = np.repeat(np.arange(units.size), n_steps)
    Z[np.arange(Z.shape[0]), units[rows]] += np.tile(offsets, units.size)
    images = estimator.inverse_transform(Z)
    fig, axes = grid(fig, units.size, n_steps)
    show_images(axes.ravel(), images, shape, images.min(), images.max(), cmap)
    for ax, unit in zip(axes[:, 0], units):
        ax.set_ylabel(f"unit {unit}\n({z[unit]:+.2f})", fontsize="small")
    for ax, offset in zip(axes[0], offsets):
        ax.set_title(f"{offset:+.1f}", fontsize="small")
    return fig
