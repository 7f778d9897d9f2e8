"""Sizes, weights and the gate chosen from the data: the ``"auto"`` values of
``n_components``, ``alpha``, ``slab_kl_weight``, ``gate`` and ``rate_control``.

Narrow inputs (tables of measured columns) get their own defaults. The
defaults of images (200 units, ``alpha=0.05``, ``slab_kl_weight=0.1``) give a
4-feature table some ten active units per sample, more than it has
features, each unit active on a few percent of a few hundred rows, and a
slab KL that outweighs a reconstruction term summed over a handful of
columns. How the values were chosen: docs/tables_screens.md.
"""

import math

from ._params import is_auto

#: Inputs with fewer features than this are narrow: tables. The smallest image
#: set of the docs, the 8x8 digits, has 64 pixels and keeps the image defaults.
NARROW_WIDTH = 64

#: ``n_components="auto"`` for inputs of ``NARROW_WIDTH`` features or more.
_AUTO_UNITS = 200

#: ``alpha="auto"``: (inputs of ``NARROW_WIDTH`` features or more, narrower inputs).
AUTO_ALPHA = (0.05, 0.25)

#: ``slab_kl_weight="auto"``: (inputs of ``NARROW_WIDTH`` features or more,
#: narrower inputs).
AUTO_SLAB_KL_WEIGHT = (0.1, 0.01)


#: ``gate="auto"``: (inputs of ``NARROW_WIDTH`` features or more, narrower
#: inputs). Tied on both: the free gate keeps a unit's value on rows an
#: unrelated head picks, which a linear model downstream loses (tables:
#: docs/tables_screens.md; images: docs/results.md, "Reviving the tied gate's units").
AUTO_GATE = ("tied", "tied")

#: ``rate_control="auto"``: (inputs of ``NARROW_WIDTH`` features or more,
#: narrower inputs). On images a controller of step 1 that, with
#: ``rate_control_sides="auto"``, only subsidises the units below ``alpha``:
#: the tied gate leaves units dead at small ``alpha`` without it. Off on tables:
#: the signed controller lost there (docs/tables_screens.md, the third screen), and the
#: subsidy-only one only adds active units there, which PCA with as many
#: components gains as much from (the fourth screen).
AUTO_RATE_CONTROL = (1.0, 0.0)


def is_narrow(n_features):
    """Whether an input of ``n_features`` features gets the narrow defaults."""
    return n_features < NARROW_WIDTH


#: The latent options with a width-dependent ``"auto"``: their (wide, narrow) values.
AUTO_BY_WIDTH = {
    "alpha": AUTO_ALPHA,
    "slab_kl_weight": AUTO_SLAB_KL_WEIGHT,
    "gate": AUTO_GATE,
    "rate_control": AUTO_RATE_CONTROL,
}


def resolve_by_width(name, value, n_features):
    """The latent option ``name``'s ``value``, with ``"auto"`` resolved for
    ``n_features`` input features (:data:`AUTO_BY_WIDTH`)."""
    if is_auto(value):
        return AUTO_BY_WIDTH[name][is_narrow(n_features)]
    return value


def resolve_alpha(alpha, n_features):
    """``alpha``, with ``"auto"`` resolved for ``n_features`` input features."""
    return resolve_by_width("alpha", alpha, n_features)


def resolve_slab_kl_weight(weight, n_features):
    """``slab_kl_weight``, with ``"auto"`` resolved for ``n_features`` input features."""
    return resolve_by_width("slab_kl_weight", weight, n_features)


def resolve_n_components(n_components, n_features, alpha=None):
    """The number of latent units: ``n_components``, with ``"auto"`` resolved
    for ``n_features`` input features and the (resolved) prior activity
    probability ``alpha``.

    ``"auto"``: 200 units from ``NARROW_WIDTH`` features up; for narrower
    inputs ``n_features / (2 alpha)`` units (at most 200, at least ``1 /
    alpha``, the fewest at which the prior expects an active unit), so that
    the code has about ``n_features / 2`` active units per sample whatever
    ``alpha`` (``10 * n_features`` at ``alpha=0.05``, ``2 * n_features`` at
    the narrow ``alpha="auto"`` of 0.25). The estimators without ``alpha``
    (:class:`~skvsc.VAETransformer`; ``alpha=None``) size as at
    ``alpha=0.05``, without the floor (a dense code has no spike).
    """
    if n_components != "auto":
        return n_components
    if not is_narrow(n_features):
        return _AUTO_UNITS
    if alpha is None:  # a dense code: sized as at the image alpha, with no floor
        units, fewest = round(n_features / (2 * AUTO_ALPHA[0])), 1
    else:
        # At least 1 / alpha units: with fewer, the prior expects less than one active
        # unit per sample and some codes are all zeros (fit warns): a one-column table
        # at the narrow alpha of 0.25 would otherwise get 2 units.
        units, fewest = round(n_features / (2 * alpha)), math.ceil(1 / alpha)
        fewest += alpha * fewest < 1  # float rounding: alpha = 1 / 161 gives 161 * alpha < 1
    return min(_AUTO_UNITS, max(units, fewest))
