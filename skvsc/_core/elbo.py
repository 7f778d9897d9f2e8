"""The latent space's terms of the ELBO as pure functions on tensors.

KL divergences in closed form and reparameterised samples, as in the paper
(see the "What VSC is" section of the documentation). The likelihood term
``log p(x | z)`` lives with each likelihood in :mod:`.likelihoods`, and the
training penalties, which are not part of the ELBO, in :mod:`.penalties`.

Every function returns per-element (``(n, J)``) values; callers decide how to
reduce. Nothing here holds state.
"""

import math

import torch

#: Probabilities are clamped to [EPS, 1 - EPS] wherever a log is taken.
EPS = 1e-6


def gaussian_kl(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, 1)) per element.

    ``0.5 * (mu^2 + sigma^2 - 1 - log sigma^2)``.
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def bernoulli_kl(gamma, alpha):
    """KL(Bernoulli(gamma) || Bernoulli(alpha)) per element.

    ``gamma log(gamma / alpha) + (1 - gamma) log((1 - gamma) / (1 - alpha))``,
    with ``gamma`` clamped to ``[EPS, 1 - EPS]``. ``alpha`` is a float or a
    tensor broadcastable to ``gamma``.
    """
    gamma = gamma.clamp(EPS, 1.0 - EPS)
    alpha = torch.as_tensor(alpha, dtype=gamma.dtype, device=gamma.device)
    alpha = alpha.clamp(EPS, 1.0 - EPS)
    return gamma * (gamma.log() - alpha.log()) + (1.0 - gamma) * (
        torch.log1p(-gamma) - torch.log1p(-alpha)
    )


def spike_slab_kl(mu, logvar, gamma, alpha):
    """KL of a spike-and-slab posterior to the spike-and-slab prior, per element.

    ``gamma * KL(N(mu, sigma^2) || N(0, 1)) + KL(Bernoulli(gamma) || Bernoulli(alpha))``
    (the Dirac cross terms are dropped, as in the paper).
    """
    return gamma * gaussian_kl(mu, logvar) + bernoulli_kl(gamma, alpha)


def gaussian_sample(mu, logvar, eps):
    """Reparameterised Gaussian sample ``mu + sigma * eps``."""
    return mu + torch.exp(0.5 * logvar) * eps


def deterministic_spike_kl(n_active, n_units, alpha):
    """Spike part of the KL of deterministic spikes, summed over the units of a sample.

    ``sum_j KL(delta(s_j) || Bernoulli(alpha)) = n_active log(1 / alpha) +
    (n_units - n_active) log(1 / (1 - alpha))`` for ``n_active`` units on
    (a tensor of counts, any shape); ``alpha`` is clamped like
    :func:`bernoulli_kl`'s.
    """
    alpha = min(max(float(alpha), EPS), 1.0 - EPS)
    return n_active * -math.log(alpha) + (n_units - n_active) * -math.log1p(-alpha)


class _GatedSlab(torch.autograd.Function):
    """:func:`gated_slab_terms` with its gradient written out (one pass each way)."""

    @staticmethod
    def forward(ctx, mu, logvar, gamma, eps, spikes, gamma_weighted):
        std = torch.exp(0.5 * logvar)
        var = std * std
        slab = torch.addcmul(mu, std, eps)
        slab_kl = 0.5 * (mu * mu + var - 1.0 - logvar)
        z = spikes * slab
        soft = ((gamma * slab_kl) if gamma_weighted else slab_kl).sum(dim=1)
        hard = (spikes * slab_kl).sum(dim=1)
        ctx.gamma_weighted = gamma_weighted
        ctx.save_for_backward(mu, gamma, spikes, std, eps, var, slab, slab_kl)
        ctx.mark_non_differentiable(hard)
        return z, soft, hard

    @staticmethod
    def backward(ctx, grad_z, grad_soft, grad_hard):
        mu, gamma, spikes, std, eps, var, slab, slab_kl = ctx.saved_tensors
        grad_soft = grad_soft.unsqueeze(1)
        weighted = grad_soft * gamma if ctx.gamma_weighted else grad_soft.expand_as(mu)
        grad_sample = grad_z * spikes
        grad_mu = torch.addcmul(grad_sample, weighted, mu)
        grad_logvar = 0.5 * torch.addcmul(grad_sample * std * eps, weighted, var - 1.0)
        grad_gamma = grad_z * slab
        if ctx.gamma_weighted:
            grad_gamma = torch.addcmul(grad_gamma, grad_soft, slab_kl)
        return grad_mu, grad_logvar, grad_gamma, None, None, None


def gated_slab_terms(mu, logvar, gamma, eps, spikes, gamma_weighted=True):
    """The deterministic-spike sample and its slab KLs in one fused pass.

    With ``KL_j = KL(N(mu_j, sigma_j^2) || N(0, 1))`` (:func:`gaussian_kl`)
    and ``s`` the 0/1 ``spikes`` (``[gamma > 1/2]``, no gradient), returns

    - ``z = s * (mu + sigma * eps)``, straight-through in ``gamma``
      (``d z / d gamma = mu + sigma * eps``, as :func:`straight_through_gate`
      times :func:`gaussian_sample`);
    - ``sum_j gamma_j KL_j`` per sample (the training loss's slab KL), or
      ``sum_j KL_j`` with ``gamma_weighted=False`` (the tied gate's);
    - ``sum_j s_j KL_j`` per sample (the slab part of the reported KL; no gradient).

    The same values and gradients as that composition of the plain functions
    (a test checks both), in about a third of the elementwise kernels: a
    training step of the default model is mostly small elementwise work on a
    CPU and kernel launches on a GPU (docs/performance.md).
    """
    return _GatedSlab.apply(mu, logvar, gamma, eps, spikes, bool(gamma_weighted))


def relaxed_step(y, sharpness):
    """Relaxed step function ``T(y) = sigmoid(c * y)``."""
    return torch.sigmoid(sharpness * y)


def straight_through_gate(gamma, spikes):
    """The 0/1 ``spikes`` in the forward pass, the identity's gradient in ``gamma``.

    ``spikes + gamma - stop_gradient(gamma)``: the value is exactly 0 or 1, and
    ``d gate / d gamma = 1`` (the straight-through estimator). ``spikes`` is
    the units a code keeps, ``[gamma > 1/2]`` or a rule built on it (the
    aggregate prior's floor, :mod:`~.active_set`).
    """
    return spikes.to(gamma.dtype) + (gamma - gamma.detach())


def spike_slab_sample(slab, gamma, eta, sharpness):
    """Relaxed spike-and-slab sample ``T(eta - 1 + gamma) * slab``.

    ``eta ~ U(0, 1)``, so the step is on with probability ``gamma``;
    ``slab`` is a reparameterised sample of the slab.
    """
    return relaxed_step(eta - 1.0 + gamma, sharpness) * slab


def warmup_slab(mu, logvar, lam):
    """Slab of the spike pre-training, ``N(lam * mu, lam * sigma^2 + 1 - lam)``.

    Returns ``(mean, logvar)``; ``lam = 1`` gives back ``(mu, logvar)`` and
    ``lam = 0`` the fixed ``N(0, 1)`` (UAI version of the paper).
    """
    if lam >= 1.0:
        return mu, logvar
    return lam * mu, torch.log(lam * logvar.exp() + (1.0 - lam))
