"""Building blocks of the network families (:mod:`.networks`, :mod:`.conv`).

The protocol base :class:`NetworkFamily`, linear layers initialised from an
explicit ``torch.Generator`` (created on the ``meta`` device, so building a
model never touches torch's global RNG), ReLU MLPs, and the MLP's encoder
(one fused head per posterior field) and decoder, which other families
extend.
"""

import itertools
import math
import numbers

import torch
from torch import nn


class NetworkFamily:
    """Base of the network families (see the module docstring for the protocol)."""

    #: The estimator parameters that are this family's options (its fields).
    parameters = ()

    def build(self, n_features, n_components, n_heads, generator, missing=False):
        raise NotImplementedError

    def n_parameters(self, n_features, n_components, n_heads, missing=False):
        raise NotImplementedError

    def matmul_flops(
        self, n_features, n_components, n_heads, batch_size, *, backward=True, missing=False
    ):
        raise NotImplementedError

    def hidden_widths(self):
        """The widths of the dense hidden layers, the encoder's then the
        decoder's (the activations per sample the memory check counts)."""
        raise NotImplementedError

    def options(self):
        """The family's options by name (``ModelConfig.network_params``)."""
        return {name: getattr(self, name) for name in self.parameters}


def positive_ints(name, value, *, length=None):
    """``value`` as a tuple of positive ints (layer widths, channels, a shape;
    ``length``: the lengths allowed), or a TypeError or ValueError naming
    ``name``."""
    lengths = "" if length is None else f" of length {' or '.join(map(str, length))}"
    message = f"{name} must be a tuple of positive ints{lengths}, got {value!r}."
    try:
        values = tuple(value)
    except TypeError:
        raise TypeError(message) from None
    if length is not None and len(values) not in length:
        raise ValueError(message)
    for v in values:
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(message)
    return tuple(int(v) for v in values)


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


class MLPEncoder(nn.Module):
    """Shared ReLU trunk followed by one linear head per posterior field.

    The heads are one fused ``nn.Linear`` of ``n_heads * J`` rows (one
    matrix product): rows ``[i J, (i + 1) J)`` are head ``i``, e.g.
    ``(mu, logvar)`` or ``(mu, logvar, gamma logit)``.
    """

    def __init__(self, n_features, *, n_components, n_heads, generator, hidden_layer_sizes):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        self.trunk = mlp(sizes, generator)
        # One matmul for all heads; split afterwards.
        self.heads = _linear(sizes[-1], n_heads * n_components, generator)
        self.n_heads = n_heads

    def forward(self, x):
        return self.heads(self.trunk(x)).chunk(self.n_heads, dim=1)

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

    def keep_heads(self, n_heads):
        """Keep the first ``n_heads`` heads only (the rows of the others are
        dropped): for a latent family that computes a field of its posterior
        from another head, e.g. the tied gate's ``gamma`` from ``mu``."""
        rows = slice(0, n_heads * (self.heads.out_features // self.n_heads))
        # allocated on "meta" and filled by the copy: a plain nn.Linear would draw
        # initial weights from torch's global RNG (fits must not touch it)
        kept = nn.Linear(self.heads.in_features, rows.stop, device="meta").to_empty(device="cpu")
        with torch.no_grad():
            kept.weight.copy_(self.heads.weight[rows])
            kept.bias.copy_(self.heads.bias[rows])
        self.heads, self.n_heads = kept, n_heads

    def head_parameters(self):
        """The parameters whose first dimension runs over the rows of the heads."""
        return (self.heads.weight, self.heads.bias)

    def unit_rows(self, units):
        """Rows of the given units in every head: ``units + i J`` for each head ``i``."""
        size = self.heads.out_features // self.n_heads
        offsets = torch.arange(self.n_heads, device=units.device) * size
        return (offsets[:, None] + units[None, :]).flatten()


class MLPDecoder(nn.Module):
    """MLP from the latent space to the data space through ``layer_sizes``
    (hidden sizes, from the code to the output)."""

    def __init__(self, n_features, *, n_components, generator, layer_sizes):
        super().__init__()
        sizes = [n_components, *layer_sizes]
        self.trunk = mlp(sizes, generator)
        self.out = _linear(sizes[-1], n_features, generator)

    def forward(self, z):
        return self.out(self.trunk(z))

    def first_layer(self):
        """The linear layer that reads the code: its column j is unit j's weight."""
        return next(m for m in self.modules() if isinstance(m, nn.Linear))
