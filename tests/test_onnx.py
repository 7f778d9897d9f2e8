"""ONNX export: onnxruntime computes what transform and inverse_transform compute,
with the same exact zeros, alone and inside a pipeline converted by skl2onnx."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc import onnx as skvsc_onnx

from .test_code_floor import PARAMS as FLOOR_PARAMS
from .test_code_floor import X as DIGITS
from .test_code_floor import switched_off

pytest.importorskip("onnx", reason="onnx is not installed (pip install skvsc[onnx])")
ort = pytest.importorskip(
    "onnxruntime", reason="onnxruntime is not installed (pip install skvsc[onnx])"
)

FAST = dict(
    hidden_layer_sizes=(16, 8), max_iter=3, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=6, alpha=0.3, **FAST),
    "vsc-fixed": VariationalSparseCoder(n_components=6, alpha=0.3, prior="fixed", **FAST),
    "vsc-tied": VariationalSparseCoder(n_components=6, alpha=0.3, gate="tied", **FAST),
    "vae": VAETransformer(n_components=4, **FAST),
    "vsc-top-2": VariationalSparseCoder(
        n_components=6, alpha=0.6, transform_n_nonzero_coefs=2, **FAST
    ),
}


def make_data(likelihood, n=120, d=7, seed=0):
    """Data of each likelihood's support; Gaussian data far from standard (shift and scale)."""
    rng = np.random.default_rng(seed)
    if likelihood == "bernoulli":
        return rng.random((n, d))
    if likelihood == "gaussian":
        return rng.normal(5.0, 3.0, (n, d)) * np.arange(1, d + 1)
    return rng.poisson(3.0, (n, d)).astype(float)


def run(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "poisson"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_onnx_matches_transform_and_inverse_transform(name, likelihood):
    X = make_data(likelihood)
    est = clone(ESTIMATORS[name]).set_params(likelihood=likelihood).fit(X)
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        Z = est.transform(Xd)
        (Z_onnx,) = run(skvsc_onnx.to_onnx(est, dtype=dtype), Xd)
        assert Z_onnx.dtype == dtype and Z_onnx.shape == Z.shape
        np.testing.assert_allclose(Z_onnx, Z, rtol=1e-5, atol=1e-5)
        # The exact zeros of the sparse code are the same zeros.
        np.testing.assert_array_equal(Z_onnx == 0, Z == 0)
        if name.startswith("vsc") and dtype == np.float32:
            assert 0 < (Z == 0).mean() < 1  # the pattern is not trivial
        X_back = est.inverse_transform(Z)
        (X_back_onnx,) = run(skvsc_onnx.to_onnx(est, "inverse_transform", dtype=dtype), Z)
        assert X_back_onnx.dtype == dtype
        np.testing.assert_allclose(X_back_onnx, X_back, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("name", ["vsc", "vae"])
def test_skl2onnx_converts_a_pipeline(name, likelihood):
    skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx is not installed")
    X = make_data(likelihood).astype(np.float32)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    pipe = Pipeline(
        [
            ("vsc", clone(ESTIMATORS[name]).set_params(likelihood=likelihood)),
            ("clf", LogisticRegression()),
        ]
    ).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    labels, probabilities = run(model, X)
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_allclose(probabilities, pipe.predict_proba(X), rtol=1e-5, atol=1e-5)
    # The estimator alone, as skl2onnx converts it: its transform.
    (Z,) = run(skl2onnx.to_onnx(pipe[0], X[:1]), X)
    np.testing.assert_allclose(Z, pipe[0].transform(X), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(Z == 0, pipe[0].transform(X) == 0)


def test_to_onnx_refuses_bad_calls():
    with pytest.raises(NotFittedError):
        skvsc_onnx.to_onnx(clone(ESTIMATORS["vsc"]))
    est = clone(ESTIMATORS["vae"]).fit(make_data("bernoulli"))
    with pytest.raises(ValueError, match="method must be one of"):
        skvsc_onnx.to_onnx(est, "score")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        skvsc_onnx.to_onnx(est, dtype=np.int64)


def test_top_k_codes_keep_at_most_k_units():
    X = make_data("bernoulli")
    est = clone(ESTIMATORS["vsc-top-2"]).fit(X).set_params(transform_n_nonzero_coefs=None)
    assert ((est.transform(X) != 0).sum(axis=1) > 2).any()  # the cap bites
    est.set_params(transform_n_nonzero_coefs=2)
    (Z_onnx,) = run(skvsc_onnx.to_onnx(est), X.astype(np.float32))
    assert ((Z_onnx != 0).sum(axis=1) <= 2).all()
    np.testing.assert_array_equal(Z_onnx == 0, est.transform(X.astype(np.float32)) == 0)


def test_other_networks_are_refused():
    X = make_data("bernoulli", d=64)
    est = VAETransformer(
        n_components=2, network="conv", image_shape=(8, 8), max_iter=1, n_threads=1
    ).fit(X)
    with pytest.raises(NotImplementedError, match="network='mlp'"):
        skvsc_onnx.to_onnx(est)


def make_mixed(n=120, seed=0):
    """Gaussian, binary and count columns (the mixed likelihood's kinds)."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.normal(5.0, 3.0, (n, 3)), rng.integers(0, 2, (n, 2)), rng.poisson(3.0, (n, 2))]
    ).astype(float)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "poisson", "mixed"])
@pytest.mark.parametrize("missing", [False, True])
def test_onnx_of_mixed_columns_and_missing_values_matches_the_estimator(likelihood, missing):
    X = make_mixed() if likelihood == "mixed" else make_data(likelihood)
    if missing:  # NaN at random, a row with nothing observed, a complete row
        X[np.random.default_rng(1).random(X.shape) < 0.25] = np.nan
        X[0], X[1] = np.nan, np.nan_to_num(X[1])
    est = clone(ESTIMATORS["vsc"]).set_params(likelihood=likelihood).fit(X)
    assert est.module_.missing == missing
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        Z = est.transform(Xd)
        (Z_onnx,) = run(skvsc_onnx.to_onnx(est, dtype=dtype), Xd)
        np.testing.assert_allclose(Z_onnx, Z, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(Z_onnx == 0, Z == 0)
        (X_back,) = run(skvsc_onnx.to_onnx(est, "inverse_transform", dtype=dtype), Z)
        np.testing.assert_allclose(X_back, est.inverse_transform(Z), rtol=1e-5, atol=1e-5)
    if missing:  # the NaN really reach the mask: another code than the rows filled with 0
        model = skvsc_onnx.to_onnx(est)
        Z_filled = run(model, np.nan_to_num(X).astype(np.float32))[0]
        assert np.abs(Z_filled - run(model, X.astype(np.float32))[0]).max() > 1e-3
    skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx is not installed")
    X32 = X.astype(np.float32)
    (Z_converted,) = run(skl2onnx.to_onnx(est, X32[:1]), X32)
    np.testing.assert_allclose(Z_converted, est.transform(X32), rtol=1e-5, atol=1e-5)


def test_the_floor_keeps_the_same_unit_in_the_graph():
    # Every row of this model has no unit above 1/2: the graph must keep each
    # row's most probable unit, as transform does (ranked by the logit, which
    # float32 sigmoids round to 0 far below zero).
    empty = switched_off(
        VariationalSparseCoder(n_components=16, alpha=0.1, **FLOOR_PARAMS).fit(DIGITS)
    )
    for dtype in (np.float32, np.float64):
        model = skvsc_onnx.to_onnx(empty, dtype=dtype)
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (Z,) = session.run(None, {session.get_inputs()[0].name: DIGITS.astype(dtype)})
        assert ((Z != 0).sum(axis=1) == 1).all()
        np.testing.assert_array_equal(Z != 0, empty.transform(DIGITS) != 0)
        np.testing.assert_allclose(Z, empty.transform(DIGITS), rtol=1e-5, atol=1e-6)


def test_a_linear_decoder_exports():
    X = DIGITS[:60]
    # decoder_layer_sizes=(): the decoder's trunk is empty, the encoder's is not
    params = {**FAST, "n_components": 6, "alpha": 0.3, "decoder_layer_sizes": ()}
    vsc = VariationalSparseCoder(**params).fit(X)
    Z = vsc.transform(X).astype(np.float32)
    model = skvsc_onnx.to_onnx(vsc, "inverse_transform")
    session = ort.InferenceSession(model.SerializeToString())
    decoded = session.run(None, {session.get_inputs()[0].name: Z})[0]
    np.testing.assert_allclose(decoded, vsc.inverse_transform(Z), rtol=1e-5, atol=1e-5)
