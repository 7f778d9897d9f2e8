"""skvsc: Variational Sparse Coding as scikit-learn transformers."""

from ._persistence import load, save
from ._vae import VAETransformer
from ._vsc import VariationalSparseCoder

__version__ = "0.1.0.dev0"

__all__ = ["VAETransformer", "VariationalSparseCoder", "__version__", "load", "save"]
