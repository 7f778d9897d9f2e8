"""The warning for ``alpha * n_components < 1``: codes partly empty by construction."""

import warnings

import numpy as np
import pytest

from skvsc import VariationalSparseCoder

X = np.random.RandomState(0).rand(40, 6)


@pytest.mark.parametrize("prior", ["aggregate", "fixed"])
def test_warns_with_the_remedy_when_alpha_times_units_is_below_one(prior):
    est = VariationalSparseCoder(n_components=16, alpha=0.05, prior=prior, max_iter=1)
    with pytest.warns(UserWarning, match=r"alpha \* n_components = 0\.8 < 1") as record:
        est.fit(X)
    message = str(next(w.message for w in record if "n_components =" in str(w.message)))
    assert "1 / n_components = 0.0625" in message and "1 / alpha = 20" in message
    # It points at the caller's line, not at skvsc's internals.
    assert any(w.filename == __file__ for w in record if "n_components =" in str(w.message))


def test_silent_from_one_expected_active_unit():
    est = VariationalSparseCoder(n_components=20, alpha=0.05, max_iter=1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est.fit(X)
    assert not [w for w in record if "n_components =" in str(w.message)]


def test_warns_once_per_model_not_per_partial_fit():
    est = VariationalSparseCoder(n_components=4, alpha=0.1, max_iter=3)
    with pytest.warns(UserWarning, match="alpha \\* n_components"):
        est.partial_fit(X)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est.partial_fit(X)
    assert not [w for w in record if "n_components =" in str(w.message)]
