"""Loaders for the MNIST and Fashion-MNIST benchmark datasets.

The files are the official gzipped IDX files. They are looked up in a data
directory laid out as::

    <data_home>/mnist/train-images-idx3-ubyte.gz
    <data_home>/mnist/train-labels-idx1-ubyte.gz
    <data_home>/mnist/t10k-images-idx3-ubyte.gz
    <data_home>/mnist/t10k-labels-idx1-ubyte.gz
    <data_home>/fashion-mnist/<same four file names>

Missing files are downloaded from the official mirrors (see :data:`BASE_URLS`)
unless ``download=False``. Every file is checked against its published SHA-256
checksum (see :data:`CHECKSUMS`) before it is parsed.

This module depends on NumPy and the standard library only; ``tqdm`` is used
for download progress bars when it is installed.

Module attributes
-----------------
CHECKSUMS : dict
    ``{dataset: {file name: sha256 hex digest}}``. A file whose name is not in
    the table of its dataset is not verified.
BASE_URLS : dict
    ``{dataset: tuple of base URLs}``, tried in order. The environment
    variables ``SKVSC_MNIST_URL`` and ``SKVSC_FASHION_MNIST_URL`` take
    precedence over this table when they are set.
"""

import gzip
import hashlib
import http.client
import math
import os
import secrets
import urllib.error
import urllib.request
import zlib

import numpy as np

__all__ = [
    "DownloadError",
    "get_data_home",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

#: Environment variable naming the data directory.
DATA_ENV_VAR = "SKVSC_DATA"

#: Environment variables overriding the download base URL of each dataset.
URL_ENV_VARS = {
    "mnist": "SKVSC_MNIST_URL",
    "fashion-mnist": "SKVSC_FASHION_MNIST_URL",
}

#: File names of each split: ``(images, labels)``.
FILENAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

#: Published SHA-256 digests of the gzipped files.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
}

#: Download mirrors, tried in order.
BASE_URLS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    ),
}

# Socket timeout (seconds) of each download request.
_TIMEOUT = 60
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

# (realpath, size, mtime_ns, inode) -> sha256 hex digest.
_HASH_CACHE = {}


class DownloadError(OSError):
    """Raised when a dataset file cannot be downloaded.

    The message lists the directory and file names to put in place by hand.
    """


# ---------------------------------------------------------------------------
# IDX parsing
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Data directory
# ---------------------------------------------------------------------------


def _has_files(directory, dataset, filenames=None):
    if filenames is None:
        filenames = [name for pair in FILENAMES.values() for name in pair]
    return all(os.path.isfile(os.path.join(directory, dataset, name)) for name in filenames)


def _shared_data_dir():
    return os.path.abspath(os.path.join(os.getcwd(), os.pardir, "shared", "data"))


def _cache_dir():
    cache_root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_root, "skvsc")


def _resolve_data_home(data_home=None, datasets=("mnist", "fashion-mnist")):
    if data_home is not None:
        return os.path.expanduser(os.fspath(data_home))
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return os.path.expanduser(env)
    shared = _shared_data_dir()
    if any(_has_files(shared, dataset) for dataset in datasets):
        return shared
    return _cache_dir()


def get_data_home(data_home=None):
    """Return the path of the skvsc data directory.

    The directory is chosen as follows, first match wins:

    1. the ``data_home`` argument, when it is not None;
    2. the environment variable ``SKVSC_DATA``, when it is set and not empty;
    3. ``../shared/data`` relative to the current working directory, when it
       holds the four files of MNIST or of Fashion-MNIST;
    4. ``$XDG_CACHE_HOME/skvsc``, or ``~/.cache/skvsc`` when
       ``XDG_CACHE_HOME`` is not set.

    A leading ``~`` is expanded. The directory is not created; the loaders
    create it when they download files into it.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data directory.

    Returns
    -------
    data_home : str
        Path of the data directory. Each dataset lives in a sub-directory of
        it (``mnist/``, ``fashion-mnist/``).

    Notes
    -----
    The loaders use ``../shared/data`` only when it holds all four files of
    the dataset being loaded, so :func:`load_fashion_mnist` may resolve to the
    cache directory while this function returns ``../shared/data`` because it
    holds MNIST.

    Examples
    --------
    >>> from skvsc.datasets import get_data_home
    >>> get_data_home("~/my_data")  # doctest: +SKIP
    '/home/user/my_data'
    """
    return _resolve_data_home(data_home)


# ---------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------


def _sha256(path):
    """SHA-256 of a file, computed once per (path, size, mtime, inode)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _HASH_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        _HASH_CACHE[key] = digest
    return digest


def _remember_sha256(path, digest):
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    _HASH_CACHE[key] = digest


def _verify(path, dataset):
    name = os.path.basename(path)
    expected = CHECKSUMS.get(dataset, {}).get(name)
    if expected is None:
        return
    actual = _sha256(path)
    if actual != expected.lower():
        raise ValueError(
            f"Checksum mismatch for {name!r} ({path}): expected sha256 "
            f"{expected}, got {actual}. The file is corrupt or is not the "
            f"official {dataset} file; delete it and load again to "
            f"re-download it, or replace it with the official file."
        )


# ---------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------


class _NoProgress:
    """Stand-in for tqdm when it is not installed or not wanted."""

    def __init__(self, *args, **kwargs):
        pass

    def update(self, n=1):
        pass

    def close(self):
        pass


def _progress_bar(progress, **kwargs):
    if progress:
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(**kwargs)
    return _NoProgress()


def _base_urls(dataset):
    env = os.environ.get(URL_ENV_VARS[dataset])
    if env:
        urls = env.split()
    else:
        urls = BASE_URLS[dataset]
        if isinstance(urls, str):
            urls = [urls]
    return [url if url.endswith("/") else url + "/" for url in urls]


def _manual_instructions(dataset, directory, filenames):
    files = "\n".join(f"    {os.path.join(directory, name)}" for name in filenames)
    urls = ", ".join(_base_urls(dataset))
    return (
        f"Put the official {dataset} files in place by hand:\n{files}\n"
        f"(they can be fetched from {urls}), or set the environment variable "
        f"{DATA_ENV_VAR} (or pass data_home=) to a directory holding a "
        f"'{dataset}/' folder with these files."
    )


def _fetch(url, out, desc, progress):
    """Stream ``url`` into the open binary file ``out``; return its sha256."""
    request = urllib.request.Request(url, headers={"User-Agent": "skvsc"})
    h = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _progress_bar(
            progress,
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            leave=False,
        )
        try:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                h.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and received != total:
        raise OSError(f"incomplete download: got {received} of {total} bytes")
    return h.hexdigest()


def _download_one(url, dest, expected, progress):
    """Download ``url`` to ``dest`` atomically; return the sha256 digest.

    The data goes to a uniquely named temporary file in the target directory
    (opened with mode "xb", so that it honours the umask), is checked against
    ``expected`` and only then renamed to ``dest``.
    """
    name = os.path.basename(dest)
    tmp = os.path.join(os.path.dirname(dest), f".{name}.{secrets.token_hex(8)}.part")
    try:
        with open(tmp, "xb") as out:
            digest = _fetch(url, out, name, progress)
        if expected is not None and digest != expected.lower():
            raise OSError(f"checksum mismatch: expected sha256 {expected}, got {digest}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return digest


def _download(dataset, directory, filenames, progress):
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"Cannot create the data directory {directory!r}: {exc}\n"
            + _manual_instructions(dataset, directory, filenames)
        ) from exc
    for name in filenames:
        dest = os.path.join(directory, name)
        expected = CHECKSUMS.get(dataset, {}).get(name)
        errors = []
        for base in _base_urls(dataset):
            url = base + name
            try:
                digest = _download_one(url, dest, expected, progress)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                errors.append(f"  {url}: {exc}")
                continue
            _remember_sha256(dest, digest)
            break
        else:
            raise DownloadError(
                f"Could not download {name!r} of {dataset}:\n"
                + "\n".join(errors)
                + "\n"
                + _manual_instructions(dataset, directory, filenames)
            )


# ---------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------


def _load(dataset, data_home, split, as_uint8, download, progress):
    if not isinstance(split, str) or split not in FILENAMES:
        raise ValueError(f"split must be one of {sorted(FILENAMES)}, got {split!r} instead.")
    filenames = FILENAMES[split]
    home = _resolve_data_home(data_home, datasets=(dataset,))
    directory = os.path.join(home, dataset)
    missing = [name for name in filenames if not os.path.isfile(os.path.join(directory, name))]
    if missing:
        if not download:
            raise FileNotFoundError(
                f"{dataset} files not found in {directory!r} and download=False: "
                f"missing {', '.join(missing)}.\n"
                + _manual_instructions(dataset, directory, missing)
            )
        _download(dataset, directory, missing, progress)

    images_path, labels_path = (os.path.join(directory, name) for name in filenames)
    for path in (images_path, labels_path):
        _verify(path, dataset)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{os.path.basename(images_path)!r}: expected a 3-D uint8 image "
            f"array, got shape {images.shape} and dtype {images.dtype} "
            f"({images_path})."
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{os.path.basename(labels_path)!r}: expected a 1-D label array, "
            f"got shape {labels.shape} ({labels_path})."
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{dataset} {split}: {images.shape[0]} images but "
            f"{labels.shape[0]} labels ({directory})."
        )

    X = images.reshape(images.shape[0], -1)
    if not as_uint8:
        X = np.divide(X, np.float32(255.0), dtype=np.float32)
    y = labels.astype(np.int64)
    return X, y


def load_mnist(data_home=None, *, split="train", as_uint8=False, download=True, progress=True):
    """Load the MNIST handwritten digits dataset.

    70,000 grayscale 28x28 images of the digits 0-9 (LeCun, Cortes and
    Burges), split into 60,000 training and 10,000 test images. The files are
    verified against their published SHA-256 checksums before use.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data directory; the files are read from its ``mnist/``
        sub-directory. By default it is resolved as in :func:`get_data_home`
        (``$SKVSC_DATA``, then ``../shared/data`` when it holds all four
        mnist files, then ``~/.cache/skvsc``).

    split : {"train", "test"}, default="train"
        Which split to load: the 60,000 training images or the 10,000 test
        images.

    as_uint8 : bool, default=False
        If True, return the raw pixel values as uint8 in ``[0, 255]``
        instead of float32 in ``[0, 1]``.

    download : bool, default=True
        If True, download the missing files of the split from the official
        mirrors. If False, raise :class:`FileNotFoundError` when a file is
        missing.

    progress : bool, default=True
        Show a progress bar while downloading (uses ``tqdm``; no bar is shown
        when it is not installed).

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
        Flattened 28x28 images in row-major pixel order, float32 in
        ``[0, 1]`` (uint8 in ``[0, 255]`` if ``as_uint8=True``).

    y : ndarray of shape (n_samples,), dtype=int64
        Labels in ``0..9``.

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download=False``. The message lists the
        paths where the files are expected.

    DownloadError
        If a missing file cannot be downloaded (network or HTTP error,
        downloaded data not matching the checksum). It is a subclass of
        :class:`OSError`; the message lists the paths where the files can be
        put by hand.

    ValueError
        If a file on disk does not match its published SHA-256 checksum, or
        is not a valid IDX file.

    See Also
    --------
    load_fashion_mnist : The Fashion-MNIST dataset, in the same format.

    Examples
    --------
    >>> from skvsc.datasets import load_mnist
    >>> X, y = load_mnist(split="test")  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 784), dtype('float32'))
    >>> y[:5]  # doctest: +SKIP
    array([7, 2, 1, 0, 4])
    """
    return _load("mnist", data_home, split, as_uint8, download, progress)


def load_fashion_mnist(
    data_home=None, *, split="train", as_uint8=False, download=True, progress=True
):
    """Load the Fashion-MNIST dataset.

    70,000 grayscale 28x28 images of Zalando articles (Xiao, Rasul and
    Vollgraf, 2017), split into 60,000 training and 10,000 test images, in
    10 classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat,
    5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot. The files are verified
    against their published SHA-256 checksums before use.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data directory; the files are read from its ``fashion-mnist/``
        sub-directory. By default it is resolved as in :func:`get_data_home`
        (``$SKVSC_DATA``, then ``../shared/data`` when it holds all four
        fashion-mnist files, then ``~/.cache/skvsc``).

    split : {"train", "test"}, default="train"
        Which split to load: the 60,000 training images or the 10,000 test
        images.

    as_uint8 : bool, default=False
        If True, return the raw pixel values as uint8 in ``[0, 255]``
        instead of float32 in ``[0, 1]``.

    download : bool, default=True
        If True, download the missing files of the split from the official
        mirrors. If False, raise :class:`FileNotFoundError` when a file is
        missing.

    progress : bool, default=True
        Show a progress bar while downloading (uses ``tqdm``; no bar is shown
        when it is not installed).

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
        Flattened 28x28 images in row-major pixel order, float32 in
        ``[0, 1]`` (uint8 in ``[0, 255]`` if ``as_uint8=True``).

    y : ndarray of shape (n_samples,), dtype=int64
        Labels in ``0..9``.

    Raises
    ------
    FileNotFoundError
        If files are missing and ``download=False``. The message lists the
        paths where the files are expected.

    DownloadError
        If a missing file cannot be downloaded (network or HTTP error,
        downloaded data not matching the checksum). It is a subclass of
        :class:`OSError`; the message lists the paths where the files can be
        put by hand.

    ValueError
        If a file on disk does not match its published SHA-256 checksum, or
        is not a valid IDX file.

    See Also
    --------
    load_mnist : The MNIST handwritten digits dataset, in the same format.

    Examples
    --------
    >>> from skvsc.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(as_uint8=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((60000, 784), dtype('uint8'))
    """
    return _load("fashion-mnist", data_home, split, as_uint8, download, progress)
