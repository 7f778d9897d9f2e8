"""Checks of constructor parameters with messages that name the parameter.

Plain Python on purpose: scikit-learn's constraint machinery is private API.
``seed_from`` turns ``random_state`` into the seed of the torch generators.
"""

import numbers
import secrets

import numpy as np
from sklearn.utils import check_random_state


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name, value, low, high=None):
    """``value`` is an int in ``[low, high]``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}.")


def check_real(name, value, low=None, high=None, *, open_low=False, open_high=False):
    """``value`` is a real number in the given (half-)open or closed interval."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high or value != value:
        left = "(" if open_low else "["
        right = ")" if open_high else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}.")


def check_options(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}.")


def check_bool(name, value):
    if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
        raise TypeError(f"{name} must be a bool, got {value!r}.")


def check_hidden_layer_sizes(value):
    try:
        sizes = tuple(value)
    except TypeError:
        raise TypeError(
            f"hidden_layer_sizes must be a tuple of positive ints, got {value!r}."
        ) from None
    for size in sizes:
        if not _is_int(size) or size < 1:
            raise ValueError(f"hidden_layer_sizes must be a tuple of positive ints, got {value!r}.")
    return sizes


def check_batch_size(value):
    if value != "auto":
        if not _is_int(value):
            raise TypeError(f"batch_size must be 'auto' or an int, got {value!r}.")
        check_int("batch_size", value, 1)


def check_sharpness(value):
    try:
        c_start, c_end = value
    except (TypeError, ValueError):
        raise ValueError(
            f"sharpness must be a pair (c_start, c_end) of positive numbers, got {value!r}."
        ) from None
    check_real("sharpness[0]", c_start, 0, open_low=True)
    check_real("sharpness[1]", c_end, 0, open_low=True)
    return float(c_start), float(c_end)


def seed_from(random_state):
    """An int seed; fresh entropy for None so no global RNG is touched."""
    if random_state is None:
        return secrets.randbits(63)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
