"""VAETransformer: the Gaussian VAE baseline."""

from . import _docs, _inference, _params
from ._base import _BaseVAE
from ._diagnostics import ACTIVE_VARIANCE_THRESHOLD, count_active_units, variance_of_summary


@_docs.fill
class VAETransformer(_BaseVAE):
    """Gaussian variational auto-encoder as a scikit-learn transformer.

    The baseline of :class:`VariationalSparseCoder`: the same encoder and
    decoder networks with a standard normal prior N(0, I) and a Gaussian
    posterior N(mu, sigma^2). :meth:`transform` returns the posterior mean
    ``mu`` (a dense code).

    Parameters
    ----------
    {{n_components}}

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

    {{kl_warmup}}

    {{device}}

    {{n_threads}}

    {{distributed}}

    {{random_state}}

    {{verbose}}

    Attributes
    ----------
    module_ : torch.nn.Module
        The fitted model: encoder and decoder networks, the normal latent
        family and the likelihood (see the architecture page of the
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
        ``-log p(x | z)`` part) and ``kl`` (its KL part), ``active_units``
        (always ``n_components``: the code is dense), ``time`` (seconds) and
        ``validation_score`` (validation ELBO) with ``early_stopping``.

    posterior_mean_variance_ : ndarray of shape (n_components,)
        Variance across the training samples of each unit's posterior mean
        (computed in one encoding pass over the data of the last call to
        :meth:`fit` or :meth:`partial_fit`); see :meth:`sparsity_report`.

    n_active_units_ : int
        Number of units whose ``posterior_mean_variance_`` exceeds 0.01, the
        active units of Burda et al. [2]_; the other units carry (almost) no
        information about the data.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    VariationalSparseCoder : The same networks with a sparse latent space.
    sklearn.decomposition.PCA : Linear dense codes.

    References
    ----------
    .. [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes",
       ICLR 2014.
    .. [2] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted
       Autoencoders", ICLR 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(n_components=8, max_iter=5, random_state=0)
    >>> vae.fit(X / 16.0).transform(X[:3] / 16.0).shape
    (3, 8)
    """

    def __init__(
        self,
        n_components=32,
        *,
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
        kl_warmup=0.0,
        device="auto",
        n_threads=None,
        distributed="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
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
        self.kl_warmup = kl_warmup
        self.device = device
        self.n_threads = n_threads
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose

    def _latent_options(self):
        return dict(latent="normal", schedule_params={"kl_warmup": float(self._kl_warmup())})

    def _code_statistics(self, X, threshold=ACTIVE_VARIANCE_THRESHOLD, sync=None):
        """The statistics of the posterior means of validated ``X`` (``sync``:
        each rank of a data-parallel fit encodes its share of the rows)."""
        summary = _inference.summarize_rows(self, X, "posterior_field", "mu", sync=sync)
        variance = variance_of_summary(summary)
        return {
            "n_samples": X.shape[0],
            "posterior_mean_variance": variance,
            "n_active_units": count_active_units(variance, threshold),
        }

    def _set_code_statistics(self, stats):
        self.posterior_mean_variance_ = stats["posterior_mean_variance"]
        self.n_active_units_ = stats["n_active_units"]

    def sparsity_report(self, X, threshold=ACTIVE_VARIANCE_THRESHOLD):
        """Active units of the (dense) code of ``X``, as in Burda et al.

        A unit is active when the variance across ``X`` of its posterior mean
        exceeds ``threshold``. At the end of :meth:`fit` the statistics of
        the training data are stored as ``posterior_mean_variance_`` and
        ``n_active_units_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode (streamed in batches).
        threshold : float, default=0.01
            Variance above which a unit counts as active.

        Returns
        -------
        report : dict
            ``n_samples``; ``posterior_mean_variance`` (ndarray of shape
            (n_components,)); ``n_active_units``.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvsc import VAETransformer
        >>> X = load_digits().data / 16.0
        >>> vae = VAETransformer(n_components=8, max_iter=2, random_state=0).fit(X)
        >>> report = vae.sparsity_report(X)
        >>> report["posterior_mean_variance"].shape
        (8,)
        >>> report["n_active_units"] == vae.n_active_units_
        True
        """
        _params.check_real("threshold", threshold, 0)
        return self._code_statistics(self._validate_input(X), threshold)

    def _summary_lines(self):
        if not hasattr(self, "n_active_units_"):
            return []
        return [
            f"Code on the training data: {self.n_active_units_} of "
            f"{self.posterior_mean_variance_.shape[0]} units active (variance of the "
            f"posterior mean > {ACTIVE_VARIANCE_THRESHOLD})"
        ]
