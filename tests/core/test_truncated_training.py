"""The aggregate prior's truncated-code term (``fit_n_nonzero_coefs``): the
training loss adds the reconstruction of each row from its training sample cut
to its k active units of largest ``|mu|``."""

import numpy as np
import pytest
import torch

from skvsc._core.schedule import StepValues
from tests.core.helpers import small_vae

VALUES = StepValues(kl_weight=0.7, usage_weight=0.5)


def model(seed=0, **latent_params):
    return small_vae(12, 6, latent="spike_slab_aggregate", alpha=0.4, seed=seed, **latent_params)


def data(n=40, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 12, generator=gen) > 0.5).to(torch.float32)


def objective(vae, x, seed=3):
    return vae.objective(x, VALUES, torch.Generator().manual_seed(seed))


def oracle_truncated_nll(vae, x, k, seed=3):
    """``-log p(x | z^(k))`` per row, built here: the slab noise of the same
    generator, ``z = s (mu + sigma eps)`` with the floored spikes, the k active
    units of largest ``|mu|`` ranked by NumPy, the Bernoulli log-likelihood of
    torch.distributions."""
    with torch.no_grad():
        post = vae.encode(x)
        eps = torch.randn(x.shape[0], 6, generator=torch.Generator().manual_seed(seed))
        active = vae.latent.active(post).numpy()
        z = active * (post.mu + torch.exp(0.5 * post.logvar) * eps).numpy()
        mu = post.mu.numpy()
        keep = np.zeros_like(active)
        for row in range(len(z)):
            on = np.flatnonzero(active[row])
            keep[row, on[np.argsort(-np.abs(mu[row, on]), kind="stable")][:k]] = True
        logits = vae.decoder(torch.from_numpy(z * keep).to(torch.float32))
        return -torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(dim=1)


@pytest.mark.parametrize("k, weight", [(1, 0.25), (2, 1.0), (6, 0.5)])
def test_the_loss_adds_the_weighted_reconstruction_of_the_truncated_sample(k, weight):
    x = data()
    plain, truncated = model(), model(fit_n_nonzero_coefs=k, fit_n_nonzero_weight=weight)
    truncated.load_state_dict(plain.state_dict())
    assert (plain.latent.active(plain.encode(x)).sum(dim=1) > k).any() or k == 6
    loss, stats = objective(plain, x)
    loss_k, stats_k = objective(truncated, x)
    expected = loss + weight * oracle_truncated_nll(plain, x, k).mean()
    torch.testing.assert_close(loss_k, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stats_k, stats)  # what is reported is unchanged


def test_the_truncated_term_trains_the_encoder_and_the_decoder():
    x = data()
    plain, truncated = model(), model(fit_n_nonzero_coefs=1, fit_n_nonzero_weight=1.0)
    truncated.load_state_dict(plain.state_dict())
    grads = []
    for vae in (plain, truncated):
        vae.zero_grad()
        objective(vae, x)[0].backward()
        grads.append({name: p.grad.clone() for name, p in vae.named_parameters()})
    changed = {name for name in grads[0] if not torch.equal(grads[0][name], grads[1][name])}
    assert any(name.startswith("encoder") for name in changed)
    assert any(name.startswith("decoder") for name in changed)


def test_without_the_option_the_loss_is_unchanged():
    x = data()
    default, explicit = model(), model(fit_n_nonzero_coefs=None, fit_n_nonzero_weight=3.0)
    torch.testing.assert_close(objective(default, x), objective(explicit, x), rtol=0, atol=0)
