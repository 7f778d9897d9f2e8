"""The model: networks, a latent family and a likelihood, composed into a VAE.

:class:`VAE` is the one torch module the estimators train and query; what
changes between the Gaussian VAE and Variational Sparse Coding is the latent
family (:mod:`.latents`), and what changes between data types is the
likelihood (:mod:`.likelihoods`). :class:`ModelConfig` names the parts and
:func:`build_vae` builds them in a fixed order (encoder, then decoder), so
that a seed gives the same weights.
"""

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from .distributed import batch_noise, row_mean
from .latents import LATENTS
from .likelihoods import LIKELIHOODS
from .networks import make_networks

#: Order of the statistics returned by ``objective`` (summed over the batch).
STAT_NAMES = ("reconstruction", "kl", "active_units")


@dataclass(frozen=True)
class ModelConfig:
    """The named parts of a model and their sizes.

    ``likelihood``, ``latent`` and ``network`` are keys of
    :data:`~.likelihoods.LIKELIHOODS`, :data:`~.latents.LATENTS` and
    :data:`~.networks.NETWORKS`; ``latent_params`` and ``network_params`` are
    the keyword arguments of the latent family and of the network family.
    """

    n_features: int
    n_components: int
    likelihood: str
    latent: str
    latent_params: dict = field(default_factory=dict)
    network: str = "mlp"
    network_params: dict = field(default_factory=dict)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        return cls(**values)


def build_vae(config, generator, shift=None, scale=None):
    """The :class:`VAE` of ``config`` with weights drawn from ``generator``.

    ``shift`` and ``scale`` (per feature) are passed to a likelihood that
    standardises the data.
    """
    latent = LATENTS[config.latent](config.n_components, **config.latent_params)
    encoder, decoder = make_networks(
        config.network,
        config.n_features,
        config.n_components,
        latent.n_heads,
        generator,
        **config.network_params,
    )
    likelihood_class = LIKELIHOODS[config.likelihood]
    if likelihood_class.standardizes:
        likelihood = likelihood_class(config.n_features, shift=shift, scale=scale)
    else:
        likelihood = likelihood_class(config.n_features)
    return VAE(encoder, decoder, latent, likelihood)


class VAE(nn.Module):
    """A variational auto-encoder made of named parts.

    Parameters
    ----------
    encoder, decoder : torch.nn.Module
        Networks following the contract of :mod:`.networks`.
    latent : torch.nn.Module
        A latent family (:mod:`.latents`): prior, posterior and code.
    likelihood : torch.nn.Module
        A likelihood (:mod:`.likelihoods`): p(x | z) and data preparation.
    """

    def __init__(self, encoder, decoder, latent, likelihood):
        super().__init__()
        # Registration order is parameter order, by which optimizer states are
        # indexed: the likelihood's parameters first, as in state format 1.
        self.likelihood = likelihood
        self.latent = latent
        self.encoder = encoder
        self.decoder = decoder

    @property
    def n_components(self):
        return self.latent.n_components

    @property
    def device(self):
        """The device of the model's parameters."""
        return next(self.parameters()).device

    # -- latent space -------------------------------------------------------
    def encode(self, x, fields=None):
        """The posterior q(z | x), a NamedTuple of the latent family.

        With ``fields`` (names of posterior fields), only those encoder heads
        are computed, in the input's dtype (the inference speed path); the
        other fields are None.
        """
        inputs = self.likelihood.encoder_input(x)
        names = self.latent.head_names
        if fields is None:
            heads = dict(zip(names, self.encoder(inputs)))
        else:
            which = [names.index(name) for name in fields]
            heads = dict(zip(fields, self.encoder.heads_only(inputs, which)))
        return self.latent.posterior(heads)

    def code(self, x):
        """The deterministic code of ``transform``."""
        return self.latent.code(self.encode(x, self.latent.code_fields))

    def posterior_mean(self, x):
        """``mu`` alone (the other heads are skipped)."""
        return self.encode(x, ("mu",)).mu

    def activity(self, x):
        """The activity probability ``gamma`` alone (spike-and-slab families)."""
        return self.encode(x, ("gamma",)).gamma

    def active(self, x):
        """Whether each unit is active on each row of ``x`` (bool, ``(n, J)``)."""
        return self.latent.active(self.encode(x, self.latent.active_fields))

    def draw_noise(self, shape, generator):
        """Noise of one reparameterised sample of the given shape."""
        return self.latent.draw_noise(shape, generator)

    def prior_sample(self, n_samples, generator):
        return self.latent.prior_sample(n_samples, generator)

    # -- data space ---------------------------------------------------------
    def decode_mean(self, z):
        """Mean of p(x | z) in the original data units."""
        return self.likelihood.mean(self.decoder(z))

    def log_likelihood(self, x, z):
        """``log p(x | z)`` per sample, in nats, in the original data units."""
        return self.likelihood.log_prob(x, self.decoder(z))

    # -- objectives ---------------------------------------------------------
    def objective(self, x, values, generator, unit_counts=None):
        """Training loss of a batch and its summed statistics (see STAT_NAMES).

        The loss is ``mean(-log p(x | z) + kl_weight * KL)`` plus the latent
        family's regularizer, with the KL the family trains
        (:class:`~.latents.TrainingTerms`: the ELBO's, except for the aggregate
        prior). ``unit_counts`` (a ``(J,)`` integer tensor), when given,
        receives the number of rows on which each unit is active.
        """
        posterior = self.encode(x)
        noise = batch_noise(self.latent.draw_noise, posterior.mu.shape, generator)
        terms = self.latent.training_terms(posterior, noise, values)
        if unit_counts is not None:
            unit_counts += terms.active.sum(dim=0)
        nll = -self.log_likelihood(x, terms.z)
        loss = row_mean(nll + values.kl_weight * terms.train_kl)
        if terms.penalty is not None:
            loss = loss + terms.penalty
        n_active = terms.active.sum().to(posterior.mu.dtype)
        stats = torch.stack([nll.sum(), terms.kl.sum(), n_active]).detach()
        return loss, stats

    def elbo(self, x, noises, values):
        """Per-sample ELBO, averaging ``log p(x | z)`` over the given noises.

        Each element of ``noises`` is one draw (as from ``draw_noise``); draws of
        shape ``(1, J)`` are shared by every row, which makes the result
        deterministic and independent of how rows are batched.
        """
        posterior = self.encode(x)
        log_lik = sum(
            self.log_likelihood(x, self.latent.rsample(posterior, noise, values))
            for noise in noises
        ) / len(noises)
        return log_lik - self.latent.kl(posterior, values)
