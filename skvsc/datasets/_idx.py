"""Reading arrays stored in the IDX format of the MNIST distribution."""

import gzip
import math
import os
import zlib

import numpy as np

_CHUNK_SIZE = 1 << 20

# IDX type code -> NumPy dtype (big-endian as stored in the file).
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _open(path):
    """Open ``path`` for binary reading, transparently un-gzipping it."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_exactly(f, n):
    """Read up to ``n`` bytes from ``f``; fewer only at end of file."""
    chunks = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_idx(path):
    """Read an array stored in the IDX format.

    The IDX format is the one of the MNIST distribution: a big-endian header
    made of a 4-byte magic number (two zero bytes, a type code and the number
    of dimensions), then one unsigned 32-bit size per dimension, then the
    data in C order. Gzipped files are recognised from their content and
    decompressed on the fly.

    Parameters
    ----------
    path : str or path-like
        Path of the IDX file, gzipped or not.

    Returns
    -------
    array : ndarray
        The stored array, in native byte order. Its dtype follows the type
        code: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32,
        ``0x0D`` float32, ``0x0E`` float64. MNIST images (magic
        ``0x00000803``) give a uint8 array of shape ``(n, 28, 28)`` and
        labels (magic ``0x00000801``) a uint8 array of shape ``(n,)``.

    Raises
    ------
    ValueError
        If the file is not a valid IDX file: bad magic number, unknown type
        code, truncated header, or a payload whose length does not match the
        header. The message names the file.

    Examples
    --------
    >>> from skvsc.datasets import read_idx
    >>> images = read_idx("mnist/t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        with _open(path) as f:
            magic = _read_exactly(f, 4)
            if len(magic) < 4:
                raise ValueError(
                    f"{name!r} is not an IDX file: it is shorter than the "
                    f"4-byte magic number ({path})."
                )
            if magic[0] != 0 or magic[1] != 0:
                raise ValueError(
                    f"{name!r} is not an IDX file: bad magic number "
                    f"0x{magic.hex()} (the first two bytes must be zero) "
                    f"({path})."
                )
            code, ndim = magic[2], magic[3]
            if code not in _IDX_DTYPES:
                raise ValueError(
                    f"{name!r}: unknown IDX type code 0x{code:02X} in magic "
                    f"number 0x{magic.hex()} ({path})."
                )
            dtype = _IDX_DTYPES[code]
            raw_shape = _read_exactly(f, 4 * ndim)
            if len(raw_shape) < 4 * ndim:
                raise ValueError(
                    f"{name!r}: truncated IDX header, expected {ndim} dimension sizes ({path})."
                )
            shape = tuple(int(s) for s in np.frombuffer(raw_shape, dtype=">u4", count=ndim))
            expected = math.prod(shape) * dtype.itemsize
            # Read at most one byte past the announced payload, so that a bogus
            # header can neither exhaust memory nor hide trailing data.
            payload = bytearray()
            while len(payload) <= expected:
                chunk = f.read(min(expected + 1 - len(payload), _CHUNK_SIZE))
                if not chunk:
                    break
                payload += chunk
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{name!r}: corrupt gzip stream ({path}): {exc}") from exc
    if len(payload) != expected:
        what = "short" if len(payload) < expected else "long"
        got = f"{len(payload)} bytes follow" if what == "short" else "more follows"
        raise ValueError(
            f"{name!r}: IDX payload too {what}, the header announces shape "
            f"{shape} of {dtype.name} ({expected} bytes) but {got} ({path})."
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array
