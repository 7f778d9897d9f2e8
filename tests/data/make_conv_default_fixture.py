"""Writes ``vsc_conv_16_32.skvsc``: a conv model saved with the conv family's first
default, ``conv_channels=(16, 32)``, left unset.

The default became ``(8, 16)`` later (issue 23's fit-time target); a file saved
before must load with the channels it was fitted with, not the new default.
Written at commit 32ce729 (state format 2), before the default changed, with
the outputs ``tests/test_persistence_formats.py`` compares against in
``conv_16_32_expected.npz``; never overwrite them.
"""

from pathlib import Path

import numpy as np

import skvsc

HERE = Path(__file__).parent


def main():
    X = np.random.RandomState(0).rand(200, 64)  # 8 x 8 images
    est = skvsc.VariationalSparseCoder(
        n_components=20,
        network="conv",
        hidden_layer_sizes=(8,),
        max_iter=1,
        random_state=0,
        n_threads=1,
    ).fit(X)
    assert est.get_params()["conv_channels"] == (16, 32), "run before the default changed"
    skvsc.save(est, HERE / "vsc_conv_16_32.skvsc")
    Xs = X[:20]
    np.savez(
        HERE / "conv_16_32_expected.npz",
        X=Xs,
        transform=est.transform(Xs),
        inverse=est.inverse_transform(est.transform(Xs)),
    )


if __name__ == "__main__":
    main()
