"""Behaviour of the two estimators on small data."""

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(hidden_layer_sizes=(32,), max_iter=5, device="cpu", random_state=0)
ESTIMATORS = [
    lambda **kw: VariationalSparseCoder(**{"n_components": 16, "alpha": 0.2, **FAST, **kw}),
    lambda **kw: VAETransformer(**{"n_components": 8, **FAST, **kw}),
]
IDS = ["vsc", "vae"]


@pytest.fixture
def small(digits):
    X, y = digits
    return X[:300], y[:300]


@pytest.mark.parametrize("classifier", [SVC(), LogisticRegression(max_iter=500)])
def test_pipeline_with_a_classifier(small, classifier):
    X, y = small
    pipe = Pipeline([("vsc", ESTIMATORS[0]()), ("clf", classifier)]).fit(X, y)
    assert pipe.predict(X).shape == y.shape
    assert pipe.score(X, y) > 0.3  # far above 10 % chance


def test_grid_search_in_a_pipeline(small):
    X, y = small
    pipe = Pipeline([("vsc", ESTIMATORS[0](max_iter=2)), ("clf", LogisticRegression())])
    grid = {"vsc__alpha": [0.1, 0.5], "vsc__n_components": [4, 8]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_params_["vsc__alpha"] in (0.1, 0.5)


def test_grid_search_without_labels_uses_the_elbo(small):
    X, _ = small
    search = GridSearchCV(
        ESTIMATORS[0](max_iter=2), {"alpha": [0.1, 0.5], "n_components": [4, 8]}, cv=2
    ).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    assert search.best_score_ == scores.max()


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_joblib_round_trip_transforms_identically(small, make, tmp_path):
    X, _ = small
    est = make().fit(X)
    joblib.dump(est, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    assert loaded.score(X) == est.score(X)
    loaded.partial_fit(X)  # still trainable after loading
    assert loaded.n_iter_ == est.n_iter_ + 1


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_same_random_state_same_result_and_global_rngs_untouched(small, make):
    X, _ = small
    np.random.seed(123)
    torch.manual_seed(123)
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    first = make().fit(X)
    np.random.rand(10)  # a different global state must not matter
    torch.rand(10)
    second = make().fit(X)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    assert first.loss_curve_ == second.loss_curve_
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)
    make(random_state=None).fit(X)
    assert np.array_equal(np.random.get_state()[1], np_state[1])
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_different_random_states_differ(small):
    X, _ = small
    a = ESTIMATORS[1](random_state=0).fit(X).transform(X)
    b = ESTIMATORS[1](random_state=1).fit(X).transform(X)
    assert not np.allclose(a, b)


def test_smaller_alpha_gives_sparser_codes(digits):
    X, _ = digits
    nonzero = {}
    for alpha in (0.05, 0.5):
        est = VariationalSparseCoder(
            n_components=32,
            alpha=alpha,
            hidden_layer_sizes=(64,),
            max_iter=10,
            device="cpu",
            random_state=0,
        ).fit(X)
        nonzero[alpha] = np.mean(est.transform(X) != 0)
    assert nonzero[0.05] < nonzero[0.5]


def test_vsc_code_is_exactly_sparse_where_gamma_is_low(small):
    X, _ = small
    est = ESTIMATORS[0]().fit(X)
    Z, gamma, mu = est.transform(X), est.activity_proba(X), est.encode_mean(X)
    assert np.all((gamma > 0) & (gamma < 1))
    # the units with gamma > 0.5, and the most probable unit of a row with none (the floor)
    active = gamma > 0.5
    empty = np.flatnonzero(~active.any(axis=1))
    assert est.module_.latent.floor
    active[empty, gamma[empty].argmax(axis=1)] = True
    np.testing.assert_array_equal(Z != 0, active)
    np.testing.assert_array_equal(Z[active], mu[active])


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_inverse_transform_and_sample(small, make):
    X, _ = small
    est = make().fit(X)
    X_rec = est.inverse_transform(est.transform(X))
    assert X_rec.shape == X.shape and np.all((X_rec >= 0) & (X_rec <= 1))
    samples = est.sample(7, random_state=0)
    assert samples.shape == (7, X.shape[1])
    np.testing.assert_array_equal(samples, est.sample(7, random_state=0))
    with pytest.raises(ValueError, match="n_components"):
        est.inverse_transform(np.zeros((2, 3)))


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_float32_is_preserved(small, make):
    X, _ = small
    est = make().fit(X.astype(np.float32))
    for method in ("transform", "score_samples"):
        assert getattr(est, method)(X.astype(np.float32)).dtype == np.float32
        assert getattr(est, method)(X).dtype == np.float64
    assert est.inverse_transform(est.transform(X.astype(np.float32))).dtype == np.float32


def test_likelihood_auto_is_recorded(small):
    X, _ = small
    assert ESTIMATORS[1]().fit(X).likelihood_ == "bernoulli"
    gaussian = ESTIMATORS[1]().fit(X * 16 - 3)
    assert gaussian.likelihood_ == "gaussian"
    assert np.isfinite(gaussian.score(X * 16 - 3))


def test_score_is_deterministic_and_improves_with_training(small):
    X, _ = small
    short = ESTIMATORS[1](max_iter=1).fit(X)
    long = ESTIMATORS[1](max_iter=15).fit(X)
    assert short.score(X) == short.score(X)
    assert long.score(X) > short.score(X)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_input_matches_dense(small, fmt):
    X, _ = small
    dense = ESTIMATORS[0]().fit(X)
    sparse = ESTIMATORS[0]().fit(sp.csr_matrix(X).asformat(fmt))
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X)), dense.transform(X), atol=1e-6)
    np.testing.assert_allclose(sparse.score_samples(sp.csr_matrix(X)), dense.score_samples(X))


def test_partial_fit_counts_epochs_and_keeps_state(small):
    X, _ = small
    est = ESTIMATORS[0]()
    est.partial_fit(X)
    first = est.transform(X)
    est.partial_fit(X)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    assert not np.array_equal(first, est.transform(X)) or np.all(first == 0)


def test_refit_starts_from_scratch_unless_warm_start(small):
    X, _ = small
    est = ESTIMATORS[1](max_iter=3).fit(X)
    assert est.fit(X).n_iter_ == 3
    est.set_params(warm_start=True)
    assert est.fit(X).n_iter_ == 6


def test_early_stopping_records_validation_scores(small):
    X, _ = small
    est = ESTIMATORS[1](max_iter=50, early_stopping=True, n_iter_no_change=2, tol=10.0).fit(X)
    assert est.n_iter_ < 50
    assert len(est.validation_scores_) == est.n_iter_
    assert est.validation_scores_[0] < 0


def test_get_feature_names_out(small):
    X, _ = small
    names = ESTIMATORS[0]().fit(X).get_feature_names_out()
    assert list(names[:2]) == ["variationalsparsecoder0", "variationalsparsecoder1"]


def test_verbose_prints_the_real_loss(small, capsys):
    X, _ = small
    est = ESTIMATORS[1](max_iter=2, verbose=2).fit(X)
    out = capsys.readouterr().out
    assert f"{est.loss_curve_[-1]:.4f}" in out


# -- bad input ---------------------------------------------------------------
@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_bad_data_is_rejected_clearly(small, make):
    X, _ = small
    est = make()
    for bad, match in [
        (np.where(np.eye(len(X), X.shape[1]) > 0, np.inf, X), "infinity"),
        (X[:, 0], "2D array"),
        (X[:0], "0 sample"),
    ]:
        with pytest.raises(ValueError, match=match):
            est.fit(bad)
    est.fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :10])


def test_bernoulli_rejects_data_outside_the_unit_interval(small):
    X, _ = small
    with pytest.raises(ValueError, match="MinMaxScaler.*likelihood='gaussian'"):
        ESTIMATORS[0](likelihood="bernoulli").fit(X * 2)
    est = ESTIMATORS[0](likelihood="bernoulli").fit(X)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        est.score(X - 0.5)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": 1.0}, ValueError, "alpha"),
        ({"alpha": "big"}, TypeError, "alpha"),
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 2.5}, TypeError, "n_components"),
        ({"device": "tpu"}, ValueError, "device"),
        ({"likelihood": "gamma"}, ValueError, "likelihood"),
        ({"hidden_layer_sizes": (10, -1)}, ValueError, "hidden_layer_sizes"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"learning_rate_init": -1.0}, ValueError, "learning_rate_init"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"sharpness": (50.0,)}, ValueError, "sharpness"),
        ({"kl_warmup": 2.0}, ValueError, "kl_warmup"),
    ],
)
def test_invalid_parameters_name_themselves(small, params, error, match):
    X, _ = small
    with pytest.raises(error, match=match):
        ESTIMATORS[0](**params).fit(X)


def test_cuda_request_without_cuda_is_a_clear_error(small):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        ESTIMATORS[0](device="cuda").fit(small[0])


def test_all_zero_codes_warn(digits):
    # 8x8 digits under the Bernoulli likelihood with the paper's fixed prior: no unit is
    # worth log(1/alpha) nats of KL.
    X, _ = digits
    est = VariationalSparseCoder(
        n_components=16,
        alpha=0.01,
        prior="fixed",
        hidden_layer_sizes=(32,),
        max_iter=10,
        device="cpu",
        random_state=0,
    )
    with pytest.warns(UserWarning, match="all-zero sparse code"):
        est.fit(X)
    assert est.mean_active_units_ == 0 and np.all(est.transform(X) == 0)


@pytest.mark.parametrize("Estimator", [VariationalSparseCoder, VAETransformer])
def test_auto_max_iter_scales_with_one_over_the_root_of_the_steps(Estimator):
    # 390 / sqrt(ceil(n / 128)) epochs at the default batch size, within [10, 200].
    est = Estimator()
    expected = {60_000: 18, 6_667: 54, 1_347: 118, 500: 195, 100: 200, 10_000_000: 10}
    assert {n: est._max_epochs(n) for n in expected} == expected
    assert Estimator(max_iter=7)._max_epochs(60_000) == 7
    # early_stopping holds out validation_fraction first: 54,000 rows train.
    assert Estimator(early_stopping=True)._max_epochs(60_000) == 19
