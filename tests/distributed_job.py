"""A data-parallel fit run by tests/test_distributed.py under torchrun (not a test module).

Usage: python -m torch.distributed.run --standalone --nproc-per-node N
tests/distributed_job.py OUT_DIR MODE. Every rank fits the same estimator
with ``fit(X)``; every rank writes its results to ``OUT_DIR/rank{r}.npz``.

MODE: ``same`` (every rank passes the same data), ``different`` (rank r
passes its own data), ``kill`` (rank 1 dies during the fit), ``nan`` (rank
1's loss is NaN at the third step), ``memmap``, ``memmap_bad`` and
``memmap_early`` (with early stopping; every rank streams OUT_DIR/MODE.npy,
written by the test), ``stall`` (the job starts the process group with
``STALL_TIMEOUT``; rank 1 stalls for ``STALL_SECONDS`` during the fit). A mode ending in
``_gloo`` (``same_gloo``, ``kill_gloo``) sums through gloo even on one host;
one ending in ``_whole`` (``same_whole``) sums through shared memory but has
every rank apply the whole optimizer step (no split update).
"""

import datetime
import os
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_digits

import skvsc
from skvsc import VAETransformer, VariationalSparseCoder, _inference
from skvsc._core import distributed, shared_sum, shared_update
from skvsc._core.vae import VAE

#: The estimator of the test (the test fits the same one in one process).
PARAMS = dict(
    n_components=16,
    hidden_layer_sizes=(32,),
    max_iter=1,
    batch_size=64,
    n_threads=1,
    random_state=0,
    revive=0.5,
)


#: The process group's timeout in mode ``stall``, and how long rank 1 stalls.
STALL_TIMEOUT = datetime.timedelta(seconds=5)
STALL_SECONDS = 90


def save_results(out_dir, rank, **arrays):
    """Write ``rank{rank}.npz`` whole or not at all: the launcher may kill a rank
    while it writes (a dead-rank test), and the test must not read half a file."""
    path = os.path.join(out_dir, f"rank{rank}.npz")
    partial = path + ".partial"
    with open(partial, "wb") as f:
        np.savez(f, **arrays)
    os.replace(partial, path)


def data(rank=0):
    X = load_digits().data[:500] / 16.0
    if rank:  # the other rank's data: the same rows, flipped left to right
        X = X.reshape(-1, 8, 8)[:, :, ::-1].reshape(-1, 64).copy()
    return X


#: Sizes of skvsc._chunked that stream the digits in small blocks and buffers.
STREAMING = dict(
    IN_MEMORY_BYTES=0,
    BLOCK_BYTES=50 * 64 * 4,
    SHUFFLE_BUFFER_BYTES=300 * 64 * 4,
    PASS_BYTES=100 * 64 * 4,
)


def stream():
    from skvsc import _chunked

    for name, value in STREAMING.items():
        setattr(_chunked, name, value)


def main(out_dir, mode):
    rank = int(os.environ["RANK"])
    torch.set_num_threads(1)
    if mode.endswith("_gloo"):  # every sum through gloo, as across hosts
        distributed.SHARED_MEMORY = False
        mode = mode[: -len("_gloo")]
    if mode.endswith("_whole"):  # every rank updates every parameter
        distributed.SPLIT_UPDATE = False
        mode = mode[: -len("_whole")]
    if mode == "stall":  # the caller's process group, with a short timeout
        torch.distributed.init_process_group("gloo", timeout=STALL_TIMEOUT)
    X = data(rank if mode == "different" else 0)
    est = VariationalSparseCoder(**PARAMS)
    if mode.startswith("memmap"):  # the same file on every rank, streamed in blocks
        X = np.load(os.path.join(out_dir, f"{mode}.npy"), mmap_mode="r")
        stream()
        est.set_params(likelihood="gaussian")
    if mode == "memmap_early":  # the validation blocks and the decision are global
        est.set_params(early_stopping=True, max_iter=4, n_iter_no_change=1)
    calls, shared_sums, split_steps = [], [], []
    exchange, split_step = shared_sum.SharedSum.exchange, shared_update.SharedUpdate.step

    def counted(self, *args, **kwargs):  # the test checks which path summed
        shared_sums.append(1)
        return exchange(self, *args, **kwargs)

    def counted_step(self, *args, **kwargs):  # ... and which one updated
        split_steps.append(1)
        return split_step(self, *args, **kwargs)

    shared_sum.SharedSum.exchange = counted
    shared_update.SharedUpdate.step = counted_step
    if mode == "kill" and rank == 1:
        # Die in the middle of the epoch, in the fifth step's forward pass.
        objective = VAE.objective

        def die(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                os._exit(3)
            return objective(self, *args, **kwargs)

        VAE.objective = die
    if mode == "stall" and rank == 1:
        # Stall (alive, pipes open) in the fifth step's forward pass.
        objective = VAE.objective

        def stall(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                time.sleep(STALL_SECONDS)
            return objective(self, *args, **kwargs)

        VAE.objective = stall
    if mode == "nan" and rank == 1:
        objective = VAE.objective

        def poisoned(self, *args, **kwargs):
            calls.append(1)
            loss, stats = objective(self, *args, **kwargs)
            return (loss * float("nan") if len(calls) == 3 else loss), stats

        VAE.objective = poisoned
    encoded = []  # rows each end-of-fit statistics pass encoded on this rank
    reduce_rows = _inference.reduce_rows

    def counted_rows(estimator, X, *args, rows=None):
        encoded.append(X.shape[0] if rows is None else rows[1] - rows[0])
        return reduce_rows(estimator, X, *args, rows=rows)

    _inference.reduce_rows = counted_rows
    start = time.perf_counter()
    try:
        est.fit(X)
    except Exception as exc:  # reported to the test, which checks the message
        save_results(out_dir, rank, error=repr(exc))
        sys.exit(1)
    elapsed = time.perf_counter() - start
    statistics = {}
    if mode == "same":  # the statistics of the sharded pass, and of one process
        Xv = est._validate_input(X)
        alone = est._code_statistics(Xv)
        for name in ("activation_rates", "code_variance", "unit_values", "mean_active_units"):
            statistics[f"sharded_{name}"] = getattr(est, f"{name}_")
            statistics[f"alone_{name}"] = alone[name]
        vae = VAETransformer(n_components=4, hidden_layer_sizes=(16,), max_iter=1)
        vae.set_params(batch_size=64, n_threads=1, random_state=0).fit(X)
        statistics["sharded_vae_variance"] = vae.posterior_mean_variance_
        statistics["alone_vae_variance"] = vae._code_statistics(Xv)["posterior_mean_variance"]
    # Every rank asks for its own file: only rank 0 writes.
    skvsc.save(est, os.path.join(out_dir, f"model{rank}.skvsc"))
    save_results(
        out_dir,
        rank,
        code=est.transform(data(0)),
        loss_curve=np.array(est.loss_curve_),
        activation_rates=est.activation_rates_,
        weights=torch.cat([p.detach().reshape(-1) for p in est.module_.parameters()]).numpy(),
        time=elapsed,
        shared_sums=len(shared_sums),
        split_steps=len(split_steps),
        validation_scores=np.array(est.validation_scores_ or []),
        n_iter=est.n_iter_,
        encoded=np.array(encoded),
        **statistics,
        shift=est.module_.likelihood.state_dict().get("shift", torch.zeros(0)).numpy(),
        scale=est.module_.likelihood.state_dict().get("scale", torch.zeros(0)).numpy(),
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
