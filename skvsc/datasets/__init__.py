"""Loaders for the MNIST, Fashion-MNIST and Frey faces datasets.

The files are the official gzipped IDX files. They are looked up in a data
directory (the data home: the ``data_home`` argument, else the environment
variable ``SKVSC_DATA``, else the user cache directory ``~/.cache/skvsc``; see
:func:`get_data_home`) laid out as::

    <data_home>/mnist/train-images-idx3-ubyte.gz
    <data_home>/mnist/train-labels-idx1-ubyte.gz
    <data_home>/mnist/t10k-images-idx3-ubyte.gz
    <data_home>/mnist/t10k-labels-idx1-ubyte.gz
    <data_home>/fashion-mnist/<same four file names>
    <data_home>/frey/frey-images-idx3-ubyte.gz

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

# Module attributes (documented above), shared with the modules that use them.
from ._checksums import CHECKSUMS as CHECKSUMS
from ._download import BASE_URLS as BASE_URLS
from ._download import URL_ENV_VARS as URL_ENV_VARS
from ._download import DownloadError
from ._frey import FREY_IMAGE_SHAPE as FREY_IMAGE_SHAPE
from ._frey import load_frey_faces
from ._home import DATA_ENV_VAR as DATA_ENV_VAR
from ._home import get_data_home
from ._idx import read_idx
from ._loaders import FILENAMES as FILENAMES
from ._loaders import load_fashion_mnist, load_mnist

__all__ = [
    "DownloadError",
    "get_data_home",
    "load_fashion_mnist",
    "load_frey_faces",
    "load_mnist",
    "read_idx",
]
