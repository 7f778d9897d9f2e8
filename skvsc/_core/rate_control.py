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

With ``floor = f < 1`` (``sides="up"`` only) the subsidies' target is
``f alpha`` instead of ``alpha``: ``lambda_j <- min(0, lambda_j + eta (r_j -
f alpha))``, so only the units far below ``alpha`` (nearly dead) are pushed
up, and a unit's subsidy ends as soon as its rate passes ``f alpha``.

With ``mean=True`` one more, signed multiplier ``mu`` holds the mean rate
over units at ``alpha``: the penalty adds ``mu sum_j r_j`` (each unit feels
``mu``, as it would its own multiplier) and every step moves
``mu <- mu + eta (mean_j r_j - alpha)``. It holds the code's number of
non-zeros at ``alpha J`` without pulling every unit to the same rate (the
per-unit signed multipliers do), and leaves the units' shares to the
likelihood and the aggregate term.
"""

import torch
from torch import nn

#: Which rates the controller moves: ``"both"``, every unit's to ``alpha``
#: (signed multipliers); ``"up"``, only those below ``alpha`` (multipliers <= 0).
SIDES = ("both", "up")


def dual_step(multiplier, rate, alpha, step_size):
    """``multiplier + step_size (rate - alpha)``: one signed dual-ascent step."""
    return multiplier + step_size * (rate - alpha)


def subsidy_step(multiplier, rate, target, step_size):
    """``min(0, multiplier + step_size (rate - target))``: one step of the
    subsidies, which only push the rates below ``target`` up."""
    return dual_step(multiplier, rate, target, step_size).clamp(max=0.0)


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
    floor : float, default=1.0
        With ``sides="up"``, the subsidies' target as a fraction of ``alpha``,
        in (0, 1]: only units below ``floor * alpha`` are pushed up. Must be 1
        with ``sides="both"``.
    mean : bool, default=False
        Add one signed multiplier ``mean_multiplier`` that holds the mean rate
        over units at ``alpha`` (see the module docstring).
    """

    def __init__(self, n_components, alpha, step_size, sides="both", floor=1.0, mean=False):
        super().__init__()
        if sides not in SIDES:
            raise ValueError(f"sides must be one of {list(SIDES)}, got {sides!r}.")
        floor = float(floor)
        if not 0 < floor <= 1:
            raise ValueError(f"floor must be in (0, 1], got {floor!r}.")
        if floor != 1 and sides != "up":
            raise ValueError(f"floor={floor!r} needs sides='up' (the subsidies' target).")
        self.alpha = float(alpha)
        self.step_size = float(step_size)
        self.sides = sides
        self.floor = floor
        self.mean = bool(mean)
        self.register_buffer("multiplier", torch.zeros(n_components))
        if self.mean:
            # only when on, so that the state of a model without it is unchanged
            self.register_buffer("mean_multiplier", torch.zeros(()))

    def forward(self, soft, rate):
        """The penalty ``sum_j lambda_j r_j`` of the batch's hard rates ``rate``
        (``(J,)``), with the gradient of ``soft`` (the batch mean of ``gamma``).

        While gradients are enabled (a training step) the multipliers first take
        one step on these rates; the penalty uses the stepped values. With
        ``mean``, the penalty adds ``mean_multiplier * sum_j r_j``.
        """
        rate = rate.detach()
        if torch.is_grad_enabled():
            with torch.no_grad():
                if self.sides == "up":
                    target = self.floor * self.alpha
                    stepped = subsidy_step(self.multiplier, rate, target, self.step_size)
                else:
                    stepped = dual_step(self.multiplier, rate, self.alpha, self.step_size)
                self.multiplier.copy_(stepped)
                if self.mean:
                    self.mean_multiplier.copy_(
                        dual_step(self.mean_multiplier, rate.mean(), self.alpha, self.step_size)
                    )
        # straight-through: the value of the hard rate, the gradient of the soft one
        multiplier = self.multiplier + self.mean_multiplier if self.mean else self.multiplier
        return (multiplier * (rate + soft - soft.detach())).sum()
