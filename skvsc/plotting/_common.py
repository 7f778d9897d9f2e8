"""Helpers of the plots: matplotlib, image shapes, grids, unit orders.

Fitted estimators are read through their public API only (``transform``,
``inverse_transform``, ``get_feature_names_out``, fitted attributes).
"""

import math

import numpy as np
import scipy.sparse as sp

from .._diagnostics import ACTIVE_VARIANCE_THRESHOLD

PANEL_INCHES = 1.1


def pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            'skvsc.plotting needs matplotlib; install it with: pip install "skvsc[plot]"'
        ) from exc
    return plt


def checked_image_shape(n_features, image_shape):
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


def code_width(estimator):
    """Width of the fitted estimator's code (public API: its output feature names)."""
    return len(estimator.get_feature_names_out())


def is_sparse_coder(estimator):
    """Whether the estimator gives a sparse code with activity probabilities (VSC)."""
    return hasattr(estimator, "activity_proba")


def dense_rows(X):
    return X.toarray() if sp.issparse(X) else np.asarray(X)


def grid(fig, nrows, ncols):
    """A figure (new when ``fig`` is None) and an (nrows, ncols) array of axes."""
    if fig is None:
        size = (max(2.0, PANEL_INCHES * ncols), max(1.5, PANEL_INCHES * nrows + 0.4))
        fig = pyplot().figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def show_images(axes, images, shape, vmin, vmax, cmap):
    for ax, image in zip(axes, images):
        ax.imshow(np.reshape(image, shape), cmap=cmap, vmin=vmin, vmax=vmax)


def unit_order(estimator):
    """Units from the most to the least used, without dead (inactive) ones.

    Uses the training statistics: activation rates for VSC, posterior-mean
    variances (above Burda et al.'s 0.01) for the VAE. All units when no
    unit passes or the statistics are missing.
    """
    n_units = code_width(estimator)
    if hasattr(estimator, "activation_rates_"):
        score, floor = estimator.activation_rates_, 0.0
    elif hasattr(estimator, "posterior_mean_variance_"):
        score, floor = estimator.posterior_mean_variance_, ACTIVE_VARIANCE_THRESHOLD
    else:
        return np.arange(n_units)
    order = np.argsort(-score, kind="stable")
    alive = order[score[order] > floor]
    return alive if alive.size else order


def check_units(units, n_units):
    units = np.atleast_1d(np.asarray(units))
    if units.ndim != 1 or units.size == 0 or not np.issubdtype(units.dtype, np.integer):
        raise ValueError(f"units must be a non-empty sequence of ints, got {units!r}.")
    if units.min() < 0 or units.max() >= n_units:
        raise ValueError(f"units must lie in [0, {n_units - 1}], got {units.tolist()}.")
    return units
