"""The networks: an encoder with one head per posterior field, a decoder.

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

:data:`NETWORKS` maps a family name to its ``(encoder, decoder)`` classes;
:func:`make_networks` builds them. Adding a network family (e.g.
convolutional) is one entry there and the estimator parameter that names it.

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


class MLPEncoder(_MixedPrecision):
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

    def head_parameters(self):
        """The parameters whose first dimension runs over the rows of the heads."""
        return (self.heads.weight, self.heads.bias)

    def unit_rows(self, units):
        """Rows of the given units in every head: ``units + i J`` for each head ``i``."""
        size = self.heads.out_features // self.n_heads
        offsets = torch.arange(self.n_heads, device=units.device) * size
        return (offsets[:, None] + units[None, :]).flatten()


class MLPDecoder(_MixedPrecision):
    """MLP from the latent space to the data space (hidden sizes reversed)."""

    def __init__(self, n_features, *, n_components, generator, hidden_layer_sizes):
        super().__init__()
        sizes = [n_components, *reversed(hidden_layer_sizes)]
        self.trunk = mlp(sizes, generator)
        self.out = _linear(sizes[-1], n_features, generator)

    def _forward(self, z):
        return self.out(self.trunk(z))

    def first_layer(self):
        """The linear layer that reads the code: its column j is unit j's weight."""
        return next(m for m in self.modules() if isinstance(m, nn.Linear))


#: Network families by name: ``(encoder class, decoder class)``.
NETWORKS = {"mlp": (MLPEncoder, MLPDecoder)}


def make_networks(kind, n_features, n_components, n_heads, generator, **options):
    """The encoder and decoder of family ``kind``, initialised from ``generator``
    (encoder first). ``options`` are the family's own (``hidden_layer_sizes``
    for ``"mlp"``)."""
    encoder_class, decoder_class = NETWORKS[kind]
    encoder = encoder_class(
        n_features, n_components=n_components, n_heads=n_heads, generator=generator, **options
    )
    decoder = decoder_class(n_features, n_components=n_components, generator=generator, **options)
    return encoder, decoder
