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

#: name: (file, old text, new text, pytest node ids)
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
        "skvsc/_core/networks.py",
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
