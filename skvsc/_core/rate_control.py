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

With ``sides="up"`` the multipliers are clamped at zero from above: a unit
below ``alpha`` gets the growing subsidy, a unit above it pays nothing. The
controller then keeps under-used units alive without pulling the busy ones
down to ``alpha``, so the rates stay where the aggregate term leaves them,
at or above ``alpha`` (the tied gate leaves units dead at small ``alpha``
without it; ``docs/results.md``).
"""

import torch
from torch import nn

#: Which rates the controller moves: ``"both"``, every unit's to ``alpha``
#: (signed multipliers); ``"up"``, only those below ``alpha`` (multipliers <= 0).
SIDES = ("both", "up")


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
    sides : {"both", "up"}, default="both"
        ``"both"``: signed multipliers; ``"up"``: multipliers clamped at
        <= 0, subsidies only (see the module docstring).
    """

    def __init__(self, n_components, alpha, step_size, sides="both"):
        super().__init__()
        if sides not in SIDES:
            raise ValueError(f"sides must be one of {list(SIDES)}, got {sides!r}.")
        self.alpha = float(alpha)
        self.step_size = float(step_size)
        self.sides = sides
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
                if self.sides == "up":
                    stepped = stepped.clamp(max=0.0)
                self.multiplier.copy_(stepped)
        # straight-through: the value of the hard rate, the gradient of the soft one
        return (self.multiplier * (rate + soft - soft.detach())).sum()
