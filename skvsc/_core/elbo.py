"""The latent space's terms of the ELBO as pure functions on tensors.

KL divergences in closed form and reparameterised samples, as in the paper
(see the "What VSC is" section of the documentation). The likelihood term
``log p(x | z)`` lives with each likelihood in :mod:`.likelihoods`, and the
training penalties, which are not part of the ELBO, in :mod:`.penalties`.

Every function returns per-element (``(n, J)``) values; callers decide how to
reduce. Nothing here holds state.
"""

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


def relaxed_step(y, sharpness):
    """Relaxed step function ``T(y) = sigmoid(c * y)``."""
    return torch.sigmoid(sharpness * y)


def straight_through_gate(gamma, threshold):
    """``[gamma > threshold]`` in the forward pass, the identity's gradient in ``gamma``.

    ``hard + gamma - stop_gradient(gamma)``: the value is exactly 0 or 1, and
    ``d gate / d gamma = 1`` (the straight-through estimator).
    """
    hard = (gamma > threshold).to(gamma.dtype)
    return hard + (gamma - gamma.detach())


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
