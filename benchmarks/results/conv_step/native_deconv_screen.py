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
import time
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

    def epoch_ms(name):
        conv.MODE = name if name != "mlp" else "A"
        start = time.process_time()
        step_epoch(models[name], batch_size)
        return (time.process_time() - start) / n_steps * 1e3

    names = list(models)
    for name in names:  # warm-up
        epoch_ms(name)
    times = {name: [] for name in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            times[name].append(epoch_ms(name))
    base = median(times["mlp"])
    for name, values in times.items():
        print(f"{name} {median(values):.2f} ms  ratio {median(values) / base:.3f}")


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]))
