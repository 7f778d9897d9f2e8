"""The saved state of an estimator: one explicit, versioned schema.

Pickling (``__getstate__`` / ``__setstate__``) and the safe format
(:func:`skvsc.save` / :func:`skvsc.load`) both store this state::

    {"_skvsc_version": "...", "_skvsc_state_format": 4,
     "params": {constructor parameter: value},
     "fitted": {schema key: value},        # empty for an unfitted estimator
     "other": {attribute: value}}          # e.g. scikit-learn's set_output setting

The schema (:data:`FITTED`) maps stable keys to the estimator's attributes,
so renaming a private attribute changes one line here and no file. The
training run (:class:`~skvsc._core.run.Run`: model, optimizer, schedule,
generator state, step) is one entry, ``run``, stored as plain data by
``Run.state_dict``. States of format 3 (tied-gate encoders with the unused
``gamma`` head) are migrated on loading by :func:`migrate_v3`, states of
format 2 (the run's parts as separate entries) first by :func:`migrate_v2`,
and states of format 1 (skvsc 0.1: the estimator's ``__dict__``) first by
:mod:`skvsc._compat_v1`; other formats fail clearly.
"""

import inspect
import warnings

import numpy as np
import torch

from . import _compat_v1
from ._core.run import Run, drop_unused_heads
from ._device import loadable_device
from ._version import __version__
from .exceptions import InconsistentVersionWarning

#: Layout of the saved state. Bump it when the layout changes, and add a
#: migration from the previous one; other version changes only warn.
STATE_FORMAT = 4
READABLE_FORMATS = (1, 2, 3, 4)

#: The fitted state: schema key -> estimator attribute. Keys of public
#: attributes are their names; absent attributes are skipped.
FITTED = {
    "n_features_in_": "n_features_in_",
    "feature_names_in_": "feature_names_in_",
    "device_": "device_",
    "likelihood_": "likelihood_",
    "n_iter_": "n_iter_",
    "loss_curve_": "loss_curve_",
    "validation_scores_": "validation_scores_",
    "history_": "history_",
    "activation_rates_": "activation_rates_",
    "mean_active_units_": "mean_active_units_",
    "n_dead_units_": "n_dead_units_",
    "n_always_on_units_": "n_always_on_units_",
    "unit_values_": "unit_values_",
    "code_variance_": "code_variance_",
    "posterior_mean_variance_": "posterior_mean_variance_",
    "n_active_units_": "n_active_units_",
    "run": "_run",  # _core.run.Run, stored as Run.state_dict()
}

#: Format 2 -> 3: the entries of the run, gathered into ``run``.
_V2_RUN_KEYS = ("model_config", "module_state", "optimizer_state", "rng_state", "schedule", "step")
#: Parameters added with a default that changes the model, or whose default
#: changed: the value that keeps the behaviour of states saved before the
#: parameter existed (``fit_n_nonzero_weight``'s former default, 0.25, matters
#: only with ``fit_n_nonzero_coefs``, which came with it).
_LEGACY_PARAMS = {
    "prior": "fixed",
    "gate": "free",
    "rate_control": 0.0,
    "fit_n_nonzero_weight": 0.25,
}


def fitted_keys(state_format):
    """The keys of ``fitted`` that a state of ``state_format`` (2 or later) may hold."""
    public = {key for key, name in FITTED.items() if key == name}
    return public | (set(_V2_RUN_KEYS) if state_format == 2 else {"run"})


def plain_state(obj):
    """A (nested) state with every tensor as a NumPy array of the same dtype.

    Pickling stores this form, so that a fitted estimator holds no torch object
    once serialised: libraries that refuse to construct torch objects (skops, and
    mlflow, which saves scikit-learn models with skops) can store and load it,
    and loading needs no torch device. :func:`set_state` turns the arrays back
    into tensors.
    """
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    if isinstance(obj, dict):
        return {k: plain_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain_state(v) for v in obj]
    return obj


def _as_tensors(obj):
    """Inverse of :func:`plain_state` for a state dict (arrays as tensors)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        return {k: _as_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_as_tensors(v) for v in obj]
    return obj


def version_tag():
    """Keys stored in every pickled state and safe file."""
    return {"_skvsc_version": __version__, "_skvsc_state_format": STATE_FORMAT}


def get_state(estimator):
    """The state of ``estimator`` in the current format (nothing is mutated)."""
    params = estimator.get_params(deep=False)
    attributes = {k: v for k, v in vars(estimator).items() if k not in params}
    fitted = {}
    for key, name in FITTED.items():
        if name in attributes:
            value = attributes.pop(name)
            fitted[key] = value.state_dict() if key == "run" else value
    return {**version_tag(), "params": params, "fitted": fitted, "other": attributes}


def read_state(state, cls):
    """Check the version tag of a saved ``state`` of an estimator of class
    ``cls`` and return it in the current format.

    Warns (:class:`~skvsc.exceptions.InconsistentVersionWarning`) when
    another skvsc version saved it; raises a ValueError for a state format
    this version cannot read. Parameters added since the state was saved take
    their defaults, or the value in :data:`_LEGACY_PARAMS` where the default
    would change the model. The values of ``fitted``
    are as stored (dicts and state dicts).
    """
    state = dict(state)
    version = state.pop("_skvsc_version", None)
    state_format = state.pop("_skvsc_state_format", None)
    if state_format is None:  # untagged: tell the layouts apart
        state_format = STATE_FORMAT if isinstance(state.get("params"), dict) else 1
    name = cls.__name__
    if state_format not in READABLE_FORMATS:
        raise ValueError(
            f"This {name} was saved by skvsc {version or '(unknown version)'} with "
            f"state format {state_format!r}; skvsc {__version__} reads state formats "
            f"{READABLE_FORMATS[0]} to {READABLE_FORMATS[-1]}. Load it with the skvsc "
            "version that saved it, or fit the model again."
        )
    if version != __version__ or state_format != STATE_FORMAT:
        saved, loaded = version or "(unknown version)", __version__
        if state_format != STATE_FORMAT:  # read through a migration
            saved += f" (state format {state_format})"
            loaded += f" (state format {STATE_FORMAT})"
        warnings.warn(
            f"This {name} was saved by skvsc {saved} and is loaded by skvsc {loaded}. "
            "It may behave differently or fail; refit it or use the saving version if "
            "results matter.",
            InconsistentVersionWarning,
            stacklevel=3,
        )
    signature = inspect.signature(cls.__init__).parameters.values()
    defaults = {p.name: p.default for p in signature if p.default is not p.empty}
    if state_format == 1:
        public = sorted(fitted_keys(STATE_FORMAT) - {"run"})
        state = _compat_v1.migrate(state, [p.name for p in signature if p.name != "self"], public)
    if state_format in (1, 2):
        state = migrate_v2(state)
    if state_format in (1, 2, 3):
        state = migrate_v3(state)
    legacy = {k: v for k, v in _LEGACY_PARAMS.items() if k in defaults}
    return {
        "params": {**defaults, **legacy, **state["params"]},
        "fitted": dict(state.get("fitted") or {}),
        "other": dict(state.get("other") or {}),
    }


def set_state(estimator, state):
    """Restore ``estimator`` (parameters, attributes and its run: module,
    optimizer and generator state) from a state returned by :func:`read_state`.

    A model saved on a GPU is placed on the CPU, with a warning, where CUDA is
    not available; a generator state of another device type is then reseeded.
    """
    attributes = vars(estimator)
    attributes.update(state["params"])
    attributes.update(state["other"])
    fitted = dict(state["fitted"])
    run = fitted.pop("run", None)
    for key, value in fitted.items():
        attributes[FITTED[key]] = value
    if run is None:
        return
    device = loadable_device(estimator.device_)
    estimator.device_ = str(device)
    # Pickles store the run's tensors as NumPy arrays (plain_state), files as tensors.
    estimator._run = Run.from_state_dict(
        _as_tensors(run), device=device, learning_rate=estimator._learning_rate()
    )


def migrate_v2(state):
    """A state of format 2 in format 3: the run's entries gathered into ``run``
    (a state without a module has no run)."""
    fitted = dict(state.get("fitted") or {})
    run = {key: fitted.pop(key) for key in _V2_RUN_KEYS if key in fitted}
    if "module_state" in run:
        fitted["run"] = run
    return {**state, "fitted": fitted}


def migrate_v3(state):
    """A state of format 3 in format 4: the run without the encoder rows of
    heads its latent family does not compute (the tied gate's ``gamma``;
    :func:`~skvsc._core.run.drop_unused_heads`)."""
    fitted = dict(state.get("fitted") or {})
    if "run" in fitted:
        fitted["run"] = drop_unused_heads(fitted["run"])
    return {**state, "fitted": fitted}
