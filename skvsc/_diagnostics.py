"""Statistics of the latent code: how sparse it is and which units are used.

Pure functions over batches of torch tensors (or numpy arrays), so that a
whole data set is never held in memory at once:

- :func:`activation_statistics` for spike-and-slab codes: a unit is active on
  a sample where the code of ``transform`` is non-zero (``gamma > 0.5``, and
  the aggregate prior's floor); :func:`code_statistics` adds the variance of each unit's
  value across samples (a code that does not vary ignores its input);
- :func:`posterior_mean_variance` and :func:`count_active_units` for dense
  codes: the activity statistic of Burda et al. (2016),
  ``A_j = Var_x(E_q(z|x)[z_j])``, and the number of units with ``A_j`` above a
  threshold (0.01 in the paper);
- :func:`class_activation`: the class-by-unit mean activation of codes.
"""

import numpy as np
import torch

#: Burda et al.'s threshold on the variance of the posterior mean.
ACTIVE_VARIANCE_THRESHOLD = 0.01
#: A code whose every unit varies less than this across samples (codes are on
#: the N(0, 1) scale of the prior) does not depend on its input.
CONSTANT_CODE_VARIANCE = 1e-6


def _as_tensor(batch):
    return batch if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch))


def _check_batch(batch):
    if batch.ndim != 2:
        raise ValueError(f"Expected batches of shape (n, n_components), got {tuple(batch.shape)}.")


def activation_statistics(active_batches):
    """Activation rates of the units, dead and always-on units.

    Parameters
    ----------
    active_batches : iterable of bool tensors of shape (batch_size, n_components)
        Whether each unit is active on each sample, one batch at a time.

    Returns
    -------
    stats : dict
        ``n_samples`` (int); ``activation_rates`` (float64 ndarray of shape
        (n_components,), the fraction of samples on which each unit is
        active); ``mean_active_units`` (the mean number of active units per
        sample, the L0 norm of the code); ``n_dead_units`` (units active on
        no sample); ``n_always_on_units`` (units active on every sample).
    """
    counts = None
    n_samples = 0
    for batch in active_batches:
        batch = _as_tensor(batch)
        _check_batch(batch)
        batch_counts = batch.to(torch.int64).sum(dim=0).cpu()
        counts = batch_counts if counts is None else counts + batch_counts
        n_samples += batch.shape[0]
    if counts is None or n_samples == 0:
        raise ValueError("Cannot compute activation statistics of zero samples.")
    counts = counts.numpy()
    rates = counts / n_samples
    return {
        "n_samples": n_samples,
        "activation_rates": rates,
        "mean_active_units": float(counts.sum() / n_samples),
        "n_dead_units": int(np.sum(counts == 0)),
        "n_always_on_units": int(np.sum(counts == n_samples)),
    }


class _Moments:
    """Running mean and sum of squared deviations per column, merged batch by
    batch with Chan et al.'s pairwise rule in float64 (accurate when the
    means are far from zero)."""

    def __init__(self):
        self.n, self.mean, self.m2 = 0, None, None

    def add(self, batch):
        batch = _as_tensor(batch).detach().to("cpu", torch.float64)
        n_b = batch.shape[0]
        if n_b == 0:
            return
        mean_b = batch.mean(dim=0)
        m2_b = ((batch - mean_b) ** 2).sum(dim=0)
        if self.mean is None:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        delta = mean_b - self.mean
        total = self.n + n_b
        self.mean = self.mean + delta * (n_b / total)
        self.m2 = self.m2 + m2_b + delta**2 * (self.n * n_b / total)
        self.n = total

    def variance(self):
        """Population variance (``ddof=0``) of every column."""
        return (self.m2 / self.n).numpy()


def posterior_mean_variance(mean_batches):
    """Variance across samples of each unit's posterior mean (``A_j``).

    Parameters
    ----------
    mean_batches : iterable of tensors of shape (batch_size, n_components)
        Posterior means ``mu``, one batch at a time.

    Returns
    -------
    variance : float64 ndarray of shape (n_components,)
        Population variance (``ddof=0``) of every unit's posterior mean.
    """
    moments = _Moments()
    for batch in mean_batches:
        _check_batch(_as_tensor(batch))
        moments.add(batch)
    if moments.mean is None:
        raise ValueError("Cannot compute the posterior-mean variance of zero samples.")
    return moments.variance()


def code_statistics(code_batches):
    """:func:`activation_statistics` of a sparse code (a unit is active where
    it is non-zero) and the variance of each unit's value across samples,
    ``code_variance``, in one pass over the batches."""
    return statistics_of_summary(code_summary(code_batches))


def code_summary(code_batches, n_components=None):
    """A summary of code batches that merges across parts of the rows
    (:func:`merge_summaries`): the float64 vector ``[n_samples, counts,
    mean, m2]`` of length ``1 + 3 J``, with each unit's count of non-zero
    values and the running moments of its values. ``n_components`` gives the
    length when there may be no batch (a part without rows)."""
    moments, counts = _Moments(), None
    for batch in code_batches:
        batch = _as_tensor(batch)
        _check_batch(batch)
        moments.add(batch)
        batch_counts = (batch != 0).to(torch.int64).sum(dim=0).cpu()
        counts = batch_counts if counts is None else counts + batch_counts
    if counts is None:
        if n_components is None:
            raise ValueError("Cannot compute activation statistics of zero samples.")
        return np.zeros(1 + 3 * n_components)
    return np.concatenate(
        [[moments.n], counts.numpy(), moments.mean.numpy(), moments.m2.numpy()]
    ).astype(np.float64)


def merge_summaries(summaries):
    """One :func:`code_summary` of the rows of all ``summaries`` (in their
    order; Chan et al.'s merge of the moments, exact sums of the counts)."""
    total = None
    for summary in summaries:
        summary = np.asarray(summary, dtype=np.float64)
        if total is None or total[0] == 0:
            total = summary.copy()
            continue
        if summary[0] == 0:
            continue
        J = (len(summary) - 1) // 3
        n, k = total[0], summary[0]
        mean_a, m2_a = total[1 + J : 1 + 2 * J], total[1 + 2 * J :]
        mean_b, m2_b = summary[1 + J : 1 + 2 * J], summary[1 + 2 * J :]
        delta = mean_b - mean_a
        merged = np.empty_like(total)
        merged[0] = n + k
        merged[1 : 1 + J] = total[1 : 1 + J] + summary[1 : 1 + J]
        merged[1 + J : 1 + 2 * J] = mean_a + delta * (k / (n + k))
        merged[1 + 2 * J :] = m2_a + m2_b + delta**2 * (n * k / (n + k))
        total = merged
    return total


def statistics_of_summary(summary):
    """The dict of :func:`code_statistics` from a :func:`code_summary`."""
    n_samples = int(summary[0])
    if n_samples == 0:
        raise ValueError("Cannot compute activation statistics of zero samples.")
    J = (len(summary) - 1) // 3
    counts = summary[1 : 1 + J].astype(np.int64)
    return {
        "n_samples": n_samples,
        "activation_rates": counts / n_samples,
        "mean_active_units": float(counts.sum() / n_samples),
        "n_dead_units": int(np.sum(counts == 0)),
        "n_always_on_units": int(np.sum(counts == n_samples)),
        "code_variance": summary[1 + 2 * J :] / n_samples,
    }


def variance_of_summary(summary):
    """:func:`posterior_mean_variance` from a :func:`code_summary` of the means."""
    if summary[0] == 0:
        raise ValueError("Cannot compute the posterior-mean variance of zero samples.")
    J = (len(summary) - 1) // 3
    return summary[1 + 2 * J :] / summary[0]


def count_active_units(variance, threshold=ACTIVE_VARIANCE_THRESHOLD):
    """Number of units whose posterior-mean variance exceeds ``threshold``."""
    return int(np.sum(np.asarray(variance) > threshold))


def class_activation(Z, y, statistic="magnitude"):
    """Class-by-unit mean activation of codes ``Z`` with labels ``y``.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_components)
        Codes, e.g. the output of ``transform``.
    y : array-like of shape (n_samples,)
        Class labels.
    statistic : {"magnitude", "rate"}, default="magnitude"
        ``"magnitude"``: mean of ``|z_j|`` over the samples of each class;
        ``"rate"``: fraction of the samples of each class where ``z_j != 0``.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Sorted class labels.
    matrix : ndarray of shape (n_classes, n_components)
        The statistic of every class (rows) and unit (columns).
    """
    if statistic not in ("magnitude", "rate"):
        raise ValueError(f"statistic must be 'magnitude' or 'rate', got {statistic!r}.")
    values = np.abs(Z) if statistic == "magnitude" else (Z != 0).astype(np.float64)
    classes, index = np.unique(y, return_inverse=True)
    sums = np.zeros((classes.size, Z.shape[1]))
    np.add.at(sums, index, values)
    return classes, sums / np.bincount(index)[:, None]
