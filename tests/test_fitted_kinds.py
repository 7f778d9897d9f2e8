"""Continuing a fit (partial_fit, warm_start) on data the fitted model cannot
describe: values outside a column's fitted likelihood, or missing values for
a model fitted without any, are refused by a ValueError that names the
columns, and the failed call leaves the estimator as it was."""

import numpy as np
import pytest
import torch

from skvsc import VAETransformer, VariationalSparseCoder

pd = pytest.importorskip("pandas")

FAST = dict(n_components=6, hidden_layer_sizes=(16,), max_iter=2, n_threads=1, random_state=0)
COLUMNS = ["height", "smoker", "member", "visits"]


def mixed_table(n=80, seed=0):
    """A Gaussian, two binary and a count column."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [rng.normal(170, 10, n), rng.integers(0, 2, n), rng.integers(0, 2, n), rng.poisson(2, n)]
    ).astype(float)
    return pd.DataFrame(X, columns=COLUMNS)


def state(est):
    return (
        {k: v.clone() for k, v in est.module_.state_dict().items()},
        est.n_iter_,
        list(est.loss_curve_),
        est.likelihood_,
        est.unit_values_.copy() if hasattr(est, "unit_values_") else None,
    )


def assert_unchanged(est, before):
    after = state(est)
    assert before[0].keys() == after[0].keys()
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])
    assert before[1:4] == after[1:4]
    if before[4] is not None:
        np.testing.assert_array_equal(before[4], after[4])


def continue_both_ways(est, X):
    """partial_fit, then fit with warm_start=True: each must fail alike."""
    yield lambda: est.partial_fit(X)
    yield lambda: est.set_params(warm_start=True).fit(X)


@pytest.mark.parametrize("make", [VariationalSparseCoder, VAETransformer])
def test_values_outside_the_fitted_column_kinds_are_refused_by_name(make):
    X = mixed_table()
    est = make(likelihood="mixed", **FAST).fit(X)
    assert est.module_.likelihood.column_kinds() == [
        "gaussian",
        "bernoulli",
        "bernoulli",
        "poisson",
    ]
    bad = X.copy()
    bad.loc[3, "smoker"] = 2.5  # was Bernoulli
    bad.loc[5, "visits"] = -1.0  # was Poisson
    before = state(est)
    for call in continue_both_ways(est, bad):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        assert "Column 1 ('smoker') has the bernoulli likelihood" in message
        assert (
            "also outside their kind's support: column 3 ('visits') (poisson, over [-1," in message
        )
        assert "fitted with these column kinds" in message
        assert_unchanged(est, before)
    est.set_params(warm_start=False)
    # Values inside the fitted kinds' supports continue: 0.5 in a Bernoulli column.
    fine = X.copy()
    fine.loc[0, "member"] = 0.5
    est.partial_fit(fine)
    assert est.n_iter_ == before[1] + 1


def test_a_bernoulli_model_names_the_columns_that_leave_0_1():
    rng = np.random.default_rng(0)
    X = rng.random((60, 5))
    est = VariationalSparseCoder(**FAST).fit(X)
    assert est.likelihood_ == "bernoulli"
    bad = X.copy()
    bad[0, 3], bad[1, 4] = 2.5, -0.5
    before = state(est)
    for call in continue_both_ways(est, bad):
        with pytest.raises(
            ValueError, match=r"needs X in \[0, 1\].*Outside it: column 3, column 4\."
        ):
            call()
        assert_unchanged(est, before)


@pytest.mark.parametrize("make", [VariationalSparseCoder, VAETransformer])
def test_missing_values_for_a_model_of_complete_data_are_refused_by_column(make):
    X = mixed_table()
    est = make(likelihood="mixed", **FAST).fit(X)
    holes = X.copy()
    holes.loc[2, "height"] = np.nan
    holes.loc[7, "visits"] = np.nan
    before = state(est)
    for call in continue_both_ways(est, holes):
        with pytest.raises(
            ValueError, match=r"NaN\) in column 0 \('height'\), column 3 \('visits'\), but"
        ):
            call()
        assert_unchanged(est, before)
    with pytest.raises(ValueError, match=r"in column 0 \('height'\), column 3 \('visits'\)"):
        est.transform(holes)


def test_a_model_of_missing_values_continues_on_a_batch_with_an_empty_column():
    X = mixed_table()
    X.loc[::3, "height"] = np.nan
    est = VariationalSparseCoder(**FAST).fit(X)
    assert est.module_.missing
    batch = X.iloc[:10].copy()
    batch["visits"] = np.nan  # nothing observed in this batch's column: nothing to refuse
    est.partial_fit(batch)
    assert est.n_iter_ == FAST["max_iter"] + 1
