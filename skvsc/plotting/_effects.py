"""Feature effects of the units as bar charts: the atoms of non-image data."""

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._common import check_units, pyplot, unit_order


def plot_feature_effects(
    estimator,
    units=None,
    *,
    X=None,
    max_units=6,
    n_features=10,
    feature_names=None,
    n_cols=None,
    fig=None,
):
    """Bar charts of each unit's effect on the input features.

    One panel per unit: horizontal bars of its
    :meth:`~skvsc.VariationalSparseCoder.feature_effects` on the
    ``n_features`` features it changes most, labelled with the feature names.
    The atoms of :func:`plot_atoms` for data that are not images (tables).

    Parameters
    ----------
    estimator : VariationalSparseCoder
        A fitted estimator.
    units : sequence of int, default=None
        Units to show. None shows the most used units of the training data
        (``activation_rates_``), dead ones left out, at most ``max_units``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features), default=None
        Data (the training data, usually). When given, the typical values of
        the units are taken from its code and the effects are shown in
        standard deviations of its features, which makes features of
        different units comparable; None shows them in the data's own units
        at ``unit_values_``.
    max_units : int, default=6
        Most units shown when ``units`` is None.
    n_features : int, default=10
        Features (bars) per panel, the largest effects.
    feature_names : sequence of str, default=None
        Names of the features; ``feature_names_in_`` (from a DataFrame) or
        ``x0, x1, ...`` when None.
    n_cols : int, default=None
        Columns of the grid; at most 3 when None.
    fig : matplotlib Figure or SubFigure, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    fig : matplotlib Figure
        One axes per unit, titled with the unit, its activation rate and its
        typical value.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skvsc import VariationalSparseCoder
    >>> from skvsc.plotting import plot_feature_effects
    >>> X = load_iris(as_frame=True).data
    >>> vsc = VariationalSparseCoder(max_iter=20, random_state=0).fit(X)
    >>> fig = plot_feature_effects(vsc, units=[0, 1], X=X)
    >>> len(fig.axes)
    2
    """
    check_is_fitted(estimator)
    if not hasattr(estimator, "feature_effects"):
        raise TypeError(
            f"plot_feature_effects needs a VariationalSparseCoder, got {type(estimator).__name__}."
        )
    effects = estimator.feature_effects(X)
    n_units, n_in = effects.shape
    if units is None:
        units = unit_order(estimator)[:max_units]
    units = check_units(units, n_units)
    if feature_names is None:
        names = getattr(estimator, "feature_names_in_", None)
        names = [f"x{i}" for i in range(n_in)] if names is None else list(names)
    else:
        names = [str(name) for name in feature_names]
        if len(names) != n_in:
            raise ValueError(f"feature_names has {len(names)} names for {n_in} features.")
    label = "effect (feature units)"
    if X is not None:
        data = X.to_numpy() if hasattr(X, "to_numpy") else X
        data = data.toarray() if hasattr(data, "toarray") else np.asarray(data, dtype=float)
        std = np.nanstd(data, axis=0)  # of the observed values
        effects = effects / np.where(std > 0, std, 1.0)
        label = "effect (feature SD)"
    n_bars = min(int(n_features), n_in)
    n_cols = n_cols or min(3, units.size)
    n_rows = math.ceil(units.size / n_cols)
    if fig is None:
        size = (3.6 * n_cols, 0.6 + (0.25 * n_bars + 0.7) * n_rows)
        fig = pyplot().figure(figsize=size, layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False).ravel())
    rates = getattr(estimator, "activation_rates_", None)
    for ax, unit in zip(axes, units):
        order = np.argsort(-np.abs(effects[unit]), kind="stable")[:n_bars][::-1]
        values = effects[unit, order]
        ax.barh(np.arange(n_bars), values, color=np.where(values >= 0, "tab:red", "tab:blue"))
        ax.set_yticks(np.arange(n_bars), [names[i] for i in order], fontsize="small")
        ax.axvline(0.0, color="black", linewidth=0.5)
        title = f"unit {unit}"
        if rates is not None:
            title += f": on {100 * rates[unit]:.0f} %"
        title += f", z = {estimator.unit_values_[unit]:+.2g}" if X is None else ""
        ax.set_title(title, fontsize="small")
        ax.set_xlabel(label, fontsize="small")
    for ax in axes[units.size :]:
        ax.remove()
    return fig
