"""No all-zero code with the aggregate prior where ``alpha * n_components >= 1``:
a row with no active unit keeps its most probable unit, in transform, in its
streamed and capped forms and in the statistics (the ONNX graph: tests/test_onnx.py,
which the minimum-versions job leaves out).

The rows are made empty by lowering every unit's activity logit (the gamma
head's bias, or the tied gate's offsets) of a fitted model, so that no unit
has ``gamma > 0.5``.
"""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvsc import VariationalSparseCoder, _chunked

X = (load_digits().data[:300] / 16.0).astype(np.float32)
PARAMS = dict(hidden_layer_sizes=(32,), max_iter=2, n_threads=1, random_state=0)


def switched_off(est):
    """``est`` with every unit's activity logit lowered until no unit of ``X``
    is active (gamma stays positive: the most probable unit is well defined)."""
    heads, latent = est.module_.encoder.heads, est.module_.latent
    gamma_rows = slice(2 * latent.n_components, 3 * latent.n_components)  # mu, logvar, gamma
    with torch.no_grad():
        if latent.tied:  # gamma = sigmoid(a mu + c): lower the offsets c
            latent.gate_offset -= 20.0
        else:
            heads.bias[gamma_rows] -= 20.0
    assert est.activity_proba(X).max() < 0.5
    return est


@pytest.fixture(scope="module")
def empty():
    """A fit (alpha * J = 1.6) whose rows have no unit above 1/2."""
    return switched_off(VariationalSparseCoder(n_components=16, alpha=0.1, **PARAMS).fit(X))


def test_every_code_keeps_its_most_probable_unit(empty):
    Z = empty.transform(X)
    assert ((Z != 0).sum(axis=1) == 1).all()
    rows, top = np.arange(len(X)), empty.activity_proba(X).argmax(axis=1)
    np.testing.assert_array_equal(Z[rows, top], empty.encode_mean(X)[rows, top])
    report = empty.sparsity_report(X)
    assert report["mean_active_units"] == 1.0
    assert report["activation_rates"].sum() == pytest.approx(1.0)


def test_a_cap_keeps_the_floor(empty):
    try:
        Z = empty.set_params(transform_n_nonzero_coefs=1).transform(X)
    finally:
        empty.set_params(transform_n_nonzero_coefs=None)
    np.testing.assert_array_equal(Z, empty.transform(X))


def test_streamed_transform_equals_in_memory(empty, tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", X)
    memmap = np.load(tmp_path / "x.npy", mmap_mode="r")
    monkeypatch.setattr(_chunked, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(_chunked, "PASS_BYTES", 70 * 64 * 4)  # several chunks
    np.testing.assert_array_equal(empty.transform(memmap), empty.transform(X))


def test_the_fixed_prior_and_alpha_times_units_below_one_keep_empty_codes():
    fixed = VariationalSparseCoder(n_components=16, alpha=0.1, prior="fixed", **PARAMS).fit(X)
    assert (switched_off(fixed).transform(X) == 0).all()
    with pytest.warns(UserWarning, match="alpha \\* n_components = 0.8 < 1"):
        small = VariationalSparseCoder(n_components=16, alpha=0.05, **PARAMS).fit(X)
    assert (switched_off(small).transform(X) == 0).all()


def test_a_small_alpha_fit_has_no_empty_code():
    # alpha * J = 1: one active unit per sample on average
    est = VariationalSparseCoder(n_components=20, alpha=0.05, **{**PARAMS, "max_iter": 10}).fit(X)
    above_half = (est.activity_proba(X) > 0.5).sum(axis=1)
    assert (above_half == 0).mean() > 0.2  # without the floor, empty codes
    n_active = (est.transform(X) != 0).sum(axis=1)
    assert (n_active >= 1).all()
    np.testing.assert_array_equal(n_active[above_half == 0], 1)
    np.testing.assert_array_equal(n_active[above_half > 0], above_half[above_half > 0])
    assert est.mean_active_units_ == pytest.approx(n_active.mean())
