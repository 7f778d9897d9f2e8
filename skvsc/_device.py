"""Device and thread housekeeping (skorch-style ``device`` parameter)."""

import contextlib
import warnings

import torch


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``.

    ``"auto"`` picks CUDA when it is available, else the CPU. It is resolved at
    fit time, on the machine that fits (e.g. a Dask worker).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here.")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device, got {device!r}.")
    return resolved


def loadable_device(device_name):
    """Device on which to place a model unpickled from ``device_name``.

    A model trained on a GPU is mapped to the CPU, with a warning, where no GPU
    is available.
    """
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"This model was fitted on {device_name!r} but CUDA is not available; "
            "it was loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return device


def same_device(a, b):
    """Whether two device specifications name the same device (``"cuda"`` is
    the current CUDA device)."""
    a, b = torch.device(a), torch.device(b)
    if a.type == "cuda" and a.index is None:
        a = torch.device("cuda", torch.cuda.current_device())
    if b.type == "cuda" and b.index is None:
        b = torch.device("cuda", torch.cuda.current_device())
    return a == b


@contextlib.contextmanager
def torch_threads(n_threads):
    """Use ``n_threads`` intra-op threads inside the block (None: leave as is)."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
