"""Sparse-autoencoder baselines with the VSC's networks, for ``benchmarks/paper``.

Not part of skvsc: scikit-learn-style estimators written for the comparisons in
``docs/results.md``; their unit tests sit next to them (``test_*.py``).
"""

from .batchtopk import BatchTopKAutoencoder, batch_topk
from .jumprelu import JumpReLUAutoencoder, heaviside_step, jumprelu
from .topk import TopKAutoencoder, topk_relu

__all__ = [
    "BatchTopKAutoencoder",
    "JumpReLUAutoencoder",
    "TopKAutoencoder",
    "batch_topk",
    "heaviside_step",
    "jumprelu",
    "topk_relu",
]
