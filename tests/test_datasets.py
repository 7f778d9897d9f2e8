"""Tests for skvsc.datasets (no network access beyond 127.0.0.1)."""

import gzip
import hashlib
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from skvsc import datasets
from skvsc.datasets import (
    DownloadError,
    _checksums,
    get_data_home,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)

LOADERS = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}
ALL_FILES = [name for pair in datasets.FILENAMES.values() for name in pair]
IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


# ---------------------------------------------------------------------------
# Helpers and fixtures
# ---------------------------------------------------------------------------


def write_idx(path, array, *, gz=True, code=None):
    """Write ``array`` as an IDX file (the writer the tests check against)."""
    array = np.asarray(array)
    if code is None:
        code = IDX_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    payload = array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(header + payload)
    return Path(path)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_dataset(root, dataset="mnist", n_train=7, n_test=5, seed=0):
    """Write the four (small) files of a fake dataset in ``root/dataset``."""
    rng = np.random.default_rng(seed)
    directory = Path(root) / dataset
    directory.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255  # cover the whole range
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        images_name, labels_name = datasets.FILENAMES[split]
        write_idx(directory / images_name, images)
        write_idx(directory / labels_name, labels)
        data[split] = images, labels
    return directory, data


def use_checksums_of(monkeypatch, dataset, directory):
    """Make the checksum table of ``dataset`` match the files in ``directory``."""
    table = {name: sha256(Path(directory) / name) for name in ALL_FILES}
    monkeypatch.setitem(datasets.CHECKSUMS, dataset, table)
    return table


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No user configuration, a working directory of its own, an empty hash cache."""
    for var in ("SKVSC_DATA", *datasets.URL_ENV_VARS.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    cwd = tmp_path / "project" / "repo"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(_checksums, "_HASH_CACHE", {})


@pytest.fixture
def closed_port_url():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------------------
# read_idx
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", list(IDX_CODES))
def test_read_idx_roundtrip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, gz=gz)
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype)
    assert result.dtype.isnative
    assert result.shape == (3, 4, 5)
    np.testing.assert_array_equal(result, array)
    result[0, 0, 0] = 0  # the array is writeable


def test_read_idx_mnist_images_and_labels(tmp_path):
    images = np.arange(4 * 28 * 28, dtype=np.uint32).reshape(4, 28, 28) % 256
    images = images.astype(np.uint8)
    labels = np.array([5, 0, 4, 1], dtype=np.uint8)
    images_path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    labels_path = write_idx(tmp_path / "train-labels-idx1-ubyte", labels, gz=False)
    with gzip.open(images_path, "rb") as f:
        assert f.read(4) == b"\x00\x00\x08\x03"
    assert labels_path.read_bytes()[:4] == b"\x00\x00\x08\x01"

    result = read_idx(str(images_path))
    assert result.shape == (4, 28, 28) and result.dtype == np.uint8
    np.testing.assert_array_equal(result, images)
    np.testing.assert_array_equal(read_idx(labels_path), labels)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("delta", [-1, 1], ids=["truncated", "trailing"])
def test_read_idx_payload_length_mismatch(tmp_path, gz, delta):
    header = bytes([0, 0, 0x08, 3]) + np.array([2, 28, 28], ">u4").tobytes()
    payload = bytes(2 * 28 * 28 + delta)
    path = tmp_path / ("broken.gz" if gz else "broken")
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(header + payload)
    with pytest.raises(ValueError, match=r"'broken(\.gz)?'.*payload too"):
        read_idx(path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x00\x00", "shorter than"),
        (b"\x1f\x00\x08\x01" + bytes(8), "bad magic number"),
        (b"\x00\x00\x07\x01" + bytes(8), "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x03" + bytes(6), "truncated IDX header"),
    ],
)
def test_read_idx_invalid_header(tmp_path, content, match):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as excinfo:
        read_idx(path)
    assert "bad.idx" in str(excinfo.value)


def test_read_idx_huge_header_does_not_allocate(tmp_path):
    header = bytes([0, 0, 0x0E, 3]) + np.array([2**31] * 3, ">u4").tobytes()
    path = tmp_path / "huge.idx"
    path.write_bytes(header + bytes(16))
    with pytest.raises(ValueError, match="too short"):
        read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = write_idx(tmp_path / "labels.gz", np.zeros(1000, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-12])  # cut the gzip trailer
    with pytest.raises(ValueError, match="labels.gz"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


# ---------------------------------------------------------------------------
# Loading local files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(LOADERS))
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_local_files(monkeypatch, tmp_path, dataset, split):
    home = tmp_path / "home"
    directory, data = make_dataset(home, dataset)
    use_checksums_of(monkeypatch, dataset, directory)
    images, labels = data[split]
    n = len(labels)

    X, y = LOADERS[dataset](home, split=split, download=False)
    assert X.shape == (n, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X, images.reshape(n, -1) / 255.0, rtol=1e-6)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)

    X8, y8 = LOADERS[dataset](str(home), split=split, as_uint8=True, download=False)
    assert X8.dtype == np.uint8
    np.testing.assert_array_equal(X8, images.reshape(n, -1))
    np.testing.assert_array_equal(y8, y)


@pytest.mark.parametrize("split", ["all", "validation", None, ["train"]])
def test_invalid_split(tmp_path, split):
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist(tmp_path, split=split, download=False)


def test_checksum_mismatch(monkeypatch, tmp_path):
    directory, _ = make_dataset(tmp_path)
    table = use_checksums_of(monkeypatch, "mnist", directory)
    path = directory / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.arange(7, dtype=np.uint8))  # valid IDX, other content

    with pytest.raises(ValueError, match="Checksum mismatch") as excinfo:
        load_mnist(tmp_path, download=False)
    message = str(excinfo.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert table["train-labels-idx1-ubyte.gz"] in message
    assert sha256(path) in message
    assert "delete" in message and "re-download" in message


def test_real_checksums_reject_fake_files(tmp_path):
    make_dataset(tmp_path, "fashion-mnist")
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_fashion_mnist(tmp_path, split="test", download=False)


def test_files_without_checksum_are_not_verified(monkeypatch, tmp_path):
    make_dataset(tmp_path)
    monkeypatch.setitem(datasets.CHECKSUMS, "mnist", {})
    X, _ = load_mnist(tmp_path, download=False)
    assert X.shape == (7, 784)


def test_hash_computed_once_per_file(monkeypatch, tmp_path):
    directory, _ = make_dataset(tmp_path)
    use_checksums_of(monkeypatch, "mnist", directory)
    calls = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args, **kwargs):
        calls.append(args)
        return real_sha256(*args, **kwargs)

    monkeypatch.setattr(_checksums.hashlib, "sha256", counting_sha256)
    load_mnist(tmp_path, download=False)
    assert len(calls) == 2
    load_mnist(tmp_path, download=False)
    load_mnist(tmp_path, download=False, as_uint8=True)
    assert len(calls) == 2

    # A modified file (new size and mtime) is hashed again and rejected.
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes() + b"\x00")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_mnist(tmp_path, download=False)
    assert len(calls) == 3


def test_missing_files_without_download(tmp_path):
    home = tmp_path / "empty"
    with pytest.raises(FileNotFoundError) as excinfo:
        load_mnist(home, split="test", download=False)
    message = str(excinfo.value)
    assert str(home / "mnist") in message
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert "SKVSC_DATA" in message
    assert not home.exists()  # nothing is created without download


# ---------------------------------------------------------------------------
# Downloads (local HTTP server only)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(LOADERS))
def test_download_from_local_server(monkeypatch, tmp_path, http_server, dataset):
    served, url = http_server
    source, data = make_dataset(served, dataset)
    use_checksums_of(monkeypatch, dataset, source)
    monkeypatch.setitem(datasets.BASE_URLS, dataset, (url + dataset,))
    home = tmp_path / "home"

    X, y = LOADERS[dataset](home, split="test", progress=False)
    directory = home / dataset
    assert sorted(os.listdir(directory)) == sorted(datasets.FILENAMES["test"])
    for name in datasets.FILENAMES["test"]:
        assert (directory / name).read_bytes() == (source / name).read_bytes()
    np.testing.assert_array_equal(y, data["test"][1])
    np.testing.assert_array_equal(
        (X * 255).round().astype(np.uint8), data["test"][0].reshape(len(y), -1)
    )

    # Second call: files are on disk, the server is not needed any more.
    monkeypatch.setitem(datasets.BASE_URLS, dataset, ())
    X2, _ = LOADERS[dataset](home, split="test", download=False)
    np.testing.assert_array_equal(X2, X)


def test_download_env_url_and_mirror_fallback(monkeypatch, tmp_path, http_server, closed_port_url):
    served, url = http_server
    source, data = make_dataset(served / "mirror")
    use_checksums_of(monkeypatch, "mnist", source)
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", (closed_port_url,))
    # The first mirror is down, the second one has no trailing slash.
    monkeypatch.setenv("SKVSC_MNIST_URL", f"{closed_port_url} {url}mirror/mnist")
    monkeypatch.setenv("SKVSC_DATA", str(tmp_path / "env-home"))

    X, y = load_mnist()  # progress bar (tqdm) on, default data home
    assert X.shape == (7, 784)
    np.testing.assert_array_equal(y, data["train"][1])
    assert (tmp_path / "env-home" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_download_without_tqdm(monkeypatch, tmp_path, http_server):
    served, url = http_server
    source, _ = make_dataset(served)
    use_checksums_of(monkeypatch, "mnist", source)
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", (url + "mnist/",))
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError

    X, _ = load_mnist(tmp_path / "home", progress=True)
    assert X.shape == (7, 784)


def _assert_manual_instructions(message, directory, names):
    assert str(directory) in message
    for name in names:
        assert name in message
    assert "SKVSC_DATA" in message


@pytest.mark.parametrize("failure", ["404", "closed port"])
def test_download_failure(monkeypatch, tmp_path, http_server, closed_port_url, failure):
    _, url = http_server  # serves an empty directory
    base = url if failure == "404" else closed_port_url
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", (base,))
    home = tmp_path / "home"

    with pytest.raises(DownloadError) as excinfo:
        load_mnist(home, progress=False)
    assert isinstance(excinfo.value, OSError)
    message = str(excinfo.value)
    _assert_manual_instructions(
        message, home / "mnist", ["train-images-idx3-ubyte.gz", "train-labels"]
    )
    assert base + "train-images-idx3-ubyte.gz" in message
    if failure == "404":
        assert "404" in message
    assert os.listdir(home / "mnist") == []  # no partial files left behind


def test_download_checksum_mismatch(monkeypatch, tmp_path, http_server):
    served, url = http_server
    make_dataset(served)
    # The real checksum table: the fake files served do not match it.
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", (url + "mnist/",))
    home = tmp_path / "home"

    with pytest.raises(DownloadError, match="checksum mismatch") as excinfo:
        load_mnist(home, split="test", progress=False)
    assert datasets.CHECKSUMS["mnist"]["t10k-images-idx3-ubyte.gz"] in str(excinfo.value)
    assert os.listdir(home / "mnist") == []


def test_download_only_missing_files(monkeypatch, tmp_path, http_server):
    served, url = http_server
    source, _ = make_dataset(served)
    use_checksums_of(monkeypatch, "mnist", source)
    monkeypatch.setitem(datasets.BASE_URLS, "mnist", (url + "mnist/",))
    home = tmp_path / "home"
    (home / "mnist").mkdir(parents=True)
    labels = "train-labels-idx1-ubyte.gz"
    (home / "mnist" / labels).write_bytes((source / labels).read_bytes())
    (source / labels).unlink()  # the server no longer has it

    X, y = load_mnist(home, progress=False)
    assert X.shape == (7, 784) and y.shape == (7,)


# ---------------------------------------------------------------------------
# Data home resolution
# ---------------------------------------------------------------------------


def test_get_data_home_precedence(monkeypatch, tmp_path):
    cache = tmp_path / "xdg-cache" / "skvsc"
    assert get_data_home() == str(cache)
    assert not cache.exists()

    monkeypatch.setenv("SKVSC_DATA", str(tmp_path / "env"))
    assert get_data_home() == str(tmp_path / "env")

    assert get_data_home(tmp_path / "explicit") == str(tmp_path / "explicit")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert get_data_home("~/data") == str(tmp_path / "user" / "data")

    monkeypatch.setenv("SKVSC_DATA", "")  # empty: not set
    assert get_data_home() == str(cache)


def test_get_data_home_default_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert get_data_home() == str(tmp_path / "user" / ".cache" / "skvsc")


def test_folders_near_the_working_directory_are_never_used(monkeypatch, tmp_path):
    """A library does not guess data folders from where it is run (such as a
    ../shared/data holding every file): only data_home, SKVSC_DATA or the cache."""
    shared = tmp_path / "project" / "shared" / "data"  # ../shared/data from cwd
    directory, data = make_dataset(shared, "mnist")
    use_checksums_of(monkeypatch, "mnist", directory)
    assert get_data_home() == str(tmp_path / "xdg-cache" / "skvsc")
    with pytest.raises(FileNotFoundError) as excinfo:
        load_mnist(split="test", download=False)
    _assert_manual_instructions(
        str(excinfo.value),
        tmp_path / "xdg-cache" / "skvsc" / "mnist",
        datasets.FILENAMES["test"],
    )
    monkeypatch.setenv("SKVSC_DATA", str(shared))  # named: used
    _, y = load_mnist(split="test", download=False)
    np.testing.assert_array_equal(y, data["test"][1])


# ---------------------------------------------------------------------------
# The real files, when present
# ---------------------------------------------------------------------------


def _real_data_home():
    """The data home named by SKVSC_DATA when it holds the MNIST files."""
    candidate = os.environ.get("SKVSC_DATA")
    if candidate and all((Path(candidate) / "mnist" / name).is_file() for name in ALL_FILES):
        return Path(candidate)
    return None


REAL_DATA_HOME = _real_data_home()


@pytest.mark.skipif(
    REAL_DATA_HOME is None,
    reason="real MNIST files not found: set SKVSC_DATA to a folder with mnist/",
)
def test_real_mnist():
    X, y = load_mnist(REAL_DATA_HOME, download=False)
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(y[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(
        np.bincount(y), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )

    X, y = load_mnist(REAL_DATA_HOME, split="test", as_uint8=True, download=False)
    assert X.shape == (10000, 784) and X.dtype == np.uint8 and X.max() == 255
    np.testing.assert_array_equal(y[:5], [7, 2, 1, 0, 4])
    np.testing.assert_array_equal(
        np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )


@pytest.mark.skipif(
    REAL_DATA_HOME is None
    or not all((REAL_DATA_HOME / "fashion-mnist" / name).is_file() for name in ALL_FILES),
    reason="real Fashion-MNIST files not found: set SKVSC_DATA to a folder with fashion-mnist/",
)
def test_real_fashion_mnist():
    X, y = load_fashion_mnist(REAL_DATA_HOME, split="test", download=False)
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)


@pytest.mark.parametrize(
    "loader, directory", [(load_mnist, "``mnist/``"), (load_fashion_mnist, "``fashion-mnist/``")]
)
def test_loader_docstrings_are_filled_for_their_data_set(loader, directory):
    # The two loaders share one docstring template: each must name its own
    # sub-directory and keep the numpydoc sections and its doctest.
    doc = loader.__doc__
    assert directory in doc and "{" not in doc.replace('{"train", "test"}', "")
    assert doc.index("Parameters") < doc.index("Returns") < doc.index("Examples")
    assert f">>> from skvsc.datasets import {loader.__name__}" in doc
