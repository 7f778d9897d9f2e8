"""Latent families: the prior p(z), the posterior q(z | x) and the code.

A latent family is a ``torch.nn.Module`` (it may own parameters, e.g. a
learned prior) with this protocol:

- ``Posterior``: a NamedTuple class; its fields, in order, are the encoder
  heads (``head_names``, ``n_heads``), each a tensor of shape ``(n, J)``;
- ``posterior(heads)``: the NamedTuple from the raw head outputs (a dict by
  field name); fields whose head was not computed are None;
- ``draw_noise(shape, generator)``: the noise of one reparameterised sample;
- ``rsample(posterior, noise, values)``: a reparameterised sample of z;
- ``kl(posterior, values)``: ``KL(q(z | x) || p(z))`` per sample, shape ``(n,)``;
- ``regularizer(posterior, values)``: a weighted batch-level training
  penalty (a scalar tensor, not part of the ELBO) or None;
- ``code(posterior)``: the deterministic code of ``transform``, from the
  fields in ``code_fields`` only (inference computes just those heads);
- ``active(posterior)``: whether each unit is active on each sample, a bool
  tensor ``(n, J)`` from the fields in ``active_fields``; the one definition
  of an active unit (training statistics, diagnostics and revival use it);
- ``prior_sample(n_samples, generator)``: codes drawn from the prior.

``values`` is the :class:`~.schedule.StepValues` in force (sharpness, warm-up
weights). :data:`LATENTS` maps names to the classes; adding a family is one
class, one entry there and the estimator parameter that names it.
"""

from typing import NamedTuple

import torch
from torch import nn

from . import elbo
from .penalties import USAGE_PENALTIES

# Log-variances are clamped to keep exp() finite.
_LOGVAR_RANGE = (-14.0, 8.0)
#: A spike-and-slab unit is active where its activity probability exceeds this.
ACTIVE_PROBABILITY = 0.5


class NormalPosterior(NamedTuple):
    """q(z | x) = N(mu, exp(logvar))."""

    mu: torch.Tensor
    logvar: torch.Tensor


class SpikeSlabPosterior(NamedTuple):
    """q(z_j | x) = gamma_j N(mu_j, exp(logvar_j)) + (1 - gamma_j) delta(z_j)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    gamma: torch.Tensor


def _randn(shape, generator):
    # Noise lives where its generator lives (CPU draws are the same everywhere).
    return torch.randn(shape, generator=generator, device=generator.device)


def _rand(shape, generator):
    return torch.rand(shape, generator=generator, device=generator.device)


def _map(heads, name, fn):
    value = heads.get(name)
    return None if value is None else fn(value)


class Latent(nn.Module):
    """Base of the latent families (see the module docstring for the protocol)."""

    Posterior = NormalPosterior
    code_fields = ("mu",)
    active_fields = ("mu",)

    def __init__(self, n_components):
        super().__init__()
        self.n_components = n_components

    @property
    def head_names(self):
        return self.Posterior._fields

    @property
    def n_heads(self):
        return len(self.head_names)

    def regularizer(self, posterior, values):
        return None


class NormalLatent(Latent):
    """Gaussian VAE: prior N(0, I), posterior N(mu, sigma^2), code ``mu``."""

    def posterior(self, heads):
        logvar = _map(heads, "logvar", lambda v: v.clamp(*_LOGVAR_RANGE))
        return NormalPosterior(heads.get("mu"), logvar)

    def draw_noise(self, shape, generator):
        return (_randn(shape, generator),)

    def rsample(self, posterior, noise, values):
        return elbo.gaussian_sample(posterior.mu, posterior.logvar, noise[0])

    def kl(self, posterior, values):
        return elbo.gaussian_kl(posterior.mu, posterior.logvar).sum(dim=1)

    def code(self, posterior):
        """The posterior mean ``mu`` (a dense code)."""
        return posterior.mu

    def active(self, posterior):
        """Every unit of a dense code is active."""
        return torch.ones_like(posterior.mu, dtype=torch.bool)

    def prior_sample(self, n_samples, generator):
        return _randn((n_samples, self.n_components), generator)


class SpikeSlabLatent(Latent):
    """Variational Sparse Coding: spike-and-slab prior and posterior.

    Prior ``alpha N(0, 1) + (1 - alpha) delta(0)`` per unit; the posterior's
    activity probability is ``gamma = sigmoid(v)`` of the third head.

    Parameters
    ----------
    n_components : int
        Number of latent units J.
    alpha : float
        Prior probability that a unit is active (small = sparse).
    usage : {"balance", "prior"}
        Form of the per-unit usage penalty (see :mod:`.penalties`), weighted
        by ``values.usage_weight``.
    """

    Posterior = SpikeSlabPosterior
    code_fields = ("mu", "gamma")
    active_fields = ("gamma",)

    def __init__(self, n_components, *, alpha, usage):
        super().__init__(n_components)
        if usage not in USAGE_PENALTIES:
            raise ValueError(f"usage must be one of {sorted(USAGE_PENALTIES)}, got {usage!r}.")
        self.alpha = float(alpha)
        self.usage = usage

    def posterior(self, heads):
        return SpikeSlabPosterior(
            heads.get("mu"),
            _map(heads, "logvar", lambda v: v.clamp(*_LOGVAR_RANGE)),
            _map(heads, "gamma", torch.sigmoid),
        )

    def draw_noise(self, shape, generator):
        return _randn(shape, generator), _rand(shape, generator)

    def rsample(self, posterior, noise, values):
        """``T(eta - 1 + gamma) * (mean + sigma * eps)`` with the slab of the
        spike pre-training (``values.slab_weight``) and sharpness ``values.sharpness``."""
        eps, eta = noise
        mean, logvar = elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        slab = elbo.gaussian_sample(mean, logvar, eps)
        return elbo.spike_slab_sample(slab, posterior.gamma, eta, values.sharpness)

    def kl(self, posterior, values):
        mean, logvar = elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        return elbo.spike_slab_kl(mean, logvar, posterior.gamma, self.alpha).sum(dim=1)

    def regularizer(self, posterior, values):
        """``usage_weight * sum_j penalty_j`` of the chosen usage form (None at weight 0)."""
        if values.usage_weight == 0.0:
            return None
        penalty = USAGE_PENALTIES[self.usage](posterior.gamma, self.alpha)
        return values.usage_weight * penalty.sum()

    def code(self, posterior):
        """Exactly sparse code: ``mu`` where the unit is active, else 0."""
        mu = posterior.mu
        return torch.where(self.active(posterior), mu, torch.zeros_like(mu))

    def active(self, posterior):
        return posterior.gamma > ACTIVE_PROBABILITY

    def prior_sample(self, n_samples, generator):
        slab = _randn((n_samples, self.n_components), generator)
        u = _rand(slab.shape, generator)
        return torch.where(u < self.alpha, slab, torch.zeros_like(slab))


#: Latent families by name (the estimators choose one).
LATENTS = {"normal": NormalLatent, "spike_slab": SpikeSlabLatent}
