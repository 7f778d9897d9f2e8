"""Comparing a loaded model's outputs with the outputs stored beside its file.

The files under ``tests/data`` and their expected outputs were written by earlier
versions, on other machines. torch's CPU kernels take different paths by
instruction set (AVX2, AVX-512), so the same model's outputs differ by a few
units in the last place from one CPU to another: the outputs must agree to that
rounding and keep the same exact zeros. A file loaded wrongly (another layer,
gate, channel count or scale) moves them by many orders of magnitude more.
"""

import numpy as np

#: Agreement asked of stored outputs: float64 rounding, summed over a few layers.
RTOL, ATOL = 1e-12, 1e-14


def assert_stored_output(actual, stored):
    """``actual`` equals ``stored`` up to rounding, with the same exact zeros."""
    actual, stored = np.asarray(actual), np.asarray(stored)
    np.testing.assert_array_equal(actual == 0, stored == 0)
    np.testing.assert_allclose(actual, stored, rtol=RTOL, atol=ATOL)
