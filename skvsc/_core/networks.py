"""The network families: an encoder with one head per posterior field, a decoder.

A network family is an entry of :data:`NETWORKS`: a frozen dataclass whose
fields are its options (the estimator parameters named in ``parameters``),
checked when it is made, and which owns everything that depends on its
layers (:class:`NetworkFamily`):

- ``build(n_features, n_components, n_heads, generator)``: the encoder and
  the decoder, initialised from ``generator`` (encoder first);
- ``n_parameters(n_features, n_components, n_heads)``: their parameter count
  (what a saved file must hold; :mod:`skvsc._io` checks it);
- ``matmul_flops(n_features, n_components, n_heads, batch_size, backward)``:
  the matrix-product FLOPs of one batch (the thread rule of
  :mod:`skvsc._device` reads it).

Network contract (what :class:`~.vae.VAE` and dead-unit revival use):

- encoder: ``forward(x)`` returns ``n_heads`` tensors of shape ``(n, J)``,
  in the order of the latent family's posterior fields;
  ``heads_only(x, indices)`` computes only the heads numbered in
  ``indices`` (inference); ``head_parameters()`` and ``unit_rows(units)``
  give the parameters whose rows hold the heads and the rows of the given
  units in every head (the head layout lives here only);
- decoder: ``forward(z)`` returns the likelihood's parameters, shape
  ``(n, n_features)``; ``first_layer()`` is the linear layer whose column
  ``j`` is unit j's weight.

Adding a network family (e.g. convolutional) is its module (or classes
here), its entry in :data:`NETWORKS`, the estimator parameters that it
lists in ``parameters``, and their docs.

Layers are created on the ``meta`` device and initialised with an explicit
``torch.Generator``, so building a model never touches torch's global RNG.
"""

import itertools
import math
import numbers
from dataclasses import dataclass

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

    def head_parameters(self):
        """The parameters whose first dimension runs over the rows of the heads."""
        return (self.heads.weight, self.heads.bias)

    def unit_rows(self, units):
        """Rows of the given units in every head: ``units + i J`` for each head ``i``."""
        size = self.heads.out_features // self.n_heads
        offsets = torch.arange(self.n_heads, device=units.device) * size
        return (offsets[:, None] + units[None, :]).flatten()


class MLPDecoder(nn.Module):
    """MLP from the latent space to the data space (hidden sizes reversed)."""

    def __init__(self, n_features, *, n_components, generator, hidden_layer_sizes):
        super().__init__()
        sizes = [n_components, *reversed(hidden_layer_sizes)]
        self.trunk = mlp(sizes, generator)
        self.out = _linear(sizes[-1], n_features, generator)

    def forward(self, z):
        return self.out(self.trunk(z))

    def first_layer(self):
        """The linear layer that reads the code: its column j is unit j's weight."""
        return next(m for m in self.modules() if isinstance(m, nn.Linear))


class NetworkFamily:
    """Base of the network families (see the module docstring for the protocol)."""

    #: The estimator parameters that are this family's options (its fields).
    parameters = ()

    def build(self, n_features, n_components, n_heads, generator):
        raise NotImplementedError

    def n_parameters(self, n_features, n_components, n_heads):
        raise NotImplementedError

    def matmul_flops(self, n_features, n_components, n_heads, batch_size, *, backward=True):
        raise NotImplementedError

    def options(self):
        """The family's options by name (``ModelConfig.network_params``)."""
        return {name: getattr(self, name) for name in self.parameters}


@dataclass(frozen=True)
class MLP(NetworkFamily):
    """ReLU MLPs: the encoder through ``hidden_layer_sizes`` to the fused
    heads, the decoder through the reversed sizes (``()``: linear)."""

    hidden_layer_sizes: tuple = (400,)
    parameters = ("hidden_layer_sizes",)

    def __post_init__(self):
        value = self.hidden_layer_sizes
        message = f"hidden_layer_sizes must be a tuple of positive ints, got {value!r}."
        try:
            sizes = tuple(value)
        except TypeError:
            raise TypeError(message) from None
        for size in sizes:
            if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
                raise ValueError(message)
        object.__setattr__(self, "hidden_layer_sizes", tuple(int(size) for size in sizes))

    def build(self, n_features, n_components, n_heads, generator):
        options = {"n_components": n_components, "generator": generator, **self.options()}
        encoder = MLPEncoder(n_features, n_heads=n_heads, **options)
        return encoder, MLPDecoder(n_features, **options)

    def _weights(self, n_features, n_components, n_heads):
        """``(n_in, n_out)`` of every linear layer, encoder then decoder."""
        hidden = self.hidden_layer_sizes
        encoder = [n_features, *hidden]
        decoder = [n_components, *reversed(hidden)]
        return [
            *itertools.pairwise(encoder),
            (encoder[-1], n_heads * n_components),
            *itertools.pairwise(decoder),
            (decoder[-1], n_features),
        ]

    def n_parameters(self, n_features, n_components, n_heads):
        return sum(a * b + b for a, b in self._weights(n_features, n_components, n_heads))

    def matmul_flops(self, n_features, n_components, n_heads, batch_size, *, backward=True):
        """2 FLOPs per weight and sample forward, 3 times that with the backward
        pass (the input and the weight gradients); biases and element-wise work
        are not counted."""
        weights = sum(a * b for a, b in self._weights(n_features, n_components, n_heads))
        return (6 if backward else 2) * weights * batch_size


# The conv family builds on the MLP's heads, so its module imports this one:
# import it once the names it needs exist.
from .conv import ConvNet  # noqa: E402

#: Network families by name.
NETWORKS = {"mlp": MLP, "conv": ConvNet}


def make_networks(kind, n_features, n_components, n_heads, generator, **options):
    """The encoder and decoder of family ``kind`` with ``options``, initialised
    from ``generator`` (encoder first)."""
    return NETWORKS[kind](**options).build(n_features, n_components, n_heads, generator)
