"""Reading state format 1 (skvsc 0.1.0.dev0, never released): all of it is here.

Format 1 pickled the estimator's ``__dict__``, with the training schedule
as an object of ``skvsc._schedule.Schedule``; its safe files tagged the
module, optimizer and schedule values. :func:`migrate` turns such a state
into format 2, which :mod:`skvsc._state` reads on. Dropping format 1 is
deleting this module and the lines that call it (in ``_state`` and ``_io``).
"""

import sys

#: Format 1 -> 2: attribute renames, and the keys of the module's state dict
#: that moved into the likelihood.
_ATTRIBUTES = {
    "module_": "module_state",
    "_optimizer": "optimizer_state",
    "_rng_state": "rng_state",
    "_step": "step",
    "_module_config": "model_config",
    "_schedule_": "schedule",
}
_DROPPED = ("_stopper",)
_MODULE_KEYS = {
    "shift": "likelihood.shift",
    "scale": "likelihood.scale",
    "decoder_logvar": "likelihood.logvar",
}


class Schedule:
    """The fields of a format-1 schedule, as they were pickled (as
    ``skvsc._schedule.Schedule``: that name is an alias of this module)."""


# Format-1 pickles name the class skvsc._schedule.Schedule.
sys.modules.setdefault("skvsc._schedule", sys.modules[__name__])


def migrate(flat, param_names, public_names):
    """A format-1 state (the estimator's ``__dict__``, without the tag) in
    format 2. ``public_names`` are the fitted attributes saved by name."""
    flat = dict(flat)
    params = {k: flat.pop(k) for k in param_names if k in flat}
    for name in _DROPPED:
        flat.pop(name, None)
    fitted = {}
    for name, key in _ATTRIBUTES.items():
        if name in flat:
            fitted[key] = flat.pop(name)
    for name in public_names:
        if name in flat:
            fitted[name] = flat.pop(name)
    if "module_state" in fitted:
        fitted["module_state"] = {
            _MODULE_KEYS.get(k, k): v for k, v in fitted["module_state"].items()
        }
    if "model_config" in fitted:
        fitted["model_config"] = _model_config(fitted["model_config"])
    if "schedule" in fitted:
        fitted["schedule"] = _schedule(fitted["schedule"])
    return {"params": params, "fitted": fitted, "other": flat}


def _model_config(config):
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


def _schedule(schedule):
    """The fields of a format-1 schedule: a pickled object or, from a safe file, a dict."""
    return dict(schedule) if isinstance(schedule, dict) else dict(vars(schedule))


# -- safe files -------------------------------------------------------------------

#: The value tags of format-1 safe files.
TAGS = ("module", "schedule", "optimizer")


def decode_tag(kind, payload, decode, typed):
    """The plain value of a format-1 tag ``kind`` (in :data:`TAGS`):
    ``decode`` reads nested values, ``typed(value, type)`` checks a type."""
    if kind in ("module", "schedule"):
        return typed(decode(payload), dict)
    payload = typed(payload, dict)  # "optimizer"
    state = {int(k): decode(v) for k, v in typed(payload["state"], list)}
    return {"state": state, "param_groups": decode(payload["param_groups"])}


def file_state(tag, params, fitted):
    """The state of a format-1 safe file: the estimator's ``__dict__`` was
    split into parameters and fitted attributes; join them again."""
    return {**tag, **params, **fitted}
