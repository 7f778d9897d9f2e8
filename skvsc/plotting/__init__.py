"""Plots of fitted models: reconstructions, atoms, traversals, class activations, training,
and a per-unit HTML report.

matplotlib is an optional dependency (``pip install "skvsc[plot]"``), imported
only when a function is called; :func:`unit_report` does not need it. Functions
drawing one panel take an ``ax`` and return it; functions drawing a grid take a
``fig`` (a Figure or SubFigure) and return it.

Image data are shown as ``image_shape`` images; when it is not given, a square
shape is inferred from the number of features (8 x 8 for scikit-learn's digits,
28 x 28 for MNIST). For other data (tables), :func:`plot_feature_effects`
draws each unit's effect on the named features as bars.
"""

from ._charts import plot_class_activation, plot_training_curves
from ._effects import plot_feature_effects
from ._images import plot_atoms, plot_reconstructions, plot_traversals
from ._report import unit_report

__all__ = [
    "plot_atoms",
    "plot_class_activation",
    "plot_feature_effects",
    "plot_reconstructions",
    "plot_training_curves",
    "plot_traversals",
    "unit_report",
]
