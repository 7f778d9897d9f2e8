"""Unit tests of the BatchTopK autoencoder baseline (tiny synthetic data)."""

import numpy as np
import pytest
import torch

from .batchtopk import BatchTopKAutoencoder, batch_topk, smallest_kept


def small(**params):
    defaults = dict(
        n_components=32,
        k=3,
        hidden_layer_sizes=(32,),
        max_iter=3,
        batch_size=64,
        dead_window=512,
        n_threads=1,
        random_state=0,
    )
    return BatchTopKAutoencoder(**{**defaults, **params})


def test_batch_topk_keeps_the_k_n_largest_of_the_batch():
    h = torch.from_numpy(np.random.RandomState(0).randn(6, 10).astype(np.float32))
    z = batch_topk(h, 2)
    # oracle: the 12 largest entries of the whole batch, ReLU'd, in place
    cut = np.sort(h.numpy().ravel())[-12]
    expected = np.where(h.numpy() >= cut, np.maximum(h.numpy(), 0), 0)
    np.testing.assert_array_equal(z.numpy(), expected)
    assert (z > 0).sum() == 12  # more than half the entries are positive here
    counts = (z > 0).sum(dim=1)
    assert counts.min() != counts.max()  # per sample the count varies; only the total is k n
    assert smallest_kept(z) == pytest.approx(cut)
    assert smallest_kept(torch.zeros(2, 3)) is None


def test_gradient_flows_to_the_kept_entries_only():
    h = torch.tensor([[3.0, -1.0, 0.5], [2.0, 1.0, -2.0]], requires_grad=True)
    batch_topk(h, 1).sum().backward()  # keeps 3.0 and 2.0
    assert torch.equal(h.grad, torch.tensor([[1.0, 0, 0], [1.0, 0, 0]]))


def test_threshold_gives_about_k_nonzeros_at_inference(X):
    model = small(k=3).fit(X[:1024])
    Z = model.transform(X)
    assert (Z >= 0).all()
    assert 1.5 <= (Z != 0).sum(axis=1).mean() <= 6  # k = 3 on average in training
    # the threshold is the mean of per-batch minima: within the range of the codes' values
    kept = Z[Z > 0]
    assert kept.min() >= model.threshold_ > 0


def test_threshold_is_the_mean_of_the_batches_smallest_kept_activation(X):
    model = small().fit(X[:256])
    # recompute the estimate: the same pass (generator state after training) by hand
    seed = int(np.random.RandomState(0).randint(2**31 - 1))
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(model.max_iter):
        torch.randperm(256, generator=gen)  # the epochs' shuffles
    order = torch.randperm(256, generator=gen)
    x = torch.from_numpy(X[:256])[order]
    with torch.no_grad():
        mins = [
            smallest_kept(batch_topk(model.module_.encoder(x[i : i + 64]), 3))
            for i in (0, 64, 128, 192)
        ]
    assert model.threshold_ == pytest.approx(np.mean(mins), rel=1e-6)


def test_aux_loss_is_trained_when_units_die(X):
    # on this problem most units die within the first epoch (the offsets of the
    # ReLU hidden layer, see topk.py), so the auxiliary pass has work to do
    with_aux, without = small(aux_weight=1.0).fit(X[:1024]), small(aux_weight=0.0).fit(X[:1024])
    assert with_aux.dead_curve_[-1] > 0
    assert all(a > 0 for a in with_aux.aux_loss_curve_[1:])
    assert without.aux_loss_curve_ == [0.0] * without.max_iter


def test_determinism_and_global_rng_untouched(X):
    state = torch.random.get_rng_state()
    a, b = small().fit(X[:512]), small().fit(X[:512])
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.loss_curve_ == b.loss_curve_ and a.threshold_ == b.threshold_
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_bad_parameters(X):
    with pytest.raises(ValueError, match="k must be"):
        small(k=33).fit(X[:64])
    with pytest.raises(ValueError, match="aux_weight"):
        small(aux_weight=-1).fit(X[:64])
