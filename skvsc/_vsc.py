"""VariationalSparseCoder: the spike-and-slab VAE of Tonolini et al."""

import dataclasses
import math
import numbers
import warnings

from . import _docs, _params
from ._base import _BaseVAE
from ._core.latents import GATES
from ._core.penalties import USAGE_PENALTIES
from ._core.rate_control import SIDES
from ._core.schedule import FIXED_PRIOR_AUTO
from ._sparse_code import SparseCodeMixin
from ._widths import AUTO_BY_WIDTH, resolve_by_width, resolve_n_components


def _units_or_none(name, value):
    """``value`` as an int number of units (>= 1), or None; a ValueError naming
    ``name`` otherwise (both ``*_n_nonzero_coefs`` parameters)."""
    if value is None:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be None or a positive int, got {value!r}.")
    return int(value)


@_docs.fill
class VariationalSparseCoder(SparseCodeMixin, _BaseVAE):
    """Variational Sparse Coding: a VAE with a spike-and-slab latent space.

    Each sample is encoded by a few active latent units. The prior of every unit
    is ``alpha * N(0, 1) + (1 - alpha) * delta(0)`` and the recognition model
    is a spike-and-slab posterior with activity probabilities ``gamma`` [1]_.
    By default (``prior="aggregate"``) ``alpha`` is the fraction of units
    that are active over the data, the likelihood decides which units each
    sample uses, and training decodes the exact-sparse code itself;
    ``prior="fixed"`` trains the ELBO of the paper with relaxed
    spike-and-slab samples.

    :meth:`transform` returns an exactly sparse code: the posterior mean ``mu``
    of a unit where its activity probability ``gamma > 0.5``, and exact zeros
    elsewhere. With ``prior="aggregate"`` and ``alpha * n_components >= 1``,
    a sample with no unit above 0.5 keeps its most probable unit, so that no
    code is all zeros (see Notes).

    Parameters
    ----------
    {{n_components}}

    alpha : float or "auto", default="auto"
        Prior probability that a latent unit is active, in the open interval
        (0, 1): the fraction of non-zeros of the code, about ``alpha *
        n_components`` active units per sample with the default
        ``prior="aggregate"``. **Small alpha means sparser codes**: this is
        the opposite of ``alpha`` in
        :class:`~sklearn.decomposition.DictionaryLearning`, where a larger
        penalty gives sparser codes. With ``alpha * n_components < 1`` some
        samples get an all-zero code (above it, with ``prior="aggregate"``,
        none: see Notes). ``"auto"``: 0.05 for inputs of 64
        features or more (images), 0.25 for narrower inputs (tables), where
        fewer units, each active on more rows, code better
        (``docs/tables_screens.md``). Measured fractions: ``docs/results.md``.
        With the default ``n_components="auto"`` an input narrower than 64
        features gets about ``n_features_in_ / 2`` active units per sample at
        any alpha; a fit whose code is wider than its input and has more
        active units per sample than the input has features warns (it does
        not compress).

    prior : {"aggregate", "fixed"}, default="aggregate"
        How the spike part of the prior enters the training objective.
        ``"aggregate"``: a unit is on exactly where ``gamma > 0.5`` (the
        code of :meth:`transform`, which training decodes), the fraction of
        training samples on which each unit is on is pulled toward ``alpha``
        by ``sum_j KL(Bernoulli(r_j) || Bernoulli(alpha))``, and a sample
        pays no per-unit fee for the units it uses. ``"fixed"``: the ELBO of
        the paper, with random spikes of probability ``gamma``, where every
        active unit costs about ``log(1 / alpha)`` nats per sample, whatever
        the data, which leaves few active units (none on small data) at
        small ``alpha``. Both report and score an ELBO of their posterior;
        see Notes.

    slab_kl_weight : float or "auto", default="auto"
        Weight of the slab KL, ``sum_j gamma_j KL(N(mu_j, sigma_j^2) ||
        N(0, 1))``, in the training loss of ``prior="aggregate"`` (after the
        KL warm-up): 1 weights it as the ELBO does, smaller values let the
        slab values of the active units spread further from the prior, which
        makes the code more informative for a downstream model (a beta-VAE's
        beta, on the slab only). It does not change what is reported:
        losses and :meth:`score` stay the ELBO. Ignored by
        ``prior="fixed"``, which trains the paper's ELBO. ``"auto"``: 0.1 for
        inputs of 64 features or more, 0.01 for narrower inputs, whose
        reconstruction term sums over few columns. How the values were
        chosen: ``docs/results.md`` (images) and ``docs/tables_screens.md`` (tables).

    rate_control : float or "auto", default="auto"
        Step size ``eta`` of a controller that holds each unit's fraction of
        active training samples at ``alpha`` with ``prior="aggregate"``
        (ignored by ``prior="fixed"``). The aggregate term alone leaves the
        fractions above ``alpha``, the more so the smaller ``alpha``. The
        controller adds ``sum_j lambda_j r_j`` to the training loss (``r_j``:
        the fraction of the mini-batch on which unit j is active) and, at
        every step, moves ``lambda_j`` by ``eta (r_j - alpha)``, up or down
        (a fee on a unit above ``alpha``, a subsidy below it). At small
        ``alpha * n_components`` (a few active units per sample) the fee
        leaves more samples with no unit above 0.5, which keep their most
        probable unit (see Notes). It does not
        change what is reported: losses and :meth:`score` stay the ELBO. 0
        disables it; 1.0 was screened. What it does to the fraction of
        non-zeros, the accuracy and the codes kept by that floor:
        ``docs/results.md``. ``"auto"``: 1.0 for inputs of 64 features or
        more (images), with ``rate_control_sides="auto"`` a subsidy only,
        which keeps the tied gate's units alive at small ``alpha``; 0 for
        narrower inputs (tables).

    rate_control_sides : {"auto", "both", "up"}, default="auto"
        Which rates the controller of ``rate_control`` moves (read only when
        ``rate_control > 0``). ``"both"``: every unit's, to ``alpha`` (a fee
        above it, a subsidy below). ``"up"``: only those below ``alpha``
        (``lambda_j`` is kept at or below 0, a subsidy only), which keeps
        under-used units alive and leaves the busy ones, and so the number of
        active units per sample, to the aggregate term: with
        ``gate="tied"`` at small ``alpha * n_components`` it revives the
        units that the tied thresholds leave dead. ``"auto"``: ``"up"`` with
        ``rate_control="auto"``, ``"both"`` with a ``rate_control`` given as
        a number. Measured: ``docs/results.md``.

    rate_control_floor : float, default=1.0
        With ``rate_control_sides`` ``"up"`` (resolved), the rate below which
        a unit gets the subsidy, as a fraction of ``alpha``, in (0, 1]:
        ``lambda_j`` moves by ``eta (r_j - rate_control_floor * alpha)``, kept
        at or below 0, so that below 1 only the nearly dead units are pushed
        up and the busy-ish ones are left to the aggregate term. A value below
        1 with ``rate_control_sides`` ``"both"`` raises a ValueError (it has
        no subsidy of its own to move). Measured: ``docs/results.md``
        ("Subsidies for the nearly dead units").

    rate_control_mean : bool, default=False
        Add to the controller of ``rate_control`` one signed multiplier ``mu``
        on the mean rate over units: the training loss gets ``mu sum_j r_j``
        and every step moves ``mu`` by ``eta (mean_j r_j - alpha)``. It holds
        the number of active units per sample at ``alpha * n_components``
        without holding every unit at ``alpha``. Read only when
        ``rate_control > 0``. Measured: ``docs/results.md``.

    transform_n_nonzero_coefs : int, default=None
        Most active units per sample in the code of :meth:`transform`: where
        more are active, only the ``transform_n_nonzero_coefs`` units of
        largest magnitude keep their value, the others are set to 0. None
        keeps every active unit. Only :meth:`transform` reads it (not
        :meth:`fit`), so one fitted model serves every budget: fit with a
        larger ``alpha`` (and ``fit_n_nonzero_coefs`` at the smallest budget,
        so that the short codes lose little), then ``set_params`` it. Named as in
        :class:`~sklearn.decomposition.DictionaryLearning`, whose grids it can
        share; unlike OMP's target it is an upper bound. The fitted code
        statistics (``mean_active_units_``, ``activation_rates_``) describe
        the untruncated code.

    fit_n_nonzero_coefs : int, default=None
        Train the short code too: with ``prior="aggregate"``, the training
        loss adds the reconstruction of each sample from its training code cut
        to its ``fit_n_nonzero_coefs`` active units of largest magnitude (the
        code that ``transform_n_nonzero_coefs`` of the same value returns),
        weighted by ``fit_n_nonzero_weight``. Those units then learn to carry
        the sample on their own, so that a fit at a larger ``alpha`` keeps its
        accuracy when its code is truncated to a small budget after fitting
        (the "Multi-TopK" loss of TopK autoencoders). Set it to the smallest
        budget you expect to use. Each training step decodes twice, so a step
        takes longer. None (the default) trains the code as it is. Not
        available with ``prior="fixed"``. Measured: ``docs/results.md``.

    fit_n_nonzero_weight : float, default=1.0
        Weight of the truncated code's reconstruction term of
        ``fit_n_nonzero_coefs`` in the training loss (1 weights it as the
        whole code's). Read only when ``fit_n_nonzero_coefs`` is set; like
        ``slab_kl_weight`` it changes the training, not what is reported.
        Chosen with the tied gate (``gate="auto"``); with ``gate="free"``
        a weaker term (0.25) did better at the larger budgets
        (``docs/results.md``, "Training the short code").

    fit_n_nonzero_floor : float, default=0.0
        Keep the short code's units alive: with ``fit_n_nonzero_coefs = k``,
        a unit kept among a sample's ``k`` on fewer than ``fit_n_nonzero_floor
        * k / n_components`` of the training samples gets a growing subsidy
        on its activity probability (a subsidy-only rate controller on the
        short code, with the step size of ``rate_control``, which must be
        > 0). Without it, a wide code truncated to a small budget can leave
        units that are active but never among any sample's ``k`` largest:
        dead at that budget. The subsidies raise the units' activity
        everywhere, so the whole (untruncated) code gets denser: use it with
        ``transform_n_nonzero_coefs``; with ``alpha * n_components`` well
        above ``k`` they can make it dense (the estimator warns when it ends
        with more than 3 x ``alpha * n_components`` active units per sample).
        In [0, 1]; 0 (the default) disables it. Like ``rate_control`` it
        changes the training, not what is reported.
        Measured: ``docs/results.md`` ("Dead units of the short code").

    gate : {"auto", "free", "tied"}, default="auto"
        Where a unit's activity probability ``gamma`` comes from, with
        ``prior="aggregate"``. ``"free"``: an encoder head of its own,
        independent of the slab mean ``mu``, so the code keeps a unit's
        ``mu`` on the rows that head picks. ``"tied"``: ``gamma_j =
        sigmoid(a_j mu_j + c_j)``, with a slope ``a_j`` and an offset
        ``c_j`` learned per unit, so unit j is on exactly where its ``mu_j``
        passes a learned threshold, and the code is ``mu_j`` past it and 0
        elsewhere (a JumpReLU of ``mu``): a downstream linear model sees
        more of what the slab means carry. Its training loss weights every
        unit's slab KL by 1 (``"free"`` weights it by ``gamma``), which keeps
        the means of units that are off near the prior. Both build the same
        networks. ``"auto"``: ``"tied"`` (tables and images), ``"free"``
        with ``prior="fixed"``, which trains the paper's ELBO with the free
        gate only (``"tied"`` raises a ValueError there). Models saved
        before images got the tied gate keep the gate they were fitted
        with. Measured: ``docs/tables.md`` and ``docs/results.md``.

    {{likelihood}}

    {{network}}

    {{image_shape}}

    {{conv_channels}}

    {{hidden_layer_sizes}}

    {{decoder_layer_sizes}}

    {{max_iter}}

    {{batch_size}}

    {{learning_rate_init}}

    {{max_grad_norm}}

    {{tol}}

    {{n_iter_no_change}}

    {{early_stopping}}

    {{validation_fraction}}

    {{warm_start}}

    sharpness : tuple of two floats, default=(50.0, 200.0)
        ``(c_start, c_end)`` of the relaxed step ``sigmoid(c y)`` used in the
        reparameterised spike of ``prior="fixed"``; ``c`` rises linearly over
        the ``max_iter`` epochs. ``c_end`` is used by :meth:`score`. The
        default ``prior="aggregate"`` has deterministic spikes and ignores it.

    {{kl_warmup}}

    usage_weight : float or "auto", default="auto"
        Weight of a per-unit usage penalty that keeps latent units from dying
        (a unit is dead when no sample ever activates it). It regularises
        training only; reported losses are the plain ELBO. It rises with the
        KL weight during ``kl_warmup``; 0 disables it. ``"auto"`` is 5.0 with
        ``prior="aggregate"`` and 0 with ``prior="fixed"``.

    usage : {"balance", "prior"}, default="balance"
        Form of the usage penalty, with ``p_j`` the mean of ``gamma_j`` over a
        mini-batch. ``"balance"``:
        ``sum_j KL(Bernoulli(p_j) || Bernoulli(mean_j p_j))``, moves activity
        from over-used to under-used units and leaves the number of active
        units per sample to the ELBO. ``"prior"``:
        ``sum_j KL(Bernoulli(p_j) || Bernoulli(alpha))``, also pulls every
        unit's rate toward ``alpha``; on MNIST it leaves about half of 200
        units dead (see ``docs/results.md``).

    spike_pretrain : float, default=0.0
        Fraction of the training during which the slab is the fixed N(0, 1),
        so that codes carry information only through which units are on; the
        slab then moves to the encoder's over as many steps (UAI version of
        the paper). 0 disables it.

    revive : float, default=0.0
        Fraction of the training during which units that were never active in
        an epoch are re-seeded at its end: each takes a perturbed copy of one of
        the busiest units, which then share its samples (codebook splitting, as
        in vector quantisation). Off by default: it keeps units alive, but cost
        sparse-code accuracy on Fashion-MNIST in short runs (the user guide's
        ``revive`` entry has the figures). 0 disables it.

    {{device}}

    {{n_threads}}

    {{distributed}}

    {{random_state}}

    {{verbose}}

    Attributes
    ----------
    module_ : torch.nn.Module
        The fitted model: encoder and decoder networks, the spike-and-slab
        latent family and the likelihood (see the architecture page of the
        documentation).

    likelihood_ : str
        The likelihood used, ``"bernoulli"``, ``"gaussian"``, ``"poisson"`` or
        ``"mixed"``.

    device_ : str
        The device the model lives on.

    n_iter_ : int
        Number of epochs trained.

    loss_curve_ : list of float
        Training -ELBO per sample (nats) of each epoch.

    validation_scores_ : list of float or None
        Validation ELBO per sample of each epoch with ``early_stopping``.

    history_ : list of dict
        Per-epoch record: ``epoch``, ``loss`` (training -ELBO per sample, at the
        weights in force during the epoch), ``reconstruction`` (its
        ``-log p(x | z)`` part) and ``kl`` (its KL part), ``active_units`` (mean
        number of units with gamma > 0.5), ``time`` (seconds) and
        ``validation_score`` (validation ELBO) with ``early_stopping``.

    activation_rates_ : ndarray of shape (n_components,)
        Fraction of the training samples on which each unit is active (gamma
        > 0.5, a non-zero in :meth:`transform`). Like the four attributes
        below, computed in one encoding pass over the data of the last call
        to :meth:`fit` or :meth:`partial_fit`; see :meth:`sparsity_report`.

    mean_active_units_ : float
        Mean number of active units per training sample (the L0 norm of the
        code).

    n_dead_units_ : int
        Number of units active on no training sample.

    n_always_on_units_ : int
        Number of units active on every training sample.

    unit_values_ : ndarray of shape (n_components,)
        Typical signed value of each unit: the median of its non-zero values
        in the code of the training data (up to 10,000 evenly spaced rows,
        taken from the one encoding pass that gives all these statistics),
        0 for units never active. Units are one-signed as a rule, so this is
        the value at which :meth:`feature_effects` and
        :func:`~skvsc.plotting.plot_atoms` read them.

    code_variance_ : ndarray of shape (n_components,)
        Variance across the training samples of each unit's value in the code
        of :meth:`transform`. All zeros means the code does not depend on the
        input (posterior collapse): :meth:`fit` then warns.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    VAETransformer : Gaussian VAE with dense codes.
    sklearn.neural_network.BernoulliRBM : Binary latent features of an RBM.
    sklearn.decomposition.MiniBatchDictionaryLearning : Sparse coding with a
        linear dictionary.

    Notes
    -----
    The ELBO with the fixed prior (``prior="fixed"``, the paper) charges an
    active unit about ``log(1 / alpha)`` nats of KL per sample (4.6 nats at
    ``alpha=0.01``) plus its slab's KL, so it keeps a unit active only for
    samples whose reconstruction it improves by more than that: two to three
    units per MNIST image at ``alpha=0.01``, and all-zero codes on data that
    carry little information per sample (e.g. scikit-learn's 8x8 digits
    scaled to [0, 1]). That per-sample spike KL splits exactly into the
    information the spike carries about the sample and the KL of the
    aggregate activity ``r_j`` to ``alpha``. ``prior="aggregate"`` trains on
    the second part only (computed on the exact-sparse code), so ``alpha``
    is the law of the fraction of non-zeros: between ``alpha / 2`` and
    ``3 * alpha`` wherever ``alpha * n_components >= 1``, on small and large
    data, and closer to ``alpha`` as it grows (small values keep a little
    more than asked); below that, about one active unit per sample. Its spikes are
    deterministic (``gamma > 0.5``, learned through a straight-through
    gradient), so the decoder is trained on the code that :meth:`transform`
    returns. Where ``alpha * n_components >= 1`` that code has a floor: a
    sample with no unit above 0.5 keeps its most probable unit (largest
    ``gamma``, value ``mu``), in training, in :meth:`transform` (streamed,
    capped by ``transform_n_nonzero_coefs`` or exported to ONNX) and in the
    fitted statistics, so no code is all zeros; :meth:`activity_proba` still
    gives ``gamma``. The fixed prior has no floor: its ELBO may ask for no
    active unit, and the paper's code keeps those all-zero rows. The slab KL
    stays, so codes remain regularised like a VAE's.
    The reported losses and :meth:`score` are the ELBO of each option's
    posterior (for ``"aggregate"``, the one with deterministic spikes), a
    lower bound on ``log p(x)``. The training defaults were chosen on
    validation splits of the digits, MNIST and Fashion-MNIST training sets;
    see ``docs/results.md``.

    The schedule of the paper's objective: with ``prior="fixed"``, the
    parameters left at ``"auto"`` follow their own rule, chosen on a
    validation split of the MNIST training set for the ELBO per second of
    training: no KL warm-up and no usage penalty, ``learning_rate_init``
    three times the aggregate prior's, falling linearly to a tenth of it
    over the ``max_iter`` epochs (it stays there for further epochs, e.g.
    with :meth:`partial_fit`; a float ``learning_rate_init`` is kept
    constant), and ``max_iter`` about 0.55 times the aggregate prior's
    (10 epochs on 60,000 samples). See ``docs/performance.md``.

    References
    ----------
    .. [1] F. Tonolini, B. S. Jensen and R. Murray-Smith, "Variational Sparse
       Coding", UAI 2019, PMLR 115 (ICLR 2019 submission SkeJ6iR9Km).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VariationalSparseCoder
    >>> X, _ = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> vsc = VariationalSparseCoder(n_components=32, alpha=0.5, max_iter=5,
    ...                              random_state=0)
    >>> Z = vsc.fit_transform(X)
    >>> Z.shape
    (1797, 32)
    >>> bool(0.1 < (Z == 0).mean() < 0.9)  # exact zeros: a sparse code
    True
    """

    def __init__(
        self,
        n_components="auto",
        *,
        alpha="auto",
        prior="aggregate",
        slab_kl_weight="auto",
        rate_control="auto",
        rate_control_sides="auto",
        rate_control_floor=1.0,
        rate_control_mean=False,
        transform_n_nonzero_coefs=None,
        fit_n_nonzero_coefs=None,
        fit_n_nonzero_weight=1.0,
        fit_n_nonzero_floor=0.0,
        gate="auto",
        likelihood="auto",
        network="mlp",
        image_shape=None,
        conv_channels=(8, 16),
        hidden_layer_sizes=(400,),
        decoder_layer_sizes=None,
        max_iter="auto",
        batch_size="auto",
        learning_rate_init="auto",
        max_grad_norm=None,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        sharpness=(50.0, 200.0),
        kl_warmup="auto",
        usage_weight="auto",
        usage="balance",
        spike_pretrain=0.0,
        revive=0.0,
        device="auto",
        n_threads=None,
        distributed="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.prior = prior
        self.slab_kl_weight = slab_kl_weight
        self.rate_control = rate_control
        self.rate_control_sides = rate_control_sides
        self.rate_control_floor = rate_control_floor
        self.rate_control_mean = rate_control_mean
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.fit_n_nonzero_coefs = fit_n_nonzero_coefs
        self.fit_n_nonzero_weight = fit_n_nonzero_weight
        self.fit_n_nonzero_floor = fit_n_nonzero_floor
        self.gate = gate
        self.likelihood = likelihood
        self.network = network
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.hidden_layer_sizes = hidden_layer_sizes
        self.decoder_layer_sizes = decoder_layer_sizes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_grad_norm = max_grad_norm
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.sharpness = sharpness
        self.kl_warmup = kl_warmup
        self.usage_weight = usage_weight
        self.usage = usage
        self.spike_pretrain = spike_pretrain
        self.revive = revive
        self.device = device
        self.n_threads = n_threads
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    def _code_options(self):
        """``transform``'s cap on the active units, checked (see the parameter)."""
        k = _units_or_none("transform_n_nonzero_coefs", self.transform_n_nonzero_coefs)
        return () if k is None else (k,)

    def _latent_options(self):
        self._code_options()
        _check_real_or_auto("alpha", self.alpha, 0, 1, open_low=True, open_high=True)
        _params.check_options("prior", self.prior, set(_LATENT_BY_PRIOR))
        _check_real_or_auto("slab_kl_weight", self.slab_kl_weight, 0)
        _check_real_or_auto("rate_control", self.rate_control, 0)
        _params.check_options("rate_control_sides", self.rate_control_sides, {"auto", *SIDES})
        _params.check_real("rate_control_floor", self.rate_control_floor, 0, 1, open_low=True)
        _params.check_bool("rate_control_mean", self.rate_control_mean)
        if self.rate_control_floor != 1 and self._rate_control_sides() != "up":
            raise ValueError(
                f"rate_control_floor={self.rate_control_floor!r} needs rate_control_sides "
                "'up' (the floor is the subsidies' target; the signed controller holds "
                "every unit at alpha)."
            )
        kl_warmup, usage_weight = self._auto_weights()
        _params.check_real("usage_weight", usage_weight, 0)
        _params.check_options("usage", self.usage, set(USAGE_PENALTIES))
        _params.check_real("spike_pretrain", self.spike_pretrain, 0, 0.5)
        _params.check_real("revive", self.revive, 0, 1)
        truncated = self._truncated_training()
        _params.check_options("gate", self.gate, {"auto", *GATES})
        if self.prior != "aggregate" and self.gate == "tied":
            raise ValueError(
                f"gate={self.gate!r} needs prior='aggregate': the fixed prior trains the "
                "paper's ELBO with the encoder's own activity head."
            )
        return dict(
            latent=_LATENT_BY_PRIOR[self.prior],
            latent_params={
                "alpha": _auto_or_float(self.alpha),
                "usage": self.usage,
                # the paper's ELBO (prior="fixed") has no such weight
                **(
                    {
                        "slab_kl_weight": _auto_or_float(self.slab_kl_weight),
                        "rate_control": _auto_or_float(self.rate_control),
                        "rate_control_sides": self._rate_control_sides(),
                        "rate_control_floor": float(self.rate_control_floor),
                        "rate_control_mean": bool(self.rate_control_mean),
                        "gate": self.gate,
                    }
                    if self.prior == "aggregate"
                    else {}
                ),
                **truncated,
            },
            schedule_params={
                "sharpness": _params.check_sharpness(self.sharpness),
                "kl_warmup": float(kl_warmup),
                "spike_pretrain": float(self.spike_pretrain),
                "usage_weight": float(usage_weight),
                "revive": float(self.revive),
            },
        )

    def _rate_control_sides(self):
        """``rate_control_sides``, ``"auto"`` resolved: subsidies only with the
        ``"auto"`` controller, both sides with a step given as a number."""
        if not _params.is_auto(self.rate_control_sides):
            return self.rate_control_sides
        return "up" if _params.is_auto(self.rate_control) else "both"

    def _truncated_training(self):
        """``fit_n_nonzero_coefs`` and its weight, checked, as latent parameters
        of the aggregate prior (none for the fixed prior)."""
        k = _units_or_none("fit_n_nonzero_coefs", self.fit_n_nonzero_coefs)
        _params.check_real("fit_n_nonzero_weight", self.fit_n_nonzero_weight, 0)
        _params.check_real("fit_n_nonzero_floor", self.fit_n_nonzero_floor, 0, 1)
        if self.fit_n_nonzero_floor > 0 and k is None:
            raise ValueError(
                f"fit_n_nonzero_floor={self.fit_n_nonzero_floor!r} needs fit_n_nonzero_coefs: "
                "it keeps the units of the trained short code alive."
            )
        if self.prior != "aggregate":
            if k is not None:
                raise ValueError(
                    "fit_n_nonzero_coefs needs prior='aggregate': the fixed prior trains "
                    "the paper's ELBO, with random spikes and no truncated code."
                )
            return {}
        return {
            "fit_n_nonzero_coefs": k,
            "fit_n_nonzero_weight": float(self.fit_n_nonzero_weight),
            "fit_n_nonzero_floor": float(self.fit_n_nonzero_floor),
        }

    def _auto_weights(self):
        """``kl_warmup`` and ``usage_weight``, ``"auto"`` resolved for ``prior``
        (checked by the callers, as floats)."""
        fixed = self.prior == "fixed"
        kl_warmup, usage_weight = self.kl_warmup, self.usage_weight
        if _params.is_auto(kl_warmup):
            kl_warmup = FIXED_PRIOR_AUTO["kl_warmup"] if fixed else _AGGREGATE_KL_WARMUP
        if _params.is_auto(usage_weight):
            usage_weight = FIXED_PRIOR_AUTO["usage_weight"] if fixed else _AGGREGATE_USAGE_WEIGHT
        return kl_warmup, usage_weight

    def _kl_warmup(self):
        return self._auto_weights()[0]

    def _auto_schedule_options(self):
        # The paper's ELBO trains with a decaying rate when the rate is "auto".
        # Not a parameter of the model's spec: changing learning_rate_init
        # before continuing a fit is allowed, as for the other estimator.
        if self.prior == "fixed" and self.learning_rate_init == "auto":
            return {"lr_decay": FIXED_PRIOR_AUTO["lr_decay"]}
        return {}

    def _auto_epoch_options(self):
        return {"scale": FIXED_PRIOR_AUTO["epoch_scale"]} if self.prior == "fixed" else {}

    def _auto_learning_rate_options(self):
        return {"base": FIXED_PRIOR_AUTO["learning_rate"]} if self.prior == "fixed" else {}

    def _resolved(self, spec, n_features):
        # The width-dependent options first: the auto width follows alpha.
        latent = {
            name: resolve_by_width(name, value, n_features) if name in AUTO_BY_WIDTH else value
            for name, value in spec.latent_params.items()
        }
        n_components = resolve_n_components(spec.n_components, n_features, latent["alpha"])
        return dataclasses.replace(spec, n_components=n_components, latent_params=latent)

    def _start(self, X, spec, low, high, sync=None, **options):
        # Codes are partly empty by construction when the prior expects fewer than one
        # active unit per sample: say so before training, with the remedy.
        alpha, n_units = spec.latent_params["alpha"], spec.n_components
        if alpha * n_units < 1:
            warnings.warn(
                f"alpha * n_components = {alpha * n_units:.3g} < 1: the prior "
                "expects fewer than one active unit per sample, so some codes are all zeros "
                f"by construction. Raise alpha to at least 1 / n_components = "
                f"{1 / n_units:.3g}, or n_components to at least 1 / alpha = "
                f"{math.ceil(1 / alpha)}.",
                UserWarning,
                stacklevel=4,
            )
        super()._start(X, spec, low, high, sync, **options)


#: ``kl_warmup="auto"`` and ``usage_weight="auto"`` with ``prior="aggregate"``
#: (the values these parameters had as defaults before ``"auto"``).
_AGGREGATE_KL_WARMUP = 0.5
_AGGREGATE_USAGE_WEIGHT = 5.0

#: The latent family of each value of ``prior``.
_LATENT_BY_PRIOR = {"aggregate": "spike_slab_aggregate", "fixed": "spike_slab"}


def _check_real_or_auto(name, value, *bounds, **options):
    """``value`` is ``"auto"`` or a real number as :func:`~skvsc._params.check_real` checks."""
    if isinstance(value, str) and not _params.is_auto(value):
        raise TypeError(f"{name} must be a real number or 'auto', got {value!r}.")
    if not _params.is_auto(value):
        _params.check_real(name, value, *bounds, **options)


def _auto_or_float(value):
    """A float parameter that may be ``"auto"`` (resolved from the data at fit)."""
    return value if _params.is_auto(value) else float(value)
