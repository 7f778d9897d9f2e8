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
from .networks import NETWORKS

#: Order of the statistics returned by ``objective`` (summed over the batch).
STAT_NAMES = ("reconstruction", "kl", "active_units")

#: Share of the observed entries of each training batch that a model of data with
#: missing values hides from its encoder (they stay in the likelihood): the code
#: must then predict entries its encoder did not see, so that rows with missing
#: entries get codes like complete rows (see ``docs/tables.md``).
HIDDEN_FRACTION = 0.2

#: Noise draws that score data (:func:`score_noises`), and their seed.
N_SCORE_DRAWS = 8
SCORE_SEED = 0


@dataclass(frozen=True)
class ModelConfig:
    """The named parts of a model and their sizes.

    ``likelihood``, ``latent`` and ``network`` are keys of
    :data:`~.likelihoods.LIKELIHOODS`, :data:`~.latents.LATENTS` and
    :data:`~.networks.NETWORKS`; ``latent_params`` and ``network_params`` are
    the keyword arguments of the latent family and of the network family.
    ``missing`` is a model of data with missing values (NaN): its encoder
    also reads the mask of the observed entries, and its likelihood leaves
    the missing entries out (:class:`VAE`). It is stored only when true, so
    that a model of complete data saves exactly as before the field existed
    (and configs saved without it load as ``missing=False``).
    """

    n_features: int
    n_components: int
    likelihood: str
    latent: str
    latent_params: dict = field(default_factory=dict)
    network: str = "mlp"
    network_params: dict = field(default_factory=dict)
    missing: bool = False

    def to_dict(self):
        values = dataclasses.asdict(self)
        if not values["missing"]:
            del values["missing"]
        return values

    @classmethod
    def from_dict(cls, values):
        return cls(**values)

    def network_family(self):
        """The :class:`~.networks.NetworkFamily` of ``network`` with its options."""
        return NETWORKS[self.network](**self.network_params)

    @property
    def n_heads(self):
        """Encoder heads: those the latent family computes (its ``n_heads``)."""
        return LATENTS[self.latent](self.n_components, **self.latent_params).n_heads

    def n_parameters(self):
        """Parameters of the networks (the network family counts them)."""
        return self.network_family().n_parameters(
            self.n_features, self.n_components, self.n_heads, missing=self.missing
        )

    def matmul_flops(self, batch_size, *, backward=True):
        """Matrix-product FLOPs of one batch through the networks (the thread rule's work)."""
        family = self.network_family()
        sizes = (self.n_features, self.n_components, self.n_heads)
        return family.matmul_flops(*sizes, batch_size, backward=backward, missing=self.missing)


def build_vae(config, generator, shift=None, scale=None):
    """The :class:`VAE` of ``config`` with weights drawn from ``generator``.

    ``shift`` and ``scale`` (per feature) are passed to a likelihood that
    standardises the data.
    """
    latent = LATENTS[config.latent](config.n_components, **config.latent_params)
    # Initial weights are drawn for a head per posterior field, so that the
    # generator's stream (a fit at a given random_state) does not depend on the
    # heads the family computes; the rest (the tied gate's gamma) are dropped.
    drawn = len(latent.Posterior._fields)
    encoder, decoder = config.network_family().build(
        config.n_features, config.n_components, drawn, generator, missing=config.missing
    )
    if latent.n_heads < drawn:
        encoder.keep_heads(latent.n_heads)
    likelihood_class = LIKELIHOODS[config.likelihood]
    if likelihood_class.standardizes:
        likelihood = likelihood_class(config.n_features, shift=shift, scale=scale)
    else:
        likelihood = likelihood_class(config.n_features)
    return VAE(encoder, decoder, latent, likelihood, missing=config.missing)


def _draw_uniform(shape, generator):
    # Where the generator lives, as the latent noise (CPU draws are the same everywhere).
    return (torch.rand(shape, generator=generator, device=generator.device),)


def split_missing(x):
    """``(x with its missing entries (NaN) set to 0, the boolean mask of the
    observed entries)``. 0 is in every likelihood's support, so the terms of
    the filled entries are finite, and their zero weight then has a zero
    gradient (a NaN term times 0 would poison the gradients)."""
    observed = ~torch.isnan(x)
    return torch.where(observed, x, torch.zeros_like(x)), observed


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
    missing : bool, default=False
        A model of data with missing values (NaN entries of ``x``). The
        encoder reads ``[u, m]``: ``u`` the likelihood's encoder input with
        the missing entries set to 0 (the training mean, for standardised
        Gaussian columns) and ``m`` the 0/1 mask of the observed entries, so
        that it can tell a missing entry from an observed 0; ``log p(x | z)``
        sums the terms of the observed entries only (the missing ones are
        marginalised out: the entries are independent given ``z``). In
        training, a further :data:`HIDDEN_FRACTION` of the observed entries
        of each batch is hidden from the encoder (not from the likelihood),
        which teaches it to encode incomplete rows as it encodes complete
        ones. With False, NaN entries are not expected (the estimators refuse them) and
        nothing is computed for them.
    """

    def __init__(self, encoder, decoder, latent, likelihood, missing=False):
        super().__init__()
        self.missing = bool(missing)
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
        if self.missing:
            inputs = self._masked_input(*split_missing(x))
        else:
            inputs = self.likelihood.encoder_input(x)
        names = self.latent.head_names
        if fields is None:
            heads = dict(zip(names, self.encoder(inputs)))
        else:
            needed = self.latent.heads_for(fields)
            which = [names.index(name) for name in needed]
            heads = dict(zip(needed, self.encoder.heads_only(inputs, which)))
        return self.latent.posterior(heads)

    def _masked_input(self, x, seen):
        """The encoder input of a model of data with missing values: the
        likelihood's encoder input of the ``seen`` entries (0 elsewhere), then
        the 0/1 mask ``seen``."""
        inputs = self.likelihood.encoder_input(x)
        inputs = torch.where(seen, inputs, torch.zeros_like(inputs))
        return torch.cat([inputs, seen.to(inputs.dtype)], dim=1)

    def code(self, x, *options):
        """The deterministic code of ``transform`` (``options``: the latent
        family's, e.g. a spike-and-slab family's ``max_active``)."""
        return self.latent.code(self.encode(x, self.latent.code_fields), *options)

    def posterior_field(self, x, name):
        """One field of the posterior alone (the other heads are skipped), e.g.
        ``"mu"`` or a spike-and-slab family's activity probability ``"gamma"``."""
        return getattr(self.encode(x, (name,)), name)

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
        """``log p(x | z)`` per sample, in nats, in the original data units
        (of the observed entries, for a model of data with missing values)."""
        if self.missing:
            x, observed = split_missing(x)
            return self.likelihood.log_prob(x, self.decoder(z), observed)
        return self.likelihood.log_prob(x, self.decoder(z))

    # -- objectives ---------------------------------------------------------
    def objective(self, x, values, generator, unit_counts=None):
        """Training loss of a batch and its summed statistics (see STAT_NAMES).

        The loss is ``mean(-log p(x | z) + kl_weight * KL)`` plus the latent
        family's regularizer, with the KL the family trains
        (:class:`~.latents.TrainingTerms`: the ELBO's, except for the aggregate
        prior), plus ``truncated_weight * mean(-log p(x | z^(k)))`` where the
        family gives a truncated sample ``z^(k)``. ``unit_counts`` (a ``(J,)``
        integer tensor), when given, receives the number of rows on which
        each unit is active.
        """
        if self.missing:  # hide a share of the observed entries from the encoder
            x, observed = split_missing(x)
            draw = batch_noise(_draw_uniform, x.shape, generator)[0].to(x.device)
            seen = observed & (draw >= HIDDEN_FRACTION)
            heads = dict(zip(self.latent.head_names, self.encoder(self._masked_input(x, seen))))
            posterior = self.latent.posterior(heads)
        else:
            posterior = self.encode(x)
        noise = batch_noise(self.latent.draw_noise, (x.shape[0], self.n_components), generator)
        terms = self.latent.training_terms(posterior, noise, values)
        if unit_counts is not None:
            unit_counts += terms.active.sum(dim=0)
        if self.missing:

            def nll_of(z):
                return -self.likelihood.log_prob(x, self.decoder(z), observed)
        else:

            def nll_of(z):
                return -self.log_likelihood(x, z)

        nll = nll_of(terms.z)
        loss = row_mean(nll + values.kl_weight * terms.train_kl)
        if terms.truncated is not None:
            loss = loss + self.latent.truncated_weight * row_mean(nll_of(terms.truncated))
        if terms.penalty is not None:
            loss = loss + terms.penalty
        n_active = terms.active.sum().to(nll.dtype)
        stats = torch.stack([nll.sum(), terms.kl.sum(), n_active]).detach()
        return loss, stats

    def elbo(self, x, noises, values):
        """Per-sample ELBO, averaging ``log p(x | z)`` over the given noises.

        Each element of ``noises`` is one draw (as from ``draw_noise``); draws of
        shape ``(1, J)`` are shared by every row, which makes the result
        deterministic and independent of how rows are batched.
        """
        terms = self.latent.elbo_terms(self.encode(x), noises, values)
        log_lik = sum(self.log_likelihood(x, z) for z in terms.z) / len(terms.z)
        return log_lik - terms.kl


def score_noises(model, dtype, device):
    """The fixed noise draws that score data (``VAE.elbo``): ``N_SCORE_DRAWS``
    draws of shape ``(1, J)``, made on the CPU so that every device scores
    with the same noise."""
    generator = torch.Generator().manual_seed(SCORE_SEED)
    shape = (1, model.n_components)
    return [
        tuple(t.to(device, dtype) for t in model.draw_noise(shape, generator))
        for _ in range(N_SCORE_DRAWS)
    ]
