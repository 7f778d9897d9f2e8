"""Shared helpers of the benchmark scripts: data, clocks, the matmul roofline, output.

Importing this module puts the checkout it lives in first on ``sys.path``, so that
the scripts measure this checkout's skvsc, not whichever one is installed.
"""

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import skvsc  # noqa: E402
from skvsc.datasets import get_data_home, load_fashion_mnist, load_mnist  # noqa: E402

#: Where skvsc and the torch loops run (``--device``, :func:`set_device`); scikit-learn
#: always runs on the CPU.
DEVICE = torch.device("cpu")
TARGET_NEG_ELBO = 111.6  # reproduction: MNIST, VSC alpha=0.5, J=24 (docs/results.md)
HIDDEN = 400
N_COMPONENTS = 200
MATMUL_N = 2048  # ``--matmul-n``


def set_device(name):
    global DEVICE
    DEVICE = torch.device(name)
    return DEVICE


# -- data ------------------------------------------------------------------------------
def load_digits28(split="train"):
    """scikit-learn's 8 x 8 digits scaled to 28 x 28 (nearest neighbour), in [0, 1]:
    MNIST-shaped data for smoke runs that need no download (1,500 train, 297 test)."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    index = np.arange(28) * 8 // 28
    X = (X.reshape(-1, 8, 8)[:, index][:, :, index] / 16.0).reshape(-1, 784)
    X, y = X.astype(np.float32), y.astype(np.int64)
    return (X[:1500], y[:1500]) if split == "train" else (X[1500:], y[1500:])


LOADERS = {
    "mnist": load_mnist,
    "fashion": load_fashion_mnist,
    "digits": lambda directory, split="train", **kwargs: load_digits28(split),
}


def load_split(dataset, directory, split="train", n=None):
    """Images in [0, 1] and labels of a split of ``dataset`` (the first ``n`` with ``n``)."""
    X, y = LOADERS[dataset](directory, split=split, download=False, progress=False)
    return X[:n], y[:n]


def data_dir(arg):
    """The data home (``--data-dir``, else ``$SKVSC_DATA``, else skvsc's cache) when it
    holds MNIST, else None."""
    candidate = Path(get_data_home(arg))
    if (candidate / "mnist" / "train-images-idx3-ubyte.gz").exists():
        return candidate
    return None


def load_data(directory, n_train=None, seed=0):
    """MNIST train / test as float32 in [0, 1], or random data of the same shape when
    ``directory`` is None: ``(X, X_test, description)``; ``n_train`` caps both."""
    if directory is not None:
        X, _ = load_mnist(directory, download=False, progress=False)
        X_test, _ = load_mnist(directory, split="test", download=False, progress=False)
        return X[:n_train], X_test[:n_train], f"MNIST from {directory}"
    rng = np.random.default_rng(seed)
    n, n_test = min(60_000, n_train or 60_000), min(10_000, n_train or 10_000)
    X = rng.random((n, 784), dtype=np.float32)
    X_test = rng.random((n_test, 784), dtype=np.float32)
    return X, X_test, "random uniform [0, 1] (no MNIST found)"


def add_common_args(parser):
    """The options every speed script takes."""
    parser.add_argument("--data-dir", default=None, help="holds mnist/ ($SKVSC_DATA)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--device", default="cpu", help="skvsc and the torch loops: cpu or cuda (sklearn: CPU)"
    )
    parser.add_argument(
        "--n-train", type=int, default=None, help="use the first N images (smoke runs)"
    )
    parser.add_argument("--out", default=None, help="write the raw results here (JSON)")
    parser.add_argument(
        "--matmul-n", type=int, default=2048, help="size of the torch.mm of the roofline"
    )
    return parser


def start(args):
    """Apply ``--device`` and ``--threads``; return the data directory (or None)."""
    global MATMUL_N
    set_device(args.device)
    MATMUL_N = args.matmul_n
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # the hand loops and sklearn's torch-free code
    return data_dir(args.data_dir)


def machine(source):
    """What the figures were measured on."""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "skvsc": f"{skvsc.__version__} ({Path(skvsc.__file__).parent})",
        "data": source,
        "load_1min": os.getloadavg()[0],
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def machine_line(info):
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
        f"({info['threads']} intra-op threads), device {info['device']}, skvsc {info['skvsc']}; "
        f"data: {info['data']}"
    )


def finish(results, report, out):
    """Print the report and write the raw results to ``out`` (when given)."""
    results["machine"]["load_1min_end"] = os.getloadavg()[0]
    print("\n" + machine_line(results["machine"]) + "\n\n" + report)
    if out:
        Path(out).write_text(json.dumps(results, indent=1, default=str))
    return results


# -- clocks ------------------------------------------------------------------------------
def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return names[0]
    except (OSError, IndexError):
        return platform.processor() or platform.machine()


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def clocked(fn, *args, **kwargs):
    """``(wall seconds, CPU seconds of this process, result)``.

    On a shared machine CPU time counts only the time our threads ran, so it
    is steadier than wall time (but includes threads spinning at barriers).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, out


def sync():
    """Wait for queued GPU work, so that clocks measure it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def median(values):
    values = list(values)
    return statistics.median(values) if values else float("nan")


# -- the roofline ---------------------------------------------------------------------------
def matmul_gflops(n=None, reps=4, cpu=False):
    """float32 GFLOP/s of a large square ``torch.mm`` (``MATMUL_N`` unless ``n``; current
    thread setting).

    With ``cpu=True`` returns ``(per wall second, per CPU second)``.
    """
    n = n or MATMUL_N
    a, b = torch.randn(n, n, device=DEVICE), torch.randn(n, n, device=DEVICE)
    a @ b  # warm-up
    sync()
    reps = reps if DEVICE.type == "cpu" else 50 * reps
    wall, cpu_s, _ = clocked(lambda: ([a @ b for _ in range(reps)], sync()))
    flop = 2 * n**3 * reps / 1e9
    return (flop / wall, flop / cpu_s) if cpu else flop / wall


def model_flops(module):
    """Matmul FLOPs per sample of a skvsc module (biases and elementwise work ignored).

    Returns ``(train, forward, transform)``: one training step (forward, weight
    gradients, and input gradients of every layer but the first, whose input
    needs none), the full forward pass, and the encoder work that ``transform``
    needs (the trunk and the heads the code is computed from: ``mu`` and the
    gate's for the free gate, ``mu`` alone for the tied gate).
    """
    latent = module.latent
    code_heads = len(latent.heads_for(latent.code_fields))

    def linear(m):
        return [layer for layer in m.modules() if isinstance(layer, nn.Linear)]

    enc, dec = linear(module.encoder), linear(module.decoder)
    sizes = [2 * m.in_features * m.out_features for m in enc + dec]
    forward = sum(sizes)
    train = 3 * forward - sizes[0]
    heads = module.encoder.heads
    trunk = sum(2 * m.in_features * m.out_features for m in enc if m is not heads)
    transform = (
        trunk + 2 * heads.in_features * heads.out_features * code_heads // module.encoder.n_heads
    )
    return train, forward, transform


def default_batch_size(n):
    batch_size = skvsc.VariationalSparseCoder().batch_size
    return min(128, n) if batch_size == "auto" else batch_size


def parse_batch_sizes(text, n):
    """``"32,128,default"`` -> sorted batch sizes, ``default`` the estimator's for ``n`` rows."""
    return sorted({default_batch_size(n) if b == "default" else int(b) for b in text.split(",")})
