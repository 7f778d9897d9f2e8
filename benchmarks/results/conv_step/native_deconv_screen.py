"""Screen of the transposed-convolution kernels on CPU (docs/images_screens.md,
"The image's transposed convolution on CPU").

Needs ``native_deconv_screen.patch`` applied to skvsc/_core/conv.py of commit
5c8e14d: it adds a module-level ``MODE`` (from the environment variable
``SCREEN_MODE``, for whole fits) that picks the variant (A: that commit's
oneDNN code; B: PyTorch's own kernel for the layer to <= 4 channels and a
channels-first decoder, which landed; C, D, G, H: the other variants of the
patch's docstring). Arguments: the variants, the repetitions and the steps per
epoch. Times the core training loop of the MLP and of one conv
model per variant (same seed), interleaved, one thread, CPU ms per step::

    SKVSC_DATA=DIR OMP_NUM_THREADS=1 python native_deconv_screen.py A,B,C,D,G,H 9 100
"""

import os
import sys
from pathlib import Path
from statistics import median

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/

import conv_step
from _common import load_data
from _loops import step_epoch

import skvsc._core.conv as conv


def main(modes, reps, n_steps, batch_size=128):
    torch.set_num_threads(1)
    X, _, _ = load_data(os.environ["SKVSC_DATA"], n_train=batch_size * n_steps)
    models = {"mlp": conv_step.setup(X, {})}
    models.update({m: conv_step.setup(X, {"network": "conv"}) for m in modes})

    def epoch(name):
        conv.MODE = name if name != "mlp" else "A"
        step_epoch(models[name], batch_size)

    epochs = {name: (lambda name=name: epoch(name)) for name in models}
    seconds = conv_step.interleaved_seconds(epochs, reps, n_steps)
    base = median(seconds["mlp"])
    for name, values in seconds.items():
        print(f"{name} {1e3 * median(values):.2f} ms  ratio {median(values) / base:.3f}")


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]))
