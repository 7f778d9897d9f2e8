"""Writes the model files of ``tests/data`` with the skvsc version that is installed.

The committed files were written by skvsc 0.1.0.dev0 (the state format before
the remodel into named parts). They must keep loading, transforming and
scoring identically: ``tests/test_state_migration.py`` checks them against the
outputs stored next to them in ``v0_1_expected.npz``. Run from the repository
root only to add files for a new version, never to overwrite these.
"""

import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits

import skvsc

HERE = Path(__file__).parent


def fixtures():
    X = load_digits().data[:300] / 16.0
    vsc = skvsc.VariationalSparseCoder(
        n_components=6, alpha=0.5, hidden_layer_sizes=(16,), max_iter=3, random_state=0
    ).fit(X)
    vae = skvsc.VAETransformer(
        n_components=4,
        likelihood="gaussian",
        hidden_layer_sizes=(16,),
        max_iter=3,
        early_stopping=True,
        random_state=0,
    ).fit(X * 16.0)
    return X, {"vsc": vsc, "vae": vae}


def main(tag):
    X, models = fixtures()
    expected = {"X": X[:20]}
    for name, est in models.items():
        Xn = X[:20] if name == "vsc" else X[:20] * 16.0
        skvsc.save(est, HERE / f"{name}_{tag}.skvsc")
        joblib.dump(est, HERE / f"{name}_{tag}.joblib")
        expected[f"{name}_transform"] = est.transform(Xn)
        expected[f"{name}_score_samples"] = est.score_samples(Xn)
        expected[f"{name}_inverse"] = est.inverse_transform(expected[f"{name}_transform"])
    np.savez(HERE / f"{tag}_expected.npz", **expected)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "v0_1")
