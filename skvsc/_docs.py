"""The documentation of the parameters both estimators share, written once.

Class docstrings hold a line ``{{name}}`` where a shared parameter goes;
:func:`fill` replaces it with the numpydoc block below, indented like the
line. ``{default}`` in a block is the default of the estimator's signature
(for the parameters whose default differs between the estimators).
"""

import inspect
import re

from ._core.schedule import AUTO_RANGE, auto_epochs


def _auto_epochs(n_samples, batch_size=128):
    """The epochs of ``max_iter="auto"`` for ``n_samples`` at ``batch_size``."""
    return auto_epochs(-(-n_samples // batch_size))


SHARED = {
    "n_components": """\
n_components : int or "auto", default={default}
    Number of latent units J, the width of the code. ``"auto"``: 200 units
    for inputs of 64 features or more (images); for narrower inputs
    (tables) ``n_features_in_ / (2 * alpha)`` units (at most 200, at least
    ``1 / alpha``, so that the prior expects an active unit per sample), a code
    that follows the width of the input, with about ``n_features_in_ / 2``
    active units per sample in a sparse code (:class:`~skvsc.VAETransformer`, which
    has no ``alpha``, sizes as at ``alpha=0.05``: ``10 * n_features_in_``).
    The fitted width is ``module_.n_components``.
""",
    "likelihood": """\
likelihood : {"auto", "bernoulli", "gaussian", "poisson", "mixed"}, list or dict, \
        default="auto"
    Decoder likelihood p(x | z). ``"bernoulli"`` needs X in [0, 1] (values
    strictly inside are allowed; no continuous-Bernoulli correction is
    applied). ``"gaussian"`` models each standardised feature with a learned
    variance. ``"poisson"`` models counts (X >= 0; non-integer values are
    treated as counts); the encoder sees ``log(1 + X)``. ``"auto"`` picks
    Bernoulli when X lies in [0, 1] and Gaussian otherwise (never Poisson);
    the choice is stored in ``likelihood_``. Values within 1e-6 of the
    support (float rounding, e.g. 1.0000000000000002 after a
    ``MinMaxScaler``) count as inside it and are clipped onto it, so every
    split of the same data gets the same choice. ``fit`` and ``score``
    refuse data further outside; :meth:`transform` clips them onto the
    support with a warning (new data scaled with a training split's
    statistics). ``"mixed"`` gives each column its own likelihood, chosen
    from the training data: Bernoulli for columns of zeros and ones, Poisson
    for other columns of non-negative whole numbers, Gaussian for the rest
    (``module_.likelihood.column_kinds()`` lists them). A list of kinds
    (``"gaussian"``, ``"bernoulli"``, ``"poisson"``), one per column, or a
    dict from column indices or feature names (of a DataFrame) to kinds
    gives the kinds yourself (``likelihood_`` is then ``"mixed"``); columns
    a dict leaves out keep the kind chosen from the data. A Bernoulli column
    must lie in [0, 1] and a Poisson column must be >= 0: ``fit`` and
    ``score`` refuse other values, naming the column. Missing values (NaN)
    are left out of the likelihood (see the user guide's tables page).
""",
    "network": """\
network : {"mlp", "conv"}, default="mlp"
    The network family of the encoder and decoder. ``"mlp"``: dense ReLU
    layers of ``hidden_layer_sizes``. ``"conv"``, for images: stride-2 3x3
    convolutions of ``conv_channels`` over images of ``image_shape`` (each
    halves the resolution), then the dense layers of ``hidden_layer_sizes``;
    the decoder mirrors them with transposed convolutions.
""",
    "image_shape": """\
image_shape : tuple of int, default=None
    ``(height, width)`` or ``(height, width, channels)`` of the images whose
    flattened rows (``images.reshape(n, -1)``, channels last) are the
    features; used by ``network="conv"`` only. None: square images of one
    channel.
""",
    "conv_channels": """\
conv_channels : tuple of int, default=(8, 16)
    Output channels of the encoder's convolutions, one stride-2 convolution
    each; used by ``network="conv"`` only. The default turns a 28 x 28 image
    into 16 x 7 x 7 = 784 features for the dense layers, as many as its
    pixels, so a training step costs about the MLP's matrix-product FLOPs
    (wider channels, such as the former default ``(16, 32)``, cost about
    twice the default's time per step and coded better on Fashion-MNIST and
    at small ``alpha``: ``docs/images_screens.md``).
""",
    "hidden_layer_sizes": """\
hidden_layer_sizes : tuple of int, default=(400,)
    Hidden ReLU layers of the encoder; the decoder mirrors them unless
    ``decoder_layer_sizes`` says otherwise. ``()`` gives a linear encoder
    (after the convolutions of ``network="conv"``).
""",
    "decoder_layer_sizes": """\
decoder_layer_sizes : tuple of int, default=None
    Hidden ReLU layers of the decoder, from the code to the output; used by
    ``network="mlp"`` only (the convolutional decoder mirrors its encoder).
    None: ``hidden_layer_sizes`` reversed (the mirror). ``()``: a linear
    decoder behind the encoder's hidden layers, whose weight column j is
    unit j's effect on the features (the ``feature_effects`` of
    :class:`~skvsc.VariationalSparseCoder` are then exact).
    On the bundled tables ``alpha=0.33`` with a linear decoder codes closer
    to PCA than the defaults and loses elsewhere (``docs/tables_screens.md``, "A
    linear decoder for tables").
""",
    "max_iter": f"""\
max_iter : int or "auto", default="auto"
    Most epochs (passes over the data) of :meth:`fit`; training stops
    earlier when the loss stops improving (``tol``, ``n_iter_no_change``).
    ``"auto"`` scales the epochs with one over the square root of the
    optimizer steps per epoch, from {AUTO_RANGE[0]} to {AUTO_RANGE[1]}: at the default batch size
    {_auto_epochs(60_000)} epochs on 60,000 samples, {_auto_epochs(6_700)} on 6,700, \
{_auto_epochs(1_350)} on 1,350 (the 8x8 digits).
    The warm-ups are fractions of these epochs.
""",
    "batch_size": """\
batch_size : int or "auto", default="auto"
    Mini-batch size; ``"auto"`` is ``min(128, n_samples)``.
""",
    "learning_rate_init": """\
learning_rate_init : float or "auto", default="auto"
    Learning rate of the Adam optimizer. ``"auto"`` is 1e-3 for up to 784
    input features and ``1e-3 * 784 / n_features`` for wider inputs, whose
    first layer moves further at each step (on wide grey-level images 1e-3
    can make the code collapse: see the images page of the docs).
""",
    "max_grad_norm": """\
max_grad_norm : float, default=None
    Clip the norm of the gradient of each step to this value (None: no
    clipping). It helps when training stops on a non-finite loss.
""",
    "tol": """\
tol : float, default=1e-4
    Stop when the monitored loss (training -ELBO, or validation -ELBO with
    ``early_stopping``) has not improved by ``tol`` nats per sample for
    ``n_iter_no_change`` consecutive epochs after the warm-ups. This stop is
    always on; with ``verbose`` a last line says when it ended training.
""",
    "n_iter_no_change": """\
n_iter_no_change : int, default=10
    Number of epochs without improvement before stopping.
""",
    "early_stopping": """\
early_stopping : bool, default=False
    Hold out ``validation_fraction`` of the data, monitor its ELBO and keep
    the weights of the best epoch.
""",
    "validation_fraction": """\
validation_fraction : float, default=0.1
    Fraction of the training data held out with ``early_stopping``.
""",
    "warm_start": """\
warm_start : bool, default=False
    Continue training the fitted model on a new call to :meth:`fit` (for
    ``max_iter`` more epochs) instead of starting from scratch. The
    parameters of the model and its schedule are fixed when it is
    initialised: changing ``n_components``, the networks (``network``,
    ``hidden_layer_sizes``, ``decoder_layer_sizes``, ``image_shape``,
    ``conv_channels``),
    ``likelihood``, ``kl_warmup``, ``device`` or, for
    :class:`~skvsc.VariationalSparseCoder`, the prior (``prior``, ``alpha``,
    ``slab_kl_weight``, ``rate_control``, ``rate_control_sides``,
    ``rate_control_floor``, ``rate_control_mean``, ``usage``,
    ``fit_n_nonzero_coefs``, ``fit_n_nonzero_weight``, ``fit_n_nonzero_floor``,
    ``gate``) and the schedule (``sharpness``, ``usage_weight``,
    ``spike_pretrain``, ``revive``) and continuing, here or with
    :meth:`partial_fit`, raises a ValueError. The other parameters
    (``max_iter``, ``batch_size``, ``learning_rate_init``, ``max_grad_norm``,
    ``tol``, ``n_iter_no_change``, ``early_stopping``,
    ``validation_fraction``, ``n_threads``, ``distributed``, ``verbose``) take
    effect on the next call, as does ``transform_n_nonzero_coefs`` of
    :class:`~skvsc.VariationalSparseCoder` (read by :meth:`transform` only);
    ``random_state`` only seeds a new model.
""",
    "kl_warmup": """\
kl_warmup : float or "auto", default={default}
    Fraction of the training during which the weight of the KL term rises
    linearly from 0 to 1; 0 disables the warm-up. It lets units learn to
    carry information before the prior's pressure switches them off.
    ``"auto"`` is 0.5 for :class:`~skvsc.VariationalSparseCoder` with
    ``prior="aggregate"``, and 0 with ``prior="fixed"`` (see its Notes, the
    schedule of the paper's objective) and for
    :class:`~skvsc.VAETransformer`.
""",
    "device": """\
device : str or torch.device, default="auto"
    Where to train and encode: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or
    ``"auto"`` (CUDA when available, resolved at fit time).
""",
    "n_threads": """\
n_threads : int, default=None
    Torch intra-op threads used while fitting and encoding. ``None`` picks
    them at each call: the CPUs this process may use, never more than
    torch's current setting (which follows ``OMP_NUM_THREADS`` and the
    limits set by joblib and Dask workers and by threadpoolctl), and one
    thread for networks and batches too small to share. Fitting also uses
    only the CPUs that other processes leave free, which avoids the large
    slowdowns of oversubscription on a busy machine (see
    ``docs/performance.md``); encoding and scoring do not, so that their
    results do not change with what else runs. An int sets the count.
    torch's setting is restored afterwards either way.
""",
    "distributed": """\
distributed : {"auto", False}, default="auto"
    Data-parallel training on ``torch.distributed``. With ``"auto"``, a fit
    in a process of a torch.distributed job (started by ``torchrun``, or
    with a process group already initialised) trains one model together
    with the other processes: every process calls ``fit`` with the same
    data, computes its share of each batch of ``batch_size`` rows (the
    global batch), and all end with the same weights. Outside such a job it
    does nothing. ``False`` always fits in this process alone. See
    ``docs/multi_gpu.md``.
""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds weight initialisation, shuffling and sampling. Pass an int for
    reproducible results on the CPU. The global numpy and torch RNGs are
    never used.
""",
    "verbose": """\
verbose : int, default=0
    0 is silent; 1 shows a progress bar over the epochs with the current
    training -ELBO (needs ``tqdm``; short lines are printed without it);
    2 or more prints one line per epoch: the training -ELBO and its parts
    (reconstruction and KL), the mean number of active units per sample,
    the validation ELBO with ``early_stopping``, the units re-seeded with
    ``revive`` and the seconds taken. :meth:`partial_fit` prints lines
    instead of a bar.
""",
}

_PLACEHOLDER = re.compile(r"^( *)\{\{(\w+)\}\}$", flags=re.MULTILINE)


def fill(cls):
    """Replace each ``{{name}}`` line of the docstring of class ``cls`` by the
    shared block of ``name``; return the class (a decorator)."""
    parameters = inspect.signature(cls).parameters
    cls.__doc__ = _fill(cls.__doc__, {k: p.default for k, p in parameters.items()})
    return cls


def _fill(doc, defaults):

    def block(match):
        indent, name = match.groups()
        text = SHARED[name]
        if "{default}" in text:
            text = text.replace("{default}", repr(defaults[name]))
        return "\n".join(indent + line if line else line for line in text.splitlines())

    return _PLACEHOLDER.sub(block, doc)
