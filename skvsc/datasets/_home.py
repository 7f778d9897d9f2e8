"""Where the dataset files live: the data home."""

import os

#: Environment variable naming the data directory.
DATA_ENV_VAR = "SKVSC_DATA"


def _cache_dir():
    cache_root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache_root, "skvsc")


def get_data_home(data_home=None):
    """Return the path of the skvsc data directory.

    The directory is chosen as follows, first match wins:

    1. the ``data_home`` argument, when it is not None;
    2. the environment variable ``SKVSC_DATA``, when it is set and not empty;
    3. the user cache directory: ``$XDG_CACHE_HOME/skvsc``, or
       ``~/.cache/skvsc`` when ``XDG_CACHE_HOME`` is not set.

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

    Examples
    --------
    >>> from skvsc.datasets import get_data_home
    >>> get_data_home("~/my_data")  # doctest: +SKIP
    '/home/user/my_data'
    """
    if data_home is not None:
        return os.path.expanduser(os.fspath(data_home))
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return os.path.expanduser(env)
    return _cache_dir()
