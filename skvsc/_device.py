"""Device and thread housekeeping (skorch-style ``device`` parameter)."""

import contextlib
import math
import numbers
import os
import time
import warnings

import torch

#: Matrix-product FLOPs of one unit of parallel work (a training step, an
#: inference batch) below which a second intra-op thread is not worth it:
#: such kernels are shorter than what an OpenMP fork-join costs, so the step
#: is no faster on two threads, and any competing process turns every barrier
#: into a wait. Measured in docs/performance.md ("Threads").
MIN_PARALLEL_FLOPS = 50e6

#: How long a measurement of the other processes' load is reused (seconds):
#: ``transform`` is called often on small inputs, and the load moves slowly.
_LOAD_TTL = 5.0
_load_cache = {"time": -math.inf, "busy": None}


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device``.

    ``"auto"`` picks CUDA when it is available, else the CPU. It is resolved at
    fit time, on the machine that fits (e.g. a Dask worker).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here.")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device, got {device!r}.")
    return resolved


def loadable_device(device_name):
    """Device on which to place a model unpickled from ``device_name``.

    A model trained on a GPU is mapped to the CPU, with a warning, where no GPU
    is available.
    """
    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        warnings.warn(
            f"This model was fitted on {device_name!r} but CUDA is not available; "
            "it was loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return torch.device("cpu")
    return device


def same_device(a, b):
    """Whether two device specifications name the same device (``"cuda"`` is
    the current CUDA device; ``"cpu:0"`` is the CPU)."""
    a, b = torch.device(a), torch.device(b)
    if a.type == b.type == "cpu":
        return True
    if a.type == "cuda" and a.index is None:
        a = torch.device("cuda", torch.cuda.current_device())
    if b.type == "cuda" and b.index is None:
        b = torch.device("cuda", torch.cuda.current_device())
    return a == b


#: Bytes per network parameter while training in float32: the weight, its
#: gradient and Adam's two moments.
_BYTES_PER_PARAMETER = 16
#: Bytes per activation of a training batch (float32, forward and backward
#: intermediates of a layer output: a generous round figure).
_BYTES_PER_ACTIVATION = 24


def available_memory(device):
    """Bytes that a new allocation on ``device`` may take, or None where unknown:
    the free memory of a GPU; on the CPU, the kernel's ``MemAvailable`` lowered
    to what a cgroup (container) memory limit leaves."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            used = int(f.read())
        if limit != "max" and available is not None:
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def check_model_memory(estimator, config, batch_size):
    """Refuse, before allocating anything, a model whose training would need
    more memory than ``estimator``'s device has free: the weights, gradients
    and Adam moments of ``config`` (a ModelConfig) and the activations of a
    batch. The message names the sizes that set it."""
    n_parameters = config.n_parameters()
    widths = config.n_features * 2 + config.n_components * (config.n_heads + 1)
    widths += sum(config.network_family().hidden_widths())
    needed = _BYTES_PER_PARAMETER * n_parameters + _BYTES_PER_ACTIVATION * batch_size * widths
    device = resolve_device(estimator.device)
    available = available_memory(device)
    if available is None or needed <= available:
        return
    network = ", ".join(f"{k}={v!r}" for k, v in config.network_params.items())
    raise ValueError(
        f"n_components={config.n_components} with {config.n_features} features and "
        f"{network} needs about {needed / 1e9:.1f} GB to train "
        f"({n_parameters:,} network parameters, {_BYTES_PER_PARAMETER} bytes each with "
        f"their gradients and Adam's moments, and a batch of {batch_size}), more than the "
        f"{available / 1e9:.1f} GB available on {device}. Use a smaller n_components or "
        "hidden_layer_sizes."
    )


def usable_cpus():
    """CPUs this process may run on: its affinity mask where the OS has one,
    lowered to a cgroup v2 CPU quota (a container's ``--cpus``) if any."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return n


def env_thread_limit(environ=None):
    """The smallest thread count set by ``OMP_NUM_THREADS`` or
    ``MKL_NUM_THREADS`` (first entry of a nested list), or None."""
    environ = os.environ if environ is None else environ
    limits = []
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        try:
            limits.append(int(environ.get(name, "").split(",")[0]))
        except ValueError:
            continue
    limits = [n for n in limits if n >= 1]
    return min(limits) if limits else None


def _own_running_threads():
    """Threads of this process that are running or runnable now (Linux)."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                # The state follows the command name, which is in parentheses.
                n += f.read().rpartition(")")[2].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(n, 1)


def busy_cpus(samples=3, interval=0.001):
    """CPUs kept busy by other processes: the number of runnable threads on the
    machine less this process's own, averaged over a few snapshots.

    On Linux this reads ``/proc/loadavg`` (its fourth field counts the threads
    running or waiting for a CPU now), which sees a process that started a
    second ago and does not count this process's own past work, unlike the
    load averages. Elsewhere it falls back to the one-minute load average
    (which includes this process: an upper bound), or None when there is none.
    Reused for a few seconds.
    """
    now = time.monotonic()
    if now - _load_cache["time"] < _LOAD_TTL:
        return _load_cache["busy"]
    busy = None
    try:
        counts = []
        for i in range(samples):
            if i:
                time.sleep(interval)
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
            counts.append(max(running - _own_running_threads(), 0))
        busy = sum(counts) / len(counts)
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(AttributeError, OSError):
            busy = os.getloadavg()[0]
    _load_cache.update(time=now, busy=busy)
    return busy


def auto_threads(work=None, *, cpus=None, current=None, environ=None, busy=None, machine_cpus=None):
    """The number of intra-op threads that ``n_threads=None`` resolves to.

    The smallest of:

    - the CPUs this process may use (its affinity mask);
    - torch's current thread count, which already holds the limits of
      ``OMP_NUM_THREADS``, of joblib's and Dask's workers (they set it to
      the cores per worker) and of ``threadpoolctl``; torch's own default is
      the number of physical cores, so this never raises it;
    - ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` set after torch started;
    - the machine's CPUs not busy with other processes now (rounded; at
      least one):
      a thread that has to share its core with another process stalls every
      OpenMP barrier of the others, which made a step many times slower than
      on one thread;
    - one, when ``work`` (matrix-product FLOPs of one training step or
      inference batch) is below :data:`MIN_PARALLEL_FLOPS`.

    Parameters
    ----------
    work : float or None
        FLOPs of one unit of parallel work; None: not known (not limited).
    cpus, current, environ, busy, machine_cpus : optional
        The inputs, for tests: CPUs this process may use, torch's thread
        count, the environment mapping, the number of CPUs busy with other
        processes (None: unknown) and the machine's CPUs (which the busy
        count refers to). Measured when not given.

    Returns
    -------
    n_threads : int
        At least 1.
    """
    n = min(
        usable_cpus() if cpus is None else cpus,
        torch.get_num_threads() if current is None else current,
    )
    limit = env_thread_limit(environ)
    if limit is not None:
        n = min(n, limit)
    if work is not None and work < MIN_PARALLEL_FLOPS:
        n = 1
    if n > 1:  # only then is the load worth reading
        busy = busy_cpus() if busy is None else busy
        if busy is not None:
            total = (os.cpu_count() or 1) if machine_cpus is None else machine_cpus
            n = min(n, math.floor(total - busy + 0.5))
    return max(int(n), 1)


@contextlib.contextmanager
def torch_threads(n_threads, work=None, *, load_aware=True):
    """Use ``n_threads`` intra-op threads inside the block; None: the number
    :func:`auto_threads` picks for ``work`` (the matrix-product FLOPs of one
    step or batch, which the network family counts). With ``load_aware=False``
    the load of other processes is ignored (inference: a count, and so a
    result, that does not change with what else runs). torch's setting is
    restored on exit."""
    if n_threads is None:
        n_threads = auto_threads(work) if load_aware else auto_threads(work, busy=0)
    elif isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        # Checked here too: inference methods do not run the fit's parameter checks.
        raise TypeError(f"n_threads must be None or an int, got {n_threads!r}.")
    elif n_threads < 1:
        raise ValueError(f"n_threads must be None or >= 1, got {n_threads}.")
    previous = torch.get_num_threads()
    if n_threads == previous:
        yield
        return
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
