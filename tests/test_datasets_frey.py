"""Tests for skvsc.datasets.load_frey_faces (no network access beyond 127.0.0.1)."""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from skvsc import datasets
from skvsc.datasets import DownloadError, _frey, load_frey_faces

REAL_DATA_HOME = Path(os.environ["SKVSC_DATA"]) if os.environ.get("SKVSC_DATA") else None


def fake_faces(n=6, seed=0):
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 28, 20), dtype=np.uint8)
    images[0, 0, :2] = 0, 255
    return images


def use_content_of(monkeypatch, images):
    """Make the loader's checksum the one of ``images``' IDX content."""
    digest = hashlib.sha256(_frey._idx_bytes(images)).hexdigest()
    monkeypatch.setattr(_frey, "FREY_SHA256", digest)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("SKVSC_DATA", raising=False)
    monkeypatch.delenv("SKVSC_FREY_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.parametrize("gz", [True, False])
def test_local_idx_file_loads_whichever_compressor_wrote_it(monkeypatch, tmp_path, gz):
    images = fake_faces()
    use_content_of(monkeypatch, images)
    directory = tmp_path / "frey"
    directory.mkdir()
    content = _frey._idx_bytes(images)
    path = directory / _frey.FREY_FILENAME
    path.write_bytes(gzip.compress(content, compresslevel=1) if gz else content)
    X = load_frey_faces(tmp_path, download=False)
    assert X.shape == (6, 560) and X.dtype == np.float32
    np.testing.assert_allclose(X, images.reshape(6, -1) / 255.0, rtol=1e-6)
    X8 = load_frey_faces(tmp_path, as_uint8=True, download=False)
    np.testing.assert_array_equal(X8, images.reshape(6, -1))
    np.testing.assert_array_equal(X8[0].reshape(datasets.FREY_IMAGE_SHAPE), images[0])


def test_other_content_is_refused(monkeypatch, tmp_path):
    use_content_of(monkeypatch, fake_faces(seed=1))
    (tmp_path / "frey").mkdir()
    (tmp_path / "frey" / _frey.FREY_FILENAME).write_bytes(
        gzip.compress(_frey._idx_bytes(fake_faces(seed=2)))
    )
    with pytest.raises(ValueError, match="Checksum mismatch.*not the Frey faces"):
        load_frey_faces(tmp_path, download=False)


def test_missing_file_without_download(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="(?s)frey-images-idx3-ubyte.gz.*frey_rawface.mat.*SKVSC_DATA"
    ):
        load_frey_faces(tmp_path / "empty", download=False)
    assert not (tmp_path / "empty").exists()


def test_the_original_mat_is_downloaded_and_converted(monkeypatch, tmp_path, http_server):
    served, url = http_server
    images = fake_faces(n=_frey._N_FACES)
    savemat(served / _frey.FREY_ORIGINAL, {"ff": images.reshape(len(images), -1).T})
    use_content_of(monkeypatch, images)
    monkeypatch.setitem(datasets.BASE_URLS, "frey", (url,))
    X = load_frey_faces(tmp_path, as_uint8=True, progress=False)
    np.testing.assert_array_equal(X, images.reshape(len(images), -1))
    assert sorted(os.listdir(tmp_path / "frey")) == [_frey.FREY_FILENAME, _frey.FREY_ORIGINAL]
    # The converted file is used from now on; the server is not needed.
    monkeypatch.setitem(datasets.BASE_URLS, "frey", ())
    (tmp_path / "frey" / _frey.FREY_ORIGINAL).unlink()
    np.testing.assert_array_equal(load_frey_faces(tmp_path, as_uint8=True), X)


def test_a_mat_of_other_faces_is_refused_and_nothing_is_written(tmp_path):
    (tmp_path / "frey").mkdir()
    images = fake_faces(n=_frey._N_FACES)
    savemat(tmp_path / "frey" / _frey.FREY_ORIGINAL, {"ff": images.reshape(len(images), -1).T})
    with pytest.raises(ValueError, match="not the original Frey faces"):
        load_frey_faces(tmp_path)
    assert os.listdir(tmp_path / "frey") == [_frey.FREY_ORIGINAL]


def test_download_failure_names_the_folder(monkeypatch, tmp_path, http_server):
    _, url = http_server  # serves nothing: 404
    monkeypatch.setitem(datasets.BASE_URLS, "frey", (url,))
    with pytest.raises(DownloadError, match="(?s)404.*frey-images-idx3-ubyte.gz.*frey_rawface.mat"):
        load_frey_faces(tmp_path, progress=False)


@pytest.mark.skipif(
    REAL_DATA_HOME is None or not (REAL_DATA_HOME / "frey" / _frey.FREY_FILENAME).is_file(),
    reason="real Frey faces not found: set SKVSC_DATA to a folder with frey/",
)
def test_real_frey_faces():
    X = load_frey_faces(REAL_DATA_HOME, download=False, as_uint8=True)
    assert X.shape == (1965, 560) and X.dtype == np.uint8
