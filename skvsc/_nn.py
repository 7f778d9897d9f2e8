"""Torch building blocks: MLP encoder with several heads, MLP decoder.

Layers are created on the ``meta`` device and initialised with an explicit
``torch.Generator``, so building a model never touches torch's global RNG.

Both networks can run their matrix products under autocast (``amp_dtype``,
set by the training loop; None by default) and return outputs in the dtype of
their input, so that the ELBO is always computed in full precision: in
bfloat16, ``1 - 1e-6`` rounds to 1 and the clamped logs of the KL break.
"""

import contextlib
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


class _MixedPrecision(nn.Module):
    """Runs ``_forward`` under autocast when ``amp_dtype`` is set."""

    amp_dtype = None

    def forward(self, x):
        if self.amp_dtype is None:
            return self._forward(x)
        with torch.autocast(x.device.type, dtype=self.amp_dtype):
            out = self._forward(x)
        return out.to(x.dtype)


@contextlib.contextmanager
def mixed_precision(model, amp_dtype):
    """Within the block, the networks of ``model`` compute in ``amp_dtype``."""
    if amp_dtype is None:
        yield
        return
    networks = [m for m in model.modules() if isinstance(m, _MixedPrecision)]
    for m in networks:
        m.amp_dtype = amp_dtype
    try:
        yield
    finally:
        for m in networks:
            m.amp_dtype = None


class Encoder(_MixedPrecision):
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
        return super().forward(x).chunk(self.n_heads, dim=1)

    def _forward(self, x):
        return self.heads(self.trunk(x))

    def heads_only(self, x, which):
        """Outputs of the heads numbered in ``which`` only, for inference.

        Skips the matrix products of the heads that are not asked for (the
        log-variance head is not needed to encode: 14 % of the VSC encoder's
        products, half of the VAE's heads). Runs in the input's dtype.
        """
        hidden = self.trunk(x)
        size = self.heads.out_features // self.n_heads
        rows = [slice(i * size, (i + 1) * size) for i in which]
        return tuple(
            nn.functional.linear(hidden, self.heads.weight[r], self.heads.bias[r]) for r in rows
        )


class Decoder(_MixedPrecision):
    """MLP from the latent space to the data space (hidden sizes reversed)."""

    def __init__(self, n_components, hidden_layer_sizes, n_features, generator):
        super().__init__()
        sizes = [n_components, *reversed(hidden_layer_sizes)]
        self.trunk = mlp(sizes, generator)
        self.out = _linear(sizes[-1], n_features, generator)

    def _forward(self, z):
        return self.out(self.trunk(z))
