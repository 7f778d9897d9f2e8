"""The convolutional network family, for images.

The encoder reads each row as an image of ``image_shape`` (height, width and
optionally channels, channels last as flattened by ``X.reshape(n, -1)`` of an
``(n, height, width, channels)`` array), halves its resolution with each
stride-2 convolution of ``conv_channels``, and then runs the dense layers of
``hidden_layer_sizes`` and the fused posterior heads, as the MLP does. The
decoder mirrors it: the dense layers reversed, one layer up to the smallest
feature map, and stride-2 transposed convolutions back to the image.

Layers are created on the ``meta`` device and initialised from an explicit
``torch.Generator`` (PyTorch's default uniform bounds), as in
:mod:`.networks`.
"""

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from .blocks import MLPEncoder, NetworkFamily, _linear, mlp, positive_ints

_KERNEL, _STRIDE, _PADDING = 3, 2, 1  # each convolution halves the resolution (ceil)
#: Transposed convolutions to at most this many channels (grey, RGB, RGBA images)
#: run PyTorch's own CPU kernel instead of oneDNN's (:func:`transposed_conv`).
FEW_CHANNELS = 4


def _conv(cls, n_in, n_out, generator, **kwargs):
    """A conv or transposed-conv layer with PyTorch's default init from ``generator``."""
    layer = cls(n_in, n_out, _KERNEL, _STRIDE, _PADDING, device="meta", **kwargs)
    layer = layer.to_empty(device="cpu")
    # Default init of both: bound 1 / sqrt(fan_in), fan_in = weight.size(1) * kernel area.
    bound = 1.0 / math.sqrt(layer.weight.shape[1] * _KERNEL * _KERNEL)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def transposed_conv(layer, maps):
    """``layer(maps)`` for a ``ConvTranspose2d`` layer, by PyTorch's own kernel
    on CPU where the layer writes at most :data:`FEW_CHANNELS` channels.

    On CPU, ``layer(maps)`` runs oneDNN, whose transposed convolution to one
    or a few channels (the layer that writes the image) is several times
    slower than PyTorch's im2col kernel, which computes the same sums; the
    backward pass is the same ``convolution_backward`` either way. Wider
    layers, other devices and the ``meta`` device keep ``layer(maps)``
    (docs/images.md, "Cost").
    """
    if maps.device.type != "cpu" or layer.out_channels > FEW_CHANNELS:
        return layer(maps)
    return torch.ops.aten.slow_conv_transpose2d(
        maps,
        layer.weight,
        layer.kernel_size,
        layer.bias,
        layer.stride,
        layer.padding,
        layer.output_padding,
        layer.dilation,
    )


def feature_map_sizes(height, width, n_layers):
    """``[(h, w), ...]`` of the input and of each stride-2 convolution's output."""
    sizes = [(height, width)]
    for _ in range(n_layers):
        h, w = sizes[-1]
        sizes.append(
            (
                (h + 2 * _PADDING - _KERNEL) // _STRIDE + 1,
                (w + 2 * _PADDING - _KERNEL) // _STRIDE + 1,
            )
        )
    return sizes


def _transposed_size(size):
    """Output size of a transposed convolution before output padding."""
    return (size - 1) * _STRIDE - 2 * _PADDING + _KERNEL


class _ConvTrunk(nn.Module):
    """Rows -> images -> stride-2 convolutions -> flat features."""

    def __init__(self, shape, channels, generator):
        super().__init__()
        self.shape = shape  # (height, width, channels in)
        sizes = [shape[2], *channels]
        self.convs = nn.Sequential(
            *(
                layer
                for n_in, n_out in itertools.pairwise(sizes)
                for layer in (_conv(nn.Conv2d, n_in, n_out, generator), nn.ReLU(inplace=True))
            )
        )

    def forward(self, x):
        height, width, depth = self.shape
        # Channels-last strides (a view of the rows), which oneDNN's convolutions
        # run fastest on; the flat features stay in (channel, row, column) order.
        images = x.reshape(-1, height, width, depth).permute(0, 3, 1, 2)
        return self.convs(images).flatten(1)


class ConvEncoder(MLPEncoder):
    """Convolutions, then the MLP encoder's dense layers and fused heads."""

    def __init__(self, n_features, *, n_components, n_heads, generator, shape, channels, hidden):
        conv = _ConvTrunk(shape, channels, generator)
        h, w = feature_map_sizes(shape[0], shape[1], len(channels))[-1]
        super().__init__(
            channels[-1] * h * w,
            n_components=n_components,
            n_heads=n_heads,
            generator=generator,
            hidden_layer_sizes=hidden,
        )
        self.trunk = nn.Sequential(conv, self.trunk)


class ConvDecoder(nn.Module):
    """Dense layers up to the smallest feature map, then transposed convolutions."""

    def __init__(self, n_features, *, n_components, generator, shape, channels, hidden):
        super().__init__()
        self.shape = shape
        maps = feature_map_sizes(shape[0], shape[1], len(channels))
        self.smallest = (channels[-1], *maps[-1])
        sizes = [n_components, *reversed(hidden)]
        self.trunk = mlp(sizes, generator)
        self.expand = nn.Sequential(
            _linear(sizes[-1], math.prod(self.smallest), generator), nn.ReLU()
        )
        depths = [*reversed(channels), shape[2]]
        layers = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(depths)):
            (h_in, w_in), (h_out, w_out) = maps[-1 - i], maps[-2 - i]
            # The output padding picks the size that the convolution halved (odd or even).
            padding = (h_out - _transposed_size(h_in), w_out - _transposed_size(w_in))
            layers.append(_conv(nn.ConvTranspose2d, n_in, n_out, generator, output_padding=padding))
            if i < len(channels) - 1:
                # In place: no backward reads the transposed convolution's output.
                layers.append(nn.ReLU(inplace=True))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z):
        maps = self.expand(self.trunk(z)).reshape(-1, *self.smallest)
        if maps.device.type != "cpu":
            # Channels last off the CPU, as before transposed_conv (not timed on a GPU
            # since). On CPU channels first: the image's transposed convolution runs
            # fastest on it, and the wider one gains less from channels last than the
            # conversion costs.
            maps = maps.contiguous(memory_format=torch.channels_last)
        for layer in self.deconvs:
            if isinstance(layer, nn.ConvTranspose2d):
                maps = transposed_conv(layer, maps)
            else:
                maps = layer(maps)
        return maps.permute(0, 2, 3, 1).flatten(1)

    def first_layer(self):
        """The linear layer that reads the code: its column j is unit j's weight."""
        return next(m for m in self.modules() if isinstance(m, nn.Linear))


@dataclass(frozen=True)
class ConvNet(NetworkFamily):
    """Stride-2 convolutions of ``conv_channels`` over images of ``image_shape``
    (None: square, one channel), then dense layers of ``hidden_layer_sizes``;
    the decoder mirrors it with transposed convolutions."""

    image_shape: tuple = None
    conv_channels: tuple = (8, 16)
    hidden_layer_sizes: tuple = (400,)
    parameters = ("image_shape", "conv_channels", "hidden_layer_sizes")

    def __post_init__(self):
        if self.image_shape is not None:
            shape = positive_ints("image_shape", self.image_shape, length=(2, 3))
            object.__setattr__(self, "image_shape", shape)
        channels = positive_ints("conv_channels", self.conv_channels)
        if not channels:
            raise ValueError("conv_channels must name at least one convolution, got ().")
        object.__setattr__(self, "conv_channels", channels)
        hidden = positive_ints("hidden_layer_sizes", self.hidden_layer_sizes)
        object.__setattr__(self, "hidden_layer_sizes", hidden)

    def shape(self, n_features):
        """``(height, width, channels)`` of the rows of ``n_features`` features."""
        if self.image_shape is None:
            side = math.isqrt(n_features)
            if side * side != n_features:
                raise ValueError(
                    f"network='conv' cannot infer a square image from {n_features} features; "
                    "pass image_shape=(height, width) or (height, width, channels)."
                )
            shape = (side, side, 1)
        else:
            shape = (*self.image_shape, 1)[:3]
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={self.image_shape!r} holds {math.prod(shape)} values, but the data "
                f"have {n_features} features."
            )
        return shape

    def _options(self, n_features):
        return {
            "shape": self.shape(n_features),
            "channels": self.conv_channels,
            "hidden": self.hidden_layer_sizes,
        }

    @staticmethod
    def _refuse_missing(missing):
        if missing:
            raise ValueError(
                "network='conv' does not take missing values (NaN in X): impute them first "
                "(sklearn.impute.SimpleImputer), or use network='mlp'."
            )

    def build(self, n_features, n_components, n_heads, generator, missing=False):
        self._refuse_missing(missing)
        options = {"n_components": n_components, "generator": generator}
        options.update(self._options(n_features))
        encoder = ConvEncoder(n_features, n_heads=n_heads, **options)
        return encoder, ConvDecoder(n_features, **options)

    def _layers(self, n_features, n_components, n_heads):
        """``(weights, biases, output positions)`` of every layer of the encoder
        and the decoder; a transposed convolution applies its weights at every
        position of its (smaller) input, as the convolution it mirrors."""
        height, width, depth = self.shape(n_features)
        maps = feature_map_sizes(height, width, len(self.conv_channels))
        kernel = _KERNEL * _KERNEL
        pairs = list(itertools.pairwise([depth, *self.conv_channels]))
        convs = [(kernel * a * b, b, math.prod(m)) for (a, b), m in zip(pairs, maps[1:])]
        deconvs = [(kernel * a * b, a, math.prod(m)) for (a, b), m in zip(pairs, maps[1:])]
        flat = self.conv_channels[-1] * math.prod(maps[-1])
        dense = [flat, *self.hidden_layer_sizes, n_heads * n_components]
        decoder = [n_components, *reversed(self.hidden_layer_sizes), flat]
        linears = [(a * b, b, 1) for a, b in itertools.pairwise(dense)]
        linears += [(a * b, b, 1) for a, b in itertools.pairwise(decoder)]
        return convs + deconvs + linears

    def hidden_widths(self):
        return (*self.hidden_layer_sizes, *reversed(self.hidden_layer_sizes))

    def n_parameters(self, n_features, n_components, n_heads, missing=False):
        self._refuse_missing(missing)
        layers = self._layers(n_features, n_components, n_heads)
        return sum(weights + biases for weights, biases, _ in layers)

    def matmul_flops(
        self, n_features, n_components, n_heads, batch_size, *, backward=True, missing=False
    ):
        """2 FLOPs per weight, output position and sample forward, 3 times that
        with the backward pass (the input and the weight gradients)."""
        self._refuse_missing(missing)
        layers = self._layers(n_features, n_components, n_heads)
        work = sum(weights * positions for weights, _, positions in layers)
        return (6 if backward else 2) * work * batch_size
