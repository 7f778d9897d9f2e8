"""Incremental training: partial_fit as one epoch with state kept, and a pruned
Optuna search driving it (OptunaSearchCV calls partial_fit once per step)."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold

from skvsc import VAETransformer, VariationalSparseCoder

X_DIGITS = load_digits().data[:400] / 16.0
# One torch thread: tiny models gain nothing from more, and lose a lot on a busy machine.
TINY = dict(n_components=4, hidden_layer_sizes=(8,), batch_size=64, n_threads=1, random_state=0)


@pytest.mark.parametrize("Estimator", [VariationalSparseCoder, VAETransformer])
def test_partial_fit_epochs_replay_fit(Estimator):
    # k calls of partial_fit are the k epochs of fit(max_iter=k): same weights,
    # same losses, because the optimizer, RNG and schedule persist between calls.
    fitted = Estimator(max_iter=3, **TINY).fit(X_DIGITS)
    stepped = Estimator(max_iter=3, **TINY)
    for epoch in range(1, 4):
        stepped.partial_fit(X_DIGITS)
        assert stepped.n_iter_ == epoch
    assert stepped.loss_curve_ == fitted.loss_curve_
    np.testing.assert_array_equal(stepped.transform(X_DIGITS), fitted.transform(X_DIGITS))
    assert stepped.score(X_DIGITS) == fitted.score(X_DIGITS)


def _replay(estimator, params, n_steps, cv):
    """Mean test score after each partial_fit step, as OptunaSearchCV computes it."""
    folds = list(cv.split(X_DIGITS))
    models = [clone(estimator).set_params(**params) for _ in folds]
    curve = []
    for _ in range(n_steps):
        scores = []
        for model, (train, test) in zip(models, folds):
            model.partial_fit(X_DIGITS[train])
            scores.append(model.score(X_DIGITS[test]))
        curve.append(float(np.mean(scores)))
    return curve


def test_optuna_search_with_pruning():
    optuna = pytest.importorskip("optuna")
    optuna_integration = pytest.importorskip("optuna_integration")
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    max_iter = 4
    estimator = VariationalSparseCoder(max_iter=max_iter, **TINY)
    study = optuna.create_study(
        direction="maximize",  # score is the mean ELBO
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    cv = KFold(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)  # optuna.terminator deprecation
        search = optuna_integration.OptunaSearchCV(
            estimator,
            {"alpha": FloatDistribution(0.02, 0.5, log=True)},
            cv=cv,
            enable_pruning=True,
            max_iter=max_iter,
            n_trials=6,
            study=study,
            random_state=0,
        ).fit(X_DIGITS)

    states = [t.state for t in search.trials_]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    for trial in search.trials_:
        n_steps = len(trial.intermediate_values)
        assert n_steps == max_iter if trial.state == TrialState.COMPLETE else n_steps < max_iter

    # Each reported value is the CV score after one more epoch of the same models.
    first = search.trials_[0]
    curve = _replay(estimator, first.params, max_iter, cv)
    assert curve == [first.intermediate_values[step] for step in range(max_iter)]
    assert curve == sorted(curve)  # the ELBO improves epoch by epoch here

    best = max((t for t in search.trials_ if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert search.best_params_ == best.params
    assert search.best_estimator_.n_iter_ == max_iter
    assert search.best_estimator_.alpha == best.params["alpha"]
