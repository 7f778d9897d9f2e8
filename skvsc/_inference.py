"""Running a fitted model over validated data: batches, dtypes, devices, checks.

Helpers of the estimators' inference methods (``transform``, ``score``, the
diagnostics): rows are streamed in batches from the host, computed under
``no_grad`` in eval mode in the dtype of the input, and gathered into NumPy
arrays.
"""

import copy

import numpy as np
import torch

from ._core.data import map_batches, to_tensor
from ._device import torch_threads

_EVAL_BATCH_SIZE = 2048
#: Number of shared noise draws used by score / score_samples.
_N_SCORE_DRAWS = 8
_SCORE_SEED = 0


def torch_dtype(np_dtype):
    return torch.float64 if np.dtype(np_dtype) == np.float64 else torch.float32


def eval_module(estimator, dtype):
    """The fitted module in ``dtype`` (a float64 copy for float64 input)."""
    estimator.module_.eval()
    if dtype == torch.float32:
        return estimator.module_
    return copy.deepcopy(estimator.module_).to(dtype)


def map_module(estimator, fn_name, X, *, dtype=None):
    """Apply a module method (a name, or ``module -> function``) to batches of
    validated ``X``; non-finite results raise a ValueError."""
    dtype = torch_dtype(X.dtype if dtype is None else dtype)
    module = eval_module(estimator, dtype)
    fn = getattr(module, fn_name) if isinstance(fn_name, str) else fn_name(module)

    def checked(x):
        out = fn(x)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(
                f"The model gave non-finite values in {dtype} for this input "
                f"(max |X| in the batch: {x.abs().max().item():.3g}). Pass "
                "float64 data, or scale X like the training data."
            )
        return out

    with torch.no_grad(), torch_threads(estimator.n_threads):
        return map_batches(
            checked,
            X,
            batch_size=_EVAL_BATCH_SIZE,
            device=torch.device(estimator.device_),
            dtype=dtype,
        )


def reduce_rows(estimator, X, select, reduce):
    """``reduce`` applied to the batches of ``select(module, x)`` over the
    rows ``x`` of validated ``X``, streamed so that no (n_samples,
    n_components) array is held."""
    dtype = torch_dtype(X.dtype)
    module = eval_module(estimator, dtype)
    device = torch.device(estimator.device_)
    batches = (
        select(module, to_tensor(X[start : start + _EVAL_BATCH_SIZE], device, dtype))
        for start in range(0, X.shape[0], _EVAL_BATCH_SIZE)
    )
    with torch.no_grad(), torch_threads(estimator.n_threads):
        return reduce(batches)


def score_noises(module, dtype, device):
    """Fixed noise draws of shape (1, J), drawn on the CPU so that every
    device scores with the same noise."""
    generator = torch.Generator().manual_seed(_SCORE_SEED)
    shape = (1, module.n_components)
    return [
        tuple(t.to(device, dtype) for t in module.draw_noise(shape, generator))
        for _ in range(_N_SCORE_DRAWS)
    ]
