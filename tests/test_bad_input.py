"""Messy input: every public method that takes data, over both estimators.

Each case either works (and the result is checked) or raises a ValueError /
TypeError whose message names the problem; never a torch error or NaN output.
"""

import copy
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._data_checks import SUPPORT_TOLERANCE

N_FEATURES, N_COMPONENTS = 5, 3
FAST = dict(
    hidden_layer_sizes=(8,), max_iter=2, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=N_COMPONENTS, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=N_COMPONENTS, **FAST),
}
FIT_METHODS = ["fit", "partial_fit", "fit_transform"]
DATA_METHODS = ["transform", "score", "score_samples"]
VSC_METHODS = ["activity_proba", "encode_mean"]


def methods(name):
    return FIT_METHODS + DATA_METHODS + (VSC_METHODS if name == "vsc" else [])


def unit_data(n=40, d=N_FEATURES, seed=0):
    return np.random.default_rng(seed).random((n, d))


@pytest.fixture(scope="module")
def fitted():
    X = unit_data()
    return {name: clone(est).fit(X) for name, est in ESTIMATORS.items()}


def call(name, method, A, fitted):
    """Run ``method`` on ``A``: fit methods on a fresh clone, others on the fitted model."""
    if method in FIT_METHODS:
        est = clone(ESTIMATORS[name])
        out = getattr(est, method)(A)
        return est.transform(A) if out is est else out
    return getattr(fitted[name], method)(A)


def check_output(name, method, out, n_samples, dtype=np.float64):
    if method == "score":
        assert isinstance(out, float) and np.isfinite(out)
        return
    width = {"score_samples": None, "inverse_transform": N_FEATURES}.get(method, N_COMPONENTS)
    assert out.shape == ((n_samples,) if width is None else (n_samples, width))
    assert out.dtype == dtype
    assert np.isfinite(out).all()


# -- rejected input ------------------------------------------------------------


def _with(value):
    def put(A):
        A = A.copy()
        A[1, 2] = value
        return A

    return put


REJECTED = {
    # case: (make bad input from a good array, expected error type(s), message regex)
    "nan": (_with(np.nan), ValueError, "NaN"),
    "+inf": (_with(np.inf), ValueError, "infinity"),
    "-inf": (_with(-np.inf), ValueError, "infinity"),
    "1-D": (lambda A: A[:, 0], ValueError, "Expected 2D array"),
    "3-D": (lambda A: A[:, :, None], ValueError, "dim 3"),
    "no rows": (lambda A: A[:0], ValueError, "0 sample"),
    "no columns": (lambda A: A[:, :0], ValueError, "0 feature"),
    "complex": (lambda A: A.astype(complex), ValueError, "Complex data not supported"),
    "object strings": (
        lambda A: np.where(A > 0.5, "a", "b").astype(object),
        ValueError,
        "could not convert string to float",
    ),
    "str dtype": (lambda A: np.where(A > 0.5, "x", "y"), ValueError, "could not convert string"),
    "None values": (
        lambda A: _with(None)(A.astype(object)),
        (ValueError, TypeError),
        "NaN|float",
    ),
    "sparse nan": (lambda A: sp.csr_matrix(_with(np.nan)(A)), ValueError, "NaN"),
    "dict": (lambda A: {"a": 1}, (ValueError, TypeError), "array|dict|float"),
}


#: Missing values: fitting accepts them (tests/test_missing.py); a model fitted
#: on complete data refuses them, naming NaN.
MISSING = ("nan", "sparse nan", "None values")


@pytest.mark.parametrize("case", list(REJECTED))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_rejected_input(name, case, fitted):
    make, error, match = REJECTED[case]
    X = unit_data()
    for method in methods(name):
        if case in MISSING and method in FIT_METHODS:
            continue
        with pytest.raises(error, match=match):
            call(name, method, make(X), fitted)


@pytest.mark.parametrize("case", MISSING)
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_missing_values_are_fitted(name, case):
    make = REJECTED[case][0]
    X = make(unit_data())
    for method in FIT_METHODS:
        est = clone(ESTIMATORS[name])
        out = getattr(est, method)(X)
        Z = est.transform(X) if out is est else out
        assert est.module_.missing and np.isfinite(Z).all()


@pytest.mark.parametrize("case", [c for c in REJECTED if c != "sparse nan"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_rejected_codes(name, case, fitted):
    make, error, match = REJECTED[case]
    Z = fitted[name].transform(unit_data(10))
    with pytest.raises(error, match=match):
        fitted[name].inverse_transform(make(Z))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_wrong_feature_count(name, fitted):
    X = unit_data(10, N_FEATURES + 1)
    for method in DATA_METHODS + (VSC_METHODS if name == "vsc" else []) + ["partial_fit"]:
        est = fitted[name] if method != "partial_fit" else clone(fitted[name]).fit(unit_data())
        with pytest.raises(ValueError, match=f"X has {N_FEATURES + 1} features"):
            getattr(est, method)(X)
    with pytest.raises(ValueError, match=f"n_components={N_COMPONENTS}"):
        fitted[name].inverse_transform(np.zeros((2, N_COMPONENTS + 1)))
    with pytest.raises(TypeError, match="dense data is required"):
        fitted[name].inverse_transform(sp.csr_matrix(np.zeros((2, N_COMPONENTS))))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_unfitted_methods_raise(name):
    from sklearn.exceptions import NotFittedError

    est = clone(ESTIMATORS[name])
    for method in DATA_METHODS + (VSC_METHODS if name == "vsc" else []) + ["inverse_transform"]:
        with pytest.raises(NotFittedError):
            getattr(est, method)(unit_data(3))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_bernoulli_needs_unit_range(name, fitted):
    X = unit_data() * 2 - 0.5  # in [-0.5, 1.5]
    est = clone(ESTIMATORS[name]).set_params(likelihood="bernoulli")
    for method in FIT_METHODS:
        with pytest.raises(ValueError, match=r"Bernoulli likelihood needs X in \[0, 1\]"):
            getattr(clone(est), method)(X)
    model = fitted[name]  # fitted with the Bernoulli likelihood (auto on [0, 1] data)
    assert model.likelihood_ == "bernoulli"
    # Scores and training check the data as fit does (the model cannot describe
    # them); encoding clips them onto [0, 1] with a warning that counts them.
    for method in ["score", "score_samples", "partial_fit"]:
        with pytest.raises(ValueError, match="MinMaxScaler.*clip=True"):
            getattr(clone(model).fit(unit_data()), method)(X)
    n_out = int(((X < 0) | (X > 1)).sum())
    encoders = ["transform"] + (VSC_METHODS if name == "vsc" else [])
    for method in encoders:
        with pytest.warns(UserWarning, match=rf"^{n_out} of {X.size} values .* clipped"):
            out = getattr(model, method)(X)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_allclose(out, getattr(model, method)(np.clip(X, 0, 1)))
    # With likelihood="auto" such data get the Gaussian likelihood.
    assert clone(ESTIMATORS[name]).fit(X).likelihood_ == "gaussian"


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_values_too_large_for_float32(name):
    X = unit_data() * 1e300
    for method in FIT_METHODS:
        with pytest.raises(ValueError, match="too large for float32"):
            getattr(clone(ESTIMATORS[name]), method)(X)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_large_negative_values_are_too_large_for_float32(name, sparse):
    # Only the negative side is beyond the limit: the magnitude counts, not the maximum.
    X = unit_data()
    X[3, 1] = -1e38
    X = sp.csr_matrix(X) if sparse else X
    for method in FIT_METHODS:
        with pytest.raises(ValueError, match=r"magnitude up to 1e\+38, too large for float32"):
            getattr(clone(ESTIMATORS[name]), method)(X)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_float32_overflow_at_inference_is_reported(name):
    # Within float32 range, but the Gaussian log-likelihood overflows: a clear
    # error, not -inf or NaN.
    model = clone(ESTIMATORS[name]).fit(unit_data() * 10 - 3)
    X = np.full((4, N_FEATURES), 1e30, dtype=np.float32)
    with pytest.raises(ValueError, match=r"non-finite values in torch.float32.*float64"):
        model.score_samples(X)
    # The same values in float64 are scored in float64, finitely.
    check_output(name, "score_samples", model.score_samples(X.astype(np.float64)), 4)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_early_stopping_needs_two_samples(name):
    est = clone(ESTIMATORS[name]).set_params(early_stopping=True)
    with pytest.raises(ValueError, match="validation_fraction"):
        est.fit(unit_data(1))


# -- accepted input, converted: same result as the float64 array -----------------


def _memmap(A, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, A)
    return np.load(path, mmap_mode="r")


CONVERTED = {
    # case: float64 array -> an equivalent input
    "int": lambda A: (A > 0.5).astype(np.int64),
    "uint8": lambda A: (A * 255).astype(np.uint8),
    "bool": lambda A: A > 0.5,
    "object": lambda A: A.astype(object),
    "numeric strings": lambda A: A.astype(str),
    "float16": lambda A: A.astype(np.float16),
    "list": lambda A: A.tolist(),
    "pandas": lambda A: pd.DataFrame(A, columns=[f"f{i}" for i in range(A.shape[1])]),
    "polars": lambda A: pl.DataFrame(A, schema=[f"f{i}" for i in range(A.shape[1])]),
    "csr_matrix": sp.csr_matrix,
    "csc_matrix": sp.csc_matrix,
    "coo_matrix": sp.coo_matrix,
    "csr_array": sp.csr_array,
    "csc_array": sp.csc_array,
    "coo_array": sp.coo_array,
    "read-only memmap": "memmap",
    "non-contiguous": lambda A: np.repeat(A, 2, axis=1)[:, ::2],
    "fortran order": np.asfortranarray,
    "reversed rows": lambda A: np.ascontiguousarray(A[::-1])[::-1],
}


def _plain(A):
    """The float64 numpy array equivalent to a converted input."""
    if sp.issparse(A):
        return A.toarray().astype(np.float64)
    if isinstance(A, pl.DataFrame):
        return A.to_numpy().astype(np.float64)
    return np.asarray(A).astype(np.float64)


@pytest.mark.parametrize("case", list(CONVERTED))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_converted_input(name, case, tmp_path):
    convert = CONVERTED[case]
    A = unit_data()
    A_in = _memmap(A, tmp_path) if convert == "memmap" else convert(A)
    if case == "reversed rows":
        assert A_in.strides[0] < 0
    X = _plain(A_in)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's non-writable array warning
        # uint8 data (whole numbers in [0, 255]) get the unscaled-pixel hint, on purpose.
        warnings.filterwarnings("ignore", message="X holds whole numbers", category=UserWarning)
        warnings.filterwarnings("ignore", message="alpha \\* n_components", category=UserWarning)
        reference = clone(ESTIMATORS[name]).fit(X)
        model = clone(ESTIMATORS[name]).fit(A_in)
        for method in ["transform", "score_samples"] + (VSC_METHODS if name == "vsc" else []):
            expected = getattr(reference, method)(X)
            out = getattr(model, method)(A_in)
            check_output(name, method, out, len(X))
            np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6, err_msg=method)
        assert model.score(A_in) == pytest.approx(reference.score(X), rel=1e-6)
        np.testing.assert_allclose(
            model.fit_transform(A_in), reference.fit_transform(X), rtol=1e-6, atol=1e-6
        )
        model.partial_fit(A_in)
        reference.partial_fit(X)
        np.testing.assert_allclose(model.transform(A_in), reference.transform(X), atol=1e-6)


CODE_LAYOUTS = {
    "int": lambda Z: np.round(Z).astype(np.int64),
    "bool": lambda Z: Z > 0,
    "list": lambda Z: Z.tolist(),
    "pandas": pd.DataFrame,
    "non-contiguous": lambda Z: np.repeat(Z, 2, axis=1)[:, ::2],
    "reversed rows": lambda Z: np.ascontiguousarray(Z[::-1])[::-1],
    "fortran order": np.asfortranarray,
}


@pytest.mark.parametrize("case", list(CODE_LAYOUTS))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_converted_codes(name, case, fitted):
    Z_in = CODE_LAYOUTS[case](fitted[name].transform(unit_data(10)))
    Z = _plain(Z_in)
    out = fitted[name].inverse_transform(Z_in)
    check_output(name, "inverse_transform", out, 10)
    np.testing.assert_array_equal(out, fitted[name].inverse_transform(Z))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_float32_is_preserved(name, fitted):
    X = unit_data(10).astype(np.float32)
    model = clone(ESTIMATORS[name]).fit(X)
    for method in ["transform", "score_samples"] + (VSC_METHODS if name == "vsc" else []):
        check_output(name, method, getattr(model, method)(X), 10, dtype=np.float32)
    Z = model.transform(X)
    check_output(name, "inverse_transform", model.inverse_transform(Z), 10, dtype=np.float32)


# -- accepted input, unusual shapes and values -----------------------------------


def _constant_columns(A):
    A = A.copy()
    A[:, 0] = 0.0
    A[:, 1] = 0.5
    return A


SHAPES = {
    "single sample": lambda: unit_data(1),
    "two samples": lambda: unit_data(2),
    "single feature": lambda: unit_data(40, 1),
    "constant features": lambda: _constant_columns(unit_data()),
    "all constant": lambda: np.full((20, N_FEATURES), 0.25),
    "all zero sparse": lambda: sp.csr_matrix((20, N_FEATURES)),
    "binary": lambda: (unit_data() > 0.5).astype(np.float64),
    "gaussian, constant features": lambda: _constant_columns(unit_data()) * 10 - 3,
    "huge magnitude 1e30": lambda: unit_data() * 1e30,
    "huge negative offset": lambda: unit_data() - 1e30,
    "tiny magnitude 1e-30": lambda: unit_data() * 1e-30,
    "mixed scales": lambda: unit_data() * np.logspace(-20, 20, N_FEATURES),
}


@pytest.mark.parametrize("case", list(SHAPES))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_unusual_data(name, case):
    X = SHAPES[case]()
    n, d = X.shape
    for method in methods(name):
        est = clone(ESTIMATORS[name])
        if method in FIT_METHODS:
            out = getattr(est, method)(X)
            if method != "fit_transform":
                out = est.transform(X)
            check_output(name, "transform", out, n)
            continue
        est.fit(X)
        check_output(name, method, getattr(est, method)(X), n)
    Z = est.transform(X)
    X_back = est.inverse_transform(Z)
    assert X_back.shape == (n, d) and np.isfinite(X_back).all()
    if est.likelihood_ == "bernoulli":
        assert ((X_back >= 0) & (X_back <= 1)).all()
    else:  # decoded means are in the data's units
        assert np.abs(X_back).max() < 100 * max(1.0, np.abs(_plain(X)).max())


# -- feature names -----------------------------------------------------------------


@pytest.mark.parametrize("frame", ["pandas", "polars"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_feature_names(name, frame):
    X = unit_data()
    columns = [f"pixel_{i}" for i in range(N_FEATURES)]
    make = pd.DataFrame if frame == "pandas" else (lambda A, columns: pl.DataFrame(A, columns))
    df = make(X, columns=columns)
    est = clone(ESTIMATORS[name]).fit(df)
    assert list(est.feature_names_in_) == columns
    prefix = type(est).__name__.lower()
    assert list(est.get_feature_names_out()) == [f"{prefix}{i}" for i in range(N_COMPONENTS)]
    # Reordered or renamed columns are refused.
    shuffled = make(X[:, ::-1], columns=columns[::-1])
    renamed = make(X, columns=[f"other_{i}" for i in range(N_FEATURES)])
    for bad in (shuffled, renamed):
        for method in DATA_METHODS:
            with pytest.raises(ValueError, match="feature names should match"):
                getattr(est, method)(bad)
    # A plain array after a DataFrame fit works, with sklearn's warning.
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.transform(X)
    # The output container follows set_output, with the names out.
    est.set_output(transform=frame)
    out = est.transform(df)
    assert list(out.columns) == [f"{prefix}{i}" for i in range(N_COMPONENTS)]
    if frame == "pandas":
        df.index = np.arange(100, 100 + len(df))
        assert list(est.transform(df).index) == list(df.index)


# -- property-based ------------------------------------------------------------------


def _arrays(n_features):
    return st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            st.tuples(st.integers(1, 30), st.just(n_features)),
            elements=st.floats(-1e6, 1e6, allow_nan=False, width=32),
        )
    )


@pytest.fixture(scope="module")
def gaussian_models():
    X = np.random.default_rng(1).normal(size=(60, N_FEATURES)) * [1, 10, 100, 0.1, 1]
    return {name: clone(est).fit(X) for name, est in ESTIMATORS.items()}


def _rounding_bound(model, X):
    """Per row, a bound on the difference between two float32 encodings of ``X``
    that sum in different orders (a batch of one row against a larger batch use
    other matrix-product kernels).

    The standard first-order bound on the rounding error of a ReLU network:
    ``|error| <= (sum of the fan-ins) * eps * M``, with ``M`` the output of the
    encoder run with ``|weights|`` on ``|input|``, doubled for two computations.
    With inputs near 1e6 the code of a unit can be small while the sums behind
    it are large: one float32 ulp of those sums is far above 1e-4.
    """
    module = copy.deepcopy(model.module_).double()
    with torch.no_grad():
        for p in module.encoder.parameters():
            p.abs_()
        x = module.likelihood.encoder_input(torch.as_tensor(X, dtype=torch.float64)).abs()
        M = torch.stack(module.encoder(x)).abs().amax(dim=(0, 2)).numpy()
    linear = [m for m in module.encoder.modules() if isinstance(m, torch.nn.Linear)]
    return 2 * sum(m.in_features for m in linear) * np.finfo(X.dtype).eps * M


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@settings(deadline=None, max_examples=20)
@given(X=_arrays(N_FEATURES))
@example(  # inputs near 1e6: a batch of one differed by 1e-3 relative in float32
    X=np.array(
        [
            [0.9593184590339661, 0.5, 1e6, -451626.09375, 0.5507077574729919],
            [-1.0, -22277.0703125, -912070.625, 901.4131469726562, 0.0],
            [987397.8125, 1.0, 635782.6875, -80.94639587402344, 1.0],
            [-673987.0, 0.8320529460906982, 470216.3125, 1e6, -964831.625],
        ],
        dtype=np.float32,
    )
)
def test_property_transform(name, likelihood, X, fitted, gaussian_models):
    model = (fitted if likelihood == "bernoulli" else gaussian_models)[name]
    if likelihood == "bernoulli":
        if ((X < -SUPPORT_TOLERANCE) | (X > 1 + SUPPORT_TOLERANCE)).any():
            with pytest.raises(ValueError, match=r"needs X in \[0, 1\]"):
                model.score_samples(X)
            with pytest.warns(UserWarning, match="clipped onto it"):
                Z = model.transform(X)
            np.testing.assert_array_equal(Z, model.transform(np.clip(X, 0, 1)))
        # the same values, mapped into the support
        span = float(X.max()) - float(X.min()) or 1.0
        X = np.clip((X - X.min()) / span, 0, 1).astype(X.dtype)
    Z = model.transform(X)
    assert Z.shape == (X.shape[0], N_COMPONENTS) and Z.dtype == X.dtype
    assert np.isfinite(Z).all()
    # Deterministic: the same input gives the same output, bit for bit.
    np.testing.assert_array_equal(model.transform(X), Z)
    # Rows are encoded independently of the batch they come in, up to the
    # float rounding of summing in another order (see _rounding_bound).
    one = model.transform(X[:1])
    if name == "vsc":  # the same units are active (unless gamma is at 1/2 within rounding)
        flips = (one != 0) != (Z[:1] != 0)
        assert np.all(np.abs(model.activity_proba(X[:1])[flips] - 0.5) < 1e-3)
        one[flips] = Z[:1][flips]
    bound = _rounding_bound(model, X[:1])[0]
    np.testing.assert_allclose(one, Z[:1], rtol=1e-4, atol=1e-4 + bound)
    X_back = model.inverse_transform(Z)
    assert X_back.shape == X.shape and X_back.dtype == X.dtype
    assert np.isfinite(X_back).all()
    if likelihood == "gaussian":
        assert np.isfinite(model.score_samples(X)).all()


@pytest.mark.parametrize("name", list(ESTIMATORS))
@settings(deadline=None, max_examples=20)
@given(Z=_arrays(N_COMPONENTS))
def test_property_inverse_transform(name, Z, fitted, gaussian_models):
    for model in (fitted[name], gaussian_models[name]):
        X_back = model.inverse_transform(Z)
        assert X_back.shape == (Z.shape[0], N_FEATURES) and X_back.dtype == Z.dtype
        assert np.isfinite(X_back).all()
        if model.likelihood_ == "bernoulli":
            assert ((X_back >= 0) & (X_back <= 1)).all()


@settings(deadline=None, max_examples=15)
@given(
    n_samples=st.integers(1, 12),
    n_features=st.integers(1, 6),
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]),
    sparse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_fit_any_shape(n_samples, n_features, dtype, sparse, seed):
    X = (np.random.default_rng(seed).random((n_samples, n_features)) * 3).astype(dtype)
    X = sp.csr_matrix(X) if sparse else X
    for est in ESTIMATORS.values():
        Z = clone(est).set_params(max_iter=1).fit_transform(X)
        out_dtype = np.float32 if dtype == np.float32 else np.float64
        assert Z.shape == (n_samples, N_COMPONENTS) and Z.dtype == out_dtype
        assert np.isfinite(Z).all()
