"""Latent families: the prior p(z), the posterior q(z | x) and the code.

A latent family is a ``torch.nn.Module`` (it may own parameters, e.g. a
learned prior) with this protocol:

- ``Posterior``: a NamedTuple class; its fields, in order, are the encoder
  heads (``head_names``, ``n_heads``), each a tensor of shape ``(n, J)``;
- ``posterior(heads)``: the NamedTuple from the raw head outputs (a dict by
  field name); fields whose head was not computed are None;
- ``heads_for(fields)``: the heads that the fields ``fields`` are computed
  from (inference computes only those);
- ``unit_parameters()``: the family's own ``(J,)`` parameters, one entry per
  unit (dead-unit revival copies them from a donor);
- ``draw_noise(shape, generator)``: the noise of one reparameterised sample;
- ``rsample(posterior, noise, values)``: a reparameterised sample of z;
- ``kl(posterior, values)``: ``KL(q(z | x) || p(z))`` per sample, shape ``(n,)``;
- ``regularizer(posterior, values)``: a weighted batch-level training
  penalty (a scalar tensor, not part of the ELBO) or None;
- ``training_terms(posterior, noise, values)``: everything the training
  objective needs from the family in one call, a :class:`TrainingTerms`
  (the base class composes the methods above; a family may fuse them);
- ``elbo_terms(posterior, noises, values)``: its twin for scoring, an
  :class:`ElboTerms` (one sample per noise draw and the KL; a family whose
  KL needs the samples, e.g. a Monte Carlo KL, overrides it);
- ``code(posterior)``: the deterministic code of ``transform``, from the
  fields in ``code_fields`` only (inference computes just those heads);
- ``active(posterior)``: whether each unit is active on each sample, a bool
  tensor ``(n, J)`` from the fields in ``active_fields``; the one definition
  of an active unit (training statistics, diagnostics and revival use it);
- ``prior_sample(n_samples, generator)``: codes drawn from the prior.

``values`` is the :class:`~.schedule.StepValues` in force (sharpness, warm-up
weights). :class:`~.latent_base.Latent` stubs the protocol (its module holds
the named tuples too, re-exported here). :data:`LATENTS` maps names to
the classes; adding a family is one class, one entry there and the estimator
parameter that names it.
"""

import torch
from torch import nn

from . import elbo
from .active_set import floored, truncated
from .distributed import batch_means
from .latent_base import (  # noqa: F401 (the protocol's names, re-exported)
    ElboTerms,
    Latent,
    NormalPosterior,
    SpikeSlabPosterior,
    TrainingTerms,
    draw_normal,
    draw_uniform,
    head_map,
)
from .penalties import ACTIVE_PROBABILITY, USAGE_PENALTIES, aggregate_spike_kl
from .rate_control import RateController

#: The gates of the aggregate prior, by the name the estimators use
#: (``gate=...``): ``"free"``, ``gamma`` from its own encoder head; ``"tied"``,
#: ``gamma`` a per-unit affine function of the slab mean ``mu``.
GATES = ("free", "tied")

#: Initial slope ``a_j`` of the tied gate's logit ``a_j mu_j + c_j`` (``c_j``
#: starts at 0). Small, for two reasons: the threshold ``-c_j / a_j`` then moves
#: by ``1 / a_j`` per unit of ``c_j``, so that the optimizer's steps on ``c_j``
#: place it within a short fit; and ``gamma`` stays soft, so that the gradients
#: of the aggregate term and the usage penalty, through ``gamma``, reach every
#: unit's ``mu``. Slopes from 0.01 to 4 were screened (``docs/tables_screens.md``).
TIED_SLOPE_INIT = 0.1

# Log-variances are clamped to keep exp() finite.
_LOGVAR_RANGE = (-14.0, 8.0)


class NormalLatent(Latent):
    """Gaussian VAE: prior N(0, I), posterior N(mu, sigma^2), code ``mu``."""

    def posterior(self, heads):
        logvar = head_map(heads, "logvar", lambda v: v.clamp(*_LOGVAR_RANGE))
        return NormalPosterior(heads.get("mu"), logvar)

    def draw_noise(self, shape, generator):
        return (draw_normal(shape, generator),)

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
        return draw_normal((n_samples, self.n_components), generator)


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
    #: Whether :meth:`active` floors rows with no unit above 1/2 (the paper's
    #: fixed prior does not; the aggregate prior sets it per model).
    floor = False
    #: Whether ``gamma`` is tied to ``mu`` (the aggregate prior's ``gate="tied"``).
    tied = False

    def __init__(self, n_components, *, alpha, usage):
        super().__init__(n_components)
        if usage not in USAGE_PENALTIES:
            raise ValueError(f"usage must be one of {sorted(USAGE_PENALTIES)}, got {usage!r}.")
        self.alpha = float(alpha)
        self.usage = usage

    def posterior(self, heads):
        return SpikeSlabPosterior(
            heads.get("mu"),
            head_map(heads, "logvar", lambda v: v.clamp(*_LOGVAR_RANGE)),
            head_map(heads, "gamma", torch.sigmoid),
        )

    def draw_noise(self, shape, generator):
        return draw_normal(shape, generator), draw_uniform(shape, generator)

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

    def regularizer(self, posterior, values, soft=None):
        """``usage_weight * sum_j penalty_j`` of the chosen usage form (None at weight 0).

        ``soft``, the batch mean of ``gamma`` when the caller has it, saves
        computing it again.
        """
        if values.usage_weight == 0.0:
            return None
        penalty = USAGE_PENALTIES[self.usage](posterior.gamma, self.alpha, soft)
        return values.usage_weight * penalty.sum()

    def code(self, posterior, max_active=None):
        """Exactly sparse code: ``mu`` where the unit is active, else 0; with
        ``max_active``, only the (at most) ``max_active`` active units of
        each row with the largest ``|mu|`` are kept."""
        mu = posterior.mu
        active = self.active(posterior)
        if max_active is not None:
            active = truncated(active, mu, max_active)
        return torch.where(active, mu, torch.zeros_like(mu))

    def active(self, posterior):
        return posterior.gamma > ACTIVE_PROBABILITY

    def prior_sample(self, n_samples, generator):
        slab = draw_normal((n_samples, self.n_components), generator)
        u = draw_uniform(slab.shape, generator)
        return torch.where(u < self.alpha, slab, torch.zeros_like(slab))


class AggregateSpikeSlabLatent(SpikeSlabLatent):
    """Deterministic spikes with an activity prior on the aggregate code.

    The prior is the fixed one's, ``alpha N(0, 1) + (1 - alpha) delta(0)``
    per unit. The posterior's spikes are deterministic: unit j of sample x is
    on exactly when ``gamma_j(x) > 1/2`` (the rule of the exact-sparse code;
    ``floor`` below), ``q(s_j | x) = delta(s_j - [gamma_j > 1/2])``, and its
    slab is ``N(mu_j, sigma_j^2)``. Training therefore decodes the code that
    ``transform`` returns, with slab noise; ``gamma`` learns through a
    straight-through gate (``s`` forward, the gradient of ``gamma`` backward).

    :meth:`kl` is :func:`~.elbo.spike_slab_kl` at ``gamma = s``, the exact KL
    of this posterior (Dirac cross terms dropped, as for the fixed prior):
    ``s_j KL(N(mu_j, sigma_j^2) || N(0, 1)) + s_j log(1 / alpha) + (1 - s_j)
    log(1 / (1 - alpha))``, so scores are ELBOs of the posterior in use. Its
    spike term is a fee of ``log(1 / alpha)`` nats per active unit whatever
    the data. The training loss replaces it by the aggregate term of
    :func:`~.penalties.aggregate_spike_kl` and weights each slab KL by
    ``gamma`` instead of ``s``:

    ``mean_n [-log p(x_n | z_n) + w b sum_j gamma_nj KL(N(mu_nj, sigma_nj^2) || N(0, 1))]
    + sum_j KL(Bern(r_j) || Bern(alpha))``

    (``b`` is ``slab_kl_weight``, 1 by default here; ``w`` the KL warm-up
    weight, which the aggregate term does not wait for; ``r_j`` the fraction
    of the batch on which unit j is on). The likelihood decides which units a
    sample uses, and ``alpha`` sets the fraction of active units. The
    ``gamma`` weight keeps the slab of a unit that is off near the prior, so
    that it starts from a sensible value when it switches on; weighted by
    ``s``, the slabs of units that are off drift freely and their KL, passed
    to ``gamma`` by the gate, keeps them off (more dead units and empty codes
    on the digits). The loss is not a bound; the reported losses and scores
    are the ELBO.

    With ``rate_control > 0``, the :class:`~.rate_control.RateController`
    (``controller``) adds signed multipliers on the rates ``r_j`` that hold
    each at ``alpha``; the aggregate term alone leaves them above it. With
    ``rate_control_sides="up"`` it only pushes the rates below ``alpha`` up
    (below ``rate_control_floor * alpha``); ``rate_control_mean`` adds one
    signed multiplier on the mean rate over units.

    With ``floor`` (the default) and ``alpha * n_components >= 1``, a row
    with no unit above 1/2 keeps its most probable unit
    (:func:`~.active_set.floored`): in :meth:`active`, hence in the code, the
    training pass, the KL and the statistics alike, so that training decodes
    the code that ``transform`` returns and no code is all zeros.

    With ``fit_n_nonzero_coefs = k`` (``truncated_units``), the training loss
    also has ``w * mean_n [-log p(x_n | z_n^(k))]`` (``w``:
    ``fit_n_nonzero_weight``, ``truncated_weight``), where ``z^(k)``
    keeps only the ``k`` active units of largest ``|mu|`` of the sample
    ``z`` (:func:`~.active_set.truncated`, the code that
    ``transform_n_nonzero_coefs = k`` returns): the units a short code keeps
    learn to carry the sample on their own, so that one fit serves small
    budgets too (TopK autoencoders train such nested codes: "Multi-TopK",
    Gao et al. 2024). The term is decoded by the model (:class:`~.vae.VAE`);
    the latent family gives ``z^(k)`` as ``TrainingTerms.truncated``.

    With ``fit_n_nonzero_floor = f > 0`` as well (``short_controller``), a
    second subsidy-only :class:`~.rate_control.RateController` keeps the short
    code's units alive: its rates are the fractions ``r^(k)_j`` of the batch on
    which unit j is among the ``k`` kept, its target ``f k / J`` (the short
    code's mean rate is at most ``k / J``) and its step ``rate_control``'s.
    Each unit below the target gets a growing subsidy ``lambda^(k)_j <= 0`` on
    ``sum_j lambda^(k)_j r^(k)_j``, straight-through in the batch mean of
    ``gamma_j`` as the other controller's (a gradient through ``|mu_j|`` on
    the rows where the unit is on, which ranks it into the kept, left more
    units dead and cost more accuracy). Without it the short code leaves
    units that are active but never among any row's ``k`` largest: dead at
    that budget (``docs/results.md``, "Dead units of the short code").

    With ``gate="tied"`` (``tied``), ``gamma`` is not the third head's but a
    per-unit affine function of the slab mean, ``gamma_j = sigmoid(a_j mu_j +
    c_j)`` (``gate_slope`` ``a``, ``gate_offset`` ``c``, learned;
    :data:`TIED_SLOPE_INIT`): unit j is on exactly where ``mu_j`` is past the
    threshold ``-c_j / a_j``, on the side of the sign of ``a_j``, and the code
    keeps ``mu_j`` there (a JumpReLU of ``mu``; the weight-sharing gated sparse
    autoencoder of Rajamanoharan et al. 2024 ties its gate to its magnitude
    likewise). With the free gate a unit's value reaches the code on the rows
    that an independent head picks; tied, the code is a monotone function of
    ``mu_j`` past the threshold. The straight-through gate, the aggregate
    term and the floor are unchanged; their gradients in ``gamma`` reach
    ``mu`` too. The training loss weights every unit's slab KL by 1 instead
    of ``gamma``: a tied ``gamma`` is about 0 where ``mu_j`` is far on the off
    side, so the ``gamma`` weight would let those means drift further from
    the prior, where the gate's gradient (through a saturated sigmoid) no
    longer brings the unit back (images then got codes of very unequal
    lengths: ``docs/results.md``). The encoder has no third head
    (:attr:`head_names`); :func:`~.vae.build_vae` still draws its initial
    weights, so that both gates start from the same generator stream. The
    slopes start positive (the encoder sets the sign of ``mu``, so no unit
    needs the other side at the start) and may change sign in training.
    """

    def __init__(
        self,
        n_components,
        *,
        alpha,
        usage,
        slab_kl_weight=1.0,
        rate_control=0.0,
        rate_control_sides="both",
        rate_control_floor=1.0,
        rate_control_mean=False,
        floor=True,
        fit_n_nonzero_coefs=None,
        fit_n_nonzero_weight=1.0,
        fit_n_nonzero_floor=0.0,
        gate="free",
    ):
        super().__init__(n_components, alpha=alpha, usage=usage)
        if gate not in GATES:
            raise ValueError(f"gate must be one of {list(GATES)}, got {gate!r}.")
        self.tied = gate == "tied"
        if self.tied:
            self.gate_slope = nn.Parameter(torch.full((n_components,), TIED_SLOPE_INIT))
            self.gate_offset = nn.Parameter(torch.zeros(n_components))
        self.slab_kl_weight = float(slab_kl_weight)
        # named as the estimators' parameters (a run's options are compared by name)
        k = fit_n_nonzero_coefs
        self.truncated_units = None if k is None else int(k)
        self.truncated_weight = float(fit_n_nonzero_weight)
        # where the prior expects under one active unit per sample, empty codes
        # are the prior's (the estimator warns); not floored
        self.floor = bool(floor) and self.alpha * n_components >= 1
        self.controller = (
            RateController(
                n_components,
                alpha,
                rate_control,
                rate_control_sides,
                floor=rate_control_floor,
                mean=rate_control_mean,
            )
            if rate_control > 0
            else None
        )
        floor_k = float(fit_n_nonzero_floor)
        if floor_k > 0 and (k is None or rate_control <= 0):
            raise ValueError(
                "fit_n_nonzero_floor > 0 needs fit_n_nonzero_coefs (the short code) and "
                "rate_control > 0 (its step size)."
            )
        self.short_controller = (
            RateController(n_components, k / n_components, rate_control, "up", floor=floor_k)
            if floor_k > 0
            else None
        )

    def posterior(self, heads):
        """The posterior of the heads; with the tied gate, ``gamma =
        sigmoid(a * mu + c)`` whatever the ``"gamma"`` head holds."""
        posterior = super().posterior(heads)
        if self.tied:
            gamma = None if posterior.mu is None else torch.sigmoid(self.tied_logit(posterior.mu))
            posterior = posterior._replace(gamma=gamma)
        return posterior

    def tied_logit(self, mu):
        """The tied gate's logit ``a_j mu_j + c_j`` of the slab means ``mu`` ``(n, J)``."""
        return self.gate_slope * mu + self.gate_offset

    def heads_for(self, fields):
        """With the tied gate, ``gamma`` is computed from the ``"mu"`` head (so
        the encoder has no ``gamma`` head: :attr:`head_names`)."""
        if not self.tied:
            return tuple(fields)
        return tuple(dict.fromkeys("mu" if name == "gamma" else name for name in fields))

    def unit_parameters(self):
        """The tied gate's ``(J,)`` parameters, one entry per unit, which dead-unit
        revival copies from a donor unit (none for the free gate)."""
        return [self.gate_slope, self.gate_offset] if self.tied else []

    def draw_noise(self, shape, generator):
        """The slab's Gaussian noise only: the spikes are not random."""
        return (draw_normal(shape, generator),)

    def active(self, posterior):
        """``gamma > 1/2``, floored (see the class docstring)."""
        active = super().active(posterior)
        return floored(active, posterior.gamma) if self.floor else active

    def gate(self, posterior):
        """The deterministic spikes of :meth:`active`, straight-through in ``gamma``."""
        return elbo.straight_through_gate(posterior.gamma, self.active(posterior))

    def rsample(self, posterior, noise, values):
        """``s * (mean + sigma * eps)``: the exact-sparse code's units, slab sampled.

        The slab of the spike pre-training (``values.slab_weight``) applies; the
        sharpness does not (the spikes are not relaxed)."""
        mean, logvar = elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        return self.gate(posterior) * elbo.gaussian_sample(mean, logvar, noise[0])

    def kl(self, posterior, values):
        mean, logvar = elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        spikes = self.active(posterior).to(mean.dtype)
        return self._kl(spikes, (spikes * elbo.gaussian_kl(mean, logvar)).sum(dim=1))

    def _kl(self, spikes, slab_kl):
        """The KL of the deterministic spikes ``spikes`` (0/1, ``(n, J)``) given
        their summed slab KL ``sum_j s_j KL_j`` (``(n,)``)."""
        n_on = spikes.sum(dim=1)
        return slab_kl + elbo.deterministic_spike_kl(n_on, spikes.shape[1], self.alpha)

    def regularizer(self, posterior, values, spikes=None, kept=None):
        """The aggregate term ``sum_j KL(Bern(r_j) || Bern(alpha))`` plus the usage
        penalty and the rate controller's ``sum_j lambda_j r_j`` (when on), and
        the short code's controller on the rates of ``kept`` (when on and given).

        ``spikes`` (the 0/1 of :meth:`active`) saves computing them again;
        ``kept`` is the bool ``(n, J)`` of the units the short code keeps.
        """
        # The aggregate term is not warmed up: it charges no per-sample fee, and
        # at full weight from the first step it keeps the rates near alpha while
        # the slab KL is still cheap.
        gamma = posterior.gamma
        if spikes is None:
            spikes = self.active(posterior).to(gamma.dtype)
        short = self.short_controller is not None and kept is not None
        # Every batch mean at once (one all-reduce in a data-parallel fit);
        # ``soft`` is shared by every penalty.
        means = batch_means(gamma, spikes, *([kept.to(gamma.dtype)] if short else []))
        soft, rate = means[:2]
        term = aggregate_spike_kl(gamma, self.alpha, spikes, soft, rate).sum()
        if self.controller is not None:
            term = term + self.controller(soft, rate)
        usage = super().regularizer(posterior, values, soft)
        term = term if usage is None else term + usage
        return term + self.short_controller(soft, means[2]) if short else term

    def training_terms(self, posterior, noise, values):
        """The loss of the class docstring in one pass: ``train_kl`` is
        ``b * sum_j gamma_j KL_j``, ``kl`` the exact KL of the deterministic
        spikes (:meth:`kl`), both from one :func:`~.elbo.gated_slab_terms`;
        with the tied gate ``train_kl`` is ``b * sum_j KL_j``."""
        mean, logvar = elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        active = self.active(posterior)
        spikes = active.to(mean.dtype)
        # every unit's slab KL with the tied gate, whatever its gate (class docstring)
        z, soft, slab = elbo.gated_slab_terms(
            mean, logvar, posterior.gamma, noise[0], spikes, gamma_weighted=not self.tied
        )
        kept = cut = None
        if self.truncated_units is not None:
            kept = truncated(active, posterior.mu, self.truncated_units)
            cut = z * kept.to(z.dtype)
        penalty = self.regularizer(posterior, values, spikes, kept)
        kl, train_kl = self._kl(spikes, slab), self.slab_kl_weight * soft
        return TrainingTerms(z, kl, train_kl, penalty, active, cut)


#: Latent families by name (the estimators choose one).
LATENTS = {
    "normal": NormalLatent,
    "spike_slab": SpikeSlabLatent,
    "spike_slab_aggregate": AggregateSpikeSlabLatent,
}
