"""Checks of constructor parameters with messages that name the parameter.

Plain Python on purpose: scikit-learn's constraint machinery is private API.
:func:`check_shared` checks the parameters both estimators share (the
network family checks its own) and :func:`check_unchanged` those fixed when a
model is initialised, when training continues. ``seed_from`` turns
``random_state`` into the seed of the torch generators.
"""

import math
import numbers
import secrets

import numpy as np
from sklearn.utils import check_random_state

from ._core.likelihoods import COLUMN_KINDS, LIKELIHOODS
from ._device import resolve_device, same_device


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name, value, low):
    """``value`` is an int ``>= low``."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__}).")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")


def check_real(name, value, low=None, high=None, *, open_low=False, open_high=False):
    """``value`` is a finite real number in the given (half-)open or closed interval."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    # Infinite values pass the bounds of [0, inf) but break training later.
    if too_low or too_high or not math.isfinite(value):
        left = "(" if open_low else "["
        right = ")" if open_high or high is None else "]"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(
            f"{name} must be a finite number in {left}{lo}, {hi}{right}, got {value!r}."
        )


def is_auto(value):
    """Whether a parameter's value is the string ``"auto"`` (arrays and numbers are not)."""
    return isinstance(value, str) and value == "auto"


def check_options(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}.")


def per_column(likelihood):
    """Whether ``likelihood`` gives the kinds of columns (a dict or a list),
    the mixed likelihood with user-given kinds."""
    return isinstance(likelihood, (dict, list, tuple))


def check_column_kinds(value):
    """``likelihood`` as per-column kinds: a list of kinds, or a dict from
    column indices (ints >= 0) or feature names (strings) to kinds."""
    kinds = value.values() if isinstance(value, dict) else value
    for kind in kinds:
        if not isinstance(kind, str) or kind not in COLUMN_KINDS:
            raise ValueError(
                f"The kinds of likelihood={value!r} must each be one of "
                f"{sorted(COLUMN_KINDS)}, got {kind!r}."
            )
    if isinstance(value, dict):
        for key in value:
            if not (isinstance(key, str) or (_is_int(key) and key >= 0)):
                raise TypeError(
                    "The keys of likelihood (a dict of column kinds) must be column "
                    f"indices (ints >= 0) or feature names (strings), got {key!r}."
                )
    elif not kinds:
        raise ValueError("likelihood must name at least one column kind, got an empty list.")


def check_bool(name, value):
    if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
        raise TypeError(f"{name} must be a bool, got {value!r}.")


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


def check_shared(est):
    """Check the parameters both estimators share."""
    if isinstance(est.n_components, str) and est.n_components != "auto":
        raise ValueError(f"n_components must be 'auto' or an int, got {est.n_components!r}.")
    if est.n_components != "auto":
        check_int("n_components", est.n_components, 1)
    if per_column(est.likelihood):
        check_column_kinds(est.likelihood)
    else:
        check_options("likelihood", est.likelihood, {"auto", *LIKELIHOODS})
    if est.max_iter != "auto":
        if not _is_int(est.max_iter):
            raise TypeError(f"max_iter must be 'auto' or an int, got {est.max_iter!r}.")
        check_int("max_iter", est.max_iter, 1)
    check_batch_size(est.batch_size)
    if est.learning_rate_init != "auto":
        check_real("learning_rate_init", est.learning_rate_init, 0, open_low=True)
    if est.max_grad_norm is not None:
        check_real("max_grad_norm", est.max_grad_norm, 0, open_low=True)
    check_real("tol", est.tol, 0)
    check_int("n_iter_no_change", est.n_iter_no_change, 1)
    check_bool("early_stopping", est.early_stopping)
    check_real("validation_fraction", est.validation_fraction, 0, 1, open_low=True, open_high=True)
    check_bool("warm_start", est.warm_start)
    check_real("kl_warmup", est._kl_warmup(), 0, 1)  # "auto" resolved by the estimator
    if est.n_threads is not None:
        check_int("n_threads", est.n_threads, 1)
    if not isinstance(est.verbose, bool):  # verbose=True means 1
        check_int("verbose", est.verbose, 0)
    if not (est.distributed == "auto" or est.distributed is False):
        raise ValueError(f"distributed must be 'auto' or False, got {est.distributed!r}.")
    resolve_device(est.device)


def check_unchanged(est, spec):
    """Training continues the fitted model of ``est`` (warm_start or partial_fit):
    the parameters fixed when it was initialised must not have changed, which
    would otherwise be ignored. ``spec`` is the estimator's current ModelSpec,
    compared with its run's."""
    changed = [
        f"{name}={new!r} (the model has {old!r})"
        for name, new, old in spec.differences(est._run.spec)
    ]
    if not same_device(resolve_device(est.device), est.device_):
        changed.append(f"device={est.device!r} (the model is on {est.device_!r})")
    if changed:
        raise ValueError(
            f"{'; '.join(changed)}: these parameters are fixed when the model is "
            "initialised, and training continues the fitted model (warm_start=True "
            "or partial_fit). Set warm_start=False and call fit to train a new model."
        )
