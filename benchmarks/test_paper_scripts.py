"""Every paper script runs on tiny data (``--dataset digits``: scikit-learn's
digits scaled to 28 x 28), so that none rots unnoticed; the figures are
meaningless, the check is that each runs to the end and writes what it says."""

import json
import os
from pathlib import Path

import numpy as np
import pytest


def test_sparse_baselines(run, tmp_path):
    out, png = tmp_path / "rows.jsonl", tmp_path / "figure.png"
    run(
        "paper/sparse_baselines.py",
        "--datasets digits --methods topk batchtopk jumprelu omp vsc pixels --k 2 "
        "--n-components 16 --epochs 1 --n-train 200 --omp-params '{\"max_iter\": 1}' "
        '--method-params-k \'{"jumprelu": {"2": {"l0_coef": 2.0}}}\'',
        out=out,
    )
    rows = run.rows(out)
    assert {r["method"] for r in rows} == {
        "TopK autoencoder",
        "BatchTopK autoencoder",
        "JumpReLU autoencoder",
        "MiniBatchDictionaryLearning (OMP)",
        "VSC (sparse code)",
        "raw pixels",
    }
    topk = next(r for r in rows if r["method"] == "TopK autoencoder")
    assert topk["active_per_sample"] <= 2
    jumprelu = next(r for r in rows if r["method"] == "JumpReLU autoencoder")
    assert jumprelu["params"]["l0_coef"] == 2.0 and "k" not in jumprelu["params"]
    assert "tuned_acc" not in topk  # only with --tuned
    tuned = tmp_path / "tuned.jsonl"
    args = "--datasets digits --methods topk --k 2 --n-components 16 --epochs 1 --n-train 200"
    run("paper/sparse_baselines.py", args + " --tuned", out=tuned)
    (row,) = run.rows(tuned)
    assert row["acc"] == topk["acc"] and 0 <= row["tuned_acc"] <= 1 and row["tuned_C"] > 0
    run(
        "paper/sparse_baselines.py",
        "--datasets digits",
        from_jsonl=out,
        figure=png,
    )
    assert png.stat().st_size > 0


def frontier_table(run, tmp_path, capsys, rows):
    """The lines ``sparse_baselines.py --frontier-table`` prints for ``rows``
    (its figure written and checked too)."""
    out, png = tmp_path / "rows.jsonl", tmp_path / "figure.png"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(
        "paper/sparse_baselines.py", "--datasets mnist --frontier-table", from_jsonl=out, figure=png
    )
    assert png.stat().st_size > 0
    return capsys.readouterr().out.splitlines()


def test_sparse_baselines_frontier_table(run, tmp_path, capsys):
    # mean ± sd over the seeds of each cell, the seeds counted; bold: the best code meant
    # to keep at most k units (never the VSC's own, larger code)
    row = {"what": "sparse_baselines", "dataset": "mnist", "split": "test", "k": 5}
    row.update(active_per_sample=5.0, nonzero=0.025, dead=0, empty_codes=0.0, fit_s=1.0)
    rows = [
        {**row, "label": "TopK autoencoder", "seed": 0, "acc": 0.90},
        {**row, "label": "TopK autoencoder", "seed": 1, "acc": 0.92},
        {
            **row,
            "label": "VSC alpha=k/J, ≤ k",
            "seed": 0,
            "acc": 0.915,
            "dead": 2,
            "active_per_sample": 4.9,
        },
        {**row, "label": "VSC (sparse code)", "seed": 0, "acc": 0.95, "active_per_sample": 9.0},
    ]
    lines = frontier_table(run, tmp_path, capsys, rows)
    start = lines.index("| k | TopK | VSC ≤ k | VSC own code |")
    assert lines[start + 2] == (
        "| 5 | 91.00 % ± 1.41 (2 seeds), 5.0, 0 | **91.50 % (seed 0), 4.9, 2** | "
        "95.00 % (seed 0), 9.0, 0 |"
    )


def test_sparse_baselines_frontier_table_widths(run, tmp_path, capsys):
    # codes of different widths J are never averaged together: one column per width
    # where a method has several (the narrowest first), its own bold
    row = {"what": "sparse_baselines", "dataset": "mnist", "split": "test", "k": 10}
    row.update(active_per_sample=9.5, nonzero=0.02, dead=0, empty_codes=0.0, fit_s=1.0)
    vsc = {**row, "label": "VSC alpha=k/J, ≤ k"}
    rows = [
        {**row, "label": "TopK autoencoder", "seed": 0, "acc": 0.92, "n_components": 200},
        {**vsc, "seed": 0, "acc": 0.94, "n_components": 400, "dead": 4},
        {**vsc, "seed": 0, "acc": 0.93, "n_components": 200},
        {**vsc, "seed": 1, "acc": 0.95, "n_components": 400, "dead": 6},
    ]
    lines = frontier_table(run, tmp_path, capsys, rows)
    start = lines.index("| k | TopK | VSC ≤ k, J = 200 | VSC ≤ k, J = 400 |")
    assert lines[start + 2] == (
        "| 10 | 92.00 % (seed 0), 9.5, 0 | 93.00 % (seed 0), 9.5, 0 | "
        "**94.50 % ± 0.71 (2 seeds), 9.5, 5** |"
    )


def test_sparse_baselines_budget_after_fitting(run, tmp_path):
    # one VSC fit at --truncate-alpha serves every k (shared with the vsc fit of the same
    # alpha through the cache); --vsc-cap scores each per-k fit with at most k non-zeros
    out, cache = tmp_path / "rows.jsonl", tmp_path / "cache"
    common = "--datasets digits --n-components 16 --epochs 1 --n-train 200 --k 2 4 "
    run(
        "paper/sparse_baselines.py",
        common + f"--methods vsc_truncated --truncate-alpha 0.25 --cache {cache}",
        out=out,
    )
    run("paper/sparse_baselines.py", common + f"--methods vsc --vsc-cap --cache {cache}", out=out)
    rows = run.rows(out)
    truncated = [r for r in rows if r["method"] == "VSC, one fit truncated to k"]
    assert [r["k"] for r in truncated] == [2, 4]
    assert {r["params"]["alpha"] for r in truncated} == {0.25}
    assert all(r["active_per_sample"] <= r["k"] for r in truncated)
    assert not any(r["fit_from_cache"] for r in truncated)  # one fit for both k
    capped = [r for r in rows if r["label"] == "VSC alpha=k/J, ≤ k"]
    assert [r["transform_n_nonzero_coefs"] for r in capped] == [2, 4]
    assert all(r["active_per_sample"] <= r["k"] for r in capped)
    plain = [r for r in rows if r["label"] == "VSC (sparse code)"]
    assert [r["params"]["alpha"] for r in plain] == [2 / 16, 4 / 16]
    assert plain[1]["fit_from_cache"]  # alpha = 4/16 = 0.25 was the truncated run's fit
    assert "transform_n_nonzero_coefs" not in plain[0]
    # a trained short code (fit_n_nonzero_coefs) gets its own label, still a truncation
    run(
        "paper/sparse_baselines.py",
        common + f"--methods vsc_truncated --truncate-alpha 0.25 --cache {cache} "
        "--vsc-params '{\"fit_n_nonzero_coefs\": 2}' --label 'VSC + short code'",
        out=out,
    )
    short = [r for r in run.rows(out) if r["label"] == "VSC + short code"]
    assert [r["k"] for r in short] == [2, 4]
    assert {r["method"] for r in short} == {"VSC, one fit truncated to k"}
    assert all(r["params"]["fit_n_nonzero_coefs"] == 2 for r in short)
    assert not any(r["fit_from_cache"] for r in short)  # another model than the plain fit


def test_truncation_rank(run, tmp_path):
    out = tmp_path / "rank.jsonl"
    run(
        "paper/truncation_rank.py",
        "--dataset digits --n-components 16 --alpha 0.25 --k 2 --n-train 300 --eval holdout",
        out=out,
    )
    rows = run.rows(out)
    assert [r["ranking"] for r in rows] == ["gamma", "magnitude", "magnitude_x_weight"]
    assert rows[1]["same_units_as_estimator"]  # magnitude: the estimator's rule
    assert all(r["active_per_sample"] <= 2 for r in rows)


def test_default_codes(run, tmp_path):
    out = tmp_path / "codes.jsonl"
    run(
        "paper/default_codes.py",
        'digits \'{"max_iter": 1, "n_components": 16}\' smoke --n-train 200',
        out=out,
    )
    (row,) = run.rows(out)
    assert row["tag"] == "smoke" and row["epochs"] == 1 and 0 <= row["accuracy"] <= 1


def test_budget_screen(run, tmp_path):
    out = tmp_path / "budget.jsonl"
    run(
        "paper/budget_screen.py",
        "--dataset digits --n-fit 150 --n-val 50 --max-iters 1,2 --params '{\"n_components\": 8}'",
        out=out,
    )
    assert [r["epochs"] for r in run.rows(out)] == [1, 2]


def test_screen_defaults(run, tmp_path):
    out = tmp_path / "screen.jsonl"
    run(
        "paper/screen_defaults.py",
        "--dataset digits --n-train 240 --epochs 1 --n-components 8 --config '{\"alpha\": 0.2}'",
        out=out,
    )
    (row,) = run.rows(out)
    assert row["epochs"] == 1 and 0 <= row["acc_code"] <= 1


def test_classify_vs_j(run, tmp_path):
    out = tmp_path / "classify.jsonl"
    run(
        "paper/classify_vs_j.py",
        "--datasets digits --n-components 8 --epochs 1 --seeds 0 "
        "--no-all-labels --baseline-epochs 1 --n-train 200",
        out=out,
    )
    assert run.rows(out)


def test_elbo_vs_j(run, tmp_path):
    out = tmp_path / "elbo.jsonl"
    run(
        "paper/elbo_vs_j.py",
        "--datasets digits --n-components 8 --epochs 1 --n-train 200",
        out=out,
    )
    assert run.rows(out)


def test_sparsity_vs_alpha(run, tmp_path):
    out = tmp_path / "sparsity.jsonl"
    run(
        "paper/sparsity_vs_alpha.py",
        "--datasets digits --alphas 0.2 --n-components 8 --epochs 1 --n-train 200",
        out=out,
    )
    assert run.rows(out)


def test_figures(run, tmp_path):
    run(
        "paper/figures.py",
        "--datasets digits --n-components 16 --epochs 1 --n-train 200",
        fig_dir=tmp_path / "figs",
    )
    assert list((tmp_path / "figs").glob("*.png"))


@pytest.mark.slow
def test_alpha_law(run, tmp_path):
    out = tmp_path / "alpha.jsonl"
    run(
        "paper/alpha_law.py",
        "--alpha 0.2 --n-components 8",
        out=out,
    )
    (row,) = run.rows(out)
    assert 0 <= row["nonzero"] <= 1


@pytest.mark.slow
def test_frey_faces(run, tmp_path):
    data = os.environ.get("SKVSC_DATA")
    if not data or not (Path(data) / "frey" / "frey-images-idx3-ubyte.gz").exists():
        pytest.skip("needs the Frey faces in $SKVSC_DATA/frey (load_frey_faces)")
    out = tmp_path / "frey.jsonl"
    run(
        "frey_faces.py",
        "--ks 2 --n-components 8 --dict-size 8 --max-iter 1 --networks mlp conv --n-train 200",
        data_dir=data,
        out=out,
    )
    methods = {r["method"].split(" ")[0] for r in run.rows(out)}
    assert methods == {"PCA", "OMP", "VSC-mlp", "VSC-conv"}


def test_conv_codes(run, tmp_path):
    out = tmp_path / "conv.jsonl"
    net = '"network": "conv", "conv_channels": [4, 8], "max_iter": 1, "n_components": 16'
    args = f"digits vsc '{{{net}}}' smoke --n-train 200 --validation --caps 3"
    run("paper/conv_codes.py", args, out=out, cache=tmp_path / "cache")
    rows = run.rows(out)
    assert [r["cap"] for r in rows] == [None, 3] and rows[1]["active_per_sample"] <= 3
    assert rows[0]["evaluated_on"] == "validation" and rows[0]["n_fit"] == 160
    topk = f"digits topk '{{{net}, \"k\": 2}}' smoke --n-train 200 --tuned"
    run("paper/conv_codes.py", topk, out=out)
    row = run.rows(out)[-1]
    assert row["active_per_sample"] <= 2 and 0 <= row["tuned_accuracy"] <= 1
    assert "tuned_C" not in rows[0]  # only with --tuned


def test_tuned_classifier_reads_a_unit_that_the_fixed_one_underweights(monkeypatch):
    # One informative unit on a scale of 1e-3: LogisticRegression(C=1) cannot give it the
    # weight it needs, the CV-chosen max-abs scaling (or a large C) can.
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "paper"))
    from _protocol import TUNED_C, logreg_accuracy, tuned_logreg_accuracy

    rng = np.random.RandomState(0)
    y = rng.randint(2, size=600)
    Z = np.c_[1e-3 * (2 * y - 1 + 0.5 * rng.randn(600)), rng.randn(600, 3)]
    fixed = logreg_accuracy(Z[:400], y[:400], Z[400:], y[400:])
    tuned, choice = tuned_logreg_accuracy(Z[:400], y[:400], Z[400:], y[400:])
    assert fixed < 0.7 < 0.9 < tuned
    assert choice["scaled"] and choice["C"] in TUNED_C and 0.9 < choice["cv_accuracy"] <= 1


def test_robustness_j(run, tmp_path):
    out, cache = tmp_path / "robust.jsonl", tmp_path / "cache"
    args = "--dataset digits --j 8 4 --max-iter 1 --n-train 200 --threads 1"
    run("paper/robustness_j.py", args + " --estimators vsc", out=out, cache=cache)
    rows = run.rows(out)
    assert [(r["estimator"], r["J"]) for r in rows] == [("vsc", 8), ("vsc", 4)]
    assert all(0 <= r["accuracy"] <= 1 and r["dead"] + r["alive"] == r["J"] for r in rows)
    assert all(r["active_per_sample"] <= r["J"] for r in rows)
    # resumed: the rows already in --out are skipped, only the VAE's are added
    run("paper/robustness_j.py", args + " --estimators vsc vae", out=out, cache=cache)
    rows = run.rows(out)
    assert [(r["estimator"], r["J"]) for r in rows][2:] == [("vae", 8), ("vae", 4)]
    assert all(r["active_per_sample"] == r["J"] for r in rows[2:])  # a dense code
    assert len(list(cache.glob("*.pkl"))) == 4


def test_robustness_j_table(run, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    row = {"dataset": "mnist", "J": 16, "dead": 1, "inactive": 2, "active_per_sample": 3.0}
    rows = [
        {**row, "estimator": "vsc", "seed": 0, "accuracy": 0.90},
        {**row, "estimator": "vsc", "seed": 1, "accuracy": 0.92},
        {**row, "estimator": "vae", "seed": 0, "accuracy": 0.80, "J": 32},
    ]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run("paper/robustness_j.py", "--table --dataset mnist", out=out)
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "| 16 | 91.00 % ± 1.41 (2 seeds), 3.0, 1, 2 | — |"
    assert lines[3] == "| 32 | — | 80.00 % (1 seed), 3.0, 1, 2 |"


def test_robustness_j_table_columns(run, tmp_path, capsys):
    # --column: labelled columns from several files (the new default's VSC rows next to
    # the former default's and the VAE's), each file's rows of one estimator
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    row = {"dataset": "mnist", "J": 64, "seed": 0, "dead": 0, "inactive": 1}
    new.write_text(
        json.dumps({**row, "estimator": "vsc", "accuracy": 0.95, "active_per_sample": 9.0})
    )
    rows = [
        {**row, "estimator": "vsc", "accuracy": 0.90, "active_per_sample": 8.0},
        {**row, "estimator": "vae", "accuracy": 0.89, "active_per_sample": 64.0, "J": 16},
        {
            **row,
            "estimator": "vsc",
            "accuracy": 0.50,
            "active_per_sample": 1.0,
            "dataset": "fashion",
        },
    ]
    old.write_text("".join(json.dumps(r) + "\n" for r in rows))
    columns = f"--column 'VSC, new={new}:vsc' --column 'VSC, old={old}:vsc' --column VAE={old}:vae"
    run("paper/robustness_j.py", f"--table --dataset mnist {columns}")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| J | VSC, new: accuracy, non-zeros, dead, inactive | VSC, old: ")
    assert lines[2] == "| 16 | — | — | 89.00 % (1 seed), 64.0, 0, 1 |"
    assert lines[3] == "| 64 | 95.00 % (1 seed), 9.0, 0, 1 | 90.00 % (1 seed), 8.0, 0, 1 | — |"
    assert len(lines) == 4  # the Fashion-MNIST row is another table's
    with pytest.raises(ValueError, match="LABEL=PATH:vsc"):
        run("paper/robustness_j.py", f"--table --column VSC={old}:pca")


def test_alpha_tightness(run, tmp_path):
    out = tmp_path / "tightness.jsonl"
    run(
        "paper/alpha_tightness.py",
        "--dataset digits --n-components 8 --alphas 0.25 --max-iter 1 --n-train 240 "
        "--variants default x4_nousage dual rc rc_tfloor rc_nofloor",
        out=out,
    )
    rows = run.rows(out)
    variants = ["default", "x4_nousage", "dual", "rc", "rc_tfloor", "rc_nofloor"]
    assert [r["variant"] for r in rows] == variants
    assert all(r["epochs"] == 1 and 0 <= r["empty_codes"] <= 1 for r in rows)
    assert rows[0]["nonzero_over_alpha"] == pytest.approx(rows[0]["nonzero"] / 0.25)
    assert [r["floor"] for r in rows[3:]] == ["both", "transform", "none"]
    assert all(r["empty_codes"] == 0 for r in rows[:5])  # floored
    assert "lambda_range" in rows[3] and "lambda_range" not in rows[0]
    for bad in ("x4usage", "signed_floorx"):
        with pytest.raises(ValueError, match="unknown variant"):
            run("paper/alpha_tightness.py", f"--dataset digits --variants {bad}", out=out)


def test_slab_kl_screen(run, tmp_path):
    out = tmp_path / "slab_kl.jsonl"
    run(
        "paper/slab_kl_screen.py",
        "--dataset digits --n-components 8 --alpha 0.25 --weights 0.01 0.1 --max-iter 1 "
        "--n-train 240",
        out=out,
    )
    rows = run.rows(out)
    assert [r["slab_kl_weight"] for r in rows] == [0.01, 0.1]
    assert all(r["epochs"] == 1 and 0 <= r["accuracy"] <= 1 for r in rows)


def test_alpha_tightness_signed_and_floor(run, tmp_path):
    out = tmp_path / "tightness.jsonl"
    run(
        "paper/alpha_tightness.py",
        "--dataset digits --n-components 8 --alphas 0.25 --max-iter 1 --n-train 240 "
        "--variants signed signedshared_margin --floor-weight 2",
        out=out,
    )
    rows = run.rows(out)
    assert [r["variant"] for r in rows] == ["signed", "signedshared_margin"]
    assert "floor_weight" not in rows[0] and rows[1]["floor_weight"] == 2.0
    assert all(len(r["lambda_range"]) == 2 for r in rows)


def test_alpha_tightness_parts(monkeypatch):
    """The variant grammar, the dual step (clamped or signed) and the floor term
    against hand computations."""
    import runpy
    from types import SimpleNamespace

    import torch

    paper = Path(__file__).resolve().parent / "paper"
    monkeypatch.syspath_prepend(str(paper))
    at = SimpleNamespace(**runpy.run_path(str(paper / "alpha_tightness.py"), run_name="at"))

    assert at.parse_variant("signedglobal_floor") == at.Variant(
        dual="global", signed=True, floor="floor"
    )
    assert at.parse_variant("signedshared_margin") == at.Variant(
        dual="shared", signed=True, floor="margin"
    )
    assert at.parse_variant("x4_nousage") == at.Variant(4.0, 0.0)
    assert at.parse_variant("dual") == at.Variant(dual="unit")
    lam, rate = torch.tensor([0.2, 0.01]), torch.tensor([0.05, 0.0])
    # 0.2 + 2 (0.05 - 0.1) = 0.1; 0.01 + 2 (0 - 0.1) = -0.19, clamped unless signed
    assert torch.allclose(at.dual_step(lam, rate, 0.1, 2.0, True), torch.tensor([0.1, -0.19]))
    assert torch.allclose(at.dual_step(lam, rate, 0.1, 2.0, False), torch.tensor([0.1, 0.0]))
    gamma = torch.tensor([[0.2, 0.4], [0.9, 0.1], [0.3, 0.25]])
    spikes = (gamma > 0.5).float()
    # rows 0 and 2 are empty: (-log 0.4 - log 0.3) / 3
    expected = -(torch.log(torch.tensor(0.4)) + torch.log(torch.tensor(0.3))) / 3
    assert torch.allclose(at.floor_term(gamma, spikes), expected)
    every = -(torch.log(torch.tensor([0.4, 0.9, 0.3]))).mean()
    assert torch.allclose(at.floor_term(gamma, spikes, every=True), every)
    # margin 0.35: of the tops 0.4, 0.9, 0.3 only row 2's is below it
    low = -torch.log(torch.tensor(0.3)) / 3
    assert torch.allclose(at.floor_term(gamma, spikes, margin=0.35), low)


def test_frontier_figure_draws_todays_default_as_vsc(tmp_path, monkeypatch):
    # Today's default's rows get VSC's colour, not the next colour of the cycle
    # (which is TopK's or BatchTopK's), and the legend fits in the saved image.
    import sys

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "paper"))
    sys.modules.pop("_frontier", None)
    import _frontier

    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)
    rows = [
        dict(
            split="test",
            dataset="mnist",
            label=label,
            k=k,
            n_components=200,
            active_per_sample=k,
            acc=0.9,
            acc_sd=0.0,
        )
        for label in (
            _frontier.TODAY,
            f"{_frontier.TODAY}, ≤ k",
            _frontier.TODAY_TRUNCATED,
            "TopK autoencoder",
            "BatchTopK autoencoder",
        )
        for k in (5, 10)
    ]
    _frontier.figure(rows, {}, tmp_path / "f.png", "test")
    (ax,) = drawn[0].axes
    colours = {c.get_label(): c.lines[0].get_color() for c in ax.containers}
    vsc = {colours[label] for label in colours if label.startswith(("VSC", _frontier.TODAY))}
    assert vsc == {"C3"}
    assert colours["TopK autoencoder"] == "C0" and colours["BatchTopK autoencoder"] == "C1"


def test_cache_keys_say_which_defaults_a_fit_used(monkeypatch):
    # VSC fits that leave the gate or the controller to "auto" are keyed apart from
    # those fitted with the former defaults; a short code with no weight given gets
    # today's default weight, so a fit of the former 0.25 is not reused for it.
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "paper"))
    from _protocol import with_defaults_tag

    assert with_defaults_tag({"alpha": 0.05}, "vsc") == {"alpha": 0.05, "defaults": "tied"}
    explicit = {"gate": "free", "rate_control": 0.0}
    assert with_defaults_tag(explicit, "vsc") == explicit
    assert with_defaults_tag({"alpha": 0.05}, "vae") == {"alpha": 0.05}
    short = with_defaults_tag({**explicit, "fit_n_nonzero_coefs": 5}, "vsc")
    assert short == {**explicit, "fit_n_nonzero_coefs": 5, "fit_n_nonzero_weight": 1.0}
    weighted = {**explicit, "fit_n_nonzero_coefs": 5, "fit_n_nonzero_weight": 0.25}
    assert with_defaults_tag(weighted, "vsc") == weighted
