"""The saved state of an estimator: one explicit, versioned schema.

Pickling (``__getstate__`` / ``__setstate__``) and the safe format
(:func:`skvsc.save` / :func:`skvsc.load`) both store this state::

    {"_skvsc_version": "...", "_skvsc_state_format": 2,
     "params": {constructor parameter: value},
     "fitted": {schema key: value},        # empty for an unfitted estimator
     "other": {attribute: value}}          # e.g. scikit-learn's set_output setting

The schema (:data:`FITTED`) maps stable keys to the estimator's attributes,
so renaming a private attribute changes one line here and no file. Torch
objects are stored as plain data: the module and optimizer as CPU state
dicts, the model configuration and the schedule as dicts. States of format 1
(skvsc 0.1: the estimator's ``__dict__``) are migrated on loading by
:func:`migrate_v1`; other formats fail clearly.
"""

import inspect
import warnings

import torch

from ._core.optim import make_optimizer
from ._core.schedule import Schedule
from ._core.vae import ModelConfig, build_vae
from ._device import loadable_device
from ._params import seed_from
from ._version import __version__
from .exceptions import InconsistentVersionWarning

#: Layout of the saved state. Bump it when the layout changes, and add a
#: migration from the previous one; other version changes only warn.
STATE_FORMAT = 2
READABLE_FORMATS = (1, 2)

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
    "posterior_mean_variance_": "posterior_mean_variance_",
    "n_active_units_": "n_active_units_",
    "model_config": "_model_config",  # ModelConfig, stored as a dict
    "module_state": "module_",  # torch module, stored as a CPU state dict
    "optimizer_state": "_optimizer",  # _core.optim.Adam: state dict, torch layout
    "rng_state": "_rng_state",  # state of the training generator (a CPU tensor)
    "schedule": "_schedule_",  # Schedule, stored as a dict
    "step": "_step",  # training steps applied so far
}
_AS_DICT = ("model_config", "schedule")
_AS_STATE_DICT = ("module_state", "optimizer_state")

#: Format 1 -> 2: attribute renames, and the keys of the module's state dict
#: that moved into the likelihood.
_V1_ATTRIBUTES = {
    "module_": "module_state",
    "_optimizer": "optimizer_state",
    "_rng_state": "rng_state",
    "_step": "step",
    "_module_config": "model_config",
    "_schedule_": "schedule",
}
_V1_DROPPED = ("_stopper",)
#: Parameters added with a default that changes the model: the value that
#: keeps the behaviour of states saved before the parameter existed.
_LEGACY_PARAMS = {"prior": "fixed"}
_V1_MODULE_KEYS = {
    "shift": "likelihood.shift",
    "scale": "likelihood.scale",
    "decoder_logvar": "likelihood.logvar",
}


def cpu_state(obj):
    """Recursively move the tensors of a (nested) state dict to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: cpu_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [cpu_state(v) for v in obj]
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
        if name not in attributes:
            continue
        value = attributes.pop(name)
        if key in _AS_DICT:
            value = value.to_dict()
        elif key in _AS_STATE_DICT:
            value = cpu_state(value.state_dict())
        fitted[key] = value
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
        state = migrate_v1(state, [p.name for p in signature if p.name != "self"])
    legacy = {k: v for k, v in _LEGACY_PARAMS.items() if k in defaults}
    return {
        "params": {**defaults, **legacy, **state["params"]},
        "fitted": dict(state.get("fitted") or {}),
        "other": dict(state.get("other") or {}),
    }


def set_state(estimator, state):
    """Restore ``estimator`` (parameters, attributes, module, optimizer and
    generator state) from a state returned by :func:`read_state`.

    A model saved on a GPU is placed on the CPU, with a warning, where CUDA is
    not available; a generator state of another device type is then reseeded.
    """
    attributes = vars(estimator)
    attributes.update(state["params"])
    attributes.update(state["other"])
    fitted = dict(state["fitted"])
    module_state = fitted.pop("module_state", None)
    optimizer_state = fitted.pop("optimizer_state", None)
    if "model_config" in fitted:
        fitted["model_config"] = ModelConfig.from_dict(fitted["model_config"])
    if "schedule" in fitted:
        fitted["schedule"] = Schedule.from_dict(fitted["schedule"])
    for key, value in fitted.items():
        attributes[FITTED[key]] = value
    if module_state is None:
        return
    device = loadable_device(estimator.device_)
    estimator.device_ = str(device)
    module = build_vae(estimator._model_config, torch.Generator())
    module.load_state_dict(module_state)
    estimator.module_ = module.to(device)
    estimator._optimizer = make_optimizer(module.parameters(), estimator.learning_rate_init)
    if optimizer_state is not None:
        _check_optimizer_state(optimizer_state, list(module.parameters()))
        estimator._optimizer.load_state_dict(optimizer_state)
    rng = torch.Generator(device=device)
    estimator._rng_state = estimator._rng_state.cpu()
    try:
        rng.set_state(estimator._rng_state)
    except RuntimeError:  # the state of another device type's generator: reseed
        estimator._rng_state = rng.manual_seed(seed_from(None)).get_state()


def _check_optimizer_state(state, params):
    """The moments of a saved optimizer state have the shapes of the parameters
    they belong to (a fused optimizer would write past them otherwise)."""
    for index, moments in state["state"].items():
        if not 0 <= index < len(params):
            raise ValueError(f"the optimizer state names parameter {index} of {len(params)}")
        for name, value in moments.items():
            if name != "step" and tuple(value.shape) != tuple(params[index].shape):
                raise ValueError(
                    f"the optimizer state of parameter {index} ({name}) has shape "
                    f"{tuple(value.shape)}, not {tuple(params[index].shape)}"
                )


def migrate_v1(flat, param_names):
    """A format-1 state (the estimator's ``__dict__``, without the tag) in format 2."""
    flat = dict(flat)
    params = {k: flat.pop(k) for k in param_names if k in flat}
    for name in _V1_DROPPED:
        flat.pop(name, None)
    fitted = {}
    for name, key in _V1_ATTRIBUTES.items():
        if name in flat:
            fitted[key] = flat.pop(name)
    for key, name in FITTED.items():
        if key == name and name in flat:
            fitted[key] = flat.pop(name)
    if "module_state" in fitted:
        fitted["module_state"] = {
            _V1_MODULE_KEYS.get(k, k): v for k, v in fitted["module_state"].items()
        }
    if "model_config" in fitted:
        fitted["model_config"] = _v1_model_config(fitted["model_config"])
    if "schedule" in fitted:
        fitted["schedule"] = _v1_schedule(fitted["schedule"])
    # A parameter fixed in the model but added after the file was written (e.g.
    # `usage`) takes the model's value, not its default: they must agree for
    # training to continue (partial_fit, warm_start).
    model = {
        **fitted.get("model_config", {}).get("latent_params", {}),
        **{k: v for k, v in fitted.get("schedule", {}).items() if k != "total_steps"},
    }
    for key, value in model.items():
        if key in param_names and key not in params:
            params[key] = value
    return {"params": params, "fitted": fitted, "other": flat}


def _v1_model_config(config):
    """``{n_features, n_components, hidden_layer_sizes, likelihood[, alpha, usage]}``
    as the fields of a ModelConfig: spike-and-slab when it has ``alpha``."""
    config = dict(config)
    latent_params = {}
    if "alpha" in config:
        # Format 1 modules defaulted to usage="prior" when it was not given.
        latent_params = {"alpha": config.pop("alpha"), "usage": config.pop("usage", "prior")}
    return {
        "n_features": config["n_features"],
        "n_components": config["n_components"],
        "likelihood": config["likelihood"],
        "latent": "spike_slab" if latent_params else "normal",
        "latent_params": latent_params,
        "network": "mlp",
        "network_params": {"hidden_layer_sizes": tuple(config["hidden_layer_sizes"])},
    }


def _v1_schedule(schedule):
    """The fields of a format-1 schedule: a pickled object or, from a safe file, a dict."""
    return dict(schedule) if isinstance(schedule, dict) else dict(vars(schedule))
