"""Writes ``vsc_tied_images.skvsc`` / ``.joblib`` and ``vsc_tied_table.skvsc``: models
saved with the tied gate (``gate="auto"`` on images and on tables), as skvsc's
defaults wrote them before that head was dropped.

Their encoders hold a third head (the free gate's ``gamma`` logit) that the
tied gate never used; later versions drop it. Each file must load with the
same codes, reconstructions and scores, and go on training (``partial_fit``,
which reads the saved optimizer state). Written at commit 0b2063c (state
format 3), with the outputs ``tests/test_persistence_formats.py`` compares
against in ``tied_gate_expected.npz``; never overwrite them.
"""

from pathlib import Path

import joblib
import numpy as np

import skvsc

HERE = Path(__file__).parent


def main():
    rng = np.random.RandomState(0)
    images = rng.rand(200, 64)  # 8 x 8 images in [0, 1]: the image defaults
    table = rng.randn(150, 6)  # a narrow table: the table defaults
    small = {"hidden_layer_sizes": (16,), "max_iter": 2, "random_state": 0, "n_threads": 1}
    est_images = skvsc.VariationalSparseCoder(n_components=20, **small).fit(images)
    est_table = skvsc.VariationalSparseCoder(**small).fit(table)
    for est in (est_images, est_table):
        assert est._run.spec.latent_params["gate"] == "tied", "run while the gate is tied"
        assert est._run.model.encoder.n_heads == 3, "run before the third head was dropped"
    skvsc.save(est_images, HERE / "vsc_tied_images.skvsc")
    joblib.dump(est_images, HERE / "vsc_tied_images.joblib")
    skvsc.save(est_table, HERE / "vsc_tied_table.skvsc")
    Xi, Xt = images[:20], table[:20]
    np.savez(
        HERE / "tied_gate_expected.npz",
        images=Xi,
        images_transform=est_images.transform(Xi),
        images_inverse=est_images.inverse_transform(est_images.transform(Xi)),
        images_score_samples=est_images.score_samples(Xi),
        table=Xt,
        table_transform=est_table.transform(Xt),
        table_inverse=est_table.inverse_transform(est_table.transform(Xt)),
        table_score_samples=est_table.score_samples(Xt),
    )


if __name__ == "__main__":
    main()
