"""skvsc.load recognises each file kind by its whole structure, never by one byte.

A safetensors file starts with its header length (little-endian, 64 bits); a
low byte of 0x80 makes it start like a pickle. These tests cover every low byte
of that length for both backends, a committed file that starts with 0x80, and
the refusal of real pickles.
"""

import pickle
import struct
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest

import skvsc
from skvsc import _io

from .stored import assert_stored_output

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny():
    X = np.random.RandomState(0).rand(40, 6)
    est = skvsc.VariationalSparseCoder(
        n_components=3, hidden_layer_sizes=(5,), max_iter=1, random_state=0, n_threads=1
    ).fit(X)
    return est, X, est.transform(X)


def _with_header_length(data, low_byte):
    """``data`` (a safetensors file) with its JSON header padded by spaces so
    that the header length ends in ``low_byte``: still a valid file."""
    (n,) = struct.unpack("<Q", data[:8])
    new_n = n + (low_byte - n) % 256
    return struct.pack("<Q", new_n) + data[8 : 8 + n] + b" " * (new_n - n) + data[8 + n :]


def test_the_committed_file_starting_with_0x80_loads_as_saved():
    path = DATA / "vsc_header_0x80.skvsc"
    assert path.read_bytes()[:1] == b"\x80"
    expected = np.load(DATA / "header_0x80_expected.npz")
    est = skvsc.load(path)
    assert_stored_output(est.transform(expected["X"]), expected["transform"])
    assert_stored_output(est.score_samples(expected["X"]), expected["score_samples"])
    assert_stored_output(est.inverse_transform(expected["transform"]), expected["inverse"])


def test_a_conv_file_saved_at_the_former_default_channels_keeps_them():
    # Saved with conv_channels left at its first default, (16, 32): loading must
    # rebuild those channels, not the current default's (make_conv_default_fixture.py).
    expected = np.load(DATA / "conv_16_32_expected.npz")
    est = skvsc.load(DATA / "vsc_conv_16_32.skvsc")
    assert est.get_params()["conv_channels"] == (16, 32)
    assert est._run.spec.network_params["conv_channels"] == (16, 32)
    assert_stored_output(est.transform(expected["X"]), expected["transform"])
    assert_stored_output(est.inverse_transform(expected["transform"]), expected["inverse"])


def test_every_low_byte_of_the_safetensors_header_length_loads(tiny, tmp_path):
    pytest.importorskip("safetensors")
    est, X, Z = tiny
    path = tmp_path / "m.skvsc"
    skvsc.save(est, path)
    original = path.read_bytes()
    for low_byte in range(256):
        data = _with_header_length(original, low_byte)
        assert struct.unpack("<Q", data[:8])[0] % 256 == low_byte
        path.write_bytes(data)
        np.testing.assert_array_equal(skvsc.load(path).transform(X), Z)


@pytest.mark.parametrize("backend", ["safetensors", "torch"])
def test_saved_files_of_every_metadata_length_round_trip(backend, tiny, tmp_path, monkeypatch):
    """save() itself, with the stored JSON text 0 to 255 bytes longer: the
    header (safetensors) or the record (torch zip) takes every low byte."""
    if backend == "safetensors":
        pytest.importorskip("safetensors")
    else:  # save() falls back to torch.save when safetensors is missing
        monkeypatch.setitem(sys.modules, "safetensors", None)
        monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    est, X, Z = tiny
    text = _io._metadata_text
    path = tmp_path / "m.skvsc"
    lengths, first_bytes = set(), set()

    def padded(meta, pad):
        out = text(meta) + " " * pad
        lengths.add(len(out) % 256)
        return out

    for pad in range(256):
        monkeypatch.setattr(_io, "_metadata_text", lambda meta, pad=pad: padded(meta, pad))
        skvsc.save(est, path)
        first_bytes.add(path.read_bytes()[:1])
        np.testing.assert_array_equal(skvsc.load(path).transform(X), Z)
    assert len(lengths) == 256
    if backend == "safetensors":  # the writer aligns its header to 8 bytes
        assert first_bytes == {bytes([b]) for b in range(0, 256, 8)}
    else:
        assert first_bytes == {b"P"}


@pytest.mark.parametrize("writer", ["pickle", "joblib"])
def test_pickles_are_refused_with_the_joblib_hint(writer, tiny, tmp_path):
    est = tiny[0]
    path = tmp_path / "m.pkl"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        joblib.dump(est, path)
    assert path.read_bytes()[:1] == b"\x80"
    with pytest.raises(ValueError, match=r"pickle file .*joblib\.load\(path\)"):
        skvsc.load(path)


def test_other_safetensors_files_are_refused(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    import torch

    path = tmp_path / "other.safetensors"
    st.save_file({"w": torch.zeros(2)}, path, metadata={"author": "someone"})
    with pytest.raises(ValueError, match="neither a safetensors file nor a torch.save archive"):
        skvsc.load(path)


@pytest.mark.parametrize(
    "name", ["vsc_tied_images.skvsc", "vsc_tied_images.joblib", "vsc_tied_table.skvsc"]
)
def test_tied_gate_files_of_earlier_versions_load_and_train_on(name):
    # Saved with the tied gate when its encoder still held the unused third head
    # (make_tied_gate_fixtures.py): the same outputs, and training goes on from the
    # saved optimizer state.
    path = DATA / name
    with pytest.warns(skvsc.exceptions.InconsistentVersionWarning, match="state format 3"):
        est = joblib.load(path) if name.endswith(".joblib") else skvsc.load(path)
    assert est._run.model.encoder.n_heads == 2  # mu and logvar: the unused gamma rows are cut
    kind = "images" if "images" in name else "table"
    expected = np.load(DATA / "tied_gate_expected.npz")
    X = expected[kind]
    assert_stored_output(est.transform(X), expected[f"{kind}_transform"])
    assert_stored_output(est.inverse_transform(est.transform(X)), expected[f"{kind}_inverse"])
    np.testing.assert_allclose(est.score_samples(X), expected[f"{kind}_score_samples"], rtol=1e-6)
    est.partial_fit(X)
    assert np.isfinite(est.score_samples(X)).all()
    Z = expected[f"{kind}_transform"]
    assert not np.array_equal(est.inverse_transform(Z), expected[f"{kind}_inverse"])


def test_a_tied_gate_fit_starts_from_the_generator_stream_of_earlier_versions():
    # The encoder computes two heads but the initial weights of the third are
    # still drawn (build_vae): the fixtures' fit, repeated now, gives their outputs
    # (up to the float rounding of another machine).
    expected = np.load(DATA / "tied_gate_expected.npz")
    images = np.random.RandomState(0).rand(200, 64)
    est = skvsc.VariationalSparseCoder(
        n_components=20, hidden_layer_sizes=(16,), max_iter=2, random_state=0, n_threads=1
    ).fit(images)
    assert est._run.model.encoder.heads.out_features == 2 * 20
    Z = expected["images_transform"]
    np.testing.assert_allclose(est.inverse_transform(Z), expected["images_inverse"], atol=1e-5)
    np.testing.assert_allclose(est.transform(expected["images"]), Z, atol=1e-5)
    free = skvsc.VariationalSparseCoder(
        n_components=20, hidden_layer_sizes=(16,), max_iter=1, gate="free", random_state=0
    ).fit(images)
    assert free._run.model.encoder.heads.out_features == 3 * 20


@pytest.mark.parametrize("broken", ["model_config", "module_state", "optimizer_state"])
def test_a_broken_format_3_run_fails_as_the_same_run_of_format_4(broken):
    # The migration of format 3 leaves what it cannot read to the run's own checks.
    X = np.random.RandomState(0).rand(60, 64)
    est = skvsc.VariationalSparseCoder(
        n_components=20, hidden_layer_sizes=(8,), max_iter=1, random_state=0
    ).fit(X)
    errors = []
    for state_format in (3, 4):
        state = est.__getstate__()
        state["_skvsc_state_format"] = state_format
        state["fitted"]["run"][broken] = {"x": 1} if broken == "optimizer_state" else None
        new = type(est).__new__(type(est))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", skvsc.exceptions.InconsistentVersionWarning)
            with pytest.raises(Exception) as info:
                new.__setstate__(state)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]
