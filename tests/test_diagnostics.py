"""Code statistics: the pure functions, the fitted attributes and summary()."""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._diagnostics import (
    activation_statistics,
    class_activation,
    code_summary,
    count_active_units,
    merge_summaries,
    posterior_mean_variance,
    statistics_of_summary,
    variance_of_summary,
)

X = (load_digits().data[:400] / 16.0).astype(np.float32)
FAST = dict(hidden_layer_sizes=(16,), batch_size=64, device="cpu", n_threads=1, random_state=0)


def batches(array, sizes):
    out, start = [], 0
    for size in sizes:
        out.append(array[start : start + size])
        start += size
    assert start == len(array)
    return out


# -- pure functions ---------------------------------------------------------------
def test_activation_statistics_known_matrix():
    active = np.array(
        [[1, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [1, 0, 0, 0]], dtype=bool
    )
    stats = activation_statistics([torch.from_numpy(b) for b in batches(active, [2, 0, 3])])
    assert stats["n_samples"] == 5
    np.testing.assert_allclose(stats["activation_rates"], [1.0, 0.0, 0.4, 0.2])
    assert stats["mean_active_units"] == pytest.approx(1.6)
    assert stats["n_dead_units"] == 1
    assert stats["n_always_on_units"] == 1
    one_batch = activation_statistics([active])  # numpy, one batch
    np.testing.assert_array_equal(one_batch.pop("activation_rates"), stats.pop("activation_rates"))
    assert one_batch == stats


def test_activation_statistics_bad_input():
    with pytest.raises(ValueError, match="zero samples"):
        activation_statistics([])
    with pytest.raises(ValueError, match="shape"):
        activation_statistics([np.ones(3, dtype=bool)])


def test_posterior_mean_variance_merges_batches_accurately():
    rng = np.random.default_rng(0)
    mu = 1e4 + rng.normal(size=(1000, 5)) * np.array([1e-3, 0.1, 1.0, 10.0, 0.0])
    parts = [torch.from_numpy(b.astype(np.float64)) for b in batches(mu, [1, 0, 300, 699])]
    variance = posterior_mean_variance(parts)
    np.testing.assert_allclose(variance, mu.var(axis=0), rtol=1e-9, atol=1e-15)
    assert variance.dtype == np.float64
    with pytest.raises(ValueError, match="zero samples"):
        posterior_mean_variance([])


def test_count_active_units():
    assert count_active_units([0.0, 0.01, 0.0101, 3.0]) == 2
    assert count_active_units([0.0, 0.01, 0.0101, 3.0], threshold=0.0) == 3


def test_class_activation():
    Z = np.array([[0.0, 2.0], [0.0, -4.0], [1.0, 0.0], [3.0, 1.0]])
    y = np.array(["b", "b", "a", "a"])
    classes, magnitude = class_activation(Z, y)
    assert classes.tolist() == ["a", "b"]
    np.testing.assert_allclose(magnitude, [[2.0, 0.5], [0.0, 3.0]])
    _, rate = class_activation(Z, y, statistic="rate")
    np.testing.assert_allclose(rate, [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="statistic"):
        class_activation(Z, y, statistic="mean")


# -- fitted attributes ------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_vsc():
    # the free gate: force_units switches units through its gamma head
    return VariationalSparseCoder(n_components=12, alpha=0.3, gate="free", max_iter=3, **FAST).fit(
        X
    )


@pytest.fixture(scope="module")
def fitted_vae():
    return VAETransformer(n_components=6, max_iter=3, **FAST).fit(X)


def force_units(est, dead=(), always_on=()):
    """A copy whose gamma head makes units ``dead`` never and ``always_on``
    always active."""
    est = copy.deepcopy(est)
    heads = est.module_.encoder.heads
    n_units = est.module_.n_components
    with torch.no_grad():
        for units, bias in ((dead, -50.0), (always_on, 50.0)):
            for unit in units:
                heads.weight[2 * n_units + unit] = 0.0
                heads.bias[2 * n_units + unit] = bias
    return est


def test_vsc_attributes_match_the_code(fitted_vsc):
    est = fitted_vsc
    active = est.transform(X) != 0
    np.testing.assert_array_equal(est.activation_rates_, active.mean(axis=0))
    assert est.mean_active_units_ == pytest.approx(active.sum(axis=1).mean())
    assert est.n_dead_units_ == int((~active.any(axis=0)).sum())
    assert est.n_always_on_units_ == int(active.all(axis=0).sum())
    assert 0 < est.mean_active_units_ < 12  # a sparse code, not a degenerate one


def test_vsc_sparsity_report_counts_dead_and_always_on_units(fitted_vsc):
    est = force_units(fitted_vsc, dead=[0, 5], always_on=[3])
    report = est.sparsity_report(X)
    assert report["n_samples"] == X.shape[0]
    rates = report["activation_rates"]
    assert rates[[0, 5]].tolist() == [0.0, 0.0]
    assert rates[3] == 1.0
    assert report["n_dead_units"] == np.sum(rates == 0) >= 2
    assert report["n_always_on_units"] == np.sum(rates == 1) >= 1
    assert report["mean_active_units"] == pytest.approx(rates.sum())


def test_vsc_sparsity_report_on_any_data(fitted_vsc):
    subset = fitted_vsc.sparsity_report(X[:10])
    np.testing.assert_array_equal(
        subset["activation_rates"], (fitted_vsc.transform(X[:10]) != 0).mean(axis=0)
    )
    dense = fitted_vsc.sparsity_report(X)
    sparse = fitted_vsc.sparsity_report(sp.csr_matrix(X))
    np.testing.assert_array_equal(dense["activation_rates"], sparse["activation_rates"])
    np.testing.assert_array_equal(dense["activation_rates"], fitted_vsc.activation_rates_)
    with pytest.raises(ValueError, match="features"):
        fitted_vsc.sparsity_report(X[:, :10])


def test_vsc_attributes_are_computed_on_all_the_fit_data():
    est = VariationalSparseCoder(
        n_components=8, alpha=0.3, max_iter=2, early_stopping=True, **FAST
    ).fit(X)
    report = est.sparsity_report(X)  # the training and the held-out part
    np.testing.assert_array_equal(est.activation_rates_, report["activation_rates"])


def test_partial_fit_updates_the_attributes_on_its_data():
    est = VariationalSparseCoder(n_components=8, alpha=0.3, **FAST)
    est.partial_fit(X[:200])
    first = est.activation_rates_.copy()
    np.testing.assert_array_equal(first, est.sparsity_report(X[:200])["activation_rates"])
    est.partial_fit(X[200:])
    np.testing.assert_array_equal(
        est.activation_rates_, est.sparsity_report(X[200:])["activation_rates"]
    )


def test_float64_attributes_match_the_float64_code():
    X64 = X.astype(np.float64)
    est = VariationalSparseCoder(n_components=8, alpha=0.3, max_iter=2, **FAST).fit(X64)
    np.testing.assert_array_equal(est.activation_rates_, (est.transform(X64) != 0).mean(axis=0))


def test_vae_active_units(fitted_vae):
    est = fitted_vae
    variance = est.transform(X).astype(np.float64).var(axis=0)
    np.testing.assert_allclose(est.posterior_mean_variance_, variance, rtol=1e-5, atol=1e-9)
    assert est.n_active_units_ == int((variance > 0.01).sum())
    report = est.sparsity_report(X, threshold=0.0)
    assert report["n_active_units"] == 6
    assert report["n_samples"] == X.shape[0]
    threshold = np.sort(est.posterior_mean_variance_)[2]  # exactly three units above
    assert est.sparsity_report(X, threshold=threshold)["n_active_units"] == 3
    with pytest.raises(ValueError, match="threshold"):
        est.sparsity_report(X, threshold=-1.0)


def test_vae_collapsed_unit_is_inactive(fitted_vae):
    est = copy.deepcopy(fitted_vae)
    with torch.no_grad():  # unit 2's posterior mean no longer depends on x
        est.module_.encoder.heads.weight[2] = 0.0
    report = est.sparsity_report(X)
    assert report["posterior_mean_variance"][2] == pytest.approx(0.0, abs=1e-12)
    assert report["n_active_units"] <= 5


# -- summary ---------------------------------------------------------------------
def test_summary_vsc(fitted_vsc):
    text = fitted_vsc.summary()
    lines = text.splitlines()
    assert lines[0] == (
        "VariationalSparseCoder: 64 features -> 12 latent units, bernoulli likelihood, device cpu"
    )
    assert (
        f"Trained 3 epochs; last epoch: training -ELBO {fitted_vsc.loss_curve_[-1]:.4f}" in lines[1]
    )
    assert f"{fitted_vsc.mean_active_units_:.2f} active units per sample" in lines[2]
    assert f"{fitted_vsc.n_dead_units_} dead units" in lines[2]
    assert repr(fitted_vsc).startswith("VariationalSparseCoder(")  # repr untouched
    assert "Trained" not in repr(fitted_vsc)


def test_summary_vae_with_validation():
    est = VAETransformer(n_components=4, max_iter=2, early_stopping=True, **FAST).fit(X)
    lines = est.summary().splitlines()
    assert f"validation ELBO {est.validation_scores_[-1]:.4f}" in lines[1]
    assert f"(best {max(est.validation_scores_):.4f})" in lines[1]
    assert lines[2].startswith(f"Code on the training data: {est.n_active_units_} of 4 units")


def test_unfitted():
    for est in (VariationalSparseCoder(), VAETransformer()):
        with pytest.raises(NotFittedError):
            est.summary()
        with pytest.raises(NotFittedError):
            est.sparsity_report(X)


def test_summaries_of_parts_merge_into_the_statistics_of_all_rows():
    # The sharded statistics of a data-parallel fit: parts (an empty one
    # too) summarized apart and merged in order give numpy's figures.
    rng = np.random.default_rng(0)
    Z = rng.normal(5.0, 2.0, size=(300, 6)) * (rng.random((300, 6)) < 0.3)
    Z[:, 2] = 0.0  # a dead unit
    parts = [Z[:100], Z[100:100], Z[100:220], Z[220:]]
    sizes = [[64, 36], [], [120], [50, 30]]
    summaries = [code_summary(batches(p, s), 6) for p, s in zip(parts, sizes, strict=True)]
    merged = merge_summaries(summaries)
    stats = statistics_of_summary(merged)
    counts = (Z != 0).sum(axis=0)
    np.testing.assert_array_equal(stats["activation_rates"], counts / 300)
    assert stats["n_dead_units"] == 1 and stats["n_samples"] == 300
    np.testing.assert_allclose(stats["code_variance"], Z.var(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(variance_of_summary(merged), Z.var(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(merged, code_summary([Z]), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="zero samples"):
        statistics_of_summary(merge_summaries([code_summary([], 6)]))
