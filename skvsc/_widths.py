"""Sizes chosen from the data: ``n_components="auto"``.

The width of the code follows the width of the input for narrow inputs
(tables): 200 units, sized for images, give a 4-feature table some ten
active units per sample, more than it has features.
"""

#: ``n_components="auto"``: ``min(_AUTO_UNITS, _AUTO_UNITS_PER_FEATURE * n_features)``.
#: At the default ``alpha=0.05`` that is about ``n_features / 2`` active units per
#: sample below 20 features, and the 200 units chosen for images (MNIST's 784
#: pixels, the digits' 64) from 20 features up.
_AUTO_UNITS = 200
_AUTO_UNITS_PER_FEATURE = 10


def resolve_n_components(n_components, n_features):
    """The number of latent units: ``n_components``, with ``"auto"`` resolved
    for ``n_features`` input features."""
    if n_components != "auto":
        return n_components
    return min(_AUTO_UNITS, _AUTO_UNITS_PER_FEATURE * n_features)
