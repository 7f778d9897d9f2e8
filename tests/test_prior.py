"""The ``prior`` parameter of VariationalSparseCoder: alpha as the fraction of non-zeros."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits

import skvsc
from skvsc import VariationalSparseCoder

X = load_digits().data / 16.0
DATA = __import__("pathlib").Path(__file__).parent / "data"


def _fraction_of_nonzeros(**params):
    vsc = VariationalSparseCoder(max_iter=20, random_state=0, n_threads=1, **params).fit(X)
    return float((vsc.transform(X) != 0).mean())


def test_alpha_is_the_fraction_of_nonzeros_with_the_aggregate_prior():
    # The law stated in the docstring: between alpha / 2 and 3 alpha wherever
    # alpha * n_components >= 1,
    # here on small data where the fixed prior's per-unit fee leaves (almost) nothing.
    assert 0.1 <= _fraction_of_nonzeros(n_components=20, alpha=0.2) <= 0.4


def test_fixed_prior_is_the_papers_elbo_and_keeps_few_units_on_small_data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the all-zero-code warning
        assert _fraction_of_nonzeros(n_components=20, alpha=0.05, prior="fixed") < 0.025


def test_prior_is_validated():
    with pytest.raises(ValueError, match="prior must be one of"):
        VariationalSparseCoder(prior="learned", max_iter=1).fit(X[:50])


@pytest.mark.parametrize("name", ["vsc_v0_1.skvsc", "vsc_v0_1.joblib"])
def test_models_saved_before_the_parameter_load_with_the_fixed_prior(name):
    path = DATA / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", skvsc.exceptions.InconsistentVersionWarning)
        est = skvsc.load(path) if name.endswith(".skvsc") else joblib.load(path)
    assert est.get_params()["prior"] == "fixed"
    assert est._run.config.latent == "spike_slab"


def test_aggregate_prior_round_trips_through_the_safe_format(tmp_path):
    vsc = VariationalSparseCoder(n_components=8, alpha=0.25, max_iter=2, random_state=0).fit(X)
    skvsc.save(vsc, tmp_path / "m.skvsc")
    loaded = skvsc.load(tmp_path / "m.skvsc")
    assert loaded.prior == "aggregate"
    np.testing.assert_array_equal(loaded.transform(X[:20]), vsc.transform(X[:20]))


def test_slab_kl_weight_reaches_the_aggregate_family_and_is_validated():
    vsc = VariationalSparseCoder(slab_kl_weight=0.3, max_iter=1, n_components=8, random_state=0)
    assert vsc.fit(X[:100]).module_.latent.slab_kl_weight == 0.3
    # the paper's ELBO has no such weight
    fixed = VariationalSparseCoder(prior="fixed", slab_kl_weight=0.3, max_iter=1, n_components=8)
    assert not hasattr(fixed.fit(X[:100]).module_.latent, "slab_kl_weight")
    with pytest.raises(ValueError, match="slab_kl_weight"):
        VariationalSparseCoder(slab_kl_weight=-1.0, max_iter=1).fit(X[:50])


def test_alpha_law_holds_at_small_alpha():
    # alpha = 0.01, J = 200: about two active units per code. Units that fall
    # silent on a whole batch must be pushed back on (the clamp of the aggregate
    # rate passes its gradient); without that, almost every code ended empty.
    vsc = VariationalSparseCoder(alpha=0.01, max_iter=80, random_state=0, n_threads=1).fit(X)
    Z = vsc.transform(X)
    assert 0.005 <= float((Z != 0).mean()) <= 0.02
    assert float(((Z != 0).sum(axis=1) == 0).mean()) < 0.05
