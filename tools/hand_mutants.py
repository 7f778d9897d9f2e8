"""Re-run the hand-made mutation audit: each mutant must fail its direct test.

Each entry names a plausible bug (one text replacement in ``skvsc/``) and the
tests meant to catch it. For every entry the script copies ``skvsc/``,
``tests/`` and the pytest configuration into a temporary directory, applies the
replacement there (the working tree is never touched), runs the tests and
reports whether they failed (the mutant is killed). An opt-in job, not part of
the default test run::

    python tools/hand_mutants.py            # every mutant
    python tools/hand_mutants.py revive     # those whose name contains "revive"

Exits 1 when a mutant survives or a replacement no longer applies (the code
moved: update the entry).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name: (file, old text, new text, pytest arguments)
MUTANTS = {
    "early stopping compares with the last loss": (
        "skvsc/_core/train.py",
        "if loss < self.best_loss - self.tol:",
        "last, self._last = getattr(self, '_last', math.inf), loss\n"
        "        if loss < last - self.tol:",
        ["tests/core/test_train.py::test_early_stopping_compares_with_the_best_loss_not_the_last"],
    ),
    "revival copies the moments from the dead unit to the donor": (
        "skvsc/_core/revive.py",
        "dst, src = index_pairs",
        "src, dst = index_pairs",
        [
            "tests/core/test_revive.py::"
            "test_split_gives_the_dead_unit_the_donors_moments_and_keeps_the_donors"
        ],
    ),
    "sparse duplicates not summed": (
        "skvsc/_core/data.py",
        "X.sum_duplicates()",
        "pass",
        ["tests/core/test_data.py::test_csr_source_sums_duplicate_entries"],
    ),
    "decoder hidden sizes not mirrored": (
        "skvsc/_core/blocks.py",
        "sizes = [n_components, *reversed(hidden_layer_sizes)]",
        "sizes = [n_components, *hidden_layer_sizes]",
        ["tests/core/test_networks.py::test_the_decoder_mirrors_the_encoder_hidden_sizes"],
    ),
    "epoch statistics keep their graph": (
        "skvsc/_core/vae.py",
        "stats = torch.stack([nll.sum(), terms.kl.sum(), n_active]).detach()",
        "stats = torch.stack([nll.sum(), terms.kl.sum(), n_active])",
        ["tests/core/test_train.py::test_epoch_statistics_carry_no_autograd_graph"],
    ),
    "tol check removed": (
        "skvsc/_params.py",
        'check_real("tol", est.tol, 0)',
        "pass",
        ["tests/test_param_validation.py", "-k", "tol"],
    ),
    "n_iter_no_change check removed": (
        "skvsc/_params.py",
        'check_int("n_iter_no_change", est.n_iter_no_change, 1)',
        "pass",
        ["tests/test_param_validation.py", "-k", "n_iter_no_change"],
    ),
    "early_stopping check removed": (
        "skvsc/_params.py",
        'check_bool("early_stopping", est.early_stopping)',
        "pass",
        ["tests/test_param_validation.py", "-k", "early_stopping"],
    ),
    "warm_start check removed": (
        "skvsc/_params.py",
        'check_bool("warm_start", est.warm_start)',
        "pass",
        ["tests/test_param_validation.py", "-k", "warm_start"],
    ),
    "n_threads check removed": (
        "skvsc/_params.py",
        'check_int("n_threads", est.n_threads, 1)',
        "pass",
        ["tests/test_param_validation.py", "-k", "n_threads and not inference"],
    ),
    "verbose check removed": (
        "skvsc/_params.py",
        'check_int("verbose", est.verbose, 0)',
        "pass",
        ["tests/test_param_validation.py", "-k", "verbose"],
    ),
    "usage_weight check removed": (
        "skvsc/_vsc.py",
        '_params.check_real("usage_weight", self.usage_weight, 0, finite=True)',
        "pass",
        ["tests/test_param_validation.py", "-k", "usage_weight"],
    ),
    "spike_pretrain check removed": (
        "skvsc/_vsc.py",
        '_params.check_real("spike_pretrain", self.spike_pretrain, 0, 0.5)',
        "pass",
        ["tests/test_param_validation.py", "-k", "spike_pretrain"],
    ),
    "fit does not pass its workload to the thread rule": (
        "skvsc/_base.py",
        "with torch_threads(self.n_threads, work=work), progress:",
        "with torch_threads(self.n_threads), progress:",
        [
            "tests/test_estimator_contracts.py::"
            "test_fit_gives_the_thread_rule_the_flops_of_a_training_step"
        ],
    ),
    "format-1 modules default to usage='balance'": (
        "skvsc/_compat_v1.py",
        'config.pop("usage", "prior")',
        'config.pop("usage", "balance")',
        ["tests/test_state_migration.py", "-k", "before_a_model_parameter"],
    ),
    "the float32 range check ignores large negative values": (
        "skvsc/_data_checks.py",
        "if max(-low, high) > MAX_ABS_X:",
        "if high > MAX_ABS_X:",
        ["tests/test_bad_input.py", "-k", "large_negative"],
    ),
    "score sums instead of averaging": (
        "skvsc/_inference.py",
        "return float(np.mean(self.score_samples(X)))",
        "return float(np.sum(self.score_samples(X)))",
        ["tests/test_estimator_contracts.py::test_score_is_the_mean_elbo_per_sample"],
    ),
    "the checksum does not cover tensor names, dtypes and shapes": (
        "skvsc/_io.py",
        'h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())',
        "pass",
        ["tests/test_persistence.py", "-k", "checksum_covers"],
    ),
    "the usage penalty is dropped from the loss": (
        "skvsc/_core/vae.py",
        "loss = loss + terms.penalty",
        "loss = loss",
        ["tests/core/test_vae.py", "-k", "usage_penalty_is_added"],
    ),
    "the usage weight does not reach the schedule": (
        "skvsc/_vsc.py",
        '"usage_weight": float(self.usage_weight),',
        '"usage_weight": 0.0,',
        ["tests/test_estimator_contracts.py", "-k", "usage_penalty_shapes"],
    ),
    "revival copies only the first moment (found by mutmut)": (
        "skvsc/_core/revive.py",
        'for key in ("exp_avg", "exp_avg_sq"):',
        'for key in ("exp_avg",):',
        ["tests/core/test_revive.py", "-k", "donors_moments"],
    ),
    "revival before the first step (found by mutmut)": (
        "skvsc/_core/revive.py",
        "state = optimizer.state.get(param, {})",
        "state = optimizer.state.get(param)",
        ["tests/core/test_revive.py", "-k", "before_the_first_step"],
    ),
    "loading an optimizer state drops betas (found by mutmut)": (
        "skvsc/_core/optim.py",
        'lr=group["lr"], betas=tuple(group["betas"]), eps=group["eps"]',
        'lr=group["lr"], eps=group["eps"]',
        ["tests/core/test_optim.py", "-k", "every_group_setting"],
    ),
    "loaded moments alias the saved state (found by mutmut)": (
        "skvsc/_core/optim.py",
        '"exp_avg_sq": saved["exp_avg_sq"].to(param.device, param.dtype, copy=True)',
        '"exp_avg_sq": saved["exp_avg_sq"].to(param.device, param.dtype)',
        ["tests/core/test_optim.py", "-k", "every_group_setting"],
    ),
    "map_batches ignores batch_size (found by mutmut)": (
        "skvsc/_core/data.py",
        "for start in range(0, n, batch_size):\n        result",
        "for start in range(0, n):\n        result",
        ["tests/core/test_data.py", "-k", "map_batches_calls"],
    ),
    "the straight-through gate opens at the threshold (found by mutmut)": (
        "skvsc/_core/elbo.py",
        "hard = (gamma > threshold).to(gamma.dtype)",
        "hard = (gamma >= threshold).to(gamma.dtype)",
        ["tests/core/test_elbo.py", "-k", "strict_at"],
    ),
    "the aggregate prior drops the usage penalty (found by mutmut)": (
        "skvsc/_core/latents.py",
        "usage = super().regularizer(posterior, values, soft)",
        "usage = None",
        ["tests/core/test_latents.py", "-k", "aggregate_regularizer"],
    ),
}


def run(name, file, old, new, tests):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for part in ("skvsc", "tests"):
            shutil.copytree(ROOT / part, tmp / part, ignore=shutil.ignore_patterns("__pycache__"))
        for part in ("conftest.py", "pyproject.toml", "setup.cfg"):
            shutil.copy(ROOT / part, tmp / part)
        path = tmp / file
        text = path.read_text()
        if text.count(old) != 1:
            return "does not apply"
        path.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(tmp), "OMP_NUM_THREADS": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        # 1: tests failed; other codes (collection errors, say) mean a broken entry.
        return {0: "SURVIVED", 1: "killed"}.get(result.returncode, f"error {result.returncode}")


def main(pattern=""):
    bad = 0
    for name, entry in MUTANTS.items():
        if pattern in name:
            outcome = run(name, *entry)
            bad += outcome != "killed"
            print(f"{outcome:15} {name}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
