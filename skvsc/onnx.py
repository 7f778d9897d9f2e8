"""ONNX export of fitted estimators: serving ``transform`` and ``inverse_transform``
without torch.

:func:`to_onnx` writes the encoder (``transform``: the likelihood's input
preparation, the MLP, and the code, with exact zeros where a unit is
inactive) or the decoder (``inverse_transform``: the MLP and the likelihood's
mean in the data's units) as an ONNX graph of standard operators. Importing
this module also registers a converter with ``skl2onnx`` when it is installed,
so that ``skl2onnx.to_onnx`` converts pipelines that hold a skvsc estimator.

The graphs compute what the estimators compute, in float32 or float64, but do
not validate their input: data outside the likelihood's support, infinite
values or another number of features are the caller's to refuse. NaN is a
missing value for a model fitted on data with missing values (its encoder
graph reads the mask of observed entries, as the estimator does); a
model fitted on complete data refuses NaN in ``transform``, and its graph's
output on NaN has no meaning. ``onnx``
is an optional dependency (``pip install "skvsc[onnx]"``, which also installs
``onnxruntime`` and ``skl2onnx``).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._core.blocks import MLPDecoder, MLPEncoder
from ._core.latents import NormalLatent, SpikeSlabLatent
from ._core.likelihoods import (
    BernoulliLikelihood,
    GaussianLikelihood,
    MixedLikelihood,
    PoissonLikelihood,
)
from ._core.penalties import ACTIVE_PROBABILITY
from ._vae import VAETransformer
from ._vsc import VariationalSparseCoder

__all__ = ["register_skl2onnx", "to_onnx"]

#: The ONNX operator set of the standalone graphs (all operators used exist in it).
DEFAULT_OPSET = 17
_METHODS = ("transform", "inverse_transform")
_POISSON_LOG_RATE_RANGE = (-20.0, 20.0)  # as skvsc._core.likelihoods clamps the log-rate


class _Nodes:
    """The nodes and initializers of a graph, as plain data: ``(op_type, inputs,
    outputs, attributes)`` and ``(name, array)``, with names made unique by
    ``unique`` (so that the same graph can join a larger one, as in skl2onnx)."""

    def __init__(self, dtype, unique):
        self.dtype = np.dtype(dtype)
        self.unique = unique
        self.nodes = []
        self.initializers = []

    def constant(self, name, value, dtype=None):
        name = self.unique(name)
        self.initializers.append((name, np.asarray(value, dtype=dtype or self.dtype)))
        return name

    def op(self, op_type, inputs, name, output=None, n_outputs=1, **attributes):
        """The output of a node (its ``n_outputs`` outputs where more than one)."""
        if n_outputs > 1:
            outputs = [self.unique(f"{name}_{i}") for i in range(n_outputs)]
        else:
            outputs = [output or self.unique(name)]
        self.nodes.append((op_type, list(inputs), outputs, attributes))
        return outputs if n_outputs > 1 else outputs[0]

    def linear(self, x, layer, name, rows=slice(None)):
        """``x W[rows]^T + b[rows]`` of a ``torch.nn.Linear``."""
        weight = layer.weight.detach().cpu().numpy()[rows]
        bias = layer.bias.detach().cpu().numpy()[rows]
        w = self.constant(f"{name}_weight", weight)
        b = self.constant(f"{name}_bias", bias)
        return self.op("Gemm", [x, w, b], name, transB=1)

    def mlp(self, x, sequential, name):
        """The ``Linear -> ReLU`` layers of a trunk built by ``_core.networks.mlp``."""
        for i, layer in enumerate(sequential):
            if isinstance(layer, nn.Linear):
                x = self.linear(x, layer, f"{name}_{i}")
            elif isinstance(layer, nn.ReLU):
                x = self.op("Relu", [x], f"{name}_{i}_relu")
            else:
                raise NotImplementedError(f"no ONNX export for {type(layer).__name__}")
        return x


def _module(estimator):
    """The fitted torch module of ``estimator``, with networks the export knows."""
    check_is_fitted(estimator)
    module = estimator.module_
    if type(module.encoder) is not MLPEncoder or type(module.decoder) is not MLPDecoder:
        raise NotImplementedError(
            f"no ONNX export for the {type(module.encoder).__name__} network yet; "
            "the export covers network='mlp'."
        )
    return module


def _encoder_input(graph, likelihood, x):
    """The likelihood's ``encoder_input``: standardised Gaussian columns,
    ``log(1 + x)`` of Poisson ones, Bernoulli ones as they are (the mixed
    likelihood clips its Bernoulli and Poisson columns onto their supports
    first, as its torch code does)."""
    if isinstance(likelihood, MixedLikelihood):
        bernoulli, poisson = _kind_columns(graph, likelihood)
        zero, one = graph.constant("support_low", 0.0), graph.constant("support_high", 1.0)
        clipped = graph.op("Clip", [x, zero, one], "x_in_unit")
        x = graph.op("Where", [bernoulli, clipped, x], "x_bernoulli")
        clipped = graph.op("Clip", [x, zero], "x_non_negative")
        x = graph.op("Where", [poisson, clipped, x], "x_on_support")
        log1p = _log1p(graph, x, one)
        return graph.op("Where", [poisson, log1p, _standardised(graph, likelihood, x)], "u")
    if isinstance(likelihood, GaussianLikelihood):  # (x - shift) / scale
        return _standardised(graph, likelihood, x)
    if isinstance(likelihood, PoissonLikelihood):  # log(1 + x)
        return _log1p(graph, x, graph.constant("one", 1.0))
    if isinstance(likelihood, BernoulliLikelihood):
        return x
    raise NotImplementedError(f"no ONNX export for {type(likelihood).__name__}")


def _kind_columns(graph, likelihood):
    """The mixed likelihood's Bernoulli and Poisson columns, as boolean constants."""
    kinds = likelihood.kinds.cpu().numpy()
    bernoulli = graph.constant("bernoulli_columns", kinds == 1, dtype=np.bool_)
    poisson = graph.constant("poisson_columns", kinds == 2, dtype=np.bool_)
    return bernoulli, poisson


def _log1p(graph, x, one):
    """``log(1 + x)``, the Poisson columns' encoder input (``one``: the constant 1)."""
    return graph.op("Log", [graph.op("Add", [x, one], "x_plus_one")], "log1p")


def _standardised(graph, likelihood, x):
    """``(x - shift) / scale``, the Gaussian columns' encoder input."""
    shift = graph.constant("shift", likelihood.shift.cpu().numpy())
    scale = graph.constant("scale", likelihood.scale.cpu().numpy())
    return graph.op("Div", [graph.op("Sub", [x, shift], "centred"), scale], "standardised")


def _in_data_units(graph, likelihood, out, name, output=None):
    """``out * scale + shift``, the Gaussian columns' mean in data units."""
    scale = graph.constant("scale", likelihood.scale.cpu().numpy())
    shift = graph.constant("shift", likelihood.shift.cpu().numpy())
    return graph.op("Add", [graph.op("Mul", [out, scale], "scaled"), shift], name, output=output)


def _masked_encoder_input(graph, likelihood, x):
    """The encoder input of a model of data with missing values (as
    ``VAE._masked_input``): the likelihood's encoder input with the missing
    (NaN) entries at 0, then the 0/1 mask of the observed entries."""
    from onnx.helper import np_dtype_to_tensor_dtype

    observed = graph.op("Not", [graph.op("IsNaN", [x], "missing")], "observed")
    zero = graph.constant("missing_fill", 0.0)
    filled = graph.op("Where", [observed, x, zero], "x_filled")
    u = graph.op("Where", [observed, _encoder_input(graph, likelihood, filled), zero], "u_filled")
    mask = graph.op("Cast", [observed], "mask", to=np_dtype_to_tensor_dtype(graph.dtype))
    return graph.op("Concat", [u, mask], "encoder_input", axis=1)


def _encoder(graph, module, x, output, max_active=None):
    """``transform``: the likelihood's encoder input (with the mask of observed
    entries for a model of data with missing values), the trunk, the code
    heads and the code (``mu`` where the unit is active, else exactly 0; with
    ``max_active``, only the ``max_active`` active units of largest ``|mu|``)."""
    likelihood, latent, encoder = module.likelihood, module.latent, module.encoder
    if module.missing:
        x = _masked_encoder_input(graph, likelihood, x)
    else:
        x = _encoder_input(graph, likelihood, x)
    hidden = graph.mlp(x, encoder.trunk, "encoder")
    size = latent.n_components
    head = {name: i for i, name in enumerate(latent.head_names)}

    def rows(name):
        return slice(head[name] * size, (head[name] + 1) * size)

    if isinstance(latent, SpikeSlabLatent):
        mu = graph.linear(hidden, encoder.heads, "mu", rows("mu"))
        if latent.tied:  # as AggregateSpikeSlabLatent.tied_logit: a * mu + c
            slope = graph.constant("gate_slope", latent.gate_slope.detach().cpu().numpy())
            offset = graph.constant("gate_offset", latent.gate_offset.detach().cpu().numpy())
            scaled = graph.op("Mul", [mu, slope], "gate_scaled")
            logit = graph.op("Add", [scaled, offset], "gamma_logit")
        else:
            logit = graph.linear(hidden, encoder.heads, "gamma_logit", rows("gamma"))
        # As the torch code: active where sigmoid(logit) > ACTIVE_PROBABILITY.
        gamma = graph.op("Sigmoid", [logit], "gamma")
        threshold = graph.constant("active_probability", ACTIVE_PROBABILITY)
        active = graph.op("Greater", [gamma, threshold], "active")
        if latent.floor:
            active = _floored(graph, active, logit, threshold)
        if max_active is not None and max_active < size:
            # As _core.active_set.truncation_score: |mu| where active, -1 elsewhere.
            magnitude = graph.op("Abs", [mu], "magnitude")
            below = graph.constant("inactive_score", -1.0)
            score = graph.op("Where", [active, magnitude, below], "truncation_score")
            active = graph.op("And", [active, _top_k_mask(graph, score, max_active)], "kept")
        zero = graph.constant("zero", 0.0)
        return graph.op("Where", [active, mu, zero], "code", output=output)
    if isinstance(latent, NormalLatent):
        mu = graph.linear(hidden, encoder.heads, "mu", rows("mu"))
        return graph.op("Identity", [mu], "code", output=output)
    raise NotImplementedError(f"no ONNX export for {type(latent).__name__}")


def _top_k_mask(graph, score, k):
    """Mask of the ``k`` units of each row with the highest ``score``: ONNX's TopK
    puts the lower index first among equal values, as the stable sort of
    ``_core.active_set.largest``."""
    return _top(graph, score, k)[1]


def _top(graph, score, k):
    """The ``k`` highest values of each row of ``score`` (``(n, k)``) and the
    mask of their units (see :func:`_top_k_mask`)."""
    k = graph.constant("max_active", [k], dtype=np.int64)
    values, indices = graph.op("TopK", [score, k], "top", n_outputs=2, axis=1, largest=1)
    zero, one = graph.constant("mask_zero", 0.0), graph.constant("mask_one", 1.0)
    zeros = graph.op("Mul", [score, zero], "zeros")
    ones = graph.op("Add", [graph.op("Mul", [values, zero], "top_zeros"), one], "ones")
    mask = graph.op("ScatterElements", [zeros, indices, ones], "top_mask", axis=1)
    return values, graph.op("Greater", [mask, graph.constant("half", 0.5)], "top_k")


def _floored(graph, active, logit, threshold):
    """As ``_core.active_set.floored``: a row with no active unit (its largest
    ``gamma`` not above the threshold) keeps its unit of largest ``gamma``, the
    first of equal ones (TopK's order, as torch's ``argmax``). Ranked by the
    logit, of the same order: a runtime's sigmoid may round small ``gamma`` to
    0 (onnxruntime's float32 does below a logit of about -18), where the ranks
    would tie."""
    top_logit, top = _top(graph, logit, 1)
    top_gamma = graph.op("Sigmoid", [top_logit], "top_gamma")
    empty = graph.op("Not", [graph.op("Greater", [top_gamma, threshold], "any_active")], "empty")
    return graph.op("Or", [active, graph.op("And", [empty, top], "floor_unit")], "floored")


def _decoder(graph, module, z, output):
    """``inverse_transform``: the decoder and the likelihood's mean in data units."""
    likelihood, decoder = module.likelihood, module.decoder
    out = graph.linear(graph.mlp(z, decoder.trunk, "decoder"), decoder.out, "decoder_out")
    if isinstance(likelihood, MixedLikelihood):  # each column's mean, by its kind
        bernoulli, poisson = _kind_columns(graph, likelihood)
        rate = _poisson_mean(graph, out)
        gaussian = _in_data_units(graph, likelihood, out, "gaussian")
        other = graph.op("Where", [poisson, rate, gaussian], "count_or_gaussian")
        probability = graph.op("Sigmoid", [out], "probability")
        return graph.op("Where", [bernoulli, probability, other], "mean", output=output)
    if isinstance(likelihood, BernoulliLikelihood):
        return graph.op("Sigmoid", [out], "mean", output=output)
    if isinstance(likelihood, GaussianLikelihood):  # out * scale + shift
        return _in_data_units(graph, likelihood, out, "mean", output)
    if isinstance(likelihood, PoissonLikelihood):
        return _poisson_mean(graph, out, output)
    raise NotImplementedError(f"no ONNX export for {type(likelihood).__name__}")


def _poisson_mean(graph, out, output=None):
    """``exp(clamp(out))``: the rate of the Poisson likelihood."""
    low = graph.constant("log_rate_min", _POISSON_LOG_RATE_RANGE[0])
    high = graph.constant("log_rate_max", _POISSON_LOG_RATE_RANGE[1])
    clipped = graph.op("Clip", [out, low, high], "log_rate")
    return graph.op("Exp", [clipped], "rate" if output is None else "mean", output=output)


def _build(estimator, method, graph, x, output):
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    module = _module(estimator)
    if method == "inverse_transform":
        return _decoder(graph, module, x, output)
    # transform's options (VariationalSparseCoder: transform_n_nonzero_coefs), checked
    return _encoder(graph, module, x, output, *estimator._code_options())


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
    return dtype


def to_onnx(estimator, method="transform", *, dtype=np.float32, opset=DEFAULT_OPSET):
    """The ONNX graph of a fitted estimator's ``transform`` or ``inverse_transform``.

    The graph has one input (``X``, of shape ``(n_samples, n_features)`` for
    ``transform``, ``(n_samples, n_components)`` for ``inverse_transform``)
    and one output (``Z`` or ``X_original``), with any number of rows. It
    holds no input validation: see the module docstring. The code has exact
    zeros where ``transform``'s has; a runtime sums the matrix products in
    its own order, so a unit whose activity probability lies within rounding
    of the threshold (0.5) can come out the other way, as can the unit that
    the aggregate prior's floor keeps in a code with none above 0.5 when two
    units' probabilities lie within rounding of each other (rare: see
    ``docs/deployment.md``).

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.
    method : {"transform", "inverse_transform"}, default="transform"
        The method the graph computes: the encoder's deterministic code, or
        the decoder's mean in the data's units.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        The dtype of the input, the output and the weights.
    opset : int, default=17
        The ONNX operator set of the graph.

    Returns
    -------
    model : onnx.ModelProto
        The model; ``model.SerializeToString()`` gives the bytes of a
        ``.onnx`` file, which ``onnxruntime.InferenceSession`` runs.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VariationalSparseCoder
    >>> from skvsc.onnx import to_onnx
    >>> X = (load_digits().data / 16.0).astype(np.float32)
    >>> vsc = VariationalSparseCoder(n_components=8, hidden_layer_sizes=(32,),
    ...                              max_iter=2, random_state=0).fit(X)
    >>> model = to_onnx(vsc)
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())
    >>> Z = session.run(None, {"X": X})[0]
    >>> Z.shape, bool(np.allclose(Z, vsc.transform(X), atol=1e-5))
    ((1797, 8), True)
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    _check_dtype(dtype)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    module = _module(estimator)
    graph = _Nodes(dtype, unique=_Counter())
    n_in = module.n_components if method == "inverse_transform" else estimator.n_features_in_
    input_name, output_name = ("X", "X_original") if method == "inverse_transform" else ("X", "Z")
    _build(estimator, method, graph, input_name, output_name)
    n_out = estimator.n_features_in_ if method == "inverse_transform" else module.n_components
    elem = TensorProto.DOUBLE if np.dtype(dtype) == np.float64 else TensorProto.FLOAT
    onnx_graph = helper.make_graph(
        [helper.make_node(op, i, o, name=o[0], **a) for op, i, o, a in graph.nodes],
        f"skvsc_{type(estimator).__name__}_{method}",
        [helper.make_tensor_value_info(input_name, elem, ["n_samples", n_in])],
        [helper.make_tensor_value_info(output_name, elem, ["n_samples", n_out])],
        [numpy_helper.from_array(value, name) for name, value in graph.initializers],
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="skvsc",
    )
    onnx.checker.check_model(model)
    return model


class _Counter:
    """Names as given, with a numeric suffix on repeats."""

    def __init__(self):
        self.seen = {}

    def __call__(self, name):
        count = self.seen.get(name, 0)
        self.seen[name] = count + 1
        return name if count == 0 else f"{name}_{count}"


# -- skl2onnx ---------------------------------------------------------------------


def _skl2onnx_shape(operator):
    """Output type of the converter: the input's element type, ``n_components`` columns."""
    n_rows = operator.inputs[0].get_first_dimension()
    n_components = _module(operator.raw_operator).n_components
    operator.outputs[0].type = operator.inputs[0].type.__class__([n_rows, n_components])


def _skl2onnx_convert(scope, operator, container):
    """``transform`` of a skvsc estimator inside a graph that skl2onnx builds."""
    from onnx.helper import np_dtype_to_tensor_dtype
    from skl2onnx.common.data_types import guess_numpy_type

    dtype = _check_dtype(guess_numpy_type(operator.inputs[0].type))
    graph = _Nodes(dtype, unique=scope.get_unique_variable_name)
    _build(
        operator.raw_operator,
        "transform",
        graph,
        operator.inputs[0].full_name,
        operator.outputs[0].full_name,
    )
    for name, value in graph.initializers:
        elem = np_dtype_to_tensor_dtype(value.dtype)
        container.add_initializer(name, elem, list(value.shape), value.ravel().tolist())
    for op_type, inputs, outputs, attributes in graph.nodes:
        name = scope.get_unique_operator_name(f"skvsc_{op_type}")
        container.add_node(op_type, inputs, outputs, name=name, **attributes)


def register_skl2onnx():
    """Register converters for both estimators with ``skl2onnx``.

    Called when :mod:`skvsc.onnx` is imported and ``skl2onnx`` is installed;
    then ``skl2onnx.to_onnx`` converts a pipeline holding a skvsc estimator,
    with the estimator's ``transform`` as the graph of :func:`to_onnx`.

    Returns
    -------
    registered : bool
        Whether ``skl2onnx`` is installed (and the converters registered).

    Examples
    --------
    >>> import numpy as np
    >>> import skl2onnx
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from skvsc import VAETransformer
    >>> from skvsc.onnx import register_skl2onnx
    >>> register_skl2onnx()
    True
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16.0).astype(np.float32)
    >>> pipe = make_pipeline(VAETransformer(n_components=4, hidden_layer_sizes=(32,),
    ...                                     max_iter=2, random_state=0),
    ...                      LogisticRegression(max_iter=200)).fit(X, y)
    >>> model = skl2onnx.to_onnx(pipe, X[:1])
    >>> [output.name for output in model.graph.output]
    ['output_label', 'output_probability']
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError:
        return False
    for cls in (VariationalSparseCoder, VAETransformer):
        update_registered_converter(cls, f"Skvsc{cls.__name__}", _skl2onnx_shape, _skl2onnx_convert)
    return True


register_skl2onnx()
