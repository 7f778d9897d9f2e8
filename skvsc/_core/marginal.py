"""An importance-sampled estimate of the marginal likelihood ``log p(x)``.

``log p(x) = log E_{z ~ r}[p(x | z) p(z) / r(z)]`` for any proposal ``r``
whose support covers the prior's; the estimate with ``K`` draws,
``log (1/K) sum_k p(x | z_k) p(z_k) / r(z_k)``, is a stochastic lower bound
on ``log p(x)`` whose expectation rises with ``K`` and converges to it
(Burda et al., "Importance Weighted Autoencoders", 2016). ``K = 1`` with
``r = q(z | x)`` is the ELBO.

The proposals are built on the encoder's posterior, and the prior is the
generative model's: ``N(0, I)`` for the Gaussian VAE, ``alpha N(0, 1) + (1 -
alpha) delta(0)`` per unit for both spike-and-slab families (the aggregate
prior changes the training loss, not the generative model, whose ELBO it
reports). The Gaussian VAE's proposal is its posterior ``q(z | x)``.

Spike-and-slab densities are taken against the measure ``delta(0) +
Lebesgue`` per unit, so the ratios mix point masses and densities exactly (no
relaxation): a unit drawn at 0 has the ratio of the two spikes' masses, an
active unit the ratio of the two slab densities weighted by their activity.
A spike-and-slab proposal of unit ``j`` is the defensive mixture

``r_j = (1 - eps) q_j + eps p_j``,

``q_j = g_j N(mu_j, sigma_j^2) + (1 - g_j) delta(0)`` with activity ``g_j``.
The estimate mixes the proposals of :data:`COMPONENTS`, ``g_j = gamma_j``
(the encoder's activity probability) for both priors and two values of
``eps`` (:class:`SpikeSlabProposal`). ``eps > 0`` matters for the aggregate
prior: its posterior's spikes are deterministic (``[gamma_j > 1/2]``, the
``"gate"`` activity of :func:`make_proposal`), and without ``eps`` that
posterior as the proposal covers one spike pattern only, so the estimate
would converge to ``log p(x, s = s(x))``, below ``log p(x)``. With ``eps > 0``
every pattern has proposal mass and each unit's ratio ``p_j / r_j <= 1 / eps``.

The noise of each row comes from its own generator (one per row, seeded by
the caller), so that a row's estimate depends neither on the other rows nor
on how they are batched.
"""

import math

import torch

from .latents import NormalLatent, SpikeSlabLatent

_LOG_2PI = math.log(2.0 * math.pi)
#: The spike-and-slab proposal's components, ``(activity, defensive weight)``.
COMPONENTS = (("gamma", 1e-3), ("gamma", 0.8))
#: Draws decoded per row and pass (bounds memory for large ``n_draws``).
MAX_DRAWS_PER_PASS = 4096


def _draw(generators, k, n_components, kind):
    """``(len(generators), k, J)`` noise, row ``i`` drawn from ``generators[i]``."""
    shape = (1, k, n_components)
    fn = torch.randn if kind == "normal" else torch.rand
    return torch.cat([fn(shape, generator=g, device=g.device) for g in generators])


class GaussianProposal:
    """``q(z | x) = N(mu, sigma^2)`` for the prior ``N(0, I)`` (the IWAE estimate)."""

    def __init__(self, posterior):
        self.mu = posterior.mu.unsqueeze(1)
        self.logvar = posterior.logvar.unsqueeze(1)
        self.std = torch.exp(0.5 * self.logvar)

    def draw(self, generators, k):
        return (_draw(generators, k, self.mu.shape[-1], "normal"),)

    def sample(self, noise, first_draw=0, n_draws=None):
        """``z`` of shape ``(n, k, J)`` and ``log p(z) - log q(z)`` of shape ``(n, k)``."""
        (eps,) = noise
        z = self.mu + self.std * eps
        log_ratio = 0.5 * (eps.square() - z.square() + self.logvar)
        return z, log_ratio.sum(dim=2)


class SpikeSlabProposal:
    """The defensive spike-and-slab proposals of the module docstring, mixed.

    Each component ``m`` is a proposal ``r_m`` with its own activity ``g_m``
    and defensive weight ``eps_m``. The draws cycle through the components
    (draw ``k`` from ``r_{k mod M}``) and are weighted by their mixture,
    ``sum_m (n_m / K) r_m`` (``n_m`` draws from ``r_m``): multiple importance
    sampling with the balance heuristic, unbiased for ``p(x)`` and about as
    good as the best component with its ``n_m`` draws.

    Parameters
    ----------
    posterior : SpikeSlabPosterior
        The encoder's ``mu``, ``logvar`` and ``gamma``, each ``(n, J)``.
    components : sequence of (tensor of shape (n, J), float)
        ``(g_m, eps_m)``: each component's probability that each unit is
        active, and the prior's weight in each of its units, in [0, 1].
    alpha : float
        The prior's activity probability.
    """

    def __init__(self, posterior, components, alpha):
        components = list(components)
        if not components or not all(0.0 <= float(w) <= 1.0 for _, w in components):
            raise ValueError("defensive weights must be in [0, 1].")
        self.weights = tuple(float(w) for _, w in components)
        self.activities = [g.unsqueeze(1) for g, _ in components]
        self.stacked = torch.stack([g for g, _ in components], dim=1)  # (n, M, J)
        self.mu = posterior.mu.unsqueeze(1)
        logvar = posterior.logvar.unsqueeze(1)
        self.std = torch.exp(0.5 * logvar)
        self.inv_std = torch.exp(-0.5 * logvar)
        self.half_logvar = 0.5 * logvar
        self.alpha = alpha
        self.log_off_prior = math.log1p(-alpha)

    def draw(self, generators, k):
        J = self.mu.shape[-1]
        return (
            _draw(generators, k, J, "normal"),
            _draw(generators, k, J, "uniform"),
            _draw(generators, k, J, "uniform"),
        )

    def _unit_ratios(self, g, weight, active, slab_term):
        """``sum_j log p_j(z_j) - log r_j(z_j)`` of the component ``(g, weight)``."""
        # Inactive: log (1 - alpha) - log((1 - eps)(1 - g) + eps (1 - alpha)).
        off = self.log_off_prior - torch.log(
            (1.0 - weight) * (1.0 - g) + weight * (1.0 - self.alpha)
        )
        if weight >= 1.0:
            on = torch.zeros_like(slab_term)
        else:
            # Active: p / r = 1 / (exp(a) + eps) with
            # a = log [(1 - eps) g N(z; mu, sigma^2)] - log [alpha N(z; 0, 1)].
            a = slab_term + (torch.log(g) + (math.log1p(-weight) - math.log(self.alpha)))
            if weight > 0:
                on = -torch.logaddexp(a, torch.full_like(a, math.log(weight)))
            else:
                on = -a
        return torch.where(active, on, off).sum(dim=2)

    def sample(self, noise, first_draw, n_draws):
        """``z`` of shape ``(n, k, J)`` and ``log p(z) - log r(z)`` of shape ``(n, k)``.

        ``first_draw`` is the index of the first of these ``k`` draws among
        all ``n_draws`` of the estimate (it fixes each draw's component).
        """
        eps, u_component, u_spike = noise
        k = eps.shape[1]
        n_props = len(self.weights)
        which = torch.arange(first_draw, first_draw + k, device=eps.device) % n_props
        weight = torch.tensor(self.weights, dtype=eps.dtype, device=eps.device)[which]
        from_prior = u_component < weight.view(1, k, 1)
        g = self.stacked[:, which, :] if n_props > 1 else self.activities[0]
        active = u_spike < torch.where(from_prior, self.alpha, g)
        slab = torch.where(from_prior, eps, self.mu + self.std * eps)
        standardized = (slab - self.mu) * self.inv_std
        # log N(z; mu, sigma^2) - log N(z; 0, 1) at the slab value.
        slab_term = 0.5 * (slab.square() - standardized.square()) - self.half_logvar
        z = torch.where(active, slab, torch.zeros_like(slab))
        if n_props == 1:
            return z, self._unit_ratios(self.activities[0], self.weights[0], active, slab_term)
        # Balance heuristic: log p - log sum_m (n_m / K) r_m.
        counts = [n_draws // n_props + (m < n_draws % n_props) for m in range(n_props)]
        terms = [
            math.log(c / n_draws) - self._unit_ratios(g, w, active, slab_term)
            for g, w, c in zip(self.activities, self.weights, counts, strict=True)
            if c > 0
        ]
        return z, -torch.logsumexp(torch.stack(terms), dim=0)


def make_proposal(latent, posterior, components=None):
    """The importance-sampling proposal of a latent family's posterior.

    ``components`` (spike-and-slab families): ``(activity, eps)`` pairs,
    ``activity`` either ``"gamma"`` (the encoder's activity probability) or
    ``"gate"`` (``[gamma > 1/2]``, the deterministic spikes of the aggregate
    prior's posterior); None: :data:`COMPONENTS`.
    """
    if isinstance(latent, SpikeSlabLatent):
        named = {
            "gamma": posterior.gamma,
            "gate": latent.active(posterior).to(posterior.mu.dtype),
        }
        pairs = []
        for activity, weight in COMPONENTS if components is None else components:
            if activity not in named:
                raise ValueError(f"activity must be 'gamma' or 'gate', got {activity!r}.")
            pairs.append((named[activity], weight))
        return SpikeSlabProposal(posterior, pairs, latent.alpha)
    if isinstance(latent, NormalLatent):
        return GaussianProposal(posterior)
    raise TypeError(f"No importance-sampling proposal for {type(latent).__name__}.")


def log_marginal(model, x, generators, n_draws, *, components=None, draws_per_pass=None):
    """Importance-sampled ``log p(x)`` of each row of ``x``, in nats, shape ``(n,)``.

    Parameters
    ----------
    model : VAE
        The model (:class:`~.vae.VAE`), in eval mode, under ``no_grad``.
    x : tensor of shape (n, n_features)
        Data on the model's device.
    generators : sequence of torch.Generator
        One per row, on the model's device: the source of that row's draws.
    n_draws : int
        Number of importance samples per row.
    components : sequence of (str, float), optional
        The spike-and-slab proposal's components (:func:`make_proposal`);
        ignored by the Gaussian VAE.
    draws_per_pass : int, optional
        Draws decoded per row at once (default :data:`MAX_DRAWS_PER_PASS`);
        the result depends on it only through the order of the draws.
    """
    if len(generators) != x.shape[0]:
        raise ValueError(f"{len(generators)} generators for {x.shape[0]} rows.")
    per_pass = min(n_draws, draws_per_pass or MAX_DRAWS_PER_PASS)
    posterior = model.encode(x)
    proposal = make_proposal(model.latent, posterior, components)
    n, n_features = x.shape
    total = torch.full((n,), -math.inf, dtype=x.dtype, device=x.device)
    done = 0
    while done < n_draws:
        k = min(per_pass, n_draws - done)
        z, log_ratio = proposal.sample(proposal.draw(generators, k), done, n_draws)
        x_rep = x.unsqueeze(1).expand(n, k, n_features).reshape(n * k, n_features)
        log_lik = model.log_likelihood(x_rep, z.reshape(n * k, -1)).view(n, k)
        total = torch.logaddexp(total, torch.logsumexp(log_lik + log_ratio, dim=1))
        done += k
    return total - math.log(n_draws)
