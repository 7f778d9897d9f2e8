"""The estimators' importance-sampled ``log p(x)``: batching, seeds, threads.

The estimate itself is :func:`skvsc._core.marginal.log_marginal`. Each row
draws from its own generator, seeded from the call's seed and the row's
position in ``X``, so the result for a fixed seed does not depend on how the
rows are batched (nor on the memory of the device).
"""

import numpy as np
import torch

from ._core.data import to_tensor
from ._core.marginal import MAX_DRAWS_PER_PASS, log_marginal
from ._device import torch_threads

#: Rows x draws decoded per pass (bounds memory: about 8 floats per feature each).
_DRAWS_PER_BATCH = 8192
#: Spreads row seeds over the 63-bit range (an odd constant: distinct rows, distinct seeds).
_ROW_SEED_STEP = 0x9E3779B97F4A7C15
_SEED_MASK = (1 << 63) - 1


def row_seeds(seed, start, stop):
    """The generator seeds of rows ``start`` to ``stop`` (positions in ``X``)."""
    return [(seed + i * _ROW_SEED_STEP) & _SEED_MASK for i in range(start, stop)]


def estimate(module, X, *, n_draws, seed, dtype, device, n_threads, first_row=0):
    """Importance-sampled ``log p(x)`` of each row of validated ``X`` (ndarray)
    under ``module`` (in eval mode, in ``dtype``, on ``device``). ``first_row``:
    the position of ``X[0]`` in the caller's data (a chunk of out-of-core
    input), which the rows' seeds follow."""
    device = torch.device(device)
    per_pass = min(n_draws, MAX_DRAWS_PER_PASS)
    n_rows = max(1, _DRAWS_PER_BATCH // per_pass)
    out = np.empty(X.shape[0], dtype=torch.empty((), dtype=dtype).numpy().dtype)
    # Decoder products of one batch: 2 FLOPs per decoder weight and draw.
    weights = sum(p.numel() for p in module.decoder.parameters() if p.dim() >= 2)
    work = 2 * weights * n_rows * per_pass
    with torch.no_grad(), torch_threads(n_threads, work=work, load_aware=False):
        for start in range(0, X.shape[0], n_rows):
            stop = min(start + n_rows, X.shape[0])
            x = to_tensor(X[start:stop], device, dtype)
            generators = [
                torch.Generator(device=device).manual_seed(s)
                for s in row_seeds(seed, first_row + start, first_row + stop)
            ]
            values = log_marginal(module, x, generators, n_draws)
            if not bool(torch.isfinite(values).all()):
                raise ValueError(
                    f"The model gave non-finite log-likelihoods in {dtype} for this input "
                    f"(max |X| in the batch: {x.abs().max().item():.3g}). Pass float64 "
                    "data, or scale X like the training data."
                )
            out[start:stop] = values.cpu().numpy()
    return out
