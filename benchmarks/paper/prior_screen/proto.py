"""Screen of spike priors for ``prior="aggregate"`` (validation splits only; a record).

This is the prototype with which the aggregate prior was chosen. It runs on
the code before the remodel into named parts (commit 5dc0c91), where the
model is ``skvsc._models.SpikeSlabVAE``: check that commit out in a separate
work tree and put it first on ``PYTHONPATH``::

    git worktree add /tmp/skvsc-5dc0c91 5dc0c91
    PYTHONPATH=/tmp/skvsc-5dc0c91 OMP_NUM_THREADS=1 python benchmarks/paper/prior_screen/mnist.py \
        mnist '{"beta": 0.0, "lam": 1.0, "rate": "st"}' '{"alpha": 0.05, "max_iter": 10}' TAG

Arguments: dataset (``mnist``, ``fashion`` or ``digits``), the prior's
settings, the estimator's parameters, a tag. The training objective is

    -log p(x | z) + gamma * slab KL + beta * sum_j KL(Bern(gamma_j) || Bern(r_j))
    + lam * sum_j KL(Bern(r_j) || Bern(alpha)) + usage penalty

with ``r_j`` the batch's mean gamma (``rate="unit"``), or the fraction of the
batch with gamma > 1/2 with the gradient of the mean (``rate="st"``, what
``prior="aggregate"`` became); ``beta = lam = 1`` is the paper's ELBO
(``prior="fixed"``). ``score`` is always the fixed prior's ELBO. MNIST /
Fashion: train on training images 0..49,999, evaluate on 50,000..59,999,
LogisticRegression on 5,000 fixed labelled images; digits: a 75/25 split of
the 75 % training part of ``load_digits``, SVC and LogisticRegression. The
rows are in ``results/prior_screen_*.jsonl`` (the first rows of the MNIST file
predate the ``curve`` fields).
"""

import torch
from skvsc._models import SpikeSlabVAE

from skvsc import _elbo
from skvsc._vsc import VariationalSparseCoder


class AggVAE(SpikeSlabVAE):
    """spike info weight beta (per-sample KL(g||r_j)), rate term weight lam."""

    def __init__(self, *a, beta=0.0, lam=1.0, rate="unit", slab_w=1.0, ent=0.0, **kw):
        super().__init__(*a, **kw)
        self.beta, self.lam, self.rate, self.slab_w, self.ent = beta, lam, rate, slab_w, ent

    def kl(self, posterior, step):
        mu, logvar, gamma = posterior
        mean, lv = _elbo.warmup_slab(mu, logvar, step.slab_weight)
        out = self.slab_w * gamma * _elbo.gaussian_kl(mean, lv)
        if self.training and self.beta > 0:
            r = gamma.mean(0).detach()
            out = out + self.beta * _elbo.bernoulli_kl(gamma, r)
        if self.training and self.ent > 0:
            g = gamma.clamp(1e-6, 1 - 1e-6)
            out = out - self.ent * (g * g.log() + (1 - g) * torch.log1p(-g))
        if not self.training:
            out = out + _elbo.bernoulli_kl(gamma, self.alpha)  # score: fixed-prior ELBO
        return out.sum(1)

    def regularizer(self, posterior, step):
        gamma = posterior[2]
        r = gamma.mean(0)
        if getattr(self, "st", False) or self.rate == "st":
            r = r + ((gamma > 0.5).to(r.dtype).mean(0) - r).detach()
        if self.rate in ("unit", "st"):
            agg = _elbo.bernoulli_kl(r, self.alpha).sum()
        else:
            agg = gamma.shape[1] * _elbo.bernoulli_kl(r.mean(), self.alpha)
        reg = self.lam * step.kl_weight * agg
        if step.usage_weight:
            reg = reg + step.usage_weight * _elbo.balance_kl(gamma).sum()
        return reg

    def objective(self, x, step, generator):
        posterior = self.encode(x)
        self.count_active(posterior)
        noise = self.draw_noise(posterior[0].shape, generator)
        z = self.latent_sample(posterior, noise, step)
        nll = -self.log_likelihood(x, z)
        kl = self.kl(posterior, step)
        loss = (nll + step.kl_weight * kl).mean() + self.regularizer(posterior, step)
        stats = torch.stack([nll.sum(), kl.sum(), self.active_units(posterior).sum()]).detach()
        return loss, stats


class AggVSC(VariationalSparseCoder):
    _model_class = AggVAE
    proto = {}

    def _model_kwargs(self):
        return {"alpha": float(self.alpha), "usage": self.usage, **self.proto}


def make(proto, **params):
    cls = type("P", (AggVSC,), {"proto": dict(proto)})
    return cls(**params)


def _floor(gate, gamma):
    top = torch.nn.functional.one_hot(gamma.argmax(1), gamma.shape[1]).to(gate.dtype)
    return torch.maximum(gate, top)


class FloorVAE(AggVAE):
    def latent_sample(self, posterior, noise, step):
        mu, logvar, gamma = posterior
        eps, eta = noise
        mean, lv = _elbo.warmup_slab(mu, logvar, step.slab_weight)
        slab = _elbo.gaussian_sample(mean, lv, eps)
        gate = _elbo.relaxed_step(eta - 1.0 + gamma, step.sharpness)
        return _floor(gate, gamma) * slab

    def code(self, x):
        mu, gl = self.encoder.heads_only(self._standardize(x), (0, 2))
        g = torch.sigmoid(gl)
        on = _floor((g > 0.5).to(mu.dtype), g) > 0
        return torch.where(on, mu, torch.zeros_like(mu))


class FloorVSC(AggVSC):
    _model_class = FloorVAE


def make_floor(proto, **params):
    cls = type("F", (FloorVSC,), {"proto": dict(proto)})
    return cls(**params)
