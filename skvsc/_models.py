"""The two generative models as torch modules: Gaussian VAE and spike-and-slab VSC.

A model owns its networks, its prior and its likelihood, and exposes:

- ``encode(x)``: posterior parameters (a tuple of tensors);
- ``code(x)``: the deterministic code returned by ``transform``;
- ``objective(x, step, generator)``: the training loss of one batch and the
  statistics accumulated for the epoch (no host synchronisation);
- ``elbo(x, noise)``: per-sample ELBO with given noise (used for scoring);
- ``decode_mean(z)`` and ``prior_sample(n, generator)``.
"""

from dataclasses import dataclass

import torch
from torch import nn

from . import _elbo
from ._nn import Decoder, Encoder

# Log-variances are clamped to keep exp() finite and the likelihood bounded.
_ENCODER_LOGVAR_RANGE = (-14.0, 8.0)
_DECODER_LOGVAR_RANGE = (-8.0, 8.0)

#: Order of the statistics returned by ``objective`` (summed over the batch).
STAT_NAMES = ("reconstruction", "kl", "active_units")


@dataclass(frozen=True)
class Step:
    """Schedule values in force at one training step.

    sharpness: c of the relaxed step T(y) = sigmoid(c y).
    kl_weight: weight of the KL term (KL warm-up), 1 is the ELBO.
    slab_weight: lambda of the spike pre-training, 1 is the ELBO.
    usage_weight: weight of the per-unit usage penalty (0: off).
    """

    sharpness: float = 200.0
    kl_weight: float = 1.0
    slab_weight: float = 1.0
    usage_weight: float = 0.0


class GaussianVAE(nn.Module):
    """Gaussian VAE: prior N(0, I), posterior N(mu, sigma^2), MLP decoder.

    Parameters
    ----------
    n_features, n_components : int
        Data and latent dimensions.
    hidden_layer_sizes : tuple of int
        Encoder hidden sizes; the decoder uses them reversed.
    likelihood : {"bernoulli", "gaussian"}
        Decoder likelihood.
    generator : torch.Generator
        Source of the initial weights.
    shift, scale : array-like of shape (n_features,), optional
        Gaussian likelihood only: the data are modelled as
        ``(x - shift) / scale``; the ELBO adds ``-sum(log scale)`` so that it
        stays a bound on ``log p(x)`` in the original units.
    """

    n_heads = 2

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes,
        likelihood,
        generator,
        shift=None,
        scale=None,
    ):
        super().__init__()
        self.n_components = n_components
        self.likelihood = likelihood
        self.encoder = Encoder(
            n_features, hidden_layer_sizes, n_components, self.n_heads, generator
        )
        self.decoder = Decoder(n_components, hidden_layer_sizes, n_features, generator)
        if likelihood == "gaussian":
            shift = torch.zeros(n_features) if shift is None else torch.as_tensor(shift)
            scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale)
            self.register_buffer("shift", shift.float().clone())
            self.register_buffer("scale", scale.float().clone())
            self.decoder_logvar = nn.Parameter(torch.zeros(n_features))

    # -- data space ---------------------------------------------------------
    def _standardize(self, x):
        if self.likelihood == "gaussian":
            return (x - self.shift) / self.scale
        return x

    def decode_mean(self, z):
        """Mean of p(x | z) in the original data units."""
        out = self.decoder(z)
        if self.likelihood == "gaussian":
            return out * self.scale + self.shift
        return torch.sigmoid(out)

    def log_likelihood(self, x, z):
        """``log p(x | z)`` per sample, in nats, in the original data units."""
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            return _elbo.bernoulli_log_likelihood(x, out)
        logvar = self.decoder_logvar.clamp(*_DECODER_LOGVAR_RANGE)
        log_lik = _elbo.gaussian_log_likelihood(self._standardize(x), out, logvar)
        return log_lik - self.scale.log().sum()

    # -- latent space -------------------------------------------------------
    def encode(self, x):
        """Posterior parameters ``(mu, logvar)``."""
        mu, logvar, *rest = self.encoder(self._standardize(x))
        return (mu, logvar.clamp(*_ENCODER_LOGVAR_RANGE), *rest)

    def code(self, x):
        """Deterministic code: the posterior mean."""
        return self.posterior_mean(x)

    def posterior_mean(self, x):
        """``mu`` alone (skips the log-variance head)."""
        return self.encoder.heads_only(self._standardize(x), (0,))[0]

    def draw_noise(self, shape, generator):
        """Standard noise for one reparameterised sample of the given shape."""
        return (self._randn(shape, generator),)

    def latent_sample(self, posterior, noise, step):
        mu, logvar = posterior
        return _elbo.gaussian_sample(mu, logvar, noise[0])

    def kl(self, posterior, step):
        """KL(q(z | x) || p(z)) per sample."""
        mu, logvar = posterior
        return _elbo.gaussian_kl(mu, logvar).sum(dim=1)

    def regularizer(self, posterior, step):
        """Extra training penalty that is not part of the ELBO (none here)."""
        return None

    def active_units(self, posterior):
        """Active units per sample (all of them for the dense VAE code)."""
        return torch.full_like(posterior[0][:, 0], float(self.n_components))

    def prior_sample(self, n_samples, generator):
        return self._randn((n_samples, self.n_components), generator)

    #: Per-unit count of active training samples, accumulated by ``objective``
    #: when the training loop sets it to a tensor (dead-unit revival), else None.
    unit_counts = None

    def count_active(self, posterior):
        """Add this batch's per-unit active counts to ``unit_counts`` (VSC only)."""

    # -- objectives ---------------------------------------------------------
    def objective(self, x, step, generator):
        """Training loss of a batch and its summed statistics (see STAT_NAMES)."""
        posterior = self.encode(x)
        self.count_active(posterior)
        noise = self.draw_noise(posterior[0].shape, generator)
        z = self.latent_sample(posterior, noise, step)
        nll = -self.log_likelihood(x, z)
        kl = self.kl(posterior, step)
        loss = (nll + step.kl_weight * kl).mean()
        penalty = self.regularizer(posterior, step)
        if penalty is not None:
            loss = loss + step.usage_weight * penalty
        stats = torch.stack([nll.sum(), kl.sum(), self.active_units(posterior).sum()]).detach()
        return loss, stats

    def elbo(self, x, noises, step):
        """Per-sample ELBO, averaging ``log p(x | z)`` over the given noises.

        Each element of ``noises`` is one draw (as from ``draw_noise``); draws of
        shape ``(1, J)`` are shared by every row, which makes the result
        deterministic and independent of how rows are batched.
        """
        posterior = self.encode(x)
        log_lik = sum(
            self.log_likelihood(x, self.latent_sample(posterior, noise, step)) for noise in noises
        ) / len(noises)
        return log_lik - self.kl(posterior, step)

    @staticmethod
    def _randn(shape, generator):
        # Noise lives where its generator lives (CPU draws are the same everywhere).
        return torch.randn(shape, generator=generator, device=generator.device)

    @staticmethod
    def _rand(shape, generator):
        return torch.rand(shape, generator=generator, device=generator.device)


class SpikeSlabVAE(GaussianVAE):
    """Variational Sparse Coding model (spike-and-slab prior and posterior).

    Extra parameter
    ---------------
    alpha : float
        Prior probability that a latent unit is active (small = sparse).
    usage : {"prior", "balance"}
        Form of the per-unit usage penalty (see ``regularizer``).
    """

    n_heads = 3

    def __init__(self, *args, alpha, usage="prior", **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha = float(alpha)
        self.usage = usage

    def encode(self, x):
        """Posterior parameters ``(mu, logvar, gamma)``; gamma = sigmoid(v)."""
        mu, logvar, gamma_logit = super().encode(x)
        return mu, logvar, torch.sigmoid(gamma_logit)

    def code(self, x):
        """Exactly sparse code: ``mu`` where ``gamma > 0.5``, else 0."""
        mu, gamma_logit = self.encoder.heads_only(self._standardize(x), (0, 2))
        return torch.where(torch.sigmoid(gamma_logit) > 0.5, mu, torch.zeros_like(mu))

    def activity(self, x):
        """``gamma`` alone (skips the other heads)."""
        return torch.sigmoid(self.encoder.heads_only(self._standardize(x), (2,))[0])

    def draw_noise(self, shape, generator):
        return self._randn(shape, generator), self._rand(shape, generator)

    def latent_sample(self, posterior, noise, step):
        mu, logvar, gamma = posterior
        eps, eta = noise
        mean, logvar = _elbo.warmup_slab(mu, logvar, step.slab_weight)
        slab = _elbo.gaussian_sample(mean, logvar, eps)
        return _elbo.spike_slab_sample(slab, gamma, eta, step.sharpness)

    def kl(self, posterior, step):
        mu, logvar, gamma = posterior
        mean, logvar = _elbo.warmup_slab(mu, logvar, step.slab_weight)
        return _elbo.spike_slab_kl(mean, logvar, gamma, self.alpha).sum(dim=1)

    def regularizer(self, posterior, step):
        """``sum_j balance_kl_j``, or ``sum_j usage_kl_j`` with ``usage="prior"``."""
        if step.usage_weight == 0.0:
            return None
        if self.usage == "balance":
            return _elbo.balance_kl(posterior[2]).sum()
        return _elbo.usage_kl(posterior[2], self.alpha).sum()

    def active_units(self, posterior):
        return (posterior[2] > 0.5).sum(dim=1).to(posterior[0].dtype)

    def count_active(self, posterior):
        if self.unit_counts is not None:
            self.unit_counts += (posterior[2] > 0.5).sum(dim=0)

    def prior_sample(self, n_samples, generator):
        slab = super().prior_sample(n_samples, generator)
        u = self._rand(slab.shape, generator)
        return torch.where(u < self.alpha, slab, torch.zeros_like(slab))
