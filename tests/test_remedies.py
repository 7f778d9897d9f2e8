"""Training remedies against dead units, through the estimator (the penalties
themselves are tested in tests/core/test_penalties.py)."""

import pickle

import numpy as np
import pytest

from skvsc import VariationalSparseCoder


def test_usage_is_validated():
    X = np.random.RandomState(0).rand(10, 4)
    with pytest.raises(ValueError, match="usage"):
        VariationalSparseCoder(usage="often", max_iter=1).fit(X)


def test_usage_form_survives_pickling():
    X = np.random.RandomState(0).rand(20, 4)
    vsc = VariationalSparseCoder(
        n_components=3,
        hidden_layer_sizes=(4,),
        max_iter=1,
        usage="prior",
        random_state=0,
        device="cpu",
    ).fit(X)
    clone = pickle.loads(pickle.dumps(vsc))
    assert clone.module_.latent.usage == "prior"
    np.testing.assert_array_equal(clone.transform(X), vsc.transform(X))
