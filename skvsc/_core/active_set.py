"""Which units a sparse code keeps: the floor of the aggregate prior's code and
the ranking of a code truncated to ``k`` units.

A spike-and-slab code keeps unit j of a row where ``gamma_j > 1/2``. Two rules
change that set:

- :func:`floored`: a row with no such unit keeps its most probable unit (the
  largest ``gamma``), so that no code is all zeros. The aggregate prior applies
  it wherever ``alpha * n_components >= 1`` (the prior expects at least one
  active unit per sample), in training and in every code it returns; the
  paper's fixed prior does not (its ELBO may ask for no unit at all).
- :func:`truncated`: at most ``k`` active units of a row, those of largest
  ``|mu|`` (:func:`largest` of :func:`truncation_score`), the code of
  ``transform_n_nonzero_coefs``, and of the truncated-code term that the
  aggregate prior can train (``fit_n_nonzero_coefs``).

The ONNX export (``skvsc.onnx``) builds the same rules from graph operators.
"""

import torch


def largest(score, k):
    """Mask of the ``k`` units of each row with the highest ``score`` (ties
    broken by the lower unit index)."""
    if k >= score.shape[1]:
        return torch.ones_like(score, dtype=torch.bool)
    # A stable descending sort keeps the lower index first among equal scores.
    top = torch.sort(score, dim=1, descending=True, stable=True).indices[:, :k]
    return torch.zeros_like(score, dtype=torch.bool).scatter_(1, top, True)


def truncation_score(mu, active):
    """What a code truncated to ``k`` units ranks its units by: ``|mu|`` where the
    unit is active, -1 (below any active unit) elsewhere. The magnitude, not
    ``gamma``: an active unit's ``gamma`` of the aggregate prior sits just above
    1/2 and says little about what the unit carries (docs/results.md)."""
    return torch.where(active, mu.abs(), torch.full_like(mu, -1.0))


def floored(active, gamma):
    """``active`` (bool, ``(n, J)``) with, in each row where no unit is active,
    the unit of largest ``gamma`` switched on (the first of equal ones, as
    ``argmax`` and ONNX's ``ArgMax`` choose)."""
    empty = ~active.any(dim=1, keepdim=True)
    top = torch.zeros_like(active).scatter_(1, gamma.argmax(dim=1, keepdim=True), True)
    return active | (empty & top)


def truncated(active, mu, k):
    """``active`` cut to the (at most) ``k`` active units of each row with the
    largest ``|mu|``."""
    return active & largest(truncation_score(mu, active), k)
