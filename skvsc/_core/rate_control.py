"""The aggregate prior's rate controller: signed multipliers that hold each
unit's fraction of active samples at ``alpha``.

The aggregate term (:func:`~.penalties.aggregate_spike_kl`) pulls each
unit's activity rate toward ``alpha`` with a force that the likelihood
balances, so the rates settle above ``alpha``, the further the smaller
``alpha`` (docs/results.md, "Tightening alpha"). The controller adds
``sum_j lambda_j r_j`` to the training loss, with ``r_j`` the batch's hard
rate of unit j (the fraction of rows with ``gamma_j > 1/2``, straight-through
in the batch mean of ``gamma_j``, as in the aggregate term), and moves each
multiplier by one step of dual ascent per training step:

``lambda_j <- lambda_j + eta (r_j - alpha)``.

The multipliers are signed (not clamped at zero): a unit above ``alpha``
pays a growing fee, one below it a growing subsidy, so every rate is held
at ``alpha`` from both sides; clamped at zero, a controller only pushes
down, and left the code below ``alpha`` with dead units. The multipliers are
a buffer of the module: saved with the model (and in the guard's snapshots
of it) and carried over by a continued fit.
"""

import torch
from torch import nn


def dual_step(multiplier, rate, alpha, step_size):
    """``multiplier + step_size (rate - alpha)``: one signed dual-ascent step."""
    return multiplier + step_size * (rate - alpha)


class RateController(nn.Module):
    """Signed per-unit multipliers on the activity rates (see the module docstring).

    Parameters
    ----------
    n_components : int
        Number of latent units J.
    alpha : float
        The target rate of every unit.
    step_size : float
        ``eta`` of the dual-ascent step, > 0.
    """

    def __init__(self, n_components, alpha, step_size):
        super().__init__()
        self.alpha = float(alpha)
        self.step_size = float(step_size)
        self.register_buffer("multiplier", torch.zeros(n_components))

    def forward(self, soft, rate):
        """The penalty ``sum_j lambda_j r_j`` of the batch's hard rates ``rate``
        (``(J,)``), with the gradient of ``soft`` (the batch mean of ``gamma``).

        While gradients are enabled (a training step) the multipliers first take
        one step on these rates; the penalty uses the stepped values.
        """
        rate = rate.detach()
        if torch.is_grad_enabled():
            with torch.no_grad():
                stepped = dual_step(self.multiplier, rate, self.alpha, self.step_size)
                self.multiplier.copy_(stepped)
        # straight-through: the value of the hard rate, the gradient of the soft one
        return (self.multiplier * (rate + soft - soft.detach())).sum()
