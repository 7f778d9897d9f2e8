"""learning_rate_init="auto": 1e-3 up to 784 features, smaller for wider inputs."""

import numpy as np
import pytest

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.schedule import auto_learning_rate


def test_the_rule():
    assert auto_learning_rate(64) == auto_learning_rate(784) == 1e-3
    assert auto_learning_rate(1568) == pytest.approx(5e-4)
    assert auto_learning_rate(7840) == pytest.approx(1e-4)


@pytest.mark.parametrize("cls", [VariationalSparseCoder, VAETransformer])
def test_mnist_width_keeps_the_former_default_bit_for_bit(cls):
    X = np.random.default_rng(0).random((120, 784))
    options = dict(n_components=6, max_iter=2, random_state=0, n_threads=1)
    auto = cls(**options).fit(X)
    fixed = cls(**options, learning_rate_init=1e-3).fit(X)
    np.testing.assert_array_equal(auto.transform(X), fixed.transform(X))


def test_wide_inputs_train_with_the_smaller_rate_and_keep_it_when_loaded(tmp_path):
    X = np.random.default_rng(0).random((60, 1568))
    vsc = VariationalSparseCoder(n_components=6, max_iter=1, random_state=0, n_threads=1).fit(X)
    assert vsc._run.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)
    skvsc.save(vsc, tmp_path / "m.skvsc")
    loaded = skvsc.load(tmp_path / "m.skvsc")
    assert loaded._run.optimizer.param_groups[0]["lr"] == pytest.approx(5e-4)
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), vsc.partial_fit(X).transform(X)
    )


@pytest.mark.parametrize("value", ["fast", 0.0, -1e-3])
def test_bad_values_are_refused(value):
    with pytest.raises((ValueError, TypeError), match="learning_rate_init"):
        VariationalSparseCoder(learning_rate_init=value, max_iter=1).fit(np.zeros((5, 3)))
