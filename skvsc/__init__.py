"""skvsc: Variational Sparse Coding as scikit-learn transformers."""

from ._io import load, save
from ._vae import VAETransformer
from ._version import __version__
from ._vsc import VariationalSparseCoder

__all__ = ["VAETransformer", "VariationalSparseCoder", "__version__", "load", "save"]
