"""MNIST / Fashion validation screen (usage: ``gate_val.py {mnist,fashion} PARAMS_JSON TAG``,
with ``SKVSC_DATA`` set; rows in ``results/gate_screen_mnist_fashion.jsonl``): fit on training images 0..49,999, LogisticRegression
on 5,000 of them (RandomState(0)), scored on training images 50,000..59,999."""
import json, os, sys, time
import numpy as np
from sklearn.linear_model import LogisticRegression
from skvsc import VariationalSparseCoder
from skvsc.datasets import load_fashion_mnist, load_mnist
ds, params, tag = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
# variant: SLAB_BETA=b scales the (gamma-weighted) slab KL of the aggregate family's training loss
slab_beta = float(os.environ.get("SLAB_BETA", "1"))
if slab_beta != 1.0:
    from skvsc._core import elbo as _elbo
    from skvsc._core import latents as _latents

    _orig = _latents.AggregateSpikeSlabLatent.regularizer

    def _regularizer(self, posterior, values):
        mean, logvar = _elbo.warmup_slab(posterior.mu, posterior.logvar, values.slab_weight)
        soft = (posterior.gamma * _elbo.gaussian_kl(mean, logvar)).sum(dim=1).mean()
        return _orig(self, posterior, values) + (slab_beta - 1.0) * values.kl_weight * soft

    _latents.AggregateSpikeSlabLatent.regularizer = _regularizer
    params_note = {"slab_beta": slab_beta}
else:
    params_note = {}
loader = load_mnist if ds == "mnist" else load_fashion_mnist
X, y = loader(os.environ["SKVSC_DATA"], split="train", download=False, progress=False)
Xtr, ytr, Xv, yv = X[:50000], y[:50000], X[50000:], y[50000:]
lab = np.sort(np.random.RandomState(0).choice(50000, 5000, replace=False))
seed = params.pop("seed", 0)
t = time.time()
m = VariationalSparseCoder(random_state=seed, n_threads=1, **params).fit(Xtr)
fit_s = time.time() - t
Za, Zv = m.transform(Xtr), m.transform(Xv)
act = (Zv != 0).sum(1)
row = dict(ds=ds, tag=tag, split="validation", params=params, variant=params_note, seed=seed, fit_s=round(fit_s, 1),
    acc=LogisticRegression(max_iter=1000).fit(Za[lab], ytr[lab]).score(Zv, yv),
    nonzero=float(act.mean() / Zv.shape[1]), active=float(act.mean()), empty=float((act == 0).mean()),
    dead=int((~(Za != 0).any(0)).sum()), elbo=m.score(Xv), epochs=m.n_iter_)
print(json.dumps(row), flush=True)
with open("gate_screen_mnist_fashion.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
