"""transform_n_nonzero_coefs: one fit serves every budget of active units."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvsc import VariationalSparseCoder
from skvsc._core.latents import largest, truncation_score


@pytest.fixture(scope="module")
def fitted():
    X = load_digits().data[:500] / 16.0
    vsc = VariationalSparseCoder(n_components=24, alpha=0.3, max_iter=5, random_state=0)
    return vsc.set_params(n_threads=1).fit(X), X


def test_largest_against_a_numpy_ranking():
    score = torch.tensor([[0.9, 0.2, 0.9, 0.6], [0.1, 0.8, 0.3, 0.8]])
    expected = np.zeros((2, 4), bool)
    for row, g in enumerate(score.numpy()):
        expected[row, np.argsort(-g, kind="stable")[:2]] = True  # ties: lower index first
    np.testing.assert_array_equal(largest(score, 2).numpy(), expected)
    assert largest(score, 4).all() and largest(score, 9).all()


def test_truncation_score_ranks_active_units_by_magnitude_above_inactive_ones():
    mu = torch.tensor([[-2.0, 0.5, 3.0, 0.0], [0.1, -0.2, 5.0, 0.0]])
    active = torch.tensor([[True, True, False, True], [True, True, False, False]])
    expected = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, -1.0, -1.0]])
    np.testing.assert_allclose(truncation_score(mu, active).numpy(), expected)
    # an active unit of value 0 still ranks above every inactive unit
    assert largest(truncation_score(mu, active), 3)[0].tolist() == [True, True, False, True]


def test_the_truncated_code_keeps_the_largest_active_units(fitted):
    vsc, X = fitted
    Z = vsc.transform(X)
    assert (Z != 0).sum(axis=1).max() > 3  # the test needs rows to truncate
    for k in (1, 3):
        Zk = vsc.set_params(transform_n_nonzero_coefs=k).transform(X)
        kept = Zk != 0
        assert kept.sum(axis=1).max() <= k
        np.testing.assert_array_equal(Zk[kept], Z[kept])  # kept units keep their value
        for row in range(len(X)):
            active = np.flatnonzero(Z[row])
            best = active[np.argsort(-np.abs(Z[row, active]), kind="stable")][:k]
            assert set(np.flatnonzero(kept[row])) == set(best)
    vsc.set_params(transform_n_nonzero_coefs=None)
    np.testing.assert_array_equal(vsc.transform(X), Z)


def test_fit_ignores_the_cap(fitted):
    vsc, X = fitted
    capped = VariationalSparseCoder(**{**vsc.get_params(), "transform_n_nonzero_coefs": 2}).fit(X)
    np.testing.assert_array_equal(capped.activity_proba(X), vsc.activity_proba(X))
    np.testing.assert_array_equal(capped.activation_rates_, vsc.activation_rates_)
    assert (capped.transform(X) != 0).sum(axis=1).max() <= 2


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_caps_are_refused_by_fit_and_transform(fitted, k):
    vsc, X = fitted
    with pytest.raises(ValueError, match="transform_n_nonzero_coefs must be None or a positive"):
        VariationalSparseCoder(transform_n_nonzero_coefs=k, max_iter=1).fit(X)
    vsc.set_params(transform_n_nonzero_coefs=k)
    try:
        with pytest.raises(ValueError, match="transform_n_nonzero_coefs must be None or a"):
            vsc.transform(X)
    finally:
        vsc.set_params(transform_n_nonzero_coefs=None)
