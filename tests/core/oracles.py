"""Plain compositions that the core's hand-written backward passes replace.

The core computes these in fused autograd Functions (``elbo._GatedSlab``,
``penalties._RateKL``) with their gradients written out. Here they are
written with autograd through the plain functions: the tests check the
fused versions against them, values and gradients.
"""

from skvsc._core import elbo


def gated_slab_terms(mu, logvar, gamma, eps, spikes, gamma_weighted=True):
    """:func:`skvsc._core.elbo.gated_slab_terms` as the composition it fuses:
    ``(z, sum_j gamma_j KL_j, sum_j s_j KL_j)``, or ``sum_j KL_j`` in the middle
    with ``gamma_weighted=False``."""
    z = elbo.straight_through_gate(gamma, spikes) * elbo.gaussian_sample(mu, logvar, eps)
    kl = elbo.gaussian_kl(mu, logvar)
    weighted = gamma * kl if gamma_weighted else kl
    return z, weighted.sum(dim=1), (spikes * kl).sum(dim=1).detach()


def aggregate_activity(gamma):
    """Fraction of a batch on which each unit is active, counted as ``transform``
    counts (``mean_n [gamma_nj > 1/2]``), with the gradient of ``mean_n gamma_nj``
    (straight through). Shape ``(J,)``."""
    soft = gamma.mean(dim=0)
    hard = (gamma > 0.5).to(gamma.dtype).mean(dim=0)
    return soft + (hard - soft).detach()


def usage_penalty(name, gamma, alpha):
    """The per-unit penalties of :mod:`skvsc._core.penalties` (``"prior"``,
    ``"balance"``, ``"aggregate"``) through the plain Bernoulli KL."""
    soft = gamma.mean(dim=0)
    if name == "prior":
        return elbo.bernoulli_kl(soft, alpha)
    if name == "balance":
        return elbo.bernoulli_kl(soft, gamma.mean().detach())
    rate = aggregate_activity(gamma)
    floor = 0.5 / gamma.shape[0]
    rate = rate + (rate.clamp(floor, 1 - floor) - rate).detach()
    return elbo.bernoulli_kl(rate, alpha)
