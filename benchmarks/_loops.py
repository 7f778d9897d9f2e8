"""The training loops the speed scripts compare skvsc with, and the core-loop setup.

- the *hand loop*: skvsc's default objective written out by hand as a user would,
  trained with ``torch.optim.Adam`` (``HandVSC``, ``hand_loss``, ``hand_fit``);
- the *reproduction-style loop*: the public reproduction's network and loop
  (``ReproVSC``, ``repro_epoch``), for the time to the reproduction's ELBO;
- the default VSC's core model, optimizer and guard built as ``fit`` builds them
  (``default_model``, ``step_setup``, ``step_epoch``), for per-step timings.
"""

import _common
import torch
import torch.nn.functional as F
from _common import HIDDEN, N_COMPONENTS, clocked, sync
from torch import nn

from skvsc import VariationalSparseCoder
from skvsc._core.optim import _fused_kernel_exists


class HandVSC(nn.Module):
    """The VSC network written as a user would: 784-400-(heads x J) / J-400-784.

    With ``tied`` (the image default's ``gate="tied"``) two heads (``mu``,
    ``logvar``), a per-unit slope and offset of the gate and the rate
    controller's multipliers; otherwise three heads (the free gate's ``gamma``
    logit the third).
    """

    def __init__(self, n_features, hidden, n_components, tied=False):
        super().__init__()
        self.tied = tied
        self.enc = nn.Linear(n_features, hidden)
        self.heads = nn.Linear(hidden, (2 if tied else 3) * n_components)
        self.dec1 = nn.Linear(n_components, hidden)
        self.dec2 = nn.Linear(hidden, n_features)
        if tied:
            self.gate_slope = nn.Parameter(torch.full((n_components,), 0.1))
            self.gate_offset = nn.Parameter(torch.zeros(n_components))
        self.register_buffer("multiplier", torch.zeros(n_components))  # the rate controller's


def hand_model(spec, n_features):
    """The :class:`HandVSC` of the spec's gate (J = 200, one hidden layer of 400)."""
    params = spec.latent_params
    if params.get("rate_control_mean") or params.get("rate_control_floor", 1.0) != 1.0:
        raise ValueError("the hand loop writes out the rate controller's default form only")
    return HandVSC(n_features, HIDDEN, N_COMPONENTS, tied=params.get("gate") == "tied")


def bernoulli_kl(g, a):
    return g * torch.log(g / a) + (1 - g) * torch.log((1 - g) / (1 - a))


def hand_loss(model, x, spec, kl_weight=1.0, eps=None):
    """The objective of skvsc's defaults after the KL warm-up, written out by hand.

    For the aggregate prior (the default): the exact-sparse code (``gamma > 1/2``,
    a row with none keeps its most probable unit) with slab noise and a
    straight-through gate, ``slab_kl_weight`` times the slab KL (every unit's with
    the tied gate, gamma-weighted with the free one), the aggregate activity term,
    the usage penalty and, where ``rate_control`` is on, the rate controller
    (multipliers ``lambda + eta (r - alpha)``, at most 0 with ``"up"``, stepped
    first); with the tied gate ``gamma = sigmoid(a mu + c)``. For the
    fixed prior: the relaxed -ELBO (c = 100) and the usage penalty.
    ``usage="balance"``: pull each unit's batch activity toward the batch's mean
    activity; ``"prior"``: toward ``alpha``. ``eps``: the slab noise (default:
    drawn from the global RNG).
    """
    params, schedule = spec.latent_params, spec.schedule_params
    alpha, usage, usage_weight = params["alpha"], params["usage"], schedule["usage_weight"]
    hidden = F.relu(model.enc(x))
    if model.tied:
        mu, logvar = model.heads(hidden).chunk(2, dim=1)
        gamma = torch.sigmoid(model.gate_slope * mu + model.gate_offset)
    else:
        mu, logvar, v = model.heads(hidden).chunk(3, dim=1)
        gamma = torch.sigmoid(v)
    logvar = logvar.clamp(-14.0, 8.0)
    eps = torch.randn_like(mu) if eps is None else eps
    slab_kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
    if spec.latent == "spike_slab_aggregate":
        on = gamma > 0.5
        top = F.one_hot(gamma.argmax(1), gamma.shape[1]).bool()
        hard = (on | (~on.any(1, keepdim=True) & top)).to(gamma.dtype)
        z = (hard + gamma - gamma.detach()) * (mu + torch.exp(0.5 * logvar) * eps)
        weighted = slab_kl if model.tied else gamma * slab_kl
        kl = params["slab_kl_weight"] * weighted.sum(1)
        soft, hard_rate = gamma.mean(0), hard.mean(0)
        # the value of the hard rate, the gradient of the soft one
        rate = soft + (hard_rate - soft).detach()
        floor = 0.5 / len(x)
        clamped = rate + (rate.clamp(floor, 1 - floor) - rate).detach()
        extra = bernoulli_kl(clamped, alpha).sum()
        if params.get("rate_control", 0.0) > 0:
            with torch.no_grad():
                step = model.multiplier + params["rate_control"] * (hard_rate - alpha)
                up = params["rate_control_sides"] == "up"  # subsidies only
                model.multiplier.copy_(step.clamp(max=0.0) if up else step)
            extra = extra + (model.multiplier * rate).sum()
    else:
        eta = torch.rand_like(mu)
        z = torch.sigmoid(100.0 * (eta - 1 + gamma)) * (mu + torch.exp(0.5 * logvar) * eps)
        g = gamma.clamp(1e-6, 1 - 1e-6)
        kl = (g * slab_kl + bernoulli_kl(g, alpha)).sum(1)
        extra = 0.0
    logits = model.dec2(F.relu(model.dec1(z)))
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    target = gamma.mean().detach() if usage == "balance" else alpha
    penalty = bernoulli_kl(gamma.mean(0).clamp(1e-6, 1 - 1e-6), target).sum()
    return (rec + kl_weight * kl).mean() + extra + usage_weight * penalty


def hand_epoch(model, opt, Xt, batch_size, spec):
    """One shuffled epoch of the hand loop over the device tensor ``Xt`` (global RNG)."""
    n = len(Xt)
    perm = torch.randperm(n, device=Xt.device)
    for i in range(0, n, batch_size):
        loss = hand_loss(model, Xt[perm[i : i + batch_size]], spec)
        opt.zero_grad()
        loss.backward()
        opt.step()


def fused_adam(params, lr=1e-3):
    """``torch.optim.Adam(params, lr, fused=True)``; a clear exit where this torch
    has no fused kernel on the parameters' device (the CPU before torch 2.4)."""
    params = list(params)
    if not _fused_kernel_exists(params[0].device, params[0].dtype):
        raise SystemExit(
            f"torch {torch.__version__} has no fused Adam kernel on "
            f"{params[0].device.type}, which this comparison needs (torch >= 2.4 on the CPU)"
        )
    return torch.optim.Adam(params, lr=lr, fused=True)


def hand_fit(X, batch_size, epochs, seed, fused=False):
    """A minimal training loop (torch defaults, global RNG): ``(wall, CPU seconds)``."""
    torch.manual_seed(seed)
    est = VariationalSparseCoder()
    spec = est._resolved(est._check_params(), X.shape[1])  # the defaults' ModelSpec
    model = hand_model(spec, X.shape[1]).to(_common.DEVICE)
    params = model.parameters()
    opt = fused_adam(params) if fused else torch.optim.Adam(params, lr=1e-3)

    def train():
        Xt = torch.from_numpy(X).to(_common.DEVICE)
        for _ in range(epochs):
            hand_epoch(model, opt, Xt, batch_size, spec)
        sync()

    wall, cpu, _ = clocked(train)
    return wall, cpu


def skvsc_fit(X, batch_size, epochs, seed, threads):
    est = VariationalSparseCoder(
        batch_size=batch_size,
        max_iter=epochs,
        random_state=seed,
        device=_common.DEVICE,
        n_threads=threads,
    )
    wall, cpu, _ = clocked(est.fit, X)
    return wall, cpu, est


def default_model(n_features, seed, params=None):
    """The default VSC's core model (Bernoulli, J = 200, one hidden layer of 400) on
    ``_common.DEVICE``, built through the core API: ``(estimator, spec, model)``, the
    spec being the defaults' :class:`~skvsc._core.run.ModelSpec` (``params``:
    estimator parameters that replace defaults, e.g. ``{"network": "conv"}``)."""
    from skvsc._core.vae import build_vae

    est = VariationalSparseCoder(**(params or {}))  # its defaults, but for params
    spec = est._resolved(est._check_params(), n_features)
    config = spec.config(n_features, likelihood="bernoulli")
    return est, spec, build_vae(config, torch.Generator().manual_seed(seed)).to(_common.DEVICE)


class ReproVSC(nn.Module):
    """The reproduction's network: separate heads, log gamma = -relu(-v), c = 50."""

    def __init__(self, n_components, hidden=HIDDEN, n_features=784):
        super().__init__()
        self.fc1 = nn.Linear(n_features, hidden)
        self.fc21 = nn.Linear(hidden, n_components)
        self.fc22 = nn.Linear(hidden, n_components)
        self.fc23 = nn.Linear(hidden, n_components)
        self.fc3 = nn.Linear(n_components, hidden)
        self.fc4 = nn.Linear(hidden, n_features)
        self.c = 50.0

    def loss(self, x, alpha):
        """Summed -ELBO of the batch with one sample per data point."""
        h = F.relu(self.fc1(x))
        mu, logvar, logspike = self.fc21(h), self.fc22(h), -F.relu(-self.fc23(h))
        eps, eta = torch.randn_like(mu), torch.rand_like(mu)
        z = torch.sigmoid(self.c * (eta + logspike.exp() - 1)) * (mu + eps * (0.5 * logvar).exp())
        recon = torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
        bce = F.binary_cross_entropy(recon, x, reduction="sum")
        spike = logspike.exp().clamp(1e-6, 1 - 1e-6)
        prior = -0.5 * torch.sum(spike * (1 + logvar - mu**2 - logvar.exp())) + torch.sum(
            (1 - spike) * torch.log((1 - spike) / (1 - alpha)) + spike * torch.log(spike / alpha)
        )
        return bce + prior


def repro_epoch(model, opt, loader, alpha):
    model.train()
    total = 0.0
    for (x,) in loader:
        x = x.to(_common.DEVICE)
        opt.zero_grad()
        loss = model.loss(x, alpha)
        loss.backward()
        opt.step()
        total += loss.item()  # the reproduction logs every step
    model.c += 0.001


@torch.no_grad()
def repro_test_neg_elbo(model, X_test, alpha):
    model.eval()
    Xt = torch.from_numpy(X_test).to(_common.DEVICE)
    return sum(model.loss(Xt[i : i + 1000], alpha).item() for i in range(0, len(Xt), 1000)) / len(
        Xt
    )


def step_setup(X, batch_size, seed=0, params=None):
    """The default VSC's model (``params``: as for :func:`default_model`), optimizer,
    source, schedule and guard, as ``fit`` builds them."""
    from skvsc._base import _GPU_CHECK_EVERY
    from skvsc._core.data import make_source
    from skvsc._core.guard import StepGuard
    from skvsc._core.optim import make_optimizer
    from skvsc._core.schedule import auto_learning_rate

    est, spec, model = default_model(X.shape[1], seed, params)
    lr = est.learning_rate_init
    optimizer = make_optimizer(
        model.parameters(), auto_learning_rate(X.shape[1]) if lr == "auto" else lr
    )
    check_every = 1 if _common.DEVICE.type == "cpu" else _GPU_CHECK_EVERY
    return {
        "model": model,
        "optimizer": optimizer,
        "source": make_source(X, _common.DEVICE),
        "schedule": spec.schedule(8000),
        "generator": torch.Generator(_common.DEVICE).manual_seed(seed + 1),
        "guard": StepGuard(model, optimizer, check_every=check_every),
    }


def step_epoch(parts, batch_size):
    """One epoch of the core loop over ``parts`` (from :func:`step_setup`), from step 100."""
    from skvsc._core.train import train_epoch

    return train_epoch(
        parts["model"],
        parts["optimizer"],
        parts["source"],
        batch_size=batch_size,
        schedule=parts["schedule"],
        step=100,
        generator=parts["generator"],
        guard=parts["guard"],
    )
