"""A code that does not depend on its input never comes back silently."""

import numpy as np
import pytest
import torch

from skvsc import VariationalSparseCoder
from skvsc._diagnostics import code_statistics


def test_code_statistics_against_numpy():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(37, 5)) * (rng.random((37, 5)) < 0.4)
    Z[:, 4] = 0.0  # a dead unit
    batches = [torch.from_numpy(Z[i : i + 8]) for i in range(0, 37, 8)]
    stats = code_statistics(iter(batches))
    np.testing.assert_allclose(stats["code_variance"], Z.var(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(stats["activation_rates"], (Z != 0).mean(axis=0))
    assert stats["n_dead_units"] == 1 and stats["n_samples"] == 37


def test_fit_warns_when_the_code_ignores_its_input():
    row = np.random.default_rng(0).random(16)
    X = np.tile(row, (64, 1))  # every sample the same: the code cannot vary
    vsc = VariationalSparseCoder(n_components=8, alpha=0.5, max_iter=3, random_state=0)
    with pytest.warns(UserWarning, match="does not depend on the input.*learning_rate_init"):
        vsc.set_params(n_threads=1).fit(X)
    assert vsc.mean_active_units_ > 0 and vsc.code_variance_.max() < 1e-20  # rounding only


def test_a_varying_code_does_not_warn(digits, recwarn):
    X, _ = digits
    vsc = VariationalSparseCoder(n_components=8, alpha=0.5, max_iter=3, random_state=0)
    vsc.set_params(n_threads=1).fit(X[:300])
    assert vsc.code_variance_.shape == (8,) and vsc.code_variance_.max() > 1e-3
    assert not [w for w in recwarn if "does not depend" in str(w.message)]
    np.testing.assert_allclose(vsc.code_variance_, vsc.transform(X[:300]).var(axis=0), rtol=1e-5)
