"""Saving and loading estimators in a safe format: :func:`save` and :func:`load`.

Pickle (and joblib) files can run arbitrary code when loaded, so they must only
be loaded from trusted sources. :func:`save` / :func:`load` write a format that
loading never unpickles: tensors are stored with ``safetensors`` when it is
installed, else with ``torch.save`` of a plain dict read back with
``torch.load(weights_only=True)``; parameters and fitted attributes are JSON.
A SHA-256 digest over both detects corrupted or edited files.

The file holds the estimator's state as :mod:`skvsc._state` defines it (the
same state pickling stores). This is the only module that knows the
estimator classes.
"""

import hashlib
import json
import os
import re
import secrets
import stat
import warnings

import numpy as np
import torch

from . import _compat_v1, _state
from ._core.vae import ModelConfig
from ._file_formats import read as _read
from ._file_formats import typed as _typed
from ._vae import VAETransformer
from ._version import __version__
from ._vsc import VariationalSparseCoder

_FILE_FORMAT = "skvsc-safe"
_FILE_VERSION = 1
_ATTRIBUTE = re.compile(r"^_?[A-Za-z][A-Za-z0-9_]*$")
_CLASSES = {cls.__name__: cls for cls in (VariationalSparseCoder, VAETransformer)}


# -- safe format: encoding -----------------------------------------------------


class _Encoder:
    """Turns state values into JSON, moving tensors into ``self.tensors``.

    Every value that is not a JSON scalar or list becomes a one-key dict whose
    key names its type; :class:`_Decoder` accepts those keys only.
    """

    def __init__(self):
        self.tensors = {}

    def tensor(self, name, t):
        self.tensors[name] = t.detach().cpu().contiguous().clone()
        return {"tensor": name}

    def __call__(self, value, name):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            return self(value.item(), name)
        if isinstance(value, list):
            return [self(v, f"{name}.{i}") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"tuple": [self(v, f"{name}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: self(v, f"{name}.{k}") for k, v in value.items()}}
        if isinstance(value, dict) and all(isinstance(k, int) for k in value):
            return {"int_keys": [[k, self(v, f"{name}.{k}")] for k, v in value.items()]}
        if isinstance(value, torch.Tensor):
            return self.tensor(name, value)
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "biuf":
                return {"ndarray": self.tensor(name, torch.from_numpy(np.array(value)))}
            if value.dtype.kind in "UO" and all(isinstance(v, str) for v in value.flat):
                return {"strings": value.tolist()}
        if isinstance(value, torch.device):
            return {"device": str(value)}
        if isinstance(value, np.random.RandomState):
            kind, keys, pos, has_gauss, gauss = value.get_state()
            return {"random_state": [kind, keys.tolist(), pos, has_gauss, gauss]}
        raise TypeError(
            f"Cannot save {name} of type {type(value).__name__} in the safe format; "
            "use joblib.dump for this estimator (and load it from trusted sources only)."
        )


class _Decoder:
    """Inverse of :class:`_Encoder`; anything unexpected raises ValueError.

    It also reads the tags of state format 1 files (``module``,
    ``optimizer``, ``schedule``), as the plain values the migration expects.
    """

    def __init__(self, tensors):
        self.tensors = tensors

    def __call__(self, value):
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self(v) for v in value]
        if not (isinstance(value, dict) and len(value) == 1):
            raise ValueError(f"unexpected value {str(value)[:80]!r}")
        ((kind, payload),) = value.items()
        if kind == "tuple":
            return tuple(self(payload))
        if kind == "dict":
            return {str(k): self(v) for k, v in _typed(payload, dict).items()}
        if kind == "int_keys":
            return {int(k): self(v) for k, v in _typed(payload, list)}
        if kind == "tensor":
            if payload not in self.tensors:
                raise ValueError(f"missing tensor {payload!r}")
            return self.tensors[payload]
        if kind == "ndarray":
            return self(payload).numpy()
        if kind == "strings":
            return np.asarray(_typed(payload, list), dtype=object)
        if kind == "device":
            return torch.device(_typed(payload, str))
        if kind == "random_state":
            kind_, keys, pos, has_gauss, gauss = payload
            rs = np.random.RandomState()
            rs.set_state((kind_, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
            return rs
        if kind in _compat_v1.TAGS:
            return _compat_v1.decode_tag(kind, payload, self, _typed)
        raise ValueError(f"unknown value type {kind!r}")


def _digest(text, tensors):
    h = hashlib.sha256(text.encode())
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _metadata_text(meta):
    """The JSON text stored in the file (and covered by its digest)."""
    return json.dumps(meta, sort_keys=True)


def save(estimator, path):
    """Save a (fitted or unfitted) skvsc estimator to ``path`` in a safe format.

    Unlike pickle, the file holds only tensors and JSON: :func:`load` never
    runs code from it. Tensors are written with ``safetensors`` when it is
    installed (``pip install skvsc[safe]``), else with ``torch.save`` of a
    plain dict of tensors. The write is atomic: an interrupted save leaves any
    previous file at ``path`` intact. In a torch.distributed job (an
    initialised process group) only rank 0 writes: after a data-parallel fit
    every rank holds the same model.

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        The estimator to save.
    path : str or os.PathLike
        Destination file.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skvsc estimator, or holds a parameter or
        attribute the format cannot represent (use joblib for those).

    See Also
    --------
    load : Read a file written by this function.
    """
    if type(estimator) not in _CLASSES.values():
        raise TypeError(
            f"save() takes a VariationalSparseCoder or VAETransformer, got "
            f"{type(estimator).__name__}; use joblib.dump for pipelines and searches."
        )
    distributed = torch.distributed
    if distributed.is_available() and distributed.is_initialized() and distributed.get_rank():
        return
    encode = _Encoder()
    state = _state.get_state(estimator)
    meta = {
        "format": _FILE_FORMAT,
        "format_version": _FILE_VERSION,
        "class": type(estimator).__name__,
        **{k: v for k, v in state.items() if k.startswith("_skvsc")},
        **{
            part: {k: encode(v, k) for k, v in state[part].items() if not k.startswith("__")}
            for part in ("params", "fitted", "other")
        },
    }
    text = _metadata_text(meta)
    digest = _digest(text, encode.tensors)
    path = os.fspath(path)
    tmp = _new_file_beside(path)
    try:
        try:
            from safetensors.torch import save_file
        except ImportError:
            save_file = None
        # An unfitted estimator has no tensor: safetensors 0.4.0 writes an invalid
        # header for an empty table with metadata, so such files take the other backend.
        if save_file is None or not encode.tensors:
            torch.save({"skvsc": text, "sha256": digest, "tensors": encode.tensors}, tmp)
        else:
            save_file(encode.tensors, tmp, metadata={"skvsc": text, "sha256": digest})
        try:  # overwriting: the file keeps its mode
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _new_file_beside(path):
    """A new empty file in the directory of ``path`` (for an atomic replace),
    created with mode ``0o666`` less the umask, as ``open(path, "w")`` would."""
    directory = os.path.dirname(os.path.abspath(path))
    stem = os.path.basename(path)
    for _ in range(100):
        tmp = os.path.join(directory, f".{stem}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"cannot create a temporary file beside {path!r}")


# -- decoding --------------------------------------------------------------------


def _check_size(config, tensors):
    """Refuse configurations that would allocate far more than the file holds,
    so an edited file cannot make loading exhaust memory (the network family
    counts its parameters)."""
    config = _typed(config, dict)
    sizes = [config.get("n_features"), config.get("n_components")]
    if not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"invalid layer sizes {sizes}")
    expected = ModelConfig.from_dict(config).n_parameters()
    stored = sum(t.numel() for t in tensors.values())
    if 4 * expected > 4 * stored + 1_000_000:
        raise ValueError("the model configuration does not match the stored weights")


def _state_from_meta(meta, tensors):
    """``(params, state)`` of a file's metadata: its decoded constructor
    parameters and the saved state (format 1 to 3) to read."""
    decode = _Decoder(tensors)
    parts = {
        part: {k: decode(v) for k, v in _typed(meta.get(part, {}), dict).items()}
        for part in ("params", "fitted", "other")
    }
    params = parts["params"]
    for name in (*parts["fitted"], *parts["other"]):
        if not _ATTRIBUTE.match(name) or name in params:
            raise ValueError(f"invalid attribute name {name!r}")
    tag = {k: meta.get(k) for k in ("_skvsc_version", "_skvsc_state_format")}
    if tag["_skvsc_state_format"] == 1:
        return params, _compat_v1.file_state(tag, params, parts["fitted"])
    unknown = set(parts["fitted"]) - _state.fitted_keys(tag["_skvsc_state_format"])
    if unknown:
        raise ValueError(f"unknown fitted attributes {sorted(unknown)}")
    return params, {**tag, **parts}


def load(path):
    """Load an estimator written by :func:`save`, without unpickling anything.

    A model saved on a GPU is loaded on the CPU (with a warning) where CUDA is
    not available. A file from another skvsc version loads with an
    :class:`~skvsc.exceptions.InconsistentVersionWarning`, or fails if its
    layout is not readable.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.

    Returns
    -------
    estimator : VariationalSparseCoder or VAETransformer
        The estimator, fitted if it was saved fitted.

    Raises
    ------
    ValueError
        If the file is not a valid skvsc file, or was corrupted or edited.
    """
    path = os.fspath(path)
    try:
        text, digest, tensors = _read(path)
        if _digest(text, tensors) != digest:
            raise ValueError("its checksum does not match its content (corrupted or edited)")
        meta = _typed(json.loads(text), dict)
        if meta.get("format") != _FILE_FORMAT:
            raise ValueError("it is not a skvsc model file")
        if meta.get("format_version") != _FILE_VERSION:
            raise ValueError(
                f"file format version {meta.get('format_version')!r} is not readable by "
                f"skvsc {__version__} (reads {_FILE_VERSION}); load it with the skvsc "
                "version that saved it"
            )
        cls = _CLASSES.get(meta.get("class"))
        if cls is None:
            raise ValueError(f"unknown estimator class {meta.get('class')!r}")
        params, saved = _state_from_meta(meta, tensors)
        _check_loaded_params(cls(**params))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            state = _state.read_state(saved, cls)
        if "run" in state["fitted"]:
            _check_size(_typed(state["fitted"]["run"], dict).get("model_config"), tensors)
    except (FileNotFoundError, ImportError):
        raise
    except Exception as exc:  # whatever a damaged or edited file provokes
        raise ValueError(f"{path!r} is not a valid skvsc model file: {exc}") from exc
    for warning in caught:  # the version warning, outside the conversion above
        warnings.warn(warning.message, stacklevel=2)
    estimator = cls.__new__(cls)
    try:
        _state.set_state(estimator, state)
    except (RuntimeError, TypeError, KeyError, ValueError) as exc:  # e.g. other shapes
        raise ValueError(f"{path!r} is not a valid skvsc model file: {exc}") from exc
    return estimator


def _check_loaded_params(estimator):
    """Validate parameters as ``fit`` does, except that ``device`` may name a
    GPU this machine lacks (the model is then loaded on the CPU)."""
    device = estimator.device
    if device != "auto":
        torch.device(device)  # parses, or raises on garbage
    estimator.device = "cpu"
    try:
        estimator._check_params()
    finally:
        estimator.device = device
