"""Contracts of the estimators that a wrong line would break silently.

The mean (not the sum) in ``score``; the usage penalty reaching training; the
training step's work reaching the thread rule. Each test checks the quantity
itself rather than a consequence further down.
"""

import numpy as np
import pytest
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder, _device

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=3, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=4, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=4, **FAST),
}
X = np.random.default_rng(0).random((48, 10))


@pytest.fixture(scope="module")
def fitted():
    return {name: clone(est).fit(X) for name, est in ESTIMATORS.items()}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_score_is_the_mean_elbo_per_sample(name, fitted):
    est = fitted[name]
    samples = est.score_samples(X)
    assert est.score(X) == pytest.approx(samples.mean(), rel=1e-12)
    # The mean does not grow with the number of rows (a sum would triple).
    assert est.score(np.vstack([X, X, X])) == pytest.approx(est.score(X), rel=1e-6)
    assert est.score(X[:1]) == pytest.approx(samples[0], rel=1e-6)


def _weights(est):
    return [p.detach().clone() for p in est.module_.parameters()]


@pytest.mark.parametrize("change", [{"usage_weight": 0.0}, {"usage": "prior"}])
def test_the_usage_penalty_shapes_training(change, fitted):
    # usage_weight=5, usage="balance" (the defaults) against no penalty or the
    # other form: same seed, same data, other weights after training.
    base = fitted["vsc"]
    assert base.usage_weight == "auto" and base.usage == "balance"  # 5.0 for this prior
    assert base._run.schedule.usage_weight == 5.0
    other = clone(base).set_params(**change).fit(X)
    assert any(not (a == b).all() for a, b in zip(_weights(base), _weights(other)))
    assert other.loss_curve_ != base.loss_curve_
    # Only the penalty differs: with the same parameters training is repeatable.
    again = clone(base).fit(X)
    assert all((a == b).all() for a, b in zip(_weights(base), _weights(again)))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_fit_gives_the_thread_rule_the_flops_of_a_training_step(name, monkeypatch):
    seen = []

    def record(work=None, **inputs):
        seen.append(work)
        return 1

    monkeypatch.setattr(_device, "auto_threads", record)
    est = clone(ESTIMATORS[name]).set_params(n_threads=None, max_iter=1).fit(X)
    # An MLP's matrix products: 2 FLOPs per weight and row forward, 3 times that
    # with the backward pass (biases not counted), here from the module itself.
    weights = sum(p.numel() for p in est.module_.parameters() if p.dim() >= 2)
    # The first call is the fit's; the code statistics stored after it are inference.
    assert seen[0] == 6 * weights * 16 > 0
    assert all(w is not None and w > 0 for w in seen)
    seen.clear()
    est.transform(X)
    assert seen == [2 * weights * len(X)]
