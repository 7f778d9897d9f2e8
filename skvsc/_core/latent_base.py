"""The latent families' protocol: the base class :class:`Latent`, the
posteriors' and the terms' named tuples, and the noise helpers.

The protocol itself is described in :mod:`.latents`, which holds the families
and their registry.
"""

from typing import NamedTuple

import torch
from torch import nn


class TrainingTerms(NamedTuple):
    """The latent family's part of one training step.

    ``z``: the reparameterised sample ``(n, J)``; ``kl``: ``KL(q(z | x) || p(z))``
    per sample, as reported (no gradient needed); ``train_kl``: the per-sample KL
    that the training loss weights by the KL warm-up (``kl`` itself for a family
    that trains the ELBO); ``penalty``: :meth:`Latent.regularizer`'s value or
    None; ``active``: the bool ``(n, J)`` of :meth:`Latent.active`;
    ``truncated``: ``z`` cut to fewer units per row, whose reconstruction the
    model adds to the loss (:class:`AggregateSpikeSlabLatent`'s
    ``fit_n_nonzero_coefs``), or None.
    """

    z: torch.Tensor
    kl: torch.Tensor
    train_kl: torch.Tensor
    penalty: torch.Tensor | None
    active: torch.Tensor
    truncated: torch.Tensor | None = None


class ElboTerms(NamedTuple):
    """The latent family's part of the ELBO of a batch: ``z``, one sample
    ``(n, J)`` per noise draw, and ``kl``, ``KL(q(z | x) || p(z))`` per sample."""

    z: list
    kl: torch.Tensor


class NormalPosterior(NamedTuple):
    """q(z | x) = N(mu, exp(logvar))."""

    mu: torch.Tensor
    logvar: torch.Tensor


class SpikeSlabPosterior(NamedTuple):
    """q(z_j | x) = gamma_j N(mu_j, exp(logvar_j)) + (1 - gamma_j) delta(z_j)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    gamma: torch.Tensor


def draw_normal(shape, generator):
    """Standard normal noise of ``shape``, drawn from ``generator`` on its device."""
    # Noise lives where its generator lives (CPU draws are the same everywhere).
    return torch.randn(shape, generator=generator, device=generator.device)


def draw_uniform(shape, generator):
    """Uniform noise on [0, 1) of ``shape``, drawn from ``generator`` on its device."""
    return torch.rand(shape, generator=generator, device=generator.device)


def head_map(heads, name, fn):
    """``fn`` of the head ``name`` of the dict ``heads``, or None where that head
    was not computed (inference computes only the heads it needs)."""
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
        """The encoder heads: those the posterior's fields are computed from
        (:meth:`heads_for`; every field, unless one derives from another)."""
        return tuple(dict.fromkeys(self.heads_for(self.Posterior._fields)))

    @property
    def n_heads(self):
        return len(self.head_names)

    def posterior(self, heads):
        raise NotImplementedError

    def heads_for(self, fields):
        """The encoder heads that the posterior fields ``fields`` are computed
        from (the fields themselves, unless a field derives from another)."""
        return tuple(fields)

    def unit_parameters(self):
        """The family's own per-unit parameters, each of shape ``(J,)`` (none here)."""
        return []

    def draw_noise(self, shape, generator):
        raise NotImplementedError

    def rsample(self, posterior, noise, values):
        raise NotImplementedError

    def kl(self, posterior, values):
        raise NotImplementedError

    def code(self, posterior):
        raise NotImplementedError

    def active(self, posterior):
        raise NotImplementedError

    def prior_sample(self, n_samples, generator):
        raise NotImplementedError

    def regularizer(self, posterior, values):
        return None

    def elbo_terms(self, posterior, noises, values):
        """:class:`ElboTerms`: a sample for each of ``noises`` and the KL."""
        samples = [self.rsample(posterior, noise, values) for noise in noises]
        return ElboTerms(samples, self.kl(posterior, values))

    def training_terms(self, posterior, noise, values):
        """:class:`TrainingTerms` of the ELBO: the sample, the KL (trained as
        reported) and the regularizer."""
        kl = self.kl(posterior, values)
        return TrainingTerms(
            self.rsample(posterior, noise, values),
            kl,
            kl,
            self.regularizer(posterior, values),
            self.active(posterior),
        )
