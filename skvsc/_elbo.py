"""ELBO pieces as pure functions on tensors (method.md, "ELBO").

Every function returns per-element (``(n, J)`` or ``(n, D)``) or per-sample
(``(n,)``) values; callers decide how to reduce. Nothing here holds state.
"""

import math

import torch
import torch.nn.functional as F

#: Probabilities are clamped to [EPS, 1 - EPS] wherever a log is taken.
EPS = 1e-6
_LOG_2PI = math.log(2.0 * math.pi)


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


def usage_kl(gamma, alpha):
    """Per-unit usage penalty: ``KL(Bernoulli(mean_n gamma_nj) || Bernoulli(alpha))``.

    Returns one value per latent unit, shape ``(J,)``. It pulls the batch-average
    activity of every unit toward ``alpha``, which keeps units from dying
    (method.md, "quick leads"). It is a regulariser, not part of the ELBO.
    """
    return bernoulli_kl(gamma.mean(dim=0), alpha)


def balance_kl(gamma):
    """Per-unit balance penalty: ``KL(Bernoulli(mean_n gamma_nj) || Bernoulli(r))``.

    ``r = mean_nj gamma_nj`` is the batch's mean activity over all units, held
    fixed (no gradient). Returns one value per latent unit, shape ``(J,)``.
    Unlike ``usage_kl`` it does not pull the total activity toward
    ``J * alpha`` (the ELBO decides how many units a sample uses); it only
    moves activity from over-used units to under-used ones. A regulariser,
    not part of the ELBO.
    """
    return bernoulli_kl(gamma.mean(dim=0), gamma.mean().detach())


def bernoulli_log_likelihood(x, logits):
    """Bernoulli log-likelihood per sample, from logits, summed over features.

    ``sum_d x_d log p_d + (1 - x_d) log(1 - p_d)`` with ``p = sigmoid(logits)``;
    ``x`` may lie anywhere in [0, 1] (no continuous-Bernoulli normalisation).
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def gaussian_log_likelihood(x, mean, logvar):
    """Gaussian log-likelihood per sample, summed over features, in nats.

    ``sum_d -0.5 * (log 2 pi + log var_d + (x_d - mean_d)^2 / var_d)``.
    """
    per_element = (x - mean).square() * torch.exp(-logvar) + logvar + _LOG_2PI
    return -0.5 * per_element.sum(dim=1)


def gaussian_sample(mu, logvar, eps):
    """Reparameterised Gaussian sample ``mu + sigma * eps``."""
    return mu + torch.exp(0.5 * logvar) * eps


def relaxed_step(y, sharpness):
    """Relaxed step function ``T(y) = sigmoid(c * y)``."""
    return torch.sigmoid(sharpness * y)


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
