"""JumpReLU sparse autoencoder (Rajamanoharan et al., 2024) with the VSC's networks.

Each unit has a learned threshold ``theta_j = exp(t_j)``; its code is
``z_j = a_j * H(a_j - theta_j)`` with ``a = relu(encoder(x))`` and ``H`` the
Heaviside step, so a unit is either off or passes its whole activation. The loss
is the reconstruction plus ``l0_coef`` times the number of active units per
sample, ``sum_j H(a_j - theta_j)``. Neither term has a useful gradient with
respect to ``theta``, so both use the paper's straight-through estimates with a
rectangle kernel ``K(u) = 1[|u| < 1/2]`` of bandwidth ``eps``:

    d/d theta  a H(a - theta) := -(theta / eps) K((a - theta) / eps)
    d/d theta  H(a - theta)   := -(1 / eps) K((a - theta) / eps)

while the gradient with respect to ``a`` is the exact one, ``H(a - theta)`` for
the JumpReLU and 0 for the step. Only samples whose activation falls within
``eps / 2`` of a threshold move it. The paper's bandwidth and initial threshold,
0.001, are for inputs normalised to unit mean squared norm; the pre-activations
of this MLP are of order 1, which those values suit, but the number of training
steps here is far smaller, which a larger bandwidth may suit better (a screen's
choice). ``l0_coef`` rises linearly from 0 over the first ``l0_warmup`` of the
steps, as in the paper's training.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._autoencoder import SparseAutoencoder, bce

__all__ = ["JumpReLUAutoencoder", "heaviside_step", "jumprelu"]


def _rectangle(u):
    return (u.abs() < 0.5).to(u.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, theta, eps):
        ctx.save_for_backward(a, theta)
        ctx.eps = eps
        return a * (a > theta).to(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, theta = ctx.saved_tensors
        grad_a = grad * (a > theta).to(a.dtype)
        grad_theta = (grad * -(theta / ctx.eps) * _rectangle((a - theta) / ctx.eps)).sum(0)
        return grad_a, grad_theta, None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, theta, eps):
        ctx.save_for_backward(a, theta)
        ctx.eps = eps
        return (a > theta).to(a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, theta = ctx.saved_tensors
        grad_theta = (grad * -(1.0 / ctx.eps) * _rectangle((a - theta) / ctx.eps)).sum(0)
        return torch.zeros_like(a), grad_theta, None


def jumprelu(a, theta, eps):
    """``a * H(a - theta)`` per unit (``theta`` of shape (J,)), with the paper's
    straight-through gradient for ``theta`` (bandwidth ``eps``)."""
    return _JumpReLU.apply(a, theta, eps)


def heaviside_step(a, theta, eps):
    """``H(a - theta)`` per unit, with the paper's straight-through gradient for ``theta``
    and none for ``a``."""
    return _Step.apply(a, theta, eps)


class JumpReLUAutoencoder(SparseAutoencoder):
    """JumpReLU sparse autoencoder: learned per-unit thresholds, an L0 penalty.

    Parameters
    ----------
    n_components : int, default=200
        Number of latent units J.
    l0_coef : float, default=1.0
        Weight of the mean number of active units per sample, in nats of
        reconstruction per active unit; larger is sparser.
    bandwidth : float, default=0.001
        Width ``eps`` of the rectangle kernel of the threshold's gradient.
    threshold_init : float, default=0.001
        Initial threshold of every unit.
    l0_warmup : float, default=0.1
        Fraction of the training steps over which ``l0_coef`` rises from 0.
    threshold_lr_scale : float, default=1.0
        The log-thresholds learn at ``threshold_lr_scale * learning_rate_init``.
        Adam moves a log-threshold by at most about its learning rate per step,
        so in the few thousand steps of an MNIST fit a threshold that starts at
        ``threshold_init`` cannot reach activations of order 1 at scale 1.
    hidden_layer_sizes : tuple of int, default=(400,)
        Hidden layers of the encoder; the decoder mirrors them.
    max_iter : int, default=20
        Training epochs (all of them are run).
    batch_size : int, default=128
        Mini-batch size.
    learning_rate_init : float, default=1e-3
        Adam learning rate (networks and log-thresholds).
    dead_window : int, default=10000
        A unit is dead when it has not fired for this many training samples
        (reported in ``dead_curve_``; JumpReLU has no revival loss).
    n_threads : int or None, default=None
        Torch intra-op threads during ``fit`` and ``transform``; None leaves torch's.
    random_state : int, RandomState or None, default=None
        Seeds the initialisation and shuffling generators.
    verbose : int, default=0
        Print one line per epoch when > 0.

    Attributes
    ----------
    module_ : torch.nn.Module
        ``encoder`` and ``decoder`` networks and ``log_threshold`` (J,).
    threshold_ : ndarray of shape (n_components,)
        The learned thresholds.
    n_iter_ : int
        Epochs trained.
    loss_curve_ : list of float
        Mean reconstruction loss per sample (nats) of each epoch.
    l0_curve_ : list of float
        Mean active units per sample of each epoch (training code).
    dead_curve_ : list of int
        Dead units (by ``dead_window``) at the end of each epoch.
    fit_seconds_ : float
        Wall time of ``fit``.
    """

    _curves = ("l0",)

    def __init__(
        self,
        n_components=200,
        *,
        l0_coef=1.0,
        bandwidth=0.001,
        threshold_init=0.001,
        l0_warmup=0.1,
        threshold_lr_scale=1.0,
        hidden_layer_sizes=(400,),
        max_iter=20,
        batch_size=128,
        learning_rate_init=1e-3,
        dead_window=10000,
        n_threads=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.l0_coef = l0_coef
        self.bandwidth = bandwidth
        self.threshold_init = threshold_init
        self.l0_warmup = l0_warmup
        self.threshold_lr_scale = threshold_lr_scale
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.dead_window = dead_window
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        for name in ("l0_coef", "l0_warmup"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name in ("bandwidth", "threshold_init", "threshold_lr_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")

    def _initialize(self, x_all, generator):
        log_theta = torch.full((self.n_components,), math.log(self.threshold_init))
        self.module_.log_threshold = nn.Parameter(log_theta)

    def _param_groups(self):
        threshold = self.module_.log_threshold
        others = [p for p in self.module_.parameters() if p is not threshold]
        lr = self.threshold_lr_scale * self.learning_rate_init
        return [{"params": others}, {"params": [threshold], "lr": lr}]

    def _l0_coef_at(self, step):
        warm = self.l0_warmup * self._n_steps
        return self.l0_coef * (min(1.0, step / warm) if warm > 0 else 1.0)

    def _batch_loss(self, x, step):
        a = F.relu(self.module_.encoder(x))
        theta = self.module_.log_threshold.exp()
        z = jumprelu(a, theta, self.bandwidth)
        rec = bce(self.module_.decoder(z), x)
        l0 = heaviside_step(a, theta, self.bandwidth).sum(1).mean()
        self._dead_after(z)
        loss = rec + self._l0_coef_at(step) * l0
        return loss, {"loss": float(rec.detach()), "l0": float(l0.detach())}

    def _finish(self, x_all, generator):
        self.threshold_ = self.module_.log_threshold.detach().exp().numpy().copy()

    def _encode(self, x):
        a = F.relu(self.module_.encoder(x))
        return a * (a > self.module_.log_threshold.exp())
