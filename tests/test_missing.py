"""Missing values (NaN): the masked likelihood, the encoder's mask input, and
the estimators' handling of NaN in fit, inference and saved files."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import distributions as D

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.likelihoods import (
    BernoulliLikelihood,
    GaussianLikelihood,
    MixedLikelihood,
    PoissonLikelihood,
    gaussian_log_likelihood,
)
from skvsc._core.schedule import Schedule
from skvsc._core.vae import HIDDEN_FRACTION, ModelConfig, build_vae

N, D_ = 7, 5
KINDS = ["gaussian", "bernoulli", "poisson", "gaussian", "poisson"]


def batch(seed=0):
    """Data valid for every likelihood's column kinds, decoder outputs and a mask."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N, D_, generator=g, dtype=torch.float64)
    x[:, 2] = torch.poisson(torch.full((N,), 3.0, dtype=torch.float64), generator=g)
    x[:, 4] = torch.poisson(torch.full((N,), 0.5, dtype=torch.float64), generator=g)
    x[:, 1] = (x[:, 1] > 0.5).double()
    out = torch.randn(N, D_, generator=g, dtype=torch.float64)
    observed = torch.rand(N, D_, generator=g) > 0.3
    observed[0] = False  # a row with nothing observed
    observed[1] = True  # and one complete row
    return x, out, observed


def make(name):
    shift, scale = torch.arange(5.0), torch.linspace(0.5, 2.5, 5)
    if name == "bernoulli":
        return BernoulliLikelihood(D_).double()
    if name == "poisson":
        return PoissonLikelihood(D_).double()
    likelihood = {"gaussian": GaussianLikelihood, "mixed": MixedLikelihood}[name]
    likelihood = likelihood(D_, shift=shift, scale=scale).double()
    if name == "mixed":
        likelihood.set_kinds(KINDS)
    with torch.no_grad():
        likelihood.logvar.copy_(torch.linspace(-1.0, 1.0, 5))
    return likelihood


def entry_distribution(likelihood, name, j, out_j):
    """The distribution of column j given the decoder output, from torch.distributions."""
    kind = KINDS[j] if name == "mixed" else name
    if kind == "bernoulli":
        return D.Bernoulli(logits=out_j)
    if kind == "poisson":
        return D.Poisson(out_j.exp())
    shift, scale = float(likelihood.shift[j]), float(likelihood.scale[j])
    std = torch.exp(0.5 * likelihood.logvar[j]).double().detach()
    return D.Normal(shift + scale * out_j, scale * std)


@pytest.mark.parametrize("name", ["bernoulli", "gaussian", "poisson", "mixed"])
def test_masked_log_prob_matches_torch_distributions_on_observed_entries(name):
    likelihood = make(name)
    x, out, observed = batch()
    if name == "bernoulli":
        x = (x > 0.5).double()
    elif name == "poisson":
        x = torch.round(3 * x)
    expected = torch.zeros(N, dtype=torch.float64)
    for j in range(D_):
        terms = entry_distribution(likelihood, name, j, out[:, j]).log_prob(x[:, j])
        expected += torch.where(observed[:, j], terms, torch.zeros_like(terms))
    got = likelihood.log_prob(x, out, observed).detach()
    torch.testing.assert_close(got, expected)
    assert got[0] == 0  # nothing observed: log p = 0
    # The per-entry terms sum to the unmasked log-likelihood.
    full = likelihood.log_prob(x, out).detach()
    torch.testing.assert_close(likelihood.log_prob_elements(x, out).sum(1).detach(), full)
    torch.testing.assert_close(got[1], full[1])


def test_unmasked_gaussian_log_prob_is_the_formula_of_complete_data_bit_for_bit():
    # Models of complete data must train and score exactly as before masks existed.
    likelihood = make("gaussian")
    x, out, _ = batch()
    logvar = likelihood.logvar.clamp(-8.0, 8.0)
    before = gaussian_log_likelihood(likelihood.encoder_input(x), out, logvar)
    before = before - likelihood.scale.log().sum()
    assert torch.equal(likelihood.log_prob(x, out), before)


def model(missing, likelihood="gaussian", latent="spike_slab"):
    config = ModelConfig(
        n_features=D_,
        n_components=3,
        likelihood=likelihood,
        latent=latent,
        latent_params={"alpha": 0.5, "usage": "prior"} if latent == "spike_slab" else {},
        network_params={"hidden_layer_sizes": (8,)},
        missing=missing,
    )
    vae = build_vae(config, torch.Generator().manual_seed(0))
    return vae.double(), config


@pytest.mark.parametrize("likelihood", ["gaussian", "mixed"])
def test_vae_with_missing_values_encodes_the_mask_and_masks_the_likelihood(likelihood):
    vae, config = model(True, likelihood)
    if likelihood == "mixed":
        vae.likelihood.set_kinds(KINDS)
    x, _, observed = batch()
    x_nan = torch.where(observed, x, torch.full_like(x, float("nan")))
    assert vae.encoder.trunk[0].in_features == 2 * D_
    assert config.n_parameters() == sum(p.numel() for p in vae.parameters()) - D_  # no logvar
    # The encoder reads [the encoder input with missing entries at 0, the mask].
    filled = torch.where(observed, x, torch.zeros_like(x))
    inputs = torch.where(observed, vae.likelihood.encoder_input(filled), torch.zeros_like(x))
    expected = vae.encoder(torch.cat([inputs, observed.double()], dim=1))
    for got, want in zip(
        vae.encode(x_nan), vae.latent.posterior(dict(zip(vae.latent.head_names, expected)))
    ):
        torch.testing.assert_close(got, want)
    # log p(x | z) of the observed entries; the values behind the mask do not matter.
    z = torch.randn(N, 3, dtype=torch.float64)
    expected = vae.likelihood.log_prob(filled, vae.decoder(z), observed)
    torch.testing.assert_close(vae.log_likelihood(x_nan, z), expected)
    other = torch.where(observed, x, torch.full_like(x, 0.25))
    torch.testing.assert_close(vae.likelihood.log_prob(other, vae.decoder(z), observed), expected)


def test_training_loss_with_missing_values_has_finite_gradients():
    vae, _ = model(True)
    x, _, observed = batch()
    x = torch.where(observed, x, torch.full_like(x, float("nan")))
    values = Schedule(10, sharpness=(50.0, 200.0)).at(5)
    loss, stats = vae.objective(x, values, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(stats).all()
    assert all(torch.isfinite(p.grad).all() for p in vae.parameters() if p.grad is not None)


def test_training_hides_a_share_of_the_observed_entries_from_the_encoder_only():
    vae, _ = model(True)
    x, _, observed = batch()
    x_nan = torch.where(observed, x, torch.full_like(x, float("nan")))
    values = Schedule(10, sharpness=(50.0, 200.0)).at(5)
    loss, stats = vae.objective(x_nan, values, torch.Generator().manual_seed(3))
    # The same draws by hand: the hiding draw, then the latent noise.
    g = torch.Generator().manual_seed(3)
    seen = observed & (torch.rand(x.shape, generator=g, dtype=torch.float32) >= HIDDEN_FRACTION)
    assert (observed & ~seen).any()  # something was hidden
    filled = torch.where(observed, x, torch.zeros_like(x))
    inputs = torch.where(seen, vae.likelihood.encoder_input(filled), torch.zeros_like(x))
    heads = vae.encoder(torch.cat([inputs, seen.double()], dim=1))
    posterior = vae.latent.posterior(dict(zip(vae.latent.head_names, heads)))
    noise = vae.latent.draw_noise((N, 3), g)
    terms = vae.latent.training_terms(posterior, noise, values)
    nll = -vae.likelihood.log_prob(filled, vae.decoder(terms.z), observed)  # every observed entry
    expected = (nll + values.kl_weight * terms.train_kl).mean()
    if terms.penalty is not None:
        expected = expected + terms.penalty
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(stats[0], nll.sum().detach())


def test_a_model_of_complete_data_is_built_and_saved_as_before():
    vae, config = model(False)
    assert vae.encoder.trunk[0].in_features == D_ and not vae.missing
    assert "missing" not in config.to_dict()  # files of complete-data models are unchanged
    assert ModelConfig.from_dict(config.to_dict()) == config
    _, with_mask = model(True)
    assert with_mask.to_dict()["missing"] is True
    assert ModelConfig.from_dict(with_mask.to_dict()) == with_mask


# -- estimators -----------------------------------------------------------------


def table(fraction=0.2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 6)) @ rng.normal(size=(6, 6))
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < fraction] = np.nan
    return X, X_nan


ESTIMATORS = [
    lambda: VariationalSparseCoder(n_components=20, max_iter=3, random_state=0, n_threads=1),
    lambda: VAETransformer(n_components=4, max_iter=3, random_state=0, n_threads=1),
]


@pytest.mark.parametrize("make_estimator", ESTIMATORS)
def test_estimators_fit_and_run_on_data_with_missing_values(make_estimator):
    X, X_nan = table()
    est = make_estimator().fit(X_nan)
    assert est.module_.missing and est._run.config.missing
    Z = est.transform(X_nan)
    assert Z.shape == (80, est.module_.n_components) and np.isfinite(Z).all()
    assert np.isfinite(est.score_samples(X_nan)).all()
    assert np.isfinite(est.score(X)) and np.isfinite(est.log_likelihood(X_nan[:5], n_draws=4)).all()
    assert np.isfinite(est.transform(np.full((2, 6), np.nan))).all()  # nothing observed
    # A complete row scores the same as the row with its missing entries left out
    # only when nothing is missing: more observed entries, another likelihood.
    assert est.score_samples(X[:3]).shape == (3,)
    est.partial_fit(X_nan)
    est.partial_fit(X)  # complete rows: every entry observed
    assert est.module_.missing


@pytest.mark.parametrize("make_estimator", ESTIMATORS)
def test_missing_values_for_a_model_fitted_without_any_are_refused(make_estimator):
    X, X_nan = table()
    est = make_estimator().fit(X)
    assert not est.module_.missing
    for method in ("transform", "score_samples", "score"):
        with pytest.raises(ValueError, match="fitted on data without any"):
            getattr(est, method)(X_nan)
    before = [p.detach().clone() for p in est.module_.parameters()]
    n_iter = est.n_iter_
    with pytest.raises(ValueError, match="fitted on data without any"):
        est.partial_fit(X_nan)
    assert est.n_iter_ == n_iter  # a failed call leaves the estimator as it was
    assert all(torch.equal(a, b) for a, b in zip(before, est.module_.parameters()))


def test_infinite_values_stay_refused():
    X_nan = table()[1]
    X_nan[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        VAETransformer(max_iter=1).fit(X_nan)
    est = VAETransformer(n_components=2, max_iter=1, random_state=0).fit(table()[1])
    with pytest.raises(ValueError, match="infinity"):
        est.transform(X_nan)


def test_a_column_without_observed_values_is_refused_by_name():
    pd = pytest.importorskip("pandas")
    _, X_nan = table()
    X_nan[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"all NaN\): column 3\."):
        VAETransformer(max_iter=1).fit(X_nan)
    frame = pd.DataFrame(X_nan, columns=list("abcdef"))
    with pytest.raises(ValueError, match=r"column 3 \('d'\)"):
        VAETransformer(max_iter=1).fit(frame)


def test_missing_values_with_auto_and_mixed_likelihoods_use_the_observed_values():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=60), rng.integers(0, 2, 60), rng.poisson(3.0, 60)]).astype(
        float
    )
    X[rng.random(X.shape) < 0.2] = np.nan
    est = VAETransformer(n_components=2, max_iter=2, likelihood="mixed", random_state=0).fit(X)
    assert est.module_.likelihood.column_kinds() == ["gaussian", "bernoulli", "poisson"]
    assert np.isfinite(est.score_samples(X)).all()
    est = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(X[:, 1:2])
    assert est.likelihood_ == "bernoulli"  # "auto": the observed values are in [0, 1]
    gauss = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(X[:, :1])
    observed = X[~np.isnan(X[:, 0]), 0]
    np.testing.assert_allclose(gauss.module_.likelihood.shift.numpy(), [observed.mean()], rtol=1e-6)
    np.testing.assert_allclose(gauss.module_.likelihood.scale.numpy(), [observed.std()], rtol=1e-5)


def test_sparse_input_with_missing_values():
    _, X_nan = table()
    X_nan[np.abs(np.nan_to_num(X_nan)) < 0.5] = 0.0
    dense = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(X_nan)
    sparse = VAETransformer(n_components=2, max_iter=2, random_state=0).fit(sp.csr_matrix(X_nan))
    np.testing.assert_allclose(sparse.transform(sp.csr_matrix(X_nan)), dense.transform(X_nan))


def test_conv_network_refuses_missing_values():
    X = np.random.default_rng(0).random((20, 16))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="network='conv' does not take missing values"):
        VAETransformer(network="conv", conv_channels=(2,), max_iter=1).fit(X)


@pytest.mark.parametrize("make_estimator", ESTIMATORS)
def test_a_model_of_data_with_missing_values_saves_and_loads(make_estimator, tmp_path):
    _, X_nan = table()
    est = make_estimator().fit(X_nan)
    expected = est.transform(X_nan)
    path = tmp_path / "model.skvsc"
    skvsc.save(est, path)
    for loaded in (skvsc.load(path), pickle.loads(pickle.dumps(est))):
        assert loaded.module_.missing
        np.testing.assert_array_equal(loaded.transform(X_nan), expected)
        np.testing.assert_array_equal(loaded.score_samples(X_nan), est.score_samples(X_nan))


def test_unit_table_and_feature_effects_on_data_with_missing_values():
    pytest.importorskip("pandas")
    X_nan = table()[1]
    est = VariationalSparseCoder(n_components=20, max_iter=3, random_state=0, n_threads=1)
    est.fit(X_nan)
    assert np.isfinite(est.feature_effects()).all() and np.isfinite(est.unit_values_).all()
    units = est.unit_table(X_nan)
    assert "nan" not in " ".join(units["top_features"])
