"""The network families: an encoder with one head per posterior field, a decoder.

A network family is an entry of :data:`NETWORKS`: a frozen dataclass whose
fields are its options (the estimator parameters named in ``parameters``),
checked when it is made, and which owns everything that depends on its
layers (:class:`NetworkFamily`):

- ``build(n_features, n_components, n_heads, generator, missing=False)``:
  the encoder and the decoder, initialised from ``generator`` (encoder
  first);
- ``n_parameters(n_features, n_components, n_heads, missing=False)``: their
  parameter count (what a saved file must hold; :mod:`skvsc._io` checks it);
- ``matmul_flops(n_features, n_components, n_heads, batch_size, backward,
  missing=False)``: the matrix-product FLOPs of one batch (the thread rule of
  :mod:`skvsc._device` reads it);
- ``hidden_widths()``: the widths of the dense hidden layers, encoder then
  decoder (the activations the memory check of :mod:`skvsc._device` counts).

``missing=True`` is a model of data with missing values: its encoder reads
the data with the missing entries filled in, followed by the 0/1 mask of the
observed entries (:meth:`~.vae.VAE.encode`), so the family decides how the
mask enters (the MLP doubles its input width; the convolutional family
refuses, with a ValueError).

Network contract (what :class:`~.vae.VAE` and dead-unit revival use):

- encoder: ``forward(x)`` returns ``n_heads`` tensors of shape ``(n, J)``,
  in the order of the latent family's posterior fields;
  ``heads_only(x, indices)`` computes only the heads numbered in
  ``indices`` (inference); ``head_parameters()`` and ``unit_rows(units)``
  give the parameters whose rows hold the heads and the rows of the given
  units in every head (the head layout lives here only); ``keep_heads(n)``
  drops all heads but the first ``n`` (built with one head per posterior
  field, the encoder keeps those the latent family computes);
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
from dataclasses import dataclass

from .blocks import MLPDecoder, MLPEncoder, NetworkFamily, positive_ints
from .conv import ConvNet

__all__ = ["MLP", "NETWORKS", "MLPDecoder", "MLPEncoder", "NetworkFamily", "make_networks"]


@dataclass(frozen=True)
class MLP(NetworkFamily):
    """ReLU MLPs: the encoder through ``hidden_layer_sizes`` to the fused
    heads, the decoder through ``decoder_layer_sizes`` (from the code to the
    output; None: the encoder's sizes reversed; ``()``: linear)."""

    hidden_layer_sizes: tuple = (400,)
    decoder_layer_sizes: object = None
    parameters = ("hidden_layer_sizes", "decoder_layer_sizes")

    def __post_init__(self):
        object.__setattr__(
            self, "hidden_layer_sizes", positive_ints("hidden_layer_sizes", self.hidden_layer_sizes)
        )
        if self.decoder_layer_sizes is not None:
            decoder = positive_ints("decoder_layer_sizes", self.decoder_layer_sizes)
            object.__setattr__(self, "decoder_layer_sizes", decoder)

    def decoder_sizes(self):
        """The decoder's hidden sizes, from the code to the output."""
        if self.decoder_layer_sizes is None:
            return tuple(reversed(self.hidden_layer_sizes))
        return self.decoder_layer_sizes

    def hidden_widths(self):
        return (*self.hidden_layer_sizes, *self.decoder_sizes())

    def build(self, n_features, n_components, n_heads, generator, missing=False):
        options = {"n_components": n_components, "generator": generator}
        n_inputs = 2 * n_features if missing else n_features  # the data, then the mask
        encoder = MLPEncoder(
            n_inputs, n_heads=n_heads, hidden_layer_sizes=self.hidden_layer_sizes, **options
        )
        return encoder, MLPDecoder(n_features, layer_sizes=self.decoder_sizes(), **options)

    def _weights(self, n_features, n_components, n_heads, missing=False):
        """``(n_in, n_out)`` of every linear layer, encoder then decoder."""
        encoder = [2 * n_features if missing else n_features, *self.hidden_layer_sizes]
        decoder = [n_components, *self.decoder_sizes()]
        return [
            *itertools.pairwise(encoder),
            (encoder[-1], n_heads * n_components),
            *itertools.pairwise(decoder),
            (decoder[-1], n_features),
        ]

    def n_parameters(self, n_features, n_components, n_heads, missing=False):
        layers = self._weights(n_features, n_components, n_heads, missing)
        return sum(a * b + b for a, b in layers)

    def matmul_flops(
        self, n_features, n_components, n_heads, batch_size, *, backward=True, missing=False
    ):
        """2 FLOPs per weight and sample forward, 3 times that with the backward
        pass (the input and the weight gradients); biases and element-wise work
        are not counted."""
        layers = self._weights(n_features, n_components, n_heads, missing)
        weights = sum(a * b for a, b in layers)
        return (6 if backward else 2) * weights * batch_size


#: Network families by name.
NETWORKS = {"mlp": MLP, "conv": ConvNet}


def make_networks(kind, n_features, n_components, n_heads, generator, **options):
    """The encoder and decoder of family ``kind`` with ``options``, initialised
    from ``generator`` (encoder first)."""
    return NETWORKS[kind](**options).build(n_features, n_components, n_heads, generator)
