"""The two file layouts of :func:`skvsc.save`, recognised by their whole structure.

A safetensors file (a little-endian header length, a JSON header whose
``__metadata__`` holds skvsc's text and digest, the tensors) or a
``torch.save`` zip archive of a plain dict; a file that is neither and starts
with the pickle protocol byte is refused as a pickle. :func:`read` returns
``(text, digest, tensors)``; :mod:`skvsc._io` checks and decodes them.
"""

import io
import json
import struct
import zipfile

import torch

_PICKLE_MAGIC = b"\x80"  # the PROTO opcode that starts every pickle of protocol >= 2
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save files are zip archives
#: Largest safetensors header the reader parses: ours hold the JSON state and
#: the tensor table (kilobytes); anything far larger is not a file of ours.
_MAX_HEADER = 100 * 2**20


def typed(value, kind):
    if not isinstance(value, kind):
        raise ValueError(f"expected a {kind.__name__}, got {type(value).__name__}")
    return value


def read(path):
    """(text, digest, tensors) of a safe file, whichever backend wrote it.

    The file is read once, into memory, so that a concurrent :func:`save`
    (which replaces the path atomically) is seen whole, old or new. Its kind
    is recognised by its whole structure, in this order: a safetensors file
    (a plausible header length, then a JSON header whose ``__metadata__``
    holds our text and digest), a ``torch.save`` zip archive (the zip
    structure with a pickled record inside), and only then a pickle. A single
    leading byte decides nothing: a safetensors header length whose low byte
    is 0x80 starts the file with the pickle protocol byte.
    """
    with open(path, "rb") as f:
        data = f.read()
    metadata = _safetensors_metadata(data)
    if metadata is not None:
        return _read_safetensors(data, metadata)
    if _is_torch_zip(data):
        return _read_torch_zip(data)
    if data[:1] == _PICKLE_MAGIC:
        raise ValueError(
            "it is a pickle file (e.g. written by joblib.dump or pickle.dump), not a file "
            "of skvsc.save: read it with joblib.load(path), and only if you trust its source"
        )
    raise ValueError("it is neither a safetensors file nor a torch.save archive of skvsc.save")


def _safetensors_metadata(data):
    """The ``__metadata__`` of a safetensors file written by :func:`save`, or
    None where ``data`` does not have that structure.

    A safetensors file starts with the length ``n`` of its header as a
    little-endian unsigned 64-bit integer, followed by ``n`` bytes of JSON: an
    object with the tensor table and, for our files, a ``__metadata__`` object
    holding the strings ``skvsc`` (the state) and ``sha256`` (its digest).
    """
    if len(data) < 8:
        return None
    (n,) = struct.unpack("<Q", data[:8])
    if not 2 <= n <= min(len(data) - 8, _MAX_HEADER) or data[8:9] != b"{":
        return None
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("skvsc"), str)
        and isinstance(metadata.get("sha256"), str)
    ):
        return None
    return metadata


def _read_safetensors(data, metadata):
    try:
        from safetensors import torch as safetensors_torch
    except ImportError:
        raise ImportError(
            "This file was written with safetensors, which is not installed: "
            "pip install safetensors (or skvsc[safe])."
        ) from None
    # The tensors are built from the bytes read above (copies, not views of a
    # memory map of the file), so nothing outlives or re-reads the file.
    return metadata["skvsc"], metadata["sha256"], safetensors_torch.load(data)


def _is_torch_zip(data):
    """Whether ``data`` is a zip archive with a ``torch.save`` record in it."""
    if data[:4] != _ZIP_MAGIC:
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False
    return any(name.endswith("/data.pkl") or name == "data.pkl" for name in names)


def _read_torch_zip(data):
    content = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    content = typed(content, dict)
    text, digest = typed(content["skvsc"], str), typed(content["sha256"], str)
    tensors = typed(content["tensors"], dict)
    if not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise ValueError("the tensor table holds something other than tensors")
    return text, digest, tensors
