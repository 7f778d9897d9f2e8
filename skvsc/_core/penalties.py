"""Training penalties on the activity of the latent units: not part of the ELBO.

They regularise the training of spike-and-slab codes against dead units
(units that no sample ever activates); reported losses and scores are the
plain ELBO. Each returns one value per latent unit, shape ``(J,)``, from the
activity probabilities ``gamma`` of a mini-batch, shape ``(n, J)``.
"""

import torch

from .distributed import batch_mean, batch_rows
from .elbo import EPS

#: A spike-and-slab unit is active where its activity probability exceeds this
#: (the rule of ``transform``; :mod:`.latents` uses the same constant).
ACTIVE_PROBABILITY = 0.5


class _RateKL(torch.autograd.Function):
    """Per-unit ``KL(Bern(rate_j) || Bern(target_j))`` with its gradient sent to ``soft``."""

    @staticmethod
    def forward(ctx, soft, rate, target):
        ctx.save_for_backward(rate, target)
        return rate * (rate.log() - target.log()) + (1.0 - rate) * (
            torch.log1p(-rate) - torch.log1p(-target)
        )

    @staticmethod
    def backward(ctx, grad):
        rate, target = ctx.saved_tensors
        return grad * (torch.logit(rate) - torch.logit(target)), None, None


def rate_kl(soft, rate, target):
    """``KL(Bern(rate_j) || Bern(target_j))`` per unit, differentiated through ``soft``.

    ``rate`` and ``target`` (no gradient) are clamped to ``[EPS, 1 - EPS]``;
    the gradient is the KL's derivative in the rate,
    ``logit(rate_j) - logit(target_j)``, passed to ``soft`` (for ``rate =
    soft`` that is the plain gradient; for the hard rate of
    :func:`aggregate_spike_kl` it is the straight-through estimate). One fused
    autograd node: the unit-sized kernels of the penalties outnumber the
    matrix products of a training step on a GPU (docs/performance.md).
    """
    rate = rate.detach().clamp(EPS, 1.0 - EPS)
    target = torch.as_tensor(target, dtype=rate.dtype, device=rate.device)
    target = target.detach().clamp(EPS, 1.0 - EPS).expand_as(rate)
    return _RateKL.apply(soft, rate, target)


def _batch_rate(gamma, soft):
    """``mean_n gamma_nj`` clamped to ``[EPS, 1 - EPS]`` (its gradient zero where clamped)."""
    return (batch_mean(gamma) if soft is None else soft).clamp(EPS, 1.0 - EPS)


def usage_kl(gamma, alpha, soft=None):
    """Per-unit usage penalty: ``KL(Bernoulli(mean_n gamma_nj) || Bernoulli(alpha))``.

    It pulls the batch-average activity of every unit toward ``alpha``, which
    keeps units from dying. ``soft``, the batch mean ``mean_n gamma_nj`` when
    the caller has it, saves computing it again.
    """
    rate = _batch_rate(gamma, soft)
    return rate_kl(rate, rate, alpha)


def balance_kl(gamma, soft=None):
    """Per-unit balance penalty: ``KL(Bernoulli(mean_n gamma_nj) || Bernoulli(r))``.

    ``r = mean_nj gamma_nj`` is the batch's mean activity over all units, held
    fixed (no gradient). Unlike :func:`usage_kl` it does not pull the total
    activity toward ``J * alpha`` (the ELBO decides how many units a sample
    uses); it only moves activity from over-used units to under-used ones.
    ``soft`` as for :func:`usage_kl`.
    """
    soft = batch_mean(gamma) if soft is None else soft
    rate = _batch_rate(gamma, soft)
    return rate_kl(rate, rate, soft.mean())


def aggregate_spike_kl(gamma, alpha, spikes=None, soft=None, rate=None):
    """Aggregate activity prior: ``KL(Bernoulli(r_j) || Bernoulli(alpha))`` per unit.

    ``r_j`` is the fraction of the batch on which unit j is active, counted
    as ``transform`` counts (``mean_n [gamma_nj > 1/2]``), with the gradient
    of ``mean_n gamma_nj`` (straight through; the plain composition is the
    oracle of the tests, ``tests/core/oracles.py``). Its value is clamped to
    ``[1 / (2 n), 1 - 1 / (2 n)]`` for a batch of ``n`` rows and its gradient
    passed through the clamp. A batch cannot measure a rate below one row in
    ``n``; and a unit that is off on every row of the batch (``r_j = 0``) must
    still be pushed back on, which a plain clamp (gradient zero outside its
    range) would not do: with it, units that died early in training never
    came back, and at ``alpha = 0.01`` most codes on the digits were empty.
    The fixed prior's per-sample spike
    term splits exactly as ``mean_n KL(Bern(gamma_nj) || Bern(alpha)) = I_j +
    KL(Bern(mean_n gamma_nj) || Bern(alpha))``, where ``I_j`` is the
    information the spike of unit j carries about the sample (the "fee" of
    every activation). This term keeps the second part only, with the rate of
    the exact-sparse code: ``alpha`` becomes the target fraction of active
    units instead of a per-activation fee. ``spikes``, ``soft`` (the batch
    mean of ``gamma``) and ``rate`` (the batch mean of ``spikes``, unclamped)
    save computing them again. Returns shape ``(J,)``.
    """
    if spikes is None:
        spikes = (gamma > ACTIVE_PROBABILITY).to(gamma.dtype)
    floor = 0.5 / batch_rows(gamma)
    rate = (batch_mean(spikes) if rate is None else rate).clamp(floor, 1.0 - floor)
    return rate_kl(batch_mean(gamma) if soft is None else soft, rate, alpha)


#: The forms of the usage penalty, by the name the estimators use
#: (``usage=...``); each maps ``(gamma, alpha, soft=None)`` to per-unit values.
USAGE_PENALTIES = {
    "balance": lambda gamma, alpha, soft=None: balance_kl(gamma, soft),
    "prior": usage_kl,
}
