"""Data shared by the baselines' tests."""

import numpy as np
import pytest


def binary_mixtures(n=2048, d=64, n_prototypes=64, per_sample=3, seed=0):
    """Binary images: the union of a few random binary prototypes, 2 % of the
    pixels flipped. Explaining them needs many latents, so dead ones cost."""
    rng = np.random.RandomState(seed)
    prototypes = (rng.rand(n_prototypes, d) < 0.2).astype(np.float32)
    X = prototypes[rng.randint(n_prototypes, size=(n, per_sample))].max(axis=1)
    return np.abs(X - (rng.rand(n, d) < 0.02)).astype(np.float32)


@pytest.fixture(scope="module")
def X():
    return binary_mixtures()
