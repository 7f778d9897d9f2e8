import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proto import make, make_floor

if os.environ.get("FLOOR"):
    make = make_floor
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC

X, y = load_digits(return_X_y=True)
X = X / 16.0
# validation split of the training part only (the 25 % test split is untouched)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
Xa, Xv, ya, yv = train_test_split(Xtr, ytr, test_size=0.25, stratify=ytr, random_state=1)
proto = json.loads(sys.argv[1])
params = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
for seed in [0]:
    t = time.time()
    m = make(proto, random_state=seed, n_threads=1, **params).fit(Xa)
    Za, Zv = m.transform(Xa), m.transform(Xv)
    row = dict(
        proto=proto,
        params=params,
        seed=seed,
        fit_s=round(time.time() - t, 1),
        svc=SVC().fit(Za, ya).score(Zv, yv),
        lr=LogisticRegression(max_iter=2000).fit(Za, ya).score(Zv, yv),
        nonzero=float((Zv != 0).mean()),
        active=float((Zv != 0).sum(1).mean()),
        empty=float(((Zv != 0).sum(1) == 0).mean()),
        alive=int((Za != 0).any(0).sum()),
        elbo=m.score(Xv),
        epochs=m.n_iter_,
    )
    print(json.dumps(row), flush=True)
    with open("prior_screen_digits.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
