"""Running a fitted model over data: the estimators' inference methods.

:class:`InferenceMixin` holds ``transform``, ``inverse_transform``,
``score_samples``, ``score`` and ``sample``. Rows are streamed in batches from
the host, computed under ``no_grad`` in eval mode in the dtype of the input,
and gathered into NumPy arrays. A method of the module is named by its name
and extra arguments (``map_module(est, "posterior_field", X, "mu")``).

The thread count of ``n_threads=None`` here ignores the load of other
processes: the same input and model give the same output, bit for bit,
whatever else runs on the machine (the order of float reductions may depend
on the thread count).
"""

import copy
import functools

import numpy as np
import torch
from sklearn.base import TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from . import _chunked, _log_likelihood, _params
from ._core.data import map_batches, to_tensor
from ._core.vae import SCORE_SEED, score_noises
from ._data_checks import (
    check_column_ranges,
    column_facts,
    column_names,
    has_missing,
    onto_support,
    supported_layout,
    validated,
)
from ._device import torch_threads
from ._diagnostics import code_summary, merge_summaries

_EVAL_BATCH_SIZE = 2048


def torch_dtype(np_dtype):
    return torch.float64 if np.dtype(np_dtype) == np.float64 else torch.float32


def eval_module(estimator, dtype):
    """The fitted module in ``dtype`` (a float64 copy for float64 input)."""
    estimator.module_.eval()
    if dtype == torch.float32:
        return estimator.module_
    return copy.deepcopy(estimator.module_).to(dtype)


def _threads(estimator, n_rows):
    """The intra-op threads of inference over ``n_rows`` rows (load-independent)."""
    work = estimator._run.config.matmul_flops(min(_EVAL_BATCH_SIZE, n_rows), backward=False)
    return torch_threads(estimator.n_threads, work=work, load_aware=False)


def map_module(estimator, method, X, *args, dtype=None):
    """Apply the module's ``method`` (a name; ``args`` follow each batch) to
    batches of validated ``X``; non-finite results raise a ValueError."""
    dtype = torch_dtype(X.dtype if dtype is None else dtype)
    fn = getattr(eval_module(estimator, dtype), method)

    def checked(x):
        out = fn(x, *args)
        if not bool(torch.isfinite(out).all()):
            raise ValueError(
                f"The model gave non-finite values in {dtype} for this input "
                f"(max |X| in the batch: {x.abs().max().item():.3g}). Pass "
                "float64 data, or scale X like the training data."
            )
        return out

    with torch.no_grad(), _threads(estimator, X.shape[0]):
        return map_batches(
            checked,
            X,
            batch_size=_EVAL_BATCH_SIZE,
            device=torch.device(estimator.device_),
            dtype=dtype,
        )


def reduce_rows(estimator, X, method, reduce, *args, rows=None):
    """``reduce`` applied to the batches of the module's ``method(x, *args)``
    over the rows ``x`` of validated ``X`` (``rows``: only rows ``[start,
    stop)``), streamed so that no (n_samples, n_components) array is held."""
    dtype = torch_dtype(X.dtype)
    fn = getattr(eval_module(estimator, dtype), method)
    device = torch.device(estimator.device_)
    start, stop = (0, X.shape[0]) if rows is None else rows
    batches = (
        fn(to_tensor(X[begin : min(stop, begin + _EVAL_BATCH_SIZE)], device, dtype), *args)
        for begin in range(start, stop, _EVAL_BATCH_SIZE)
    )
    with torch.no_grad(), _threads(estimator, stop - start):
        return reduce(batches)


def summarize_rows(estimator, X, method, *args, sync=None, sample=None):
    """The :func:`~skvsc._diagnostics.code_summary` of the module's ``method``
    over the rows of validated ``X``. In a data-parallel fit (``sync``) each
    rank summarizes its share of the rows and every rank merges the parts in
    rank order, so no rank encodes every row. ``sample`` (a
    :class:`~skvsc._interpret.RowSample`) also receives every batch, with
    the position of its first row in ``X``, in the same pass (gathered
    across ranks)."""
    n_components = estimator._run.model.n_components
    rows = None if sync is None else sync.share(X.shape[0])

    def summary(batches):
        if sample is not None:
            batches = _fed_to(sample, batches, 0 if rows is None else rows[0])
        return code_summary(batches, n_components)

    mine = reduce_rows(estimator, X, method, summary, *args, rows=rows)
    if sync is not None and sample is not None:
        sample.gather(sync, n_components)
    if sync is None:
        return mine
    parts = sync.gather(torch.from_numpy(mine).to(sync.device))
    return merge_summaries([part.cpu().numpy() for part in parts])


def _fed_to(sample, batches, first_row):
    """``batches`` unchanged, each also added to ``sample`` with the position
    of its first row."""
    for batch in batches:
        sample.add(batch, first_row)
        first_row += batch.shape[0]
        yield batch


class InferenceMixin(TransformerMixin):
    """The inference methods of a fitted VAE-family estimator (a transformer:
    scikit-learn wraps its ``transform`` for ``set_output``)."""

    def _validate_input(self, X, *, strict=False):
        # Data outside the likelihood's support (e.g. negative values for a
        # Bernoulli model) are refused where the model must describe them
        # (``strict``: scores, as in fit) and clipped onto it, with a warning,
        # to encode them: new data scaled by a scaler fitted on a training
        # split leave [0, 1] as a matter of course.
        check_is_fitted(self)
        X = validated(self, X, reset=False, allow_nan=True)
        self._check_missing(X, has_missing(X))
        if self.likelihood_ == "mixed":  # each column against its own likelihood
            kinds = self.module_.likelihood.column_kinds()
            names = getattr(self, "feature_names_in_", None)
            check_column_ranges(X, kinds, names, strict=strict, fitted=True)
        return onto_support(X, self.likelihood_, strict=strict)

    def _check_missing(self, X, missing):
        """Refuse missing values (NaN; ``missing``: whether validated ``X`` has
        any) for a model fitted without any, naming the columns that hold
        them: its encoder has no input for the mask, and filling them in
        silently would be an imputation the user did not choose."""
        if missing and not self._run.config.missing:
            counts = column_facts(X)["count"]
            where = np.flatnonzero(counts < X.shape[0])
            names = getattr(self, "feature_names_in_", None)
            where = f" in {column_names(where, names)}" if where.size else ""
            raise ValueError(
                f"X has missing values (NaN){where}, but this {type(self).__name__} was fitted on "
                "data without any, so its encoder has no input for the mask of observed "
                "entries. Fit it on data with missing values (it then leaves them out of "
                "the likelihood and shows the encoder where they are), or impute X first "
                "(sklearn.impute.SimpleImputer)."
            )

    def transform(self, X):
        """Encode ``X`` into its latent code (deterministic).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            The code, in the dtype of ``X`` (float32 or float64). A memmap (or
            h5py or zarr dataset) is read in chunks; a dask array gives a lazy
            dask array, encoded block by block where its blocks live.
        """
        if _chunked.is_out_of_core(X):
            check_is_fitted(self)
            _chunked.check_columns(self, X, self.n_features_in_)
            return _chunked.map_rows(X, self.transform, self._n_features_out)
        return map_module(self, "code", self._validate_input(X), *self._code_options())

    def _code_options(self):
        """Extra arguments of the module's ``code`` (none by default)."""
        return ()

    def inverse_transform(self, X):
        """Decode latent codes into the data space (the mean of p(x | z)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Decoded means in the original units: pixel probabilities for the
            Bernoulli likelihood, the Gaussian mean, the Poisson rate.
        """
        check_is_fitted(self)
        if _chunked.is_out_of_core(X):
            _chunked.check_columns(self, X, self.module_.n_components)
            return _chunked.map_rows(X, self.inverse_transform, self.n_features_in_)
        Z = supported_layout(check_array(X, dtype=(np.float64, np.float32), input_name="X"))
        if Z.shape[1] != self.module_.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features (latent codes), but {type(self).__name__} "
                f"has n_components={self.module_.n_components}."
            )
        return map_module(self, "decode_mean", Z)

    def score_samples(self, X, n_draws=None):
        """Evidence lower bound, or estimated log-likelihood, of each sample, in nats.

        With ``n_draws=None`` (default), the ELBO: ``log p_theta(x | z)`` is
        averaged over a fixed set of noise draws shared by all samples, so the
        result is deterministic and does not depend on how rows are batched.
        With an integer, :meth:`log_likelihood` with that many draws and a
        fixed seed (also deterministic).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        n_draws : int, default=None
            None: the ELBO, a lower bound on ``log p(x)`` whose gap differs
            from model to model. An int: the importance-sampled estimate of
            ``log p(x)`` with ``n_draws`` draws per sample (tighter, slower;
            use it to compare models with different latent spaces).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ELBO, or estimated ``log p(x)``, per sample.
        """
        if n_draws is not None:  # out-of-core input too: the rows' seeds follow their positions
            return self.log_likelihood(X, n_draws=n_draws, random_state=SCORE_SEED)
        if _chunked.is_out_of_core(X):
            check_is_fitted(self)
            _chunked.check_columns(self, X, self.n_features_in_)
            return _chunked.map_rows(X, self.score_samples, None)
        X = self._validate_input(X, strict=True)
        noises = score_noises(self.module_, torch_dtype(X.dtype), self.device_)
        return map_module(self, "elbo", X, noises, self._run.schedule.final())

    def score(self, X, y=None, n_draws=None):
        """Mean ELBO, or mean estimated log-likelihood, per sample, in nats (higher is better).

        The default criterion of ``GridSearchCV`` without labels. The ELBO
        (default) is a bound whose gap differs between models (with
        ``prior="aggregate"`` it includes a fee that grows with ``alpha``
        and ``n_components`` whatever the data); to rank models by ``log
        p(x)`` pass ``n_draws``, e.g. with ``scoring=lambda est, X, y=None:
        est.score(X, n_draws=100)``. Either ranks density models, not codes
        for a downstream task: see ``docs/model_selection.md`` for what each
        picks.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency by convention.
        n_draws : int, default=None
            None: the ELBO. An int: :meth:`log_likelihood` with that many
            draws per sample and a fixed seed.

        Returns
        -------
        score : float
            Mean ELBO, or mean estimated ``log p(x)``, per sample.
        """
        # dask: computed here
        return float(np.mean(self.score_samples(X, n_draws=n_draws)))

    def log_likelihood(self, X, n_draws=200, random_state=None):
        """Importance-sampled estimate of ``log p(x)`` of each sample, in nats.

        ``log (1/K) sum_k p(x | z_k) p(z_k) / r(z_k | x)`` over ``K =
        n_draws`` draws ``z_k`` from a proposal ``r`` built on the encoder's
        posterior, with the model's prior ``p(z)`` (the estimate of the IWAE
        paper). Its expectation is a lower bound on ``log p(x)`` that rises
        with ``n_draws`` and converges to it; with one draw it is the ELBO in
        expectation. For the spike-and-slab models the prior is ``alpha N(0,
        1) + (1 - alpha) delta(0)`` per unit (with either ``prior``: the
        aggregate prior changes the training loss, not the model), the
        ratios of point masses and densities are exact (no relaxation), and
        the draws alternate between two proposals that mix the encoder's
        posterior with the prior (a small and a large weight on the prior),
        so that every spike pattern can be drawn: the posterior of
        ``prior="aggregate"`` has deterministic spikes. See
        ``docs/model_selection.md``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        n_draws : int, default=200
            Importance samples per sample of ``X``. The cost is about
            ``n_draws`` decoder passes per sample.
        random_state : int, RandomState instance or None, default=None
            Seed of the draws. For a fixed seed the result does not depend on
            how rows are batched; the global RNGs are not used.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            Estimated ``log p(x)`` per sample, in nats, in the dtype of ``X``.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvsc import VAETransformer
        >>> X = load_digits().data / 16.0
        >>> vae = VAETransformer(n_components=8, max_iter=2, random_state=0).fit(X)
        >>> ll = vae.log_likelihood(X[:5], n_draws=50, random_state=0)
        >>> ll.shape
        (5,)
        >>> bool((ll >= vae.score_samples(X[:5]) - 1.0).all())
        True
        """
        _params.check_int("n_draws", n_draws, 1)
        seed = _params.seed_from(random_state)
        if _chunked.is_out_of_core(X):  # chunk by chunk, each row seeded by its position in X
            check_is_fitted(self)
            _chunked.check_columns(self, X, self.n_features_in_)
            rows = functools.partial(self._log_likelihood_rows, n_draws=n_draws, seed=seed)
            return _chunked.map_rows(X, rows, None, with_position=True)
        return self._log_likelihood_rows(X, 0, n_draws=n_draws, seed=seed)

    def _log_likelihood_rows(self, X, first_row, *, n_draws, seed):
        """:meth:`log_likelihood` of in-memory rows, the first at ``first_row`` of the data."""
        X = self._validate_input(X, strict=True)  # a likelihood of data off the support is refused
        dtype = torch_dtype(X.dtype)
        return _log_likelihood.estimate(
            eval_module(self, dtype),
            X,
            n_draws=n_draws,
            seed=seed,
            dtype=dtype,
            device=self.device_,
            n_threads=self.n_threads,
            first_row=first_row,
        )

    def sample(self, n_samples=1, random_state=None):
        """Draw codes from the prior and decode them.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seed of the draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Decoded means of the prior samples.
        """
        check_is_fitted(self)
        _params.check_int("n_samples", n_samples, 1)
        seed = _params.seed_from(random_state)
        generator = torch.Generator(device=self.device_).manual_seed(seed)
        with torch.no_grad():
            z = self.module_.prior_sample(n_samples, generator)
        return self.inverse_transform(z.cpu().numpy().astype(np.float64))
