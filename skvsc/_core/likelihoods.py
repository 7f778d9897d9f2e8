"""Likelihoods p(x | z): the decoder's distribution of the data given the code.

A likelihood is a ``torch.nn.Module`` (it may hold buffers, such as the
standardisation of the Gaussian, and parameters, such as its learned
variances) with this protocol:

- ``encoder_input(x)``: the data as the encoder sees them (data preparation);
- ``log_prob(x, out, observed=None)``: ``log p(x | z)`` per sample, in nats,
  in the original units of ``x``, from the decoder output ``out`` (shape
  ``(n,)``); with ``observed`` (a boolean ``(n, d)`` mask), the log-likelihood
  of the observed entries alone: each entry's term counts where ``observed``
  is true (``x`` must hold some value of the support elsewhere, e.g. 0);
- ``log_prob_elements(x, out)``: the per-entry terms, shape ``(n, d)``, whose
  row sums are ``log_prob`` (up to float rounding);
- ``mean(out)``: the mean of p(x | z) in the original units
  (``inverse_transform``);
- ``check_range(low, high)``: raises a ``ValueError`` when data ranging over
  ``[low, high]`` are outside the support (the estimators refuse such data
  in fit and score, and clip them onto ``support`` to encode them);
- class attribute ``standardizes``: the constructor takes the per-feature
  ``shift`` and ``scale`` of the training data.

:data:`LIKELIHOODS` maps the names of the estimators' ``likelihood``
parameter to the classes. Adding a likelihood is one class, one entry there
and its test against ``torch.distributions``.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

_LOG_2PI = math.log(2.0 * math.pi)
# Log-variances and log-rates are clamped to keep exp() finite and the likelihood bounded.
_GAUSSIAN_LOGVAR_RANGE = (-8.0, 8.0)
_POISSON_LOG_RATE_RANGE = (-20.0, 20.0)


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


def poisson_log_likelihood(x, log_rate):
    """Poisson log-likelihood per sample, summed over features, in nats.

    ``sum_d x_d log(rate_d) - rate_d - log Gamma(x_d + 1)`` with
    ``rate = exp(log_rate)``. Non-integer ``x >= 0`` give the same formula
    (then not a normalised density).
    """
    per_element = x * log_rate - log_rate.exp() - torch.lgamma(x + 1.0)
    return per_element.sum(dim=1)


def masked_sum(elements, observed):
    """Row sums of the per-entry terms ``elements`` over the ``observed`` entries:
    a missing entry is left out of the likelihood (marginalised: the entries
    are independent given the code, so its term integrates to 1)."""
    return torch.where(observed, elements, torch.zeros_like(elements)).sum(dim=1)


class Likelihood(nn.Module):
    """Base of the likelihoods (see the module docstring for the protocol)."""

    #: Closed interval that holds every valid data value.
    support = (-math.inf, math.inf)
    #: What the data must satisfy, and what to do otherwise (error messages).
    requirement = ""
    remedy = ""
    #: Whether the constructor takes the ``shift`` and ``scale`` of the data.
    standardizes = False

    def __init__(self, n_features):
        super().__init__()
        self.n_features = n_features

    def encoder_input(self, x):
        return x

    def log_prob(self, x, out, observed=None):
        if observed is None:
            return self.log_prob_elements(x, out).sum(dim=1)
        return masked_sum(self.log_prob_elements(x, out), observed)

    def log_prob_elements(self, x, out):
        raise NotImplementedError

    def mean(self, out):
        raise NotImplementedError

    @classmethod
    def check_range(cls, low, high):
        """Raise a ValueError when data over ``[low, high]`` leave the support."""
        if low < cls.support[0] or high > cls.support[1]:
            raise ValueError(
                f"The {cls.__name__.removesuffix('Likelihood')} likelihood needs X "
                f"{cls.requirement}, but X ranges over [{low:.4g}, {high:.4g}]. {cls.remedy}"
            )


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli features with probabilities ``sigmoid(out)``.

    For data in [0, 1]; values strictly inside are the Bernoulli targets of
    the paper (binary cross-entropy), without the continuous-Bernoulli
    normalising constant.
    """

    support = (0.0, 1.0)
    requirement = "in [0, 1]"
    remedy = (
        "Scale the data to [0, 1] first (sklearn.preprocessing.MinMaxScaler; new data "
        "scaled with the statistics of other data leave [0, 1] unless it has "
        "clip=True), or use likelihood='gaussian'."
    )

    def log_prob_elements(self, x, out):
        return -F.binary_cross_entropy_with_logits(out, x, reduction="none")

    def mean(self, out):
        return torch.sigmoid(out)


class GaussianLikelihood(Likelihood):
    """Independent Gaussian features with a learned variance per feature.

    The data are modelled as ``(x - shift) / scale`` (the encoder sees them so
    too); ``log_prob`` adds the Jacobian ``-sum(log scale)`` so that the ELBO
    stays a bound on ``log p(x)`` in the original units. The log-variance
    (a parameter) is clamped to a sane range.
    """

    standardizes = True

    def __init__(self, n_features, shift=None, scale=None):
        super().__init__(n_features)
        shift = torch.zeros(n_features) if shift is None else torch.as_tensor(shift)
        scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale)
        self.register_buffer("shift", shift.float().clone())
        self.register_buffer("scale", scale.float().clone())
        self.logvar = nn.Parameter(torch.zeros(n_features))

    def encoder_input(self, x):
        return (x - self.shift) / self.scale

    def log_prob(self, x, out, observed=None):
        if observed is not None:
            return masked_sum(self.log_prob_elements(x, out), observed)
        logvar = self.logvar.clamp(*_GAUSSIAN_LOGVAR_RANGE)
        log_lik = gaussian_log_likelihood(self.encoder_input(x), out, logvar)
        return log_lik - self.scale.log().sum()

    def log_prob_elements(self, x, out):
        logvar = self.logvar.clamp(*_GAUSSIAN_LOGVAR_RANGE)
        standard = self.encoder_input(x)
        per_element = (standard - out).square() * torch.exp(-logvar) + logvar + _LOG_2PI
        return -0.5 * per_element - self.scale.log()

    def mean(self, out):
        return out * self.scale + self.shift


class PoissonLikelihood(Likelihood):
    """Independent Poisson features (counts) with rates ``exp(out)``.

    For data ``>= 0``: counts, or non-negative values treated as counts (the
    formula is then not a normalised density, as for the Bernoulli likelihood
    on grey levels). The encoder sees ``log(1 + x)``; the log-rate is clamped
    to a sane range.
    """

    support = (0.0, math.inf)
    requirement = ">= 0 (counts)"
    remedy = "Pass non-negative data, or use likelihood='gaussian'."

    def encoder_input(self, x):
        return torch.log1p(x)

    def log_prob_elements(self, x, out):
        log_rate = out.clamp(*_POISSON_LOG_RATE_RANGE)
        return x * log_rate - log_rate.exp() - torch.lgamma(x + 1.0)

    def mean(self, out):
        return out.clamp(*_POISSON_LOG_RATE_RANGE).exp()


#: Column kinds of :class:`MixedLikelihood`, by code (its ``kinds`` buffer).
COLUMN_KINDS = ("gaussian", "bernoulli", "poisson")


class MixedLikelihood(GaussianLikelihood):
    """One likelihood per column: Gaussian, Bernoulli or Poisson (tables of
    mixed columns).

    ``kinds`` (a buffer, saved with the model) holds each column's kind as a
    code of :data:`COLUMN_KINDS`; all columns are Gaussian until
    :meth:`set_kinds`. Gaussian columns are standardised and have a learned
    variance as in :class:`GaussianLikelihood`; Bernoulli columns are
    modelled from logits, Poisson columns from log-rates, as in their own
    classes. The encoder sees standardised Gaussian columns, Bernoulli
    columns as they are and ``log(1 + x)`` of Poisson columns. Values outside
    a column's support (new data) are clipped onto it.
    """

    def __init__(self, n_features, shift=None, scale=None):
        super().__init__(n_features, shift, scale)
        self.register_buffer("kinds", torch.zeros(n_features, dtype=torch.long))

    def set_kinds(self, names):
        """Set each column's kind (names of :data:`COLUMN_KINDS`); only Gaussian
        columns keep their standardisation."""
        if len(names) != self.n_features:
            raise ValueError(f"{len(names)} column kinds for {self.n_features} features")
        codes = torch.tensor([COLUMN_KINDS.index(name) for name in names], dtype=torch.long)
        with torch.no_grad():
            self.kinds.copy_(codes)
            other = self.kinds != 0
            self.shift[other] = 0.0
            self.scale[other] = 1.0

    def column_kinds(self):
        """The kind of each column, as names."""
        return [COLUMN_KINDS[int(code)] for code in self.kinds.cpu()]

    def _split(self, x):
        """Masks of the Bernoulli and Poisson columns, and ``x`` clipped onto
        their supports."""
        bernoulli, poisson = self.kinds == 1, self.kinds == 2
        x_bernoulli = torch.where(bernoulli, x.clamp(0.0, 1.0), x)
        x = torch.where(poisson, x.clamp(min=0.0), x_bernoulli)
        return bernoulli, poisson, x

    def encoder_input(self, x):
        _, poisson, x = self._split(x)
        return torch.where(poisson, torch.log1p(x), (x - self.shift) / self.scale)

    def log_prob(self, x, out, observed=None):
        if observed is None:
            return self.log_prob_elements(x, out).sum(dim=1)
        return masked_sum(self.log_prob_elements(x, out), observed)

    def log_prob_elements(self, x, out):
        bernoulli, poisson, x = self._split(x)
        logvar = self.logvar.clamp(*_GAUSSIAN_LOGVAR_RANGE)
        standard = (x - self.shift) / self.scale
        gaussian = -0.5 * ((standard - out).square() * torch.exp(-logvar) + logvar + _LOG_2PI)
        gaussian = gaussian - self.scale.log()
        binary = -F.binary_cross_entropy_with_logits(out, x.clamp(0.0, 1.0), reduction="none")
        log_rate = out.clamp(*_POISSON_LOG_RATE_RANGE)
        count = x.clamp(min=0.0)
        counts = count * log_rate - log_rate.exp() - torch.lgamma(count + 1.0)
        return torch.where(bernoulli, binary, torch.where(poisson, counts, gaussian))

    def mean(self, out):
        bernoulli, poisson = self.kinds == 1, self.kinds == 2
        rate = out.clamp(*_POISSON_LOG_RATE_RANGE).exp()
        gaussian = out * self.scale + self.shift
        return torch.where(bernoulli, torch.sigmoid(out), torch.where(poisson, rate, gaussian))


#: Likelihoods by the name of the estimators' ``likelihood`` parameter.
LIKELIHOODS = {
    "bernoulli": BernoulliLikelihood,
    "gaussian": GaussianLikelihood,
    "poisson": PoissonLikelihood,
    "mixed": MixedLikelihood,
}
