"""Downloads of the dataset files from the official mirrors, verified and atomic."""

import hashlib
import http.client
import os
import secrets
import urllib.error
import urllib.request

from ._checksums import CHECKSUMS, _remember_sha256
from ._home import DATA_ENV_VAR

#: Environment variables overriding the download base URL of each dataset.
URL_ENV_VARS = {
    "mnist": "SKVSC_MNIST_URL",
    "fashion-mnist": "SKVSC_FASHION_MNIST_URL",
    "frey": "SKVSC_FREY_URL",
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
    # The original frey_rawface.mat, converted to IDX after download.
    "frey": ("https://cs.nyu.edu/~roweis/data/",),
}

# Socket timeout (seconds) of each download request.
_TIMEOUT = 60


class DownloadError(OSError):
    """Raised when a dataset file cannot be downloaded.

    The message lists the directory and file names to put in place by hand.
    """


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
