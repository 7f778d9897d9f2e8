"""Unit tests of the TopK autoencoder baseline (tiny synthetic data, a few seconds
in all)."""

import numpy as np
import pytest
import torch

from .topk import TopKAutoencoder, topk_relu


def small(**params):
    defaults = dict(
        n_components=32,
        k=3,
        hidden_layer_sizes=(32,),
        max_iter=2,
        batch_size=64,
        dead_window=512,
        n_threads=1,
        random_state=0,
    )
    return TopKAutoencoder(**{**defaults, **params})


def test_topk_relu_keeps_the_k_largest():
    h = torch.tensor([[0.5, 3.0, -1.0, 2.0, 1.0], [-2.0, -1.0, 0.5, -3.0, 4.0]])
    z = topk_relu(h, 2)
    expected = torch.tensor([[0.0, 3.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.5, 0.0, 4.0]])
    assert torch.equal(z, expected)
    # a selected pre-activation <= 0 gives a zero, never a negative code value
    assert torch.equal(topk_relu(torch.tensor([[1.0, -1.0, -2.0]]), 2), torch.tensor([[1, 0, 0.0]]))


@pytest.mark.parametrize("k", [1, 3, 8])
def test_transform_has_k_nonzeros(X, k):
    model = small(k=k).fit(X[:512])
    Z = model.transform(X)
    assert Z.shape == (len(X), 32)
    nonzeros = (Z != 0).sum(axis=1)
    assert (nonzeros <= k).all()
    # fewer than k only where one of the k largest pre-activations is <= 0
    assert (nonzeros == k).mean() > 0.99
    assert (Z >= 0).all()


def test_aux_loss_zero_without_dead_latents_and_trains_only_dead_ones(X):
    model = small().fit(X[:512])
    x = torch.from_numpy(X[:64])
    h = model.module_.encoder(x)
    z = topk_relu(h, model.k)
    nobody = torch.zeros(32, dtype=torch.bool)
    assert float(model.aux_loss(h, z, x, nobody)) == 0.0
    dead = torch.zeros(32, dtype=torch.bool)
    dead[::4] = True
    dead &= ~(z > 0).any(dim=0)  # dead latents are not in this batch's code
    assert dead.any()
    loss = model.aux_loss(h, z, x, dead)
    assert float(loss.detach()) > 0
    model.module_.zero_grad()
    loss.backward()
    grad = model.module_.encoder[-1].weight.grad  # row j: latent j's encoder weights
    assert (grad[dead].abs().sum(dim=1) > 0).all()
    assert float(grad[~dead].abs().sum()) == 0.0  # the live code is detached


def test_aux_loss_revives_latents(X):
    def never_fired(aux_weight):
        # on this small problem the latents die at initialisation (one latent's
        # offset wins every sample) unless the pre-activations are standardised
        model = small(max_iter=8, aux_weight=aux_weight, data_init=True).fit(X)
        return int(((model.transform(X) != 0).sum(axis=0) == 0).sum())

    plain, with_aux = never_fired(0.0), never_fired(1.0)
    assert plain >= 5  # plain TopK leaves latents dead on this problem
    assert with_aux <= plain // 2


def test_determinism_and_global_rng_untouched(X):
    state = torch.random.get_rng_state()
    a, b = small().fit(X[:512]), small().fit(X[:512])
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = small(random_state=1).fit(X[:512])
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_bad_parameters(X):
    with pytest.raises(ValueError, match="k must be"):
        small(k=0).fit(X[:64])
    with pytest.raises(ValueError, match="aux_activation"):
        small(aux_activation="tanh").fit(X[:64])


def test_data_init_standardises_and_k_schedule_runs(X):
    model = small(max_iter=0, data_init=True).fit(X[:512])
    # max_iter=0: only the initialisation; on its 2,048-image sample (here all
    # 512) every pre-activation has mean 0 and standard deviation 1
    h = model.module_.encoder(torch.from_numpy(X[:512])).detach()
    np.testing.assert_allclose(h.mean(dim=0).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(h.std(dim=0).numpy(), 1, atol=1e-4)
    scheduled = small(k_start=16, k_warmup=0.5).fit(X[:512])
    assert ((scheduled.transform(X[:64]) != 0).sum(axis=1) <= 3).all()


def test_conv_network_is_skvscs_conv_family(X):
    # X rows of 64 features: 8x8 images; the conv encoder reads them as images
    model = small(network="conv", conv_channels=(4, 8), k=2).fit(X[:256])
    assert (model.module_.encoder.inner.trunk[0].convs[0].weight.shape) == (4, 1, 3, 3)
    Z = model.transform(X[:100])
    assert Z.shape == (100, 32) and ((Z != 0).sum(axis=1) <= 2).all()
    assert model.inverse_transform(Z).shape == (100, X.shape[1])
    with pytest.raises(ValueError, match="network"):
        small(network="cnn").fit(X[:64])
