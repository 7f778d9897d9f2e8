"""Progress reports (verbose) and the per-epoch history they print."""

import re
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc._core.elbo import gaussian_kl
from skvsc._progress import Progress, format_epoch

X = (load_digits().data[:300] / 16.0).astype(np.float32)
FAST = dict(hidden_layer_sizes=(16,), batch_size=64, device="cpu", n_threads=1, random_state=0)
RECORD_KEYS = {"epoch", "loss", "reconstruction", "kl", "active_units", "time"}
LINE = re.compile(
    r"Epoch (\d+)/(\d+): -ELBO (\S+) \(reconstruction (\S+), KL (\S+)\), "
    r"active units/sample (\S+)(?:, validation ELBO (\S+))?, (\S+) s"
)


def vsc(**params):
    return VariationalSparseCoder(n_components=8, alpha=0.3, **{**FAST, **params})


def test_verbose_0_prints_nothing(capsys):
    vsc(max_iter=2, verbose=0).fit(X)
    vsc(max_iter=2, verbose=0).partial_fit(X)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_2_prints_the_history(capsys, early_stopping):
    est = vsc(max_iter=3, verbose=2, early_stopping=early_stopping, n_iter_no_change=50).fit(X)
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == est.n_iter_ == 3
    for line, record in zip(lines, est.history_):
        match = LINE.fullmatch(line)
        assert match, line
        epoch, total, loss, rec, kl, active, val, seconds = match.groups()
        assert (int(epoch), int(total)) == (record["epoch"], 3)
        assert float(loss) == pytest.approx(record["loss"], abs=1e-4)
        assert float(rec) == pytest.approx(record["reconstruction"], abs=1e-4)
        assert float(kl) == pytest.approx(record["kl"], abs=1e-4)
        assert float(active) == pytest.approx(record["active_units"], abs=5e-3)
        assert float(seconds) == pytest.approx(record["time"], abs=5e-3)
        if early_stopping:
            assert float(val) == pytest.approx(record["validation_score"], abs=1e-4)
        else:
            assert val is None


def test_verbose_2_warm_start_continues_the_epoch_count(capsys):
    est = vsc(max_iter=2, verbose=2, warm_start=True).fit(X)
    est.fit(X)
    epochs = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert epochs == ["Epoch 1/2", "Epoch 2/2", "Epoch 3/4", "Epoch 4/4"]


def test_verbose_1_draws_a_tqdm_bar_with_the_last_loss(capsys):
    pytest.importorskip("tqdm")
    est = vsc(max_iter=3, verbose=1).fit(X)
    out, err = capsys.readouterr()
    assert out == ""
    assert "VariationalSparseCoder" in err
    assert "3/3" in err
    assert f"-ELBO={est.loss_curve_[-1]:.4f}" in err


def test_verbose_1_without_tqdm_prints_short_lines(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    est = vsc(max_iter=2, verbose=1).fit(X)
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 2
    for line, record in zip(lines, est.history_):
        assert line.startswith(f"Epoch {record['epoch']}/2: -ELBO={record['loss']:.4f}, active=")


def test_partial_fit_prints_lines_without_total(capsys):
    est = vsc(verbose=1)
    est.partial_fit(X)
    est.partial_fit(X)
    out, err = capsys.readouterr()
    assert err == ""
    assert [line.split(":")[0] for line in out.splitlines()] == ["Epoch 1", "Epoch 2"]


@pytest.mark.parametrize("early_stopping", [False, True])
def test_history_fields(early_stopping):
    est = vsc(max_iter=2, early_stopping=early_stopping, n_iter_no_change=50).fit(X)
    keys = RECORD_KEYS | ({"validation_score"} if early_stopping else set())
    assert [set(h) for h in est.history_] == [keys, keys]
    assert [h["epoch"] for h in est.history_] == [1, 2]
    assert est.loss_curve_ == [h["loss"] for h in est.history_]
    for h in est.history_:
        assert h["loss"] == pytest.approx(h["reconstruction"] + h["kl"])
        assert h["time"] > 0
    if early_stopping:
        assert est.validation_scores_ == [h["validation_score"] for h in est.history_]
    else:
        assert est.validation_scores_ is None


def test_history_is_the_real_elbo_vae():
    """With a negligible learning rate the weights stay put, so the recorded
    epoch means are the -ELBO, KL and reconstruction of the final model."""
    est = VAETransformer(n_components=4, max_iter=1, learning_rate_init=1e-12, **FAST).fit(X)
    record = est.history_[0]
    with torch.no_grad():
        mu, logvar = est.module_.encode(torch.from_numpy(X))
        kl = gaussian_kl(mu, logvar).sum(dim=1).mean().item()
    assert record["kl"] == pytest.approx(kl, rel=1e-5)
    # One noise draw per sample against the score's fixed draws: Monte Carlo noise.
    assert record["loss"] == pytest.approx(-est.score(X), rel=0.02)
    assert record["active_units"] == 4


def test_history_active_units_are_the_code_non_zeros():
    est = vsc(max_iter=1, learning_rate_init=1e-12).fit(X)
    non_zeros = np.count_nonzero(est.transform(X), axis=1).mean()
    assert est.history_[0]["active_units"] == pytest.approx(non_zeros, rel=1e-6)
    assert est.mean_active_units_ == pytest.approx(non_zeros, rel=1e-6)


RECORD = {
    "epoch": 3,
    "loss": 101.23456,
    "reconstruction": 90.0,
    "kl": 11.23456,
    "active_units": 2.5,
    "time": 0.25,
}


def test_format_epoch():
    assert format_epoch(RECORD, 10) == (
        "Epoch 3/10: -ELBO 101.2346 (reconstruction 90.0000, KL 11.2346), "
        "active units/sample 2.50, 0.25 s"
    )
    with_val = format_epoch({**RECORD, "validation_score": -99.5})
    assert with_val.startswith("Epoch 3: ")
    assert with_val.endswith(", validation ELBO -99.5000, 0.25 s")
    assert format_epoch({**RECORD, "revived": 3}).endswith(", 3 dead units re-seeded, 0.25 s")
    assert format_epoch({**RECORD, "revived": 0}) == format_epoch(RECORD)


def test_progress_closes_its_bar_on_error():
    pytest.importorskip("tqdm")
    progress = Progress(1, 5, file=sys.stderr)
    with pytest.raises(KeyboardInterrupt), progress:
        progress(RECORD)
        assert progress._bar is not None
        raise KeyboardInterrupt
    assert progress._bar is None


def test_progress_silent(capsys):
    progress = Progress(0, 5)
    with progress:
        assert progress._bar is None
        progress(RECORD)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_output_says_why_training_stopped_early(capsys, verbose, early_stopping):
    # A tolerance no epoch can meet: the first epoch sets the best loss, the next
    # n_iter_no_change epochs fail to improve on it.
    params = dict(max_iter=20, kl_warmup=0.0, tol=1e6, n_iter_no_change=2)
    est = vsc(verbose=verbose, early_stopping=early_stopping, **params).fit(X)
    out = capsys.readouterr().out
    assert est.n_iter_ == 3
    monitored = "validation" if early_stopping else "training"
    expected = (
        f"Stopped after 3 of 20 epochs: the {monitored} -ELBO did not improve by tol=1000000.0 "
        "nats for n_iter_no_change=2 epochs after the warm-up."
    )
    assert out.splitlines()[-1] == expected
    # Silent at verbose=0, and no such line when every epoch runs.
    vsc(verbose=0, **params).fit(X)
    vsc(verbose=verbose, max_iter=3, n_iter_no_change=50).fit(X)
    assert "Stopped" not in capsys.readouterr().out
