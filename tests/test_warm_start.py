"""Continuing training (warm_start=True, partial_fit): which parameters take effect.

The parameters of the model and its schedule are fixed when it is initialised;
changing one and continuing raises a ValueError naming it (never silently
ignored). The training parameters take effect on the next call.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(
    hidden_layer_sizes=(8,), max_iter=2, batch_size=16, device="cpu", n_threads=1, random_state=0
)
ESTIMATORS = {
    "vsc": VariationalSparseCoder(n_components=4, alpha=0.3, **FAST),
    "vae": VAETransformer(n_components=4, **FAST),
}
FIXED = {
    "n_components": 7,
    "hidden_layer_sizes": (5,),
    "likelihood": "gaussian",
    "kl_warmup": 0.3,
}
VSC_FIXED = {
    "alpha": 0.1,
    "usage": "prior",
    "sharpness": (10.0, 20.0),
    "usage_weight": 1.0,
    "spike_pretrain": 0.2,
    "revive": 0.3,
}
CASES = [(name, p, v) for name in ESTIMATORS for p, v in FIXED.items()]
CASES += [("vsc", p, v) for p, v in VSC_FIXED.items()]


def unit_data(n=48, d=6, seed=0):
    return np.random.default_rng(seed).random((n, d))


def weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def test_the_example_of_the_issue():
    X = unit_data()
    est = VariationalSparseCoder(n_components=4, warm_start=True, **FAST).fit(X)
    est.set_params(n_components=7)
    with pytest.raises(ValueError, match=r"n_components=7 \(the model has 4\).*warm_start=False"):
        est.fit(X)
    assert est.transform(X).shape == (48, 4)  # the fitted model is left as it was
    est.set_params(warm_start=False).fit(X)
    assert est.transform(X).shape == (48, 7)


@pytest.mark.parametrize("name, param, value", CASES)
def test_a_fixed_parameter_cannot_change_when_training_continues(name, param, value):
    X = unit_data()
    est = clone(ESTIMATORS[name]).fit(X)
    before, n_iter = weights(est), est.n_iter_
    est.set_params(**{param: value})
    for method in ("fit", "partial_fit"):
        est.set_params(warm_start=method == "fit")
        if method == "fit":
            with pytest.raises(ValueError, match=f"{param}="):
                est.fit(X)
        else:
            with pytest.raises(ValueError, match=f"{param}=.*partial_fit"):
                est.partial_fit(X)
    assert est.n_iter_ == n_iter
    for k, v in weights(est).items():
        assert torch.equal(v, before[k]), k
    # Without warm_start, fit trains a new model with the new value.
    est.set_params(warm_start=False).fit(X * (3 if param == "likelihood" else 1))
    assert est.n_iter_ == 2 and est.get_params()[param] == value


def test_likelihood_auto_keeps_the_fitted_likelihood():
    X = unit_data()
    est = clone(ESTIMATORS["vae"]).set_params(likelihood="gaussian").fit(X)
    est.set_params(likelihood="auto", warm_start=True).fit(X)  # auto would pick bernoulli
    assert est.likelihood_ == "gaussian" and est.n_iter_ == 4
    est.set_params(likelihood="gaussian").partial_fit(X)  # the same one: fine
    assert est.n_iter_ == 5


TRAINING = {
    "max_iter": 3,
    "batch_size": 8,
    "learning_rate_init": 1e-2,
    "max_grad_norm": 1e-3,
    "early_stopping": True,
}


@pytest.mark.parametrize("param", list(TRAINING))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_training_parameters_take_effect_when_training_continues(name, param):
    X = unit_data()
    base = clone(ESTIMATORS[name]).set_params(warm_start=True).fit(X)
    same = clone(base).fit(X).fit(X)  # continued with the parameters unchanged
    changed = clone(base).fit(X).set_params(**{param: TRAINING[param]}).fit(X)
    steps = {"batch_size": 2 * 6, "max_iter": 3 * 3, "early_stopping": 2 * 3}.get(param, 2 * 3)
    assert changed._run.step == 2 * 3 + steps
    assert changed.n_iter_ == 2 + (3 if param == "max_iter" else 2)
    assert not np.array_equal(changed.transform(X), same.transform(X))
    if param == "learning_rate_init":
        assert changed._run.optimizer.param_groups[0]["lr"] == 1e-2
    if param == "early_stopping":
        assert len(changed.validation_scores_) == 2  # the epochs that had a validation split


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_random_state_only_seeds_a_new_model(name):
    X = unit_data()
    a = clone(ESTIMATORS[name]).set_params(warm_start=True).fit(X)
    b = clone(a).fit(X)
    a.fit(X)
    b.set_params(random_state=123).fit(X)  # continuing: the generator state goes on
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_verbose_and_threads_take_effect(capsys):
    X = unit_data()
    est = clone(ESTIMATORS["vsc"]).set_params(warm_start=True).fit(X)
    est.set_params(verbose=2, n_threads=2).fit(X)
    assert capsys.readouterr().out.count("Epoch ") == 2


def test_the_warm_start_doc_names_every_parameter():
    for cls in (VariationalSparseCoder, VAETransformer):
        doc = cls.__doc__.split("warm_start : bool")[1].split("\n\n")[0]
        for name in cls().get_params():
            if name != "warm_start":
                assert f"``{name}``" in doc, f"{cls.__name__}: {name}"
