"""The MNIST and Fashion-MNIST loaders."""

import os

import numpy as np

from ._checksums import _verify
from ._download import _download, _manual_instructions
from ._home import get_data_home
from ._idx import read_idx

#: File names of each split: ``(images, labels)``.
FILENAMES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _load(dataset, data_home, split, as_uint8, download, progress):
    if not isinstance(split, str) or split not in FILENAMES:
        raise ValueError(f"split must be one of {sorted(FILENAMES)}, got {split!r} instead.")
    filenames = FILENAMES[split]
    home = get_data_home(data_home)
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


_DOC = """Load the {title} dataset.

    {description}
    The files are verified against their published SHA-256 checksums before
    use.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Data directory; the files are read from its ``{directory}/``
        sub-directory. By default it is resolved as in :func:`get_data_home`
        (``$SKVSC_DATA``, then ``~/.cache/skvsc``).

    split : {{"train", "test"}}, default="train"
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
    {see_also}

    Examples
    --------
{examples}
"""


def load_mnist(data_home=None, *, split="train", as_uint8=False, download=True, progress=True):
    return _load("mnist", data_home, split, as_uint8, download, progress)


def load_fashion_mnist(
    data_home=None, *, split="train", as_uint8=False, download=True, progress=True
):
    return _load("fashion-mnist", data_home, split, as_uint8, download, progress)


# The two loaders differ only in their data set: one docstring, filled twice.
load_mnist.__doc__ = _DOC.format(
    title="MNIST handwritten digits",
    description="70,000 grayscale 28x28 images of the digits 0-9 (LeCun, Cortes and\n"
    "    Burges), split into 60,000 training and 10,000 test images.",
    directory="mnist",
    see_also="load_fashion_mnist : The Fashion-MNIST dataset, in the same format.",
    examples="""\
    >>> from skvsc.datasets import load_mnist
    >>> X, y = load_mnist(split="test")  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 784), dtype('float32'))
    >>> y[:5]  # doctest: +SKIP
    array([7, 2, 1, 0, 4])""",
)
load_fashion_mnist.__doc__ = _DOC.format(
    title="Fashion-MNIST",
    description="70,000 grayscale 28x28 images of Zalando articles (Xiao, Rasul and\n"
    "    Vollgraf, 2017), split into 60,000 training and 10,000 test images, in\n"
    "    10 classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat,\n"
    "    5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.",
    directory="fashion-mnist",
    see_also="load_mnist : The MNIST handwritten digits dataset, in the same format.",
    examples="""\
    >>> from skvsc.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(as_uint8=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((60000, 784), dtype('uint8'))""",
)
