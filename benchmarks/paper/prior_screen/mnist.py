import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proto import make, make_floor

if os.environ.get("FLOOR"):
    make = make_floor
from sklearn.linear_model import LogisticRegression

from skvsc.datasets import load_fashion_mnist, load_mnist

ds = os.environ.get("DS", "mnist")
loader = load_mnist if ds == "mnist" else load_fashion_mnist
X, y = loader(os.environ["SKVSC_DATA"], split="train", download=False, progress=False)
Xtr, ytr, Xv, yv = X[:50000], y[:50000], X[50000:], y[50000:]
lab = np.sort(np.random.RandomState(0).choice(50000, 5000, replace=False))
proto = json.loads(sys.argv[1])
params = json.loads(sys.argv[2])
tag = sys.argv[3] if len(sys.argv) > 3 else ""
seed = params.pop("seed", 0)
t = time.time()
m = make(proto, random_state=seed, n_threads=1, **params).fit(Xtr)
fit_s = time.time() - t
Za, Zv = m.transform(Xtr), m.transform(Xv)
act = (Zv != 0).sum(1)
row = dict(
    ds=ds,
    tag=tag,
    proto=proto,
    params=params,
    seed=seed,
    fit_s=round(fit_s, 1),
    acc=LogisticRegression(max_iter=1000).fit(Za[lab], ytr[lab]).score(Zv, yv),
    nonzero=float(act.mean() / Zv.shape[1]),
    active=float(act.mean()),
    empty=float((act == 0).mean()),
    alive=int((Za != 0).any(0).sum()),
    elbo=m.score(Xv),
    epochs=m.n_iter_,
    last=m.history_[-1],
    curve=[round(h["loss"], 3) for h in m.history_],
    act_curve=[round(h["active_units"], 2) for h in m.history_],
)
print(json.dumps(row), flush=True)
import joblib

joblib.dump(m, f"prior_screen-{ds}-{tag}.joblib")
with open("prior_screen_mnist.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
