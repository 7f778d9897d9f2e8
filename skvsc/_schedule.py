"""Training schedules: sharpness of the relaxed step, KL warm-up, spike pre-training."""

from dataclasses import dataclass

from ._models import Step


def _ramp(step, start, length):
    """0 before ``start``, then linear up to 1 over ``length`` steps."""
    if length <= 0:
        return 1.0 if step >= start else 0.0
    return min(1.0, max(0.0, (step - start + 1) / length))


@dataclass(frozen=True)
class Schedule:
    """Maps a training step to the :class:`Step` values in force.

    Parameters
    ----------
    total_steps : int
        Steps of the whole scheduled training (``max_iter`` epochs).
    sharpness : (float, float)
        ``(c_start, c_end)``; c rises linearly and reaches ``c_end`` at the last
        scheduled step (method.md decision), then stays there.
    kl_warmup : float
        Fraction of ``total_steps`` over which the KL weight rises from 0 to 1.
    spike_pretrain : float
        Fraction of ``total_steps`` during which the slab is fixed to N(0, 1);
        lambda then rises linearly to 1 over the same number of steps.
    usage_weight : float
        Weight of the per-unit usage penalty once the KL warm-up is over; it
        rises with the KL weight.
    revive : float
        Fraction of ``total_steps`` during which units that were never active
        in an epoch are re-seeded at its end (dead-unit revival; 0: never).
    """

    total_steps: int
    sharpness: tuple = (50.0, 200.0)
    kl_warmup: float = 0.0
    spike_pretrain: float = 0.0
    usage_weight: float = 0.0
    revive: float = 0.0

    def at(self, step):
        c_start, c_end = self.sharpness
        frac = min(1.0, step / max(1, self.total_steps - 1))
        pre = round(self.spike_pretrain * self.total_steps)
        kl_weight = _ramp(step, 0, round(self.kl_warmup * self.total_steps))
        return Step(
            sharpness=c_start + (c_end - c_start) * frac,
            kl_weight=kl_weight,
            slab_weight=_ramp(step, pre, pre) if pre else 1.0,
            # The usage penalty warms up with the KL: units first learn to
            # carry information, then activity is pruned and rebalanced.
            usage_weight=self.usage_weight * kl_weight,
        )

    def reviving(self, step):
        """Whether dead units are re-seeded at the end of an epoch starting at ``step``."""
        return step < self.revive * self.total_steps

    def final(self):
        """The step values used for evaluation: the ELBO at ``c_end``."""
        return Step(sharpness=self.sharpness[1])

    def warming_up(self, step):
        """Whether the objective still differs from its final form."""
        at = self.at(step)
        return at.kl_weight < 1.0 or at.slab_weight < 1.0
