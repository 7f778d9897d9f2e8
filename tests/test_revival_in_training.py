"""Dead-unit revival in training (the splitting itself: tests/core/test_revive.py)."""

import numpy as np
import pytest
import torch

from skvsc import VariationalSparseCoder
from skvsc._core.vae import VAE


@pytest.fixture(scope="module")
def images():
    # Stripes of random widths: some units die at alpha=0.02 within a few epochs.
    rng = np.random.RandomState(0)
    X = (rng.rand(600, 36) < 0.1).astype(np.float32)
    for i, row in enumerate(X.reshape(600, 6, 6)):
        row[i % 6] = 1.0
    return X


@pytest.mark.filterwarnings("ignore:Every training sample has an all-zero")
def test_fit_revives_dead_units_and_is_deterministic(images):
    params = dict(n_components=24, alpha=0.02, max_iter=8, random_state=0, kl_warmup=0.2)
    plain = VariationalSparseCoder(**params).fit(images)
    revived = VariationalSparseCoder(revive=0.8, **params).fit(images)
    again = VariationalSparseCoder(revive=0.8, **params).fit(images)
    assert all("revived" not in h for h in plain.history_)
    assert sum(h["revived"] for h in revived.history_ if "revived" in h) > 0
    for name, weight in revived.module_.state_dict().items():
        torch.testing.assert_close(weight, again.module_.state_dict()[name], rtol=0, atol=0)
    assert not torch.equal(revived.module_.encoder.heads.weight, plain.module_.encoder.heads.weight)
    assert not hasattr(revived.module_, "unit_counts")  # nothing left on the model


@pytest.mark.parametrize("value, error", [(-0.1, ValueError), (1.5, ValueError), ("x", TypeError)])
def test_bad_revive_is_rejected_by_name(images, value, error):
    with pytest.raises(error, match="revive"):
        VariationalSparseCoder(revive=value, max_iter=1).fit(images)


@pytest.mark.filterwarnings("ignore:Training interrupted")
def test_an_interrupted_epoch_stops_counting(images, monkeypatch):
    objective = VAE.objective

    def interrupt(self, x, values, generator, unit_counts=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(VAE, "objective", interrupt)
    est = VariationalSparseCoder(revive=1.0, max_iter=2, random_state=0).fit(images)
    monkeypatch.setattr(VAE, "objective", objective)
    assert not hasattr(est.module_, "unit_counts")
    est.partial_fit(images)  # the next epochs count afresh
    assert est.n_iter_ == 1
