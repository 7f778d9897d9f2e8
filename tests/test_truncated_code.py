"""transform_n_nonzero_coefs: one fit serves every budget of active units."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvsc import VariationalSparseCoder
from skvsc._core.active_set import largest, truncation_score


@pytest.fixture(scope="module")
def fitted():
    X = load_digits().data[:500] / 16.0
    vsc = VariationalSparseCoder(n_components=24, alpha=0.3, max_iter=5, random_state=0)
    return vsc.set_params(n_threads=1).fit(X), X


def test_largest_against_a_numpy_ranking():
    score = torch.tensor([[0.9, 0.2, 0.9, 0.6], [0.1, 0.8, 0.3, 0.8]])
    expected = np.zeros((2, 4), bool)
    for row, g in enumerate(score.numpy()):
        expected[row, np.argsort(-g, kind="stable")[:2]] = True  # ties: lower index first
    np.testing.assert_array_equal(largest(score, 2).numpy(), expected)
    assert largest(score, 4).all() and largest(score, 9).all()


def test_truncation_score_ranks_active_units_by_magnitude_above_inactive_ones():
    mu = torch.tensor([[-2.0, 0.5, 3.0, 0.0], [0.1, -0.2, 5.0, 0.0]])
    active = torch.tensor([[True, True, False, True], [True, True, False, False]])
    expected = np.array([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, -1.0, -1.0]])
    np.testing.assert_allclose(truncation_score(mu, active).numpy(), expected)
    # an active unit of value 0 still ranks above every inactive unit
    assert largest(truncation_score(mu, active), 3)[0].tolist() == [True, True, False, True]


def test_the_truncated_code_keeps_the_largest_active_units(fitted):
    vsc, X = fitted
    Z = vsc.transform(X)
    assert (Z != 0).sum(axis=1).max() > 3  # the test needs rows to truncate
    for k in (1, 3):
        Zk = vsc.set_params(transform_n_nonzero_coefs=k).transform(X)
        kept = Zk != 0
        assert kept.sum(axis=1).max() <= k
        np.testing.assert_array_equal(Zk[kept], Z[kept])  # kept units keep their value
        for row in range(len(X)):
            active = np.flatnonzero(Z[row])
            best = active[np.argsort(-np.abs(Z[row, active]), kind="stable")][:k]
            assert set(np.flatnonzero(kept[row])) == set(best)
    vsc.set_params(transform_n_nonzero_coefs=None)
    np.testing.assert_array_equal(vsc.transform(X), Z)


def test_fit_ignores_the_cap(fitted):
    vsc, X = fitted
    capped = VariationalSparseCoder(**{**vsc.get_params(), "transform_n_nonzero_coefs": 2}).fit(X)
    np.testing.assert_array_equal(capped.activity_proba(X), vsc.activity_proba(X))
    np.testing.assert_array_equal(capped.activation_rates_, vsc.activation_rates_)
    assert (capped.transform(X) != 0).sum(axis=1).max() <= 2


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_bad_caps_are_refused_by_fit_and_transform(fitted, k):
    vsc, X = fitted
    with pytest.raises(ValueError, match="transform_n_nonzero_coefs must be None or a positive"):
        VariationalSparseCoder(transform_n_nonzero_coefs=k, max_iter=1).fit(X)
    vsc.set_params(transform_n_nonzero_coefs=k)
    try:
        with pytest.raises(ValueError, match="transform_n_nonzero_coefs must be None or a"):
            vsc.transform(X)
    finally:
        vsc.set_params(transform_n_nonzero_coefs=None)


def truncated_error(vsc, X, k):
    """Mean squared error of the reconstruction from the code truncated to k units."""
    vsc.set_params(transform_n_nonzero_coefs=k)
    try:
        return float(np.mean((vsc.inverse_transform(vsc.transform(X)) - X) ** 2))
    finally:
        vsc.set_params(transform_n_nonzero_coefs=None)


@pytest.mark.parametrize(
    "gate, whole_cost",
    # the whole code's error may grow by this factor; the tied gate (the default)
    # pays a little more for the short code than the free gate (1.06 x on this fit)
    [("free", 1.05), ("auto", 1.10)],
)
def test_fit_n_nonzero_coefs_trains_the_short_code(gate, whole_cost):
    X = load_digits().data / 16.0
    params = dict(n_components=32, alpha=0.3, max_iter=30, random_state=0, n_threads=1, gate=gate)
    if gate == "free":
        params["rate_control"] = 0.0  # the former image default
    plain = VariationalSparseCoder(**params).fit(X)
    short = VariationalSparseCoder(**params, fit_n_nonzero_coefs=3, fit_n_nonzero_weight=1.0)
    short.fit(X)
    assert plain.mean_active_units_ > 6  # the truncation to 3 units cuts most rows
    # The code cut to 3 units reconstructs better; the whole code about as well.
    assert truncated_error(short, X, 3) < 0.9 * truncated_error(plain, X, 3)
    assert truncated_error(short, X, None) < whole_cost * truncated_error(plain, X, None)


def test_fit_n_nonzero_coefs_is_saved_continued_and_fixed(tmp_path):
    import skvsc

    X = load_digits().data[:300] / 16.0
    vsc = VariationalSparseCoder(
        n_components=12, alpha=0.3, max_iter=2, random_state=0, fit_n_nonzero_coefs=2
    ).fit(X)
    assert vsc.module_.latent.truncated_units == 2
    path = tmp_path / "m.skvsc"
    skvsc.save(vsc, path)
    loaded = skvsc.load(path)
    assert loaded.fit_n_nonzero_coefs == 2 and loaded.module_.latent.truncated_units == 2
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), vsc.partial_fit(X).transform(X)
    )
    for changed in ({"fit_n_nonzero_coefs": None}, {"fit_n_nonzero_weight": 0.5}):
        with pytest.raises(ValueError, match=f"{next(iter(changed))}=.*fixed"):
            skvsc.load(path).set_params(**changed).partial_fit(X)
    # The default trains the code as it is, and says so in the model's options.
    plain = VariationalSparseCoder(n_components=12, alpha=0.3, max_iter=1).fit(X)
    assert plain.module_.latent.truncated_units is None


def test_fit_n_nonzero_weight_default_and_older_states():
    # The default weights the short code as the whole code's (chosen with the
    # tied gate); a state without the parameter loads with the former 0.25.
    X = load_digits().data[:200] / 16.0
    vsc = VariationalSparseCoder(
        n_components=12, alpha=0.3, max_iter=1, random_state=0, fit_n_nonzero_coefs=2
    ).fit(X)
    assert vsc.fit_n_nonzero_weight == 1.0 and vsc.module_.latent.truncated_weight == 1.0
    state = vsc.__getstate__()
    del state["params"]["fit_n_nonzero_weight"]
    old = VariationalSparseCoder.__new__(VariationalSparseCoder)
    old.__setstate__(state)
    assert old.fit_n_nonzero_weight == 0.25


def test_fit_n_nonzero_coefs_needs_the_aggregate_prior():
    X = load_digits().data[:100] / 16.0
    vsc = VariationalSparseCoder(prior="fixed", fit_n_nonzero_coefs=3, max_iter=1)
    with pytest.raises(ValueError, match="fit_n_nonzero_coefs needs prior='aggregate'"):
        vsc.fit(X)
    assert not hasattr(vsc, "module_")
    VariationalSparseCoder(prior="fixed", fit_n_nonzero_weight=2.0, max_iter=1).fit(X)


def test_fit_n_nonzero_floor_keeps_the_short_codes_units_alive():
    # Truncated to 3 of 64 units, the short code leaves units that are active
    # but never among any sample's 3 largest; the floor's subsidies revive them
    # (41 of 64 units ever kept without it, 55 with it on this fit).
    X = load_digits().data / 16.0
    params = dict(n_components=64, alpha=0.2, max_iter=30, random_state=0, n_threads=1)
    params.update(fit_n_nonzero_coefs=3, transform_n_nonzero_coefs=3)
    plain = VariationalSparseCoder(**params).fit(X)
    floor = VariationalSparseCoder(**params, fit_n_nonzero_floor=0.5).fit(X)
    assert plain.module_.latent.short_controller is None
    assert floor.module_.latent.short_controller.multiplier.min() < 0  # subsidies paid
    alive = [int((model.transform(X) != 0).any(axis=0).sum()) for model in (plain, floor)]
    assert alive[1] >= alive[0] + 8, alive


def test_fit_n_nonzero_floor_is_saved_continued_and_checked(tmp_path):
    import skvsc

    X = load_digits().data[:300] / 16.0
    params = dict(n_components=12, alpha=0.3, max_iter=2, random_state=0, fit_n_nonzero_coefs=2)
    vsc = VariationalSparseCoder(**params, fit_n_nonzero_floor=0.5).fit(X)
    path = tmp_path / "m.skvsc"
    skvsc.save(vsc, path)
    loaded = skvsc.load(path)
    assert loaded.fit_n_nonzero_floor == 0.5
    np.testing.assert_array_equal(
        loaded.module_.latent.short_controller.multiplier,
        vsc.module_.latent.short_controller.multiplier,
    )
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), vsc.partial_fit(X).transform(X)
    )
    with pytest.raises(ValueError, match="fit_n_nonzero_floor=.*fixed"):
        skvsc.load(path).set_params(fit_n_nonzero_floor=0.25).partial_fit(X)
    # states written before the parameter existed load with it off
    state = VariationalSparseCoder(**params).fit(X).__getstate__()
    del state["params"]["fit_n_nonzero_floor"]
    old = VariationalSparseCoder.__new__(VariationalSparseCoder)
    old.__setstate__(state)
    assert old.fit_n_nonzero_floor == 0.0 and old.module_.latent.short_controller is None
    # it needs the short code, and the controller's step size; a refused fit
    # leaves the estimator unfitted
    for bad, match in (
        (dict(fit_n_nonzero_coefs=None), "needs fit_n_nonzero_coefs"),
        (dict(rate_control=0.0), "rate_control > 0"),
    ):
        refused = VariationalSparseCoder(**{**params, **bad}, fit_n_nonzero_floor=0.5)
        with pytest.raises(ValueError, match=match):
            refused.fit(X)
        assert not hasattr(refused, "module_")


def test_fit_n_nonzero_floor_warns_when_its_subsidies_make_the_code_dense():
    # Many units per kept slot (128 units at alpha 0.05, 2 kept, floor 1): the
    # subsidies raise every unit's activity and the code runs away to several times
    # alpha * n_components, still under the input's 64 features (so the
    # "does not compress" warning stays silent); the same fit without the floor
    # stays near alpha * n_components and does not warn.
    X = load_digits().data / 16.0
    params = dict(n_components=128, alpha=0.05, max_iter=10, random_state=0, n_threads=1)
    params.update(fit_n_nonzero_coefs=2)
    with pytest.warns(UserWarning, match="floor's subsidies made the untruncated code dense"):
        dense = VariationalSparseCoder(**params, fit_n_nonzero_floor=1.0).fit(X)
    assert 3 * 0.05 * 128 < dense.mean_active_units_ < 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = VariationalSparseCoder(**params).fit(X)
    assert plain.mean_active_units_ < 3 * 0.05 * 128
