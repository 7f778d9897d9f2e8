"""Screen of the aggregate prior's spikes on the digits (prototype, validation split only).

Usage: ``python gate_digits.py PARAMS_JSON [VARIANT_JSON]``. Fits
``VariationalSparseCoder(random_state=0, **PARAMS)`` on a validation split of the
README pipeline's training part (75/25 of ``load_digits().data / 16``,
``random_state=0``, then 75/25 again with ``random_state=1``), prints one JSON row
(SVC / LogReg accuracy, active units, empty codes, dead units, ELBO, reconstruction
of the code, histogram of gamma). VARIANT monkeypatches the core of the commit it
runs on (see ``results/gate_screen_digits.jsonl`` for which): ``soft`` (mean-gamma
rate), ``entropy`` (penalty on H(gamma)), ``st_gate`` (deterministic
straight-through spikes), ``beta`` (keep that share of the per-sample spike KL),
``st_clamp`` / ``floor`` (clamp of the aggregate rate that passes its gradient).
"""
import sys, json, time, numpy as np, torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from sklearn.linear_model import LogisticRegression
from skvsc import VariationalSparseCoder
from skvsc._core import penalties, latents, elbo
variant = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
if variant.get("soft"):
    penalties.aggregate_activity = lambda g: g.mean(dim=0)
ent = variant.get("entropy", 0.0)
if ent:
    orig = latents.AggregateSpikeSlabLatent.regularizer
    def reg(self, posterior, values):
        g = posterior.gamma.clamp(1e-6, 1 - 1e-6)
        H = -(g * g.log() + (1 - g) * (1 - g).log()).sum(1).mean()
        return orig(self, posterior, values) + ent * H
    latents.AggregateSpikeSlabLatent.regularizer = reg
if variant.get("st_gate"):
    def rsample(self, posterior, noise, values):
        eps, eta = noise
        mean, logvar = elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        slab = elbo.gaussian_sample(mean, logvar, eps)
        g = posterior.gamma
        gate = (g > 0.5).to(g.dtype) + g - g.detach()
        return gate * slab
    latents.AggregateSpikeSlabLatent.rsample = rsample
beta = variant.get("beta", 0.0)
if beta:
    def reg2(self, posterior, values):
        g = posterior.gamma
        spike = elbo.bernoulli_kl(g, self.alpha).sum(dim=1).mean()
        return penalties.aggregate_spike_kl(g, self.alpha).sum() - (1 - beta) * values.kl_weight * spike
    latents.AggregateSpikeSlabLatent.regularizer = reg2
if variant.get("st_clamp"):
    lo = variant.get("floor", 1e-6)
    def agg(gamma, alpha):
        r = penalties.aggregate_activity(gamma)
        r = r + (r.clamp(lo, 1 - lo) - r).detach()
        a = torch.as_tensor(alpha, dtype=r.dtype)
        return r * (r.log() - a.log()) + (1 - r) * (torch.log1p(-r) - torch.log1p(-a))
    latents.aggregate_spike_kl = agg
X, y = load_digits(return_X_y=True); X = X / 16.0
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
Xa, Xv, ya, yv = train_test_split(Xtr, ytr, test_size=0.25, stratify=ytr, random_state=1)
params = json.loads(sys.argv[1])
t = time.time(); est = VariationalSparseCoder(random_state=0, n_threads=1, **params).fit(Xa); ft = time.time() - t
Z = est.transform(Xv); Za = est.transform(Xa); g = est.activity_proba(Xv)
def bce(X, P):
    P = np.clip(P, 1e-6, 1 - 1e-6); return float(-(X*np.log(P)+(1-X)*np.log(1-P)).sum(1).mean())
row = dict(params=params, variant=variant, fit_s=round(ft, 1), epochs=est.n_iter_,
  svc=round(SVC().fit(Za, ya).score(Z, yv), 4), logreg=round(LogisticRegression(max_iter=2000).fit(Za, ya).score(Z, yv), 4),
  units=round(float((Z != 0).sum(1).mean()), 2), empty=round(float(((Z != 0).sum(1) == 0).mean()), 4),
  dead=int(((Za != 0).sum(0) == 0).sum()), elbo=round(est.score(Xv), 2), rec=round(bce(Xv, est.inverse_transform(Z)), 2),
  gamma_hist=(np.histogram(g, bins=[0, .01, .1, .5, .9, .99, 1])[0] / g.size).round(3).tolist())
print(json.dumps(row), flush=True)
