"""Writes ``vsc_header_0x80.skvsc``: a file of ``skvsc.save`` whose first byte is 0x80.

A safetensors file starts with its header length as a little-endian 64-bit
integer; when the low byte of that length is 0x80 the file starts with the
byte that also opens every pickle, and skvsc 0.1.0.dev0 at 3821b0b refused such
files as pickles (about one model in a hundred). This script searches the
``random_state`` of a small fit until the saved file starts with 0x80, and
stores the outputs ``tests/test_persistence_formats.py`` compares against in
``header_0x80_expected.npz``. The committed files were written at state format
2 by the commit that fixed the reader; never overwrite them.
"""

from pathlib import Path

import numpy as np

import skvsc

HERE = Path(__file__).parent


def main():
    X = np.random.RandomState(0).rand(300, 64)
    for seed in range(200):
        est = skvsc.VariationalSparseCoder(
            n_components=8, hidden_layer_sizes=(32,), max_iter=2, random_state=seed, n_threads=1
        ).fit(X)
        path = HERE / "vsc_header_0x80.skvsc"
        skvsc.save(est, path)
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        raise SystemExit("no seed below 200 gave a file starting with 0x80")
    Xs = X[:20]
    np.savez(
        HERE / "header_0x80_expected.npz",
        X=Xs,
        transform=est.transform(Xs),
        score_samples=est.score_samples(Xs),
        inverse=est.inverse_transform(est.transform(Xs)),
    )
    print(f"random_state={seed}: {path} starts with 0x80")


if __name__ == "__main__":
    main()
