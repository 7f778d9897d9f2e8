"""Constructor parameters: a bad value is a ValueError or TypeError naming the parameter.

Every check runs at ``fit`` and ``partial_fit``, before any work, and a
refused call leaves the estimator as it was (unfitted, or with its model).
"""

import math

import numpy as np
import pytest
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(
    hidden_layer_sizes=(4,), max_iter=1, batch_size=8, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=2, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=2, **FAST),
}
X = np.random.default_rng(0).random((20, 5))

#: parameter: [(bad value, error)], shared by both estimators.
SHARED = {
    "tol": [(-1e-3, ValueError), (math.nan, ValueError), ("small", TypeError), (None, TypeError)],
    "n_iter_no_change": [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)],
    "early_stopping": [("yes", TypeError), (2, TypeError), (None, TypeError)],
    "warm_start": [("no", TypeError), (-1, TypeError), (0.5, TypeError)],
    "n_threads": [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("auto", TypeError)],
    "verbose": [(-1, ValueError), ("loud", TypeError), (1.5, TypeError), (None, TypeError)],
}
#: Parameters of VariationalSparseCoder only.
VSC_ONLY = {
    "usage_weight": [(-0.5, ValueError), (math.inf, ValueError), ("x", TypeError)],
    "spike_pretrain": [(-0.1, ValueError), (0.6, ValueError), (math.nan, ValueError)],
    "usage": [("both", ValueError), (None, ValueError)],
    "fit_n_nonzero_coefs": [(0, ValueError), (2.5, ValueError), (True, ValueError)],
    "fit_n_nonzero_weight": [(-0.5, ValueError), (math.inf, ValueError), ("x", TypeError)],
    "fit_n_nonzero_floor": [(-0.1, ValueError), (1.5, ValueError), ("x", TypeError)],
    "gate": [("soft", ValueError), (None, ValueError), (True, ValueError)],
    "rate_control_sides": [("down", ValueError), (None, ValueError)],
    "rate_control_floor": [
        (0.0, ValueError),
        (1.5, ValueError),
        (math.nan, ValueError),
        ("x", TypeError),
    ],
    "rate_control_mean": [("yes", TypeError), (2, TypeError), (None, TypeError)],
}
CASES = [
    (name, param, value, error)
    for name in ESTIMATORS
    for param, bad in {**SHARED, **(VSC_ONLY if name == "vsc" else {})}.items()
    for value, error in bad
]


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    "name, param, value, error", CASES, ids=[f"{c[0]}-{c[1]}={c[2]!r}" for c in CASES]
)
def test_a_bad_parameter_is_named_and_changes_nothing(name, param, value, error, method):
    est = clone(ESTIMATORS[name]).set_params(**{param: value})
    with pytest.raises(error, match=rf"^{param} must be"):
        getattr(est, method)(X)
    assert not hasattr(est, "module_")
    # A fitted estimator keeps its model when training is refused.
    fitted = clone(ESTIMATORS[name]).fit(X)
    before = fitted.transform(X)
    n_iter = fitted.n_iter_
    good = fitted.get_params()[param]
    fitted.set_params(**{param: value})
    with pytest.raises(error, match=rf"^{param} must be"):
        getattr(fitted, method)(X)
    assert fitted.n_iter_ == n_iter
    fitted.set_params(**{param: good})
    np.testing.assert_array_equal(fitted.transform(X), before)


@pytest.mark.parametrize(
    "param, value, message",
    [
        ("verbose", "loud", "verbose must be an int, got 'loud' (str)."),
        ("n_iter_no_change", 0, "n_iter_no_change must be >= 1, got 0."),
        ("tol", "small", "tol must be a real number, got 'small' (str)."),
        ("tol", -1.0, "tol must be a finite number in [0, inf), got -1.0."),
        (
            "validation_fraction",
            1.0,
            "validation_fraction must be a finite number in (0, 1), got 1.0.",
        ),
        ("spike_pretrain", 0.75, "spike_pretrain must be a finite number in [0, 0.5], got 0.75."),
    ],
)
def test_the_messages_give_the_value_its_type_and_the_bound(param, value, message):
    with pytest.raises((TypeError, ValueError)) as caught:
        clone(ESTIMATORS["vsc"]).set_params(**{param: value}).fit(X)
    assert str(caught.value) == message


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize(
    "param, value",
    [
        ("tol", 0.0),
        ("n_iter_no_change", 1),
        ("early_stopping", True),
        ("early_stopping", 0),
        ("warm_start", True),
        ("n_threads", None),
        ("n_threads", 2),
        ("verbose", False),
        ("verbose", 0),
    ],
)
def test_boundary_values_are_accepted(name, param, value):
    est = clone(ESTIMATORS[name]).set_params(**{param: value}).fit(X)
    assert est.n_iter_ >= 1


@pytest.mark.parametrize(
    "param, value",
    [("usage_weight", 0.0), ("spike_pretrain", 0.0), ("spike_pretrain", 0.5), ("usage", "prior")],
)
def test_boundary_values_of_the_sparse_coder_are_accepted(param, value):
    est = clone(ESTIMATORS["vsc"]).set_params(**{param: value}).fit(X)
    assert est.n_iter_ >= 1


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("value, error", [(0, ValueError), (2.0, TypeError), ("two", TypeError)])
def test_inference_checks_n_threads(name, value, error):
    # set_params after fit: the inference methods meet the bad value first.
    est = clone(ESTIMATORS[name]).fit(X).set_params(n_threads=value)
    for method in ("transform", "score_samples"):
        with pytest.raises(error, match="n_threads must be"):
            getattr(est, method)(X)
