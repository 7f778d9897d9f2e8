"""The Frey faces loader.

The data set of the original VAE paper: 1,965 grayscale images of one face,
28 rows x 20 columns. The canonical copy is ``frey_rawface.mat`` (variable
``ff``, uint8, 560 x 1965, one image per column) on Sam Roweis' data page;
skvsc keeps it as an IDX file (``frey-images-idx3-ubyte.gz``, images of
``ff.T.reshape(-1, 28, 20)``). Both are verified by the SHA-256 of the IDX
content, so any IDX file (gzipped or not) holding the same images is accepted,
whichever compressor wrote it.
"""

import gzip
import hashlib
import os
import secrets

import numpy as np

from ._download import DownloadError, _base_urls, _download_one
from ._home import DATA_ENV_VAR, get_data_home
from ._idx import _open, read_idx

#: (rows, columns) of one face.
FREY_IMAGE_SHAPE = (28, 20)
#: The file looked up in ``<data_home>/frey/``.
FREY_FILENAME = "frey-images-idx3-ubyte.gz"
#: The original file, downloaded and converted when ``FREY_FILENAME`` is missing.
FREY_ORIGINAL = "frey_rawface.mat"
#: SHA-256 of the uncompressed IDX file (header and pixels).
FREY_SHA256 = "c943677a3bcb83ed2de1207d4355c360cabfee597a538f9735ec3254886c365f"
_N_FACES = 1965


def _idx_bytes(images):
    """The IDX encoding of a uint8 array of shape (n, rows, cols)."""
    header = bytes([0, 0, 0x08, 3]) + np.asarray(images.shape, dtype=">u4").tobytes()
    return header + images.tobytes()


def _content_sha256(path):
    h = hashlib.sha256()
    with _open(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify_content(path):
    actual = _content_sha256(path)
    if actual != FREY_SHA256:
        raise ValueError(
            f"Checksum mismatch for {os.path.basename(path)!r} ({path}): expected the IDX "
            f"content to have sha256 {FREY_SHA256}, got {actual}. The file is corrupt or is "
            "not the Frey faces; delete it and load again to re-download it."
        )


def _convert(mat_path, dest):
    """Write the IDX file ``dest`` (gzipped, atomically) from ``frey_rawface.mat``."""
    from scipy.io import loadmat  # scipy is a dependency; imported only here

    faces = loadmat(mat_path).get("ff")
    if faces is None or faces.dtype != np.uint8 or faces.shape != (560, _N_FACES):
        raise ValueError(f"{mat_path!r} does not hold the 560 x {_N_FACES} uint8 array 'ff'.")
    content = _idx_bytes(np.ascontiguousarray(faces.T).reshape(-1, *FREY_IMAGE_SHAPE))
    if hashlib.sha256(content).hexdigest() != FREY_SHA256:
        raise ValueError(f"{mat_path!r} is not the original Frey faces file (checksum).")
    tmp = f"{dest}.{secrets.token_hex(8)}.part"
    try:
        with open(tmp, "xb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            out.write(content)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _manual_instructions(directory):
    return (
        f"Put either file in place by hand:\n    {os.path.join(directory, FREY_FILENAME)}\n"
        f"    {os.path.join(directory, FREY_ORIGINAL)} (the original, from "
        f"{', '.join(_base_urls('frey'))}; it is converted on first load)\n"
        f"or set the environment variable {DATA_ENV_VAR} (or pass data_home=) to a directory "
        "holding a 'frey/' folder with one of them."
    )


def _fetch_original(directory, progress):
    os.makedirs(directory, exist_ok=True)
    mat_path = os.path.join(directory, FREY_ORIGINAL)
    errors = []
    for base in _base_urls("frey"):
        try:
            _download_one(base + FREY_ORIGINAL, mat_path, None, progress)
        except OSError as exc:
            errors.append(f"  {base + FREY_ORIGINAL}: {exc}")
        else:
            return mat_path
    raise DownloadError(
        f"Could not download {FREY_ORIGINAL!r}:\n"
        + "\n".join(errors)
        + "\n"
        + _manual_instructions(directory)
    )


def load_frey_faces(data_home=None, *, as_uint8=False, download=True, progress=True):
    """Load the Frey faces.

    1,965 grayscale images of Brendan Frey's face with varying expression and
    pose, 28 rows x 20 columns (Frey, Colmenarez and Huang, 1998), the face
    data set of the original VAE paper. There are no labels and no split:
    split with a seed (e.g. :func:`~sklearn.model_selection.train_test_split`).
    The images are verified by the SHA-256 of their IDX content before use.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data directory; the file ``frey-images-idx3-ubyte.gz`` is read from
        its ``frey/`` sub-directory. By default it is resolved as in
        :func:`get_data_home` (``$SKVSC_DATA``, then ``~/.cache/skvsc``).

    as_uint8 : bool, default=False
        If True, return the raw pixel values as uint8 in ``[0, 255]``
        instead of float32 in ``[0, 1]``.

    download : bool, default=True
        If True and the file is missing, download the original
        ``frey_rawface.mat`` from its public page (or read it from the
        ``frey/`` folder if it is there) and convert it. If False, raise
        :class:`FileNotFoundError` when the file is missing.

    progress : bool, default=True
        Show a progress bar while downloading (uses ``tqdm`` when installed).

    Returns
    -------
    X : ndarray of shape (1965, 560)
        Flattened 28x20 images in row-major pixel order, float32 in
        ``[0, 1]`` (uint8 in ``[0, 255]`` if ``as_uint8=True``). Reshape a
        row with ``FREY_IMAGE_SHAPE`` to view it.

    Raises
    ------
    FileNotFoundError
        If the file is missing and ``download=False``.

    DownloadError
        If the original file cannot be downloaded.

    ValueError
        If the file does not hold the Frey faces (checksum), or is not a
        valid IDX file.

    See Also
    --------
    load_mnist : The MNIST handwritten digits, in the same format.

    Examples
    --------
    >>> from skvsc.datasets import load_frey_faces
    >>> X = load_frey_faces()  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((1965, 560), dtype('float32'))
    """
    directory = os.path.join(get_data_home(data_home), "frey")
    path = os.path.join(directory, FREY_FILENAME)
    if not os.path.isfile(path):
        if not download:
            raise FileNotFoundError(
                f"frey files not found in {directory!r} and download=False: missing "
                f"{FREY_FILENAME}.\n" + _manual_instructions(directory)
            )
        mat_path = os.path.join(directory, FREY_ORIGINAL)
        if not os.path.isfile(mat_path):
            mat_path = _fetch_original(directory, progress)
        _convert(mat_path, path)
    _verify_content(path)
    images = read_idx(path)
    X = images.reshape(images.shape[0], -1)
    if not as_uint8:
        X = np.divide(X, np.float32(255.0), dtype=np.float32)
    return X
