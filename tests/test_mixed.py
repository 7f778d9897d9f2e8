"""``likelihood="mixed"``: one likelihood per column, checked against
torch.distributions and through the estimators."""

import numpy as np
import pytest
import torch
from torch import distributions as D

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.likelihoods import LIKELIHOODS, MixedLikelihood
from skvsc._data_checks import column_kinds

KINDS = ["gaussian", "bernoulli", "poisson", "gaussian", "poisson"]


def mixed_batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g, dtype=torch.float64) * 3 + 1
    x[:, 1] = (torch.rand(n, generator=g, dtype=torch.float64) > 0.5).double()
    x[:, 2] = torch.poisson(torch.full((n,), 3.0, dtype=torch.float64), generator=g)
    x[:, 4] = torch.poisson(torch.full((n,), 0.5, dtype=torch.float64), generator=g)
    out = torch.randn(n, 5, generator=g, dtype=torch.float64)
    return x, out


def make_likelihood():
    shift, scale = np.arange(5.0), np.linspace(0.5, 2.5, 5)
    likelihood = MixedLikelihood(5, shift=shift, scale=scale).double()
    likelihood.set_kinds(KINDS)
    with torch.no_grad():
        likelihood.logvar.copy_(torch.linspace(-1.0, 1.0, 5))
    return likelihood


def test_mixed_log_prob_and_mean_match_torch_distributions():
    likelihood = make_likelihood()
    x, out = mixed_batch()
    expected = torch.zeros(x.shape[0], dtype=torch.float64)
    mean = torch.zeros_like(x)
    for j, kind in enumerate(KINDS):
        if kind == "gaussian":
            shift, scale = float(likelihood.shift[j]), float(likelihood.scale[j])
            std = torch.exp(0.5 * likelihood.logvar[j]).double()
            # x in the original units: Normal(shift + scale * out, scale * std)
            dist = D.Normal(shift + scale * out[:, j], scale * std)
            mean[:, j] = shift + scale * out[:, j]
        elif kind == "bernoulli":
            dist = D.Bernoulli(logits=out[:, j])
            mean[:, j] = torch.sigmoid(out[:, j])
        else:
            dist = D.Poisson(out[:, j].exp())
            mean[:, j] = out[:, j].exp()
        expected += dist.log_prob(x[:, j]).detach()
    torch.testing.assert_close(likelihood.log_prob(x, out).detach(), expected)
    torch.testing.assert_close(likelihood.mean(out).detach(), mean)
    assert likelihood.column_kinds() == KINDS
    # Only the Gaussian columns are standardised.
    assert likelihood.scale[1] == 1 and likelihood.shift[2] == 0 and likelihood.scale[3] != 1
    inputs = likelihood.encoder_input(x)
    torch.testing.assert_close(inputs[:, 2], torch.log1p(x[:, 2]))
    torch.testing.assert_close(inputs[:, 1], x[:, 1])


def test_mixed_is_registered_and_unset_kinds_are_gaussian():
    assert LIKELIHOODS["mixed"] is MixedLikelihood
    x, out = mixed_batch()
    shift, scale = torch.zeros(5), torch.ones(5)
    mixed = MixedLikelihood(5, shift=shift, scale=scale).double()
    gaussian = LIKELIHOODS["gaussian"](5, shift=shift, scale=scale).double()
    torch.testing.assert_close(mixed.log_prob(x, out), gaussian.log_prob(x, out))
    with pytest.raises(ValueError, match="3 column kinds for 5 features"):
        mixed.set_kinds(["gaussian"] * 3)


def test_column_kinds_from_data():
    X = np.array([[0.0, 2.0, 0.5, 1.0], [1.0, 0.0, -1.0, 1.0], [1.0, 7.0, 2.0, 0.0]])
    assert column_kinds(X) == ["bernoulli", "poisson", "gaussian", "bernoulli"]


@pytest.mark.parametrize("cls", [VariationalSparseCoder, VAETransformer])
def test_estimators_fit_mixed_columns_and_save_them(cls, tmp_path):
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.normal(5, 2, 200), rng.random(200) < 0.3, rng.poisson(4, 200), rng.normal(size=200)]
    ).astype(float)
    est = cls(likelihood="mixed", n_components=6, max_iter=5, n_threads=1, random_state=0).fit(X)
    assert est.likelihood_ == "mixed"
    assert est.module_.likelihood.column_kinds() == ["gaussian", "bernoulli", "poisson", "gaussian"]
    Z = est.transform(X)
    assert np.isfinite(Z).all() and np.isfinite(est.score(X))
    X_back = est.inverse_transform(Z)
    assert ((X_back[:, 1] > 0) & (X_back[:, 1] < 1)).all() and (X_back[:, 2] > 0).all()
    path = tmp_path / "mixed.skvsc"
    skvsc.save(est, path)
    loaded = skvsc.load(path)
    assert loaded.module_.likelihood.column_kinds() == est.module_.likelihood.column_kinds()
    np.testing.assert_array_equal(loaded.transform(X), Z)
    assert loaded.score(X) == est.score(X)


# -- kinds given per column -------------------------------------------------------


def mixed_table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.normal(5, 2, n), rng.random(n) < 0.3, rng.poisson(4, n), rng.integers(0, 2, n)]
    ).astype(float)


FAST = dict(n_components=4, max_iter=2, n_threads=1, random_state=0)


def test_kinds_given_per_column_by_list_index_or_name():
    pd = pytest.importorskip("pandas")
    X = mixed_table()
    # Column 3 holds zeros and ones; given as Gaussian it stays Gaussian.
    by_list = VAETransformer(likelihood=["gaussian", "bernoulli", "poisson", "gaussian"], **FAST)
    by_index = VAETransformer(likelihood={3: "gaussian"}, **FAST)
    by_name = VAETransformer(likelihood={"d": "gaussian", "c": "gaussian"}, **FAST)
    for est, data in ((by_list, X), (by_index, X)):
        est.fit(data)
        assert est.likelihood_ == "mixed"
        assert est.module_.likelihood.column_kinds() == [
            "gaussian",
            "bernoulli",
            "poisson",
            "gaussian",
        ]
    by_name.fit(pd.DataFrame(X, columns=list("abcd")))
    assert by_name.module_.likelihood.column_kinds() == [
        "gaussian",
        "bernoulli",
        "gaussian",
        "gaussian",
    ]
    # The Gaussian column is standardised, with its own statistics.
    np.testing.assert_allclose(by_index.module_.likelihood.shift[3].item(), X[:, 3].mean(), 1e-6)


def test_a_column_named_twice_needs_one_kind():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(mixed_table(), columns=list("abcd"))
    same = VAETransformer(likelihood={2: "gaussian", "c": "gaussian"}, **FAST).fit(X)
    assert same.module_.likelihood.column_kinds()[2] == "gaussian"
    with pytest.raises(
        ValueError, match=r"gives column 2 \('c'\) two kinds, 'poisson' and 'gaussian'"
    ):
        VAETransformer(likelihood={2: "poisson", "c": "gaussian"}, **FAST).fit(X)
    with pytest.raises(ValueError, match="names the column 'e', which X lacks"):
        VAETransformer(likelihood={"e": "gaussian"}, **FAST).fit(X)


@pytest.mark.parametrize(
    "likelihood, error, match",
    [
        ({0: "gamma"}, ValueError, "must each be one of"),
        (["gaussian", "beta"], ValueError, "must each be one of"),
        ({1.5: "gaussian"}, TypeError, "column indices"),
        ({-1: "gaussian"}, TypeError, "column indices"),
        ([], ValueError, "at least one"),
    ],
)
def test_bad_column_kinds_are_refused_before_fitting(likelihood, error, match):
    with pytest.raises(error, match=match):
        VAETransformer(likelihood=likelihood, **FAST).fit(mixed_table())


@pytest.mark.parametrize(
    "likelihood, match",
    [
        (["gaussian"] * 3, "gives 3 column kinds, but X has 4 features"),
        ({7: "gaussian"}, "names column 7, but X has 4 features"),
        ({"a": "gaussian"}, "X has no feature names"),
        ({0: "bernoulli"}, r"Column 0 has the bernoulli likelihood and needs values in \[0, 1\]"),
        ({0: "poisson"}, "needs values >= 0"),
    ],
)
def test_column_kinds_that_do_not_fit_the_data_are_refused_naming_the_column(likelihood, match):
    X = mixed_table()
    X[0, 0] = -1.0
    with pytest.raises(ValueError, match=match):
        VAETransformer(likelihood=likelihood, **FAST).fit(X)


def test_every_column_outside_its_kinds_support_is_named_in_one_message():
    X = mixed_table()
    X[0, 1], X[0, 2] = 2.0, -3.0  # a Bernoulli column above 1, a Poisson column below 0
    with pytest.raises(ValueError) as caught:
        VAETransformer(likelihood=["gaussian", "bernoulli", "poisson", "bernoulli"], **FAST).fit(X)
    high = X[:, 2].max()
    assert str(caught.value) == (
        "Column 1 has the bernoulli likelihood and needs values in [0, 1], but ranges over "
        f"[0, 2]; also outside their kind's support: column 2 (poisson, over [-3, {high:.4g}]). "
        "Give them the 'gaussian' kind in likelihood, or transform the columns."
    )


def test_new_data_are_checked_per_column_by_name():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(mixed_table(), columns=list("abcd"))
    est = VAETransformer(likelihood="mixed", **FAST).fit(frame)
    bad = frame.copy()
    bad.loc[0, "c"] = -2.0  # a Poisson column
    for method in ("score", "score_samples", "partial_fit"):
        with pytest.raises(ValueError, match=r"Column 2 \('c'\) has the poisson likelihood"):
            getattr(est, method)(bad)
    with pytest.warns(UserWarning, match=r"1 values of X .*column 2 \('c'\).*clipped"):
        Z = est.transform(bad)
    good = bad.copy()
    good.loc[0, "c"] = 0.0
    np.testing.assert_array_equal(Z, est.transform(good))


@pytest.mark.parametrize(
    "likelihood", [{3: "gaussian"}, ["gaussian", "bernoulli", "poisson", "gaussian"]]
)
def test_given_kinds_are_saved_with_the_model(likelihood, tmp_path):
    X = mixed_table()
    est = VAETransformer(likelihood=likelihood, **FAST).fit(X)
    skvsc.save(est, tmp_path / "kinds.skvsc")
    loaded = skvsc.load(tmp_path / "kinds.skvsc")
    assert loaded.likelihood == likelihood
    assert loaded.module_.likelihood.column_kinds() == est.module_.likelihood.column_kinds()
    np.testing.assert_array_equal(
        loaded.partial_fit(X).transform(X), est.partial_fit(X).transform(X)
    )
