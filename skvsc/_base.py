"""Private base estimator: validate, describe the model, call the core, store.

:class:`~skvsc.VariationalSparseCoder` and :class:`~skvsc.VAETransformer`
add their docstring, ``__init__`` and:

- ``_latent_options()``: checks their own parameters and returns the latent
  family, its options and the schedule's options (fields of the
  :class:`~skvsc._core.run.ModelSpec`);
- ``_code_statistics(X, sync=None)``, ``_set_code_statistics(stats)`` (assigns the
  statistics of the training data to their attributes, by name) and
  ``_summary_lines()``: the diagnostics.

The fitted model is one :class:`~skvsc._core.run.Run` in ``_run`` (``module_``
is its torch module). The inference methods live in
:class:`~skvsc._inference.InferenceMixin`.
"""

import dataclasses
import warnings

import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

from . import _chunked, _params, _state
from ._core.data import make_source
from ._core.distributed import data_parallel
from ._core.guard import NonFiniteLossError, TrainingInterrupted
from ._core.likelihoods import LIKELIHOODS
from ._core.networks import NETWORKS
from ._core.revive import Revival
from ._core.run import ModelSpec, Run
from ._core.schedule import auto_epochs, auto_learning_rate
from ._core.train import ConvergenceStop, TrainConfig, Validation
from ._core.vae import score_noises
from ._data_checks import (
    column_stats,
    resolve_column_kinds,
)
from ._device import check_model_memory, resolve_device, torch_threads
from ._fit_data import fit_data, resolve_likelihood
from ._inference import InferenceMixin
from ._progress import Progress
from ._rollback import RollbackMixin
from ._widths import resolve_n_components

#: Steps between non-finite checks on a GPU (one host sync each; see StepGuard).
_GPU_CHECK_EVERY = 32


class _BaseVAE(RollbackMixin, ClassNamePrefixFeaturesOutMixin, InferenceMixin, BaseEstimator):
    """Shared implementation of the VAE-family transformers."""

    # -- fitting -------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the model to ``X`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time. A
            NumPy memmap, dask array, h5py or zarr dataset larger than 128 MiB
            is read in chunks, never whole (see the guide page on data larger
            than memory).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, None, resume=self.warm_start, hold_out=self.early_stopping)

    def partial_fit(self, X, y=None):
        """Train for one epoch over ``X``, keeping the state between calls.

        The first call initialises the model (likelihood, scaling, weights and
        the schedule over ``max_iter`` epochs of batches of this size).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
        return self._fit(X, 1, resume=True, hold_out=False)

    def _fit(self, X, n_epochs, *, resume, hold_out):
        """Validate, start a run unless resuming, train ``n_epochs`` epochs
        (None: ``max_iter``, resolved for ``X``; ``hold_out``: monitor a
        validation split) and store the code statistics.

        A call that fails leaves the estimator as it was (see
        ``docs/reliability.md``): the checks come first, and any exception
        restores the attributes saved at the start, except a non-finite loss,
        after which the model keeps its last good weights and their record.
        """
        resume = resume and hasattr(self, "_run")
        saved = self._snapshot(copy_run=resume)
        sync = None
        try:
            spec = self._check_params()
            if resume:
                _params.check_unchanged(self, spec)
            sync = self._data_parallel()
            X, (low, high), missing = fit_data(self, X, reset=not resume, sync=sync)
            if sync is not None:
                sync.check_same(list(X.shape), "numbers of samples and features")
            if not resume:
                if hold_out:
                    self._validation_size(X.shape[0])
                spec = self._resolved(spec, X.shape[1])
                config = spec.config(X.shape[1], missing)
                check_model_memory(self, config, self._batch_size(X.shape[0]))
                self._start(X, spec, low, high, sync, missing=missing)
            if n_epochs is None:
                n_epochs = self._max_epochs(X.shape[0])
            self._train(X, n_epochs, hold_out=hold_out, sync=sync)
            self._set_code_statistics(self._code_statistics(X, sync=sync))
        except FloatingPointError:  # the last good weights, and the epochs that led there
            raise
        except BaseException:
            self._restore(saved)
            raise
        finally:
            if sync is not None:
                sync.close()
        return self

    def _check_params(self):
        """Check every parameter; return the :class:`ModelSpec` they name."""
        _params.check_shared(self)
        network, family = self._network()
        return ModelSpec(
            n_components=self.n_components,
            likelihood="mixed" if _params.per_column(self.likelihood) else self.likelihood,
            network=network,
            network_params=family.options(),
            **self._latent_options(),
        )

    def _resolved(self, spec, n_features):
        """``spec`` with its width-dependent ``"auto"`` values resolved for
        ``n_features`` input features (:mod:`skvsc._widths`)."""
        n_components = resolve_n_components(spec.n_components, n_features)
        return dataclasses.replace(spec, n_components=n_components)

    def _network(self):
        """``(name, family)``: the network family of the parameter ``network``,
        made from the estimator parameters the family lists (which it checks)."""
        name = self.network
        _params.check_options("network", name, set(NETWORKS))
        family = NETWORKS[name]
        return name, family(**{option: getattr(self, option) for option in family.parameters})

    def _data_parallel(self):
        """The :class:`~skvsc._core.distributed.DataParallel` of this fit under a
        torch.distributed launcher (``distributed="auto"``), else None."""
        device = getattr(self, "device_", None) or resolve_device(self.device)
        return data_parallel(self.distributed, device)

    def _start(self, X, spec, low, high, sync=None, *, missing=False):
        """Resolve the device and the likelihood, start a run of ``spec`` (its
        width-dependent ``"auto"`` values resolved by :meth:`_resolved`; of data
        with missing values when ``missing``), and reset the record of the
        training. In a data-parallel fit (``sync``) every rank starts from
        rank 0's seed and weights."""
        self.device_ = str(resolve_device(self.device))
        self.likelihood_ = resolve_likelihood(self, X, low, high)
        config = spec.config(X.shape[1], missing, likelihood=self.likelihood_)
        if self.likelihood_ == "mixed":
            given = self.likelihood if _params.per_column(self.likelihood) else {}
            names = getattr(self, "feature_names_in_", None)
            kinds = resolve_column_kinds(X, given, names)
        seed = _params.seed_from(self.random_state)
        if sync is not None:  # random_state=None: rank 0's fresh seed for all
            seed = int(sync.broadcast(torch.tensor([seed], device=sync.device))[0])
        stats = column_stats(X) if LIKELIHOODS[self.likelihood_].standardizes else (None, None)
        total_steps = self._max_epochs(X.shape[0]) * self._steps_per_epoch(X.shape[0])
        self._run = Run.start(
            config,
            dataclasses.replace(spec.schedule(total_steps), **self._auto_schedule_options()),
            seed=seed,
            device=self.device_,
            learning_rate=self._learning_rate(),
            shift=stats[0],
            scale=stats[1],
        )
        if self.likelihood_ == "mixed":  # one likelihood per column: given, else from the data
            self._run.model.likelihood.set_kinds(kinds)
        if sync is not None:  # one model: rank 0's weights and data scaling everywhere
            for tensor in self._run.model.state_dict().values():
                sync.broadcast(tensor)
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.history_ = []

    def _steps_per_epoch(self, n_samples):
        """Optimizer steps of one epoch over ``n_samples`` (less the validation part)."""
        n_train = n_samples
        if self.early_stopping:
            n_train -= self._validation_size(n_train)
        return -(-n_train // self._batch_size(n_train))

    def _max_epochs(self, n_samples):
        """``max_iter``, with ``"auto"`` resolved for ``n_samples`` training samples
        (:func:`~skvsc._core.schedule.auto_epochs`)."""
        if self.max_iter != "auto":
            return self.max_iter
        return auto_epochs(self._steps_per_epoch(n_samples), **self._auto_epoch_options())

    def _kl_warmup(self):
        """``kl_warmup``, ``"auto"`` resolved: no warm-up (VariationalSparseCoder
        resolves it per prior)."""
        kl_warmup = self.kl_warmup
        return 0.0 if _params.is_auto(kl_warmup) else kl_warmup

    def _auto_schedule_options(self):
        """Schedule fields this objective sets beyond its parameters' spec."""
        return {}

    def _auto_epoch_options(self):
        """Options of :func:`~skvsc._core.schedule.auto_epochs` for this objective."""
        return {}

    def _auto_learning_rate_options(self):
        """Options of :func:`~skvsc._core.schedule.auto_learning_rate` for this objective."""
        return {}

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(128, n_samples)
        return min(self.batch_size, n_samples)

    def _validation_size(self, n_samples):
        n_val = round(self.validation_fraction * n_samples)
        if n_val < 1 or n_val >= n_samples:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} "
                f"leaves no training or no validation data for {n_samples} samples."
            )
        return n_val

    def _learning_rate(self):
        """Adam's learning rate: ``learning_rate_init``, resolved for the data's
        width when ``"auto"``."""
        if self.learning_rate_init == "auto":
            return auto_learning_rate(self.n_features_in_, **self._auto_learning_rate_options())
        return float(self.learning_rate_init)

    def _hold_out(self, X):
        """Split off the validation data of ``early_stopping``: ``(X, Validation)``."""
        run = self._run
        n_validation = self._validation_size(X.shape[0])
        noises = score_noises(run.model, torch.float32, run.device)
        if isinstance(X, _chunked.ChunkedRows):  # streamed: whole blocks, drawn alike
            n_blocks = -(-X.shape[0] // X.block_rows)
            _, block_order = run.hold_out(n_blocks, n_blocks)
            X, validation_rows = _chunked.hold_out(X, block_order, n_validation)
            return X, Validation(make_source(validation_rows, run.device), noises)
        rows, validation_rows = run.hold_out(X.shape[0], n_validation)
        return X[rows], Validation(make_source(X[validation_rows], run.device), noises)

    def _train(self, X, n_epochs, hold_out, sync=None):
        """Train the run: wire the callbacks to the core loop, translate its errors."""
        run = self._run
        run.set_learning_rate(self._learning_rate())
        # One epoch (partial_fit) has no known total: lines instead of a bar.
        progress = Progress(
            self.verbose,
            n_epochs if n_epochs > 1 else None,
            first_epoch=self.n_iter_ + 1,
            desc=type(self).__name__,
        )
        callbacks = [Revival()] if run.schedule.revive > 0 else []
        work = run.config.matmul_flops(self._batch_size(X.shape[0]))
        with torch_threads(self.n_threads, work=work), progress:
            X, validation = self._hold_out(X) if hold_out else (X, None)
            if self.verbose and (sync is None or sync.rank == 0):
                callbacks.append(progress)
            stopper = None
            if n_epochs > 1:
                restore_best = validation is not None
                stopper = ConvergenceStop(
                    self.tol, self.n_iter_no_change, restore_best=restore_best
                )
                callbacks.append(stopper)
            config = TrainConfig(
                batch_size=self._batch_size(X.shape[0]),
                max_grad_norm=self.max_grad_norm,
                check_every=1 if run.device.type == "cpu" else _GPU_CHECK_EVERY,
            )
            try:
                history = run.train(
                    make_source(X, run.device),
                    n_epochs=n_epochs,
                    config=config,
                    validation=validation,
                    callbacks=callbacks,
                    first_epoch=self.n_iter_ + 1,
                    sync=sync,
                )
            except NonFiniteLossError as exc:
                self._record(exc.history)
                raise FloatingPointError(
                    f"{exc}; the model keeps its last good weights. Try a lower "
                    f"learning_rate_init (now {self._learning_rate():.3g}), gradient "
                    "clipping (max_grad_norm=1.0, say), scaling the data, or "
                    "likelihood='gaussian' for data that are not in [0, 1]."
                ) from None
            except TrainingInterrupted as exc:
                self._record(exc.history)
                warnings.warn(
                    f"Training interrupted by user after {self.n_iter_} complete epochs "
                    f"({run.step} steps); the model keeps the weights of the last step "
                    "(of the best epoch with early_stopping).",
                    UserWarning,
                    stacklevel=4,
                )
                return
            if stopper is not None and stopper.stopped:
                monitored = "validation" if validation is not None else "training"
                progress.note(
                    f"Stopped after {len(history)} of {n_epochs} epochs: the {monitored} "
                    f"-ELBO did not improve by tol={self.tol} nats for "
                    f"n_iter_no_change={self.n_iter_no_change} epochs after the warm-up."
                )
        self._record(history)

    def _record(self, history):
        """Add the epochs of ``history`` to the record of the training."""
        _warn_if_diverged(self.loss_curve_ + [h["loss"] for h in history], self)
        self.n_iter_ += len(history)
        self.history_.extend(history)
        self.loss_curve_.extend(h["loss"] for h in history)
        scores = [h["validation_score"] for h in history if "validation_score" in h]
        if scores and self.validation_scores_ is None:  # early_stopping switched on
            self.validation_scores_ = []
        if self.validation_scores_ is not None:
            self.validation_scores_.extend(scores)

    @property
    def module_(self):
        """The fitted torch module (:class:`~skvsc._core.vae.VAE`): encoder and
        decoder networks, latent family and likelihood."""
        return self._run.model

    def summary(self):
        """A short text report of the fitted model.

        The model size and likelihood, the training (epochs, last -ELBO and its
        parts, validation ELBO) and the code statistics of the training data.
        The estimator's ``repr`` is left as scikit-learn makes it.

        Returns
        -------
        text : str
            A few lines; ``print(est.summary())`` shows them.
        """
        check_is_fitted(self)
        lines = [
            f"{type(self).__name__}: {self.n_features_in_} features -> "
            f"{self.module_.n_components} latent units, {self.likelihood_} likelihood, "
            f"device {self.device_}"
        ]
        if self.history_:
            last = self.history_[-1]
            line = (
                f"Trained {self.n_iter_} epochs; last epoch: training -ELBO {last['loss']:.4f} "
                f"(reconstruction {last['reconstruction']:.4f}, KL {last['kl']:.4f})"
            )
            if "validation_score" in last:
                best = max(self.validation_scores_)
                line += f"; validation ELBO {last['validation_score']:.4f} (best {best:.4f})"
            lines.append(line)
        lines.extend(self._summary_lines())
        return "\n".join(lines)

    # -- scikit-learn plumbing and persistence -----------------------------------
    @property
    def _n_features_out(self):
        return self._run.model.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True  # missing values: see docs/tables.md
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def __getstate__(self):
        return _state.plain_state(_state.get_state(self))

    def __setstate__(self, state):
        _state.set_state(self, _state.read_state(state, type(self)))


def _warn_if_diverged(losses, estimator):
    """Warn when the training -ELBO ended far above its best value (a diverged fit:
    too large a learning rate, say) instead of handing back a broken model silently."""
    if len(losses) < 2:
        return
    best, last = min(losses), losses[-1]
    if last > best + 10.0 * max(abs(best), 1.0):
        warnings.warn(
            f"Training diverged: the training -ELBO rose from {best:.4g} to {last:.4g} nats "
            f"per sample. Lower learning_rate_init (now {estimator._learning_rate():.3g}) or "
            "set max_grad_norm (1.0, say).",
            UserWarning,
            stacklevel=6,
        )
