"""How readable the units of a table's code are: breast cancer, one fit per setting.

For each unit active on at least 5 % of the tumours: the cosine between its feature
effect (``feature_effects``, in feature standard deviations) and the mean
standardised profile of the tumours that use it, whether it is one-signed (at
least 95 % of its non-zero values of one sign), and the share of the majority
class among the tumours that use it. Prints one line per setting (docs/tables.md,
"Reading the units")::

    OMP_NUM_THREADS=1 nice python benchmarks/tables_units.py '{}' '{"alpha": 0.05}'
"""

import argparse
import json
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer

from skvsc import VariationalSparseCoder


def readability(vsc, X, y, min_rate=0.05):
    std = X.std(axis=0)
    Xs = (X - X.mean(axis=0)) / std
    effects = vsc.feature_effects() / std
    Z = vsc.transform(X)
    cosines, one_signed, majority = [], [], []
    for j in np.flatnonzero(vsc.activation_rates_ >= min_rate):
        on = Z[:, j] != 0
        profile = Xs[on].mean(axis=0)
        norm = np.linalg.norm(profile) * np.linalg.norm(effects[j])
        cosines.append(profile @ effects[j] / norm)
        positive = (Z[on, j] > 0).mean()
        one_signed.append(max(positive, 1 - positive) >= 0.95)
        share = y[on].mean()
        majority.append(max(share, 1 - share))
    cosines = np.array(cosines)
    return {
        "units": int(cosines.size),
        "median_cosine": float(np.median(cosines)),
        "cosine_ge_0.8": float((cosines >= 0.8).mean()),
        "one_signed": float(np.mean(one_signed)),
        "median_majority_share": float(np.median(majority)),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="+", help="VSC parameters as JSON, one per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X, y = load_breast_cancer(return_X_y=True)
    for setting in args.settings:
        params = json.loads(setting)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vsc = VariationalSparseCoder(n_threads=1, random_state=args.seed, **params).fit(X)
        row = {"params": params, "n_components": int(vsc.module_.n_components)}
        row.update(readability(vsc, X, y))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
