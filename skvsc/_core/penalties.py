"""Training penalties on the activity of the latent units: not part of the ELBO.

They regularise the training of spike-and-slab codes against dead units
(units that no sample ever activates); reported losses and scores are the
plain ELBO. Each returns one value per latent unit, shape ``(J,)``, from the
activity probabilities ``gamma`` of a mini-batch, shape ``(n, J)``.
"""

from .elbo import bernoulli_kl


def usage_kl(gamma, alpha):
    """Per-unit usage penalty: ``KL(Bernoulli(mean_n gamma_nj) || Bernoulli(alpha))``.

    It pulls the batch-average activity of every unit toward ``alpha``, which
    keeps units from dying.
    """
    return bernoulli_kl(gamma.mean(dim=0), alpha)


def balance_kl(gamma):
    """Per-unit balance penalty: ``KL(Bernoulli(mean_n gamma_nj) || Bernoulli(r))``.

    ``r = mean_nj gamma_nj`` is the batch's mean activity over all units, held
    fixed (no gradient). Unlike :func:`usage_kl` it does not pull the total
    activity toward ``J * alpha`` (the ELBO decides how many units a sample
    uses); it only moves activity from over-used units to under-used ones.
    """
    return bernoulli_kl(gamma.mean(dim=0), gamma.mean().detach())


#: The forms of the usage penalty, by the name the estimators use
#: (``usage=...``); each maps ``(gamma, alpha)`` to per-unit values.
USAGE_PENALTIES = {
    "balance": lambda gamma, alpha: balance_kl(gamma),
    "prior": usage_kl,
}
