"""Reproducibility on the CPU: random_state alone decides, global RNGs are left alone."""

import pickle
import random

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=3, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=4, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=4, **FAST),
}
VARIANTS = {
    "default": {},
    "early stopping": dict(early_stopping=True, max_iter=4, n_iter_no_change=1),
    "gaussian": dict(likelihood="gaussian"),
}


def unit_data(n=50, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


def weights(est):
    return {k: v.detach().clone() for k, v in est.module_.state_dict().items()}


def assert_identical(a, b, X):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert a.loss_curve_ == b.loss_curve_ and a.n_iter_ == b.n_iter_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))


def global_rng_states():
    return (
        pickle.dumps(np.random.get_state()),
        torch.get_rng_state().clone(),
        random.getstate(),
    )


def disturb_global_rngs(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.rand(seed % 7 + 1)
    torch.rand(seed % 5 + 1)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_same_random_state_is_bit_identical(name, variant):
    X = unit_data()
    est = clone(ESTIMATORS[name]).set_params(**VARIANTS[variant])
    disturb_global_rngs(1)
    a = clone(est).fit(X)
    disturb_global_rngs(12345)
    b = clone(est).fit(X)
    assert_identical(a, b, X)
    # Sparse input gives the same bits as dense input.
    assert_identical(a, clone(est).fit(sp.csr_matrix(X)), X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_partial_fit_sequences_are_bit_identical(name):
    X = unit_data()
    runs = []
    for seed in (3, 4):
        disturb_global_rngs(seed)
        est = clone(ESTIMATORS[name])
        for chunk in np.array_split(X, 3):
            est.partial_fit(chunk)
        runs.append(est)
    assert_identical(*runs, X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_different_random_states_differ(name):
    X = unit_data()
    a = clone(ESTIMATORS[name]).fit(X)
    b = clone(ESTIMATORS[name]).set_params(random_state=1).fit(X)
    assert not np.array_equal(a.transform(X), b.transform(X))
    # None draws fresh entropy each time (without using the global RNGs).
    disturb_global_rngs(0)
    c = clone(ESTIMATORS[name]).set_params(random_state=None).fit(X)
    disturb_global_rngs(0)
    d = clone(ESTIMATORS[name]).set_params(random_state=None).fit(X)
    assert not np.array_equal(c.transform(X), d.transform(X))


@pytest.mark.parametrize("random_state", [0, None, "instance"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_global_rngs_untouched(name, random_state):
    X = unit_data()
    if random_state == "instance":
        random_state = np.random.RandomState(0)
    disturb_global_rngs(7)
    before = global_rng_states()
    est = clone(ESTIMATORS[name]).set_params(random_state=random_state, early_stopping=True)
    est.fit(X)
    est.partial_fit(X)
    est.transform(X)
    est.score(X)
    est.inverse_transform(est.transform(X))
    est.sample(4)
    est.sample(4, random_state=1)
    if name == "vsc":
        est.activity_proba(X)
        est.encode_mean(X)
    after = global_rng_states()
    assert after[0] == before[0], "numpy's global RNG was used"
    assert torch.equal(after[1], before[1]), "torch's global RNG was used"
    assert after[2] == before[2], "Python's random module was used"


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_inference_is_deterministic(name):
    X = unit_data(300)
    est = clone(ESTIMATORS[name]).fit(X)
    for method in ["transform", "score_samples"]:
        first = getattr(est, method)(X)
        np.testing.assert_array_equal(getattr(est, method)(X), first)
        # Rows do not depend on the other rows of the call.
        pieces = np.concatenate([getattr(est, method)(X[i : i + 7]) for i in range(0, 300, 7)])
        np.testing.assert_allclose(pieces, first, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(est.sample(5, random_state=3), est.sample(5, random_state=3))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_refit_after_set_params_starts_from_scratch(name):
    X = unit_data()
    est = clone(ESTIMATORS[name]).fit(X)
    est.set_params(max_iter=2, hidden_layer_sizes=(6,)).fit(X)
    fresh = clone(est).fit(X)
    assert_identical(est, fresh, X)
    assert est.n_iter_ == 2
    # Fitting again with the same parameters gives the same model again.
    est.fit(X)
    assert_identical(est, fresh, X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_warm_start_continues(name):
    X = unit_data()
    est = clone(ESTIMATORS[name]).set_params(max_iter=2).fit(X)
    first_curve = list(est.loss_curve_)
    est.set_params(warm_start=True).fit(X)
    assert est.n_iter_ == 4
    assert est.loss_curve_[:2] == first_curve
    fresh = clone(est).set_params(warm_start=False).fit(X)
    assert not np.array_equal(est.transform(X), fresh.transform(X))
    # Warm-started continuation is itself reproducible.
    again = clone(est).set_params(warm_start=False).fit(X).set_params(warm_start=True).fit(X)
    assert_identical(est, again, X)


def test_grid_search_parallel_matches_serial():
    X = unit_data(80)
    # Default n_threads: the workers' thread limits do not change these results.
    est = clone(ESTIMATORS["vsc"]).set_params(n_threads=None)
    grid = {"alpha": [0.1, 0.5], "n_components": [2, 4]}
    serial, parallel = (GridSearchCV(est, grid, cv=2, n_jobs=n).fit(X) for n in (1, 2))
    assert parallel.best_params_ == serial.best_params_
    for key in ["mean_test_score", "split0_test_score", "split1_test_score"]:
        np.testing.assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key])
    np.testing.assert_array_equal(parallel.transform(X), serial.transform(X))
