"""Torch building blocks: MLP encoder with several heads, MLP decoder.

Layers are created on the ``meta`` device and initialised with an explicit
``torch.Generator``, so building a model never touches torch's global RNG.
"""

import itertools
import math

import torch
from torch import nn


def _linear(n_in, n_out, generator):
    """A ``nn.Linear`` with PyTorch's default init drawn from ``generator``."""
    layer = nn.Linear(n_in, n_out, device="meta").to_empty(device="cpu")
    bound = 1.0 / math.sqrt(n_in) if n_in > 0 else 0.0
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def mlp(sizes, generator):
    """ReLU MLP through ``sizes`` with a ReLU after every layer.

    ``mlp([784, 400], g)`` is ``Linear(784, 400) -> ReLU``; a single size gives
    the identity (used for ``hidden_layer_sizes=()``).
    """
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [_linear(n_in, n_out, generator), nn.ReLU()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """Shared trunk followed by one linear head per posterior parameter.

    ``forward`` returns a tuple in the order of ``heads``, e.g.
    ``(mu, logvar)`` or ``(mu, logvar, gamma_logit)``.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_components, n_heads, generator):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        self.trunk = mlp(sizes, generator)
        # One matmul for all heads; split afterwards.
        self.heads = _linear(sizes[-1], n_heads * n_components, generator)
        self.n_heads = n_heads

    def forward(self, x):
        return self.heads(self.trunk(x)).chunk(self.n_heads, dim=1)


class Decoder(nn.Module):
    """MLP from the latent space to the data space (hidden sizes reversed)."""

    def __init__(self, n_components, hidden_layer_sizes, n_features, generator):
        super().__init__()
        sizes = [n_components, *reversed(hidden_layer_sizes)]
        self.trunk = mlp(sizes, generator)
        self.out = _linear(sizes[-1], n_features, generator)

    def forward(self, z):
        return self.out(self.trunk(z))
