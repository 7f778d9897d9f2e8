"""Unit tests of the JumpReLU autoencoder baseline (tiny synthetic data)."""

import numpy as np
import pytest
import torch

from .jumprelu import JumpReLUAutoencoder, heaviside_step, jumprelu


def small(**params):
    defaults = dict(
        n_components=32,
        bandwidth=0.5,
        threshold_init=0.5,
        learning_rate_init=1e-2,
        hidden_layer_sizes=(32,),
        max_iter=6,
        batch_size=64,
        dead_window=512,
        n_threads=1,
        random_state=0,
    )
    return JumpReLUAutoencoder(**{**defaults, **params})


A = [[0.10, 0.98, 2.00], [0.52, 0.30, 1.04], [0.00, 1.20, 0.97]]  # 4 within EPS / 2
THETA = [0.5, 1.0, 1.0]
EPS = 0.1


def _inputs():
    a = torch.tensor(A, requires_grad=True)
    theta = torch.tensor(THETA, requires_grad=True)
    return a, theta


def test_jumprelu_forward_and_straight_through_gradients():
    a, theta = _inputs()
    z = jumprelu(a, theta, EPS)
    a_np, th = np.array(A), np.array(THETA)
    on = a_np > th
    np.testing.assert_allclose(z.detach().numpy(), a_np * on, rtol=1e-6)
    z.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), on.astype(np.float32))
    # oracle, written from the paper's definition: -(theta / eps) per sample within eps / 2
    window = np.abs(a_np - th) < EPS / 2
    np.testing.assert_allclose(theta.grad.numpy(), (-(th / EPS) * window).sum(0), rtol=1e-6)
    assert theta.grad[0] < 0 and theta.grad[1] < 0 and theta.grad[2] < 0


def test_step_counts_active_units_and_only_moves_thresholds():
    a, theta = _inputs()
    l0 = heaviside_step(a, theta, EPS)
    a_np, th = np.array(A), np.array(THETA)
    np.testing.assert_array_equal(l0.detach().numpy(), (a_np > th).astype(np.float32))
    l0.sum().backward()
    assert float(a.grad.abs().sum()) == 0.0  # no gradient to the activations
    window = np.abs(a_np - th) < EPS / 2
    np.testing.assert_allclose(theta.grad.numpy(), (-(1 / EPS) * window).sum(0), rtol=1e-6)
    # descending the L0 term raises a threshold that sits next to activations
    assert (theta.grad <= 0).all() and (theta.grad < 0).any()


def test_l0_penalty_raises_thresholds_and_sparsifies(X):
    plain, sparse = small(l0_coef=0.0).fit(X[:1024]), small(l0_coef=1.0).fit(X[:1024])
    assert sparse.threshold_.mean() > plain.threshold_.mean()
    nonzeros = [(m.transform(X) != 0).sum(axis=1).mean() for m in (plain, sparse)]
    assert nonzeros[1] < nonzeros[0]
    assert sparse.l0_curve_[-1] == pytest.approx(nonzeros[1], rel=0.2)


def test_threshold_lr_scale_sets_the_thresholds_learning_rate(X):
    model = small(max_iter=0, threshold_lr_scale=10.0).fit(X[:64])
    plain, threshold = model._param_groups()
    assert threshold["params"] == [model.module_.log_threshold] and threshold["lr"] == 0.1
    assert "lr" not in plain and len(plain["params"]) == len(list(model.module_.parameters())) - 1
    # a threshold learning faster travels further in the same steps
    slow, fast = small(l0_coef=1.0).fit(X[:512]), small(l0_coef=1.0, threshold_lr_scale=10.0)
    moved = [np.abs(np.log(m.threshold_ / 0.5)).mean() for m in (slow, fast.fit(X[:512]))]
    assert moved[1] > 2 * moved[0]


def test_transform_applies_the_learned_thresholds(X):
    model = small().fit(X[:512])
    Z = model.transform(X[:64])
    with torch.no_grad():
        a = torch.relu(model.module_.encoder(torch.from_numpy(X[:64]))).numpy()
    np.testing.assert_allclose(Z, np.where(a > model.threshold_, a, 0.0), rtol=1e-6)


def test_determinism_and_global_rng_untouched(X):
    state = torch.random.get_rng_state()
    a, b = small(max_iter=2).fit(X[:512]), small(max_iter=2).fit(X[:512])
    assert torch.equal(torch.random.get_rng_state(), state)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.threshold_, b.threshold_)


def test_bad_parameters(X):
    bad = (("bandwidth", 0.0), ("threshold_init", -1.0), ("l0_coef", -1.0))
    for name, value in (*bad, ("threshold_lr_scale", 0.0)):
        with pytest.raises(ValueError, match=name):
            small(**{name: value}).fit(X[:64])
