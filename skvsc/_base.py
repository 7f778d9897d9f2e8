"""Private base estimator: every public method, written once.

Subclasses (:class:`~skvsc.VariationalSparseCoder`, :class:`~skvsc.VAETransformer`)
add their docstring, ``__init__`` and a few hooks:

- ``_model_class``: the torch module of :mod:`skvsc._models`;
- ``_model_kwargs()``: extra keyword arguments of that module;
- ``_check_model_params()``: validation of the extra parameters;
- ``_schedule(total_steps)``: the training schedule.
"""

import copy
import inspect
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _params, _persistence
from ._data import make_source, map_batches, to_tensor
from ._data_checks import (
    check_magnitude,
    check_unit_range,
    column_stats,
    data_range,
    supported_layout,
)
from ._device import loadable_device, resolve_device, torch_threads
from ._progress import Progress
from ._train import NonFiniteLossError, Stopper, TrainingInterrupted, fit_model, make_optimizer

_EVAL_BATCH_SIZE = 2048
#: Number of shared noise draws used by score / score_samples.
_N_SCORE_DRAWS = 8
_SCORE_SEED = 0
#: Steps between non-finite checks on a GPU (one host sync each; see StepGuard).
_GPU_CHECK_EVERY = 32


class _BaseVAE(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared implementation of the VAE-family transformers."""

    # -- hooks ---------------------------------------------------------------
    _model_class = None

    def _model_kwargs(self):
        return {}

    def _check_model_params(self):
        pass

    def _schedule(self, total_steps):
        raise NotImplementedError

    # -- fitting -------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the model to ``X`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse input is densified one batch at a time.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        resume = self.warm_start and hasattr(self, "module_")
        X = self._validate_fit_data(X, reset=not resume)
        if not resume:
            self._initialize(X)
        self._train(X, self.max_iter, early_stopping=self.early_stopping)
        return self._store_code_statistics(X)

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
        self._check_params()
        first = not hasattr(self, "module_")
        X = self._validate_fit_data(X, reset=first)
        if first:
            self._initialize(X)
        self._train(X, 1, early_stopping=False)
        return self._store_code_statistics(X)

    def _check_params(self):
        _params.check_int("n_components", self.n_components, 1)
        _params.check_options("likelihood", self.likelihood, {"auto", "bernoulli", "gaussian"})
        _params.check_hidden_layer_sizes(self.hidden_layer_sizes)
        _params.check_int("max_iter", self.max_iter, 1)
        _params.check_batch_size(self.batch_size)
        _params.check_real("learning_rate_init", self.learning_rate_init, 0, open_low=True)
        if self.max_grad_norm is not None:
            _params.check_real("max_grad_norm", self.max_grad_norm, 0, open_low=True)
        _params.check_real("tol", self.tol, 0)
        _params.check_int("n_iter_no_change", self.n_iter_no_change, 1)
        _params.check_bool("early_stopping", self.early_stopping)
        _params.check_real(
            "validation_fraction", self.validation_fraction, 0, 1, open_low=True, open_high=True
        )
        _params.check_bool("warm_start", self.warm_start)
        _params.check_real("kl_warmup", self.kl_warmup, 0, 1)
        if self.n_threads is not None:
            _params.check_int("n_threads", self.n_threads, 1)
        _params.check_int("verbose", int(self.verbose), 0)
        resolve_device(self.device)
        self._check_model_params()

    def _validate_fit_data(self, X, reset):
        X = validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=("csr", "csc", "coo"),
            dtype=(np.float64, np.float32),
        )
        X = supported_layout(X)
        check_magnitude(X)
        likelihood = self.likelihood if reset else self.likelihood_
        if likelihood == "bernoulli":
            check_unit_range(X)
        return X

    def _initialize(self, X):
        """Resolve the likelihood and device, build the model and optimizer."""
        self.device_ = str(resolve_device(self.device))
        if self.likelihood == "auto":
            low, high = data_range(X)
            self.likelihood_ = "bernoulli" if low >= 0.0 and high <= 1.0 else "gaussian"
        else:
            self.likelihood_ = self.likelihood
        self._module_config = dict(
            n_features=X.shape[1],
            n_components=self.n_components,
            hidden_layer_sizes=tuple(self.hidden_layer_sizes),
            likelihood=self.likelihood_,
            **self._model_kwargs(),
        )
        seed = _params.seed_from(self.random_state)
        init_generator = torch.Generator().manual_seed(seed)
        shift = scale = None
        if self.likelihood_ == "gaussian":
            shift, scale = column_stats(X)
        self.module_ = self._model_class(
            **self._module_config, generator=init_generator, shift=shift, scale=scale
        ).to(self.device_)
        self._make_optimizer()
        generator = torch.Generator(device=self.device_).manual_seed(seed + 1)
        self._rng_state = generator.get_state()
        batch_size = self._batch_size(X.shape[0])
        n_train = X.shape[0]
        if self.early_stopping:
            n_train -= self._validation_size(n_train)
        steps_per_epoch = -(-n_train // batch_size)
        self._schedule_ = self._schedule(self.max_iter * steps_per_epoch)
        self._step = 0
        self.n_iter_ = 0
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.history_ = []
        self._stopper = None

    def _make_optimizer(self, state=None):
        self._optimizer = make_optimizer(self.module_.parameters(), self.learning_rate_init)
        if state is not None:
            self._optimizer.load_state_dict(state)

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

    def _train(self, X, n_epochs, early_stopping):
        device = torch.device(self.device_)
        generator = torch.Generator(device=device)
        generator.set_state(self._rng_state)
        for group in self._optimizer.param_groups:
            group["lr"] = self.learning_rate_init
        self._sync_model_params()
        validation = None
        # One epoch (partial_fit) has no known total: lines instead of a bar.
        progress = Progress(
            self.verbose,
            n_epochs if n_epochs > 1 else None,
            first_epoch=self.n_iter_ + 1,
            desc=type(self).__name__,
        )
        with torch_threads(self.n_threads), progress:
            if early_stopping:
                X, X_val = self._split_validation(X, generator)
                validation = make_source(X_val, device)
            source = make_source(X, device)
            stopper = Stopper(self.tol, self.n_iter_no_change)
            try:
                history, step = fit_model(
                    self.module_,
                    self._optimizer,
                    source,
                    n_epochs=n_epochs,
                    batch_size=self._batch_size(X.shape[0]),
                    schedule=self._schedule_,
                    generator=generator,
                    step=self._step,
                    validation=validation,
                    score_noises=self._score_noises(torch.float32),
                    stopper=stopper if n_epochs > 1 else None,
                    callback=progress if self.verbose else None,
                    first_epoch=self.n_iter_ + 1,
                    max_grad_norm=self.max_grad_norm,
                    check_every=1 if device.type == "cpu" else _GPU_CHECK_EVERY,
                )
            except NonFiniteLossError as exc:
                self._record(exc.history, exc.step, generator)
                raise FloatingPointError(
                    f"{exc}; the model keeps its last good weights. Try a lower "
                    f"learning_rate_init (now {self.learning_rate_init}), gradient "
                    "clipping (max_grad_norm=1.0, say), scaling the data, or "
                    "likelihood='gaussian' for data that are not in [0, 1]."
                ) from None
            except TrainingInterrupted as exc:
                self._record(exc.history, exc.step, generator)
                warnings.warn(
                    f"Training interrupted by user after {self.n_iter_} complete epochs "
                    f"({self._step} steps); the model keeps the weights of the last step "
                    "(of the best epoch with early_stopping).",
                    UserWarning,
                    stacklevel=3,
                )
                return self
        self._record(history, step, generator)
        return self

    def _sync_model_params(self):
        """Copy parameters that may change between fits into the module."""

    def _split_validation(self, X, generator):
        n_val = self._validation_size(X.shape[0])
        perm = torch.randperm(X.shape[0], generator=generator, device=generator.device)
        perm = perm.cpu().numpy()
        return X[perm[n_val:]], X[perm[:n_val]]

    def _record(self, history, step, generator):
        self._step = step
        self._rng_state = generator.get_state()
        self.n_iter_ += len(history)
        self.history_.extend(history)
        self.loss_curve_.extend(h["loss"] for h in history)
        if self.validation_scores_ is not None:
            self.validation_scores_.extend(
                h["validation_score"] for h in history if "validation_score" in h
            )

    # -- diagnostics -------------------------------------------------------------
    def _code_statistics(self, X):
        """Hook: dict of statistics of the code of validated ``X`` (see
        ``sparsity_report``)."""
        return {}

    def _store_code_statistics(self, X):
        """Store the statistics of the code of the training data as attributes
        (one extra encoding pass)."""
        for name, value in self._code_statistics(X).items():
            if name != "n_samples":
                setattr(self, f"{name}_", value)
        return self

    def _reduce_posterior(self, X, select, reduce):
        """``reduce`` applied to the batches of ``select(module, x)`` over the
        rows ``x`` of validated ``X``, streamed so that no (n_samples,
        n_components) array is held."""
        dtype = _torch_dtype(X.dtype)
        module = self._eval_module(dtype)
        device = torch.device(self.device_)
        batches = (
            select(module, to_tensor(X[start : start + _EVAL_BATCH_SIZE], device, dtype))
            for start in range(0, X.shape[0], _EVAL_BATCH_SIZE)
        )
        with torch.no_grad(), torch_threads(self.n_threads):
            return reduce(batches)

    def _summary_lines(self):
        """Hook: lines on the code of the training data for :meth:`summary`."""
        return []

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

    # -- inference -----------------------------------------------------------
    def _validate_input(self, X):
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            reset=False,
            accept_sparse=("csr", "csc", "coo"),
            dtype=(np.float64, np.float32),
        )
        return supported_layout(X)

    def _eval_module(self, dtype):
        """The fitted module in ``dtype`` (a float64 copy for float64 input)."""
        self.module_.eval()
        if dtype == torch.float32:
            return self.module_
        return _copy_module(self.module_).to(dtype)

    def _map(self, fn_name, X, *, n_outputs=1, dtype=None):
        """Apply a module method to batches of validated ``X``."""
        dtype = _torch_dtype(X.dtype if dtype is None else dtype)
        module = self._eval_module(dtype)
        fn = getattr(module, fn_name) if isinstance(fn_name, str) else fn_name(module)

        def checked(x):
            out = fn(x)
            for r in out if isinstance(out, tuple) else (out,):
                if not bool(torch.isfinite(r).all()):
                    raise ValueError(
                        f"The model gave non-finite values in {dtype} for this input "
                        f"(max |X| in the batch: {x.abs().max().item():.3g}). Pass "
                        "float64 data, or scale X like the training data."
                    )
            return out

        with torch.no_grad(), torch_threads(self.n_threads):
            return map_batches(
                checked,
                X,
                batch_size=_EVAL_BATCH_SIZE,
                device=torch.device(self.device_),
                dtype=dtype,
                n_outputs=n_outputs,
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
            The code, in the dtype of ``X`` (float32 or float64).
        """
        X = self._validate_input(X)
        return self._map("code", X)

    def inverse_transform(self, X):
        """Decode latent codes into the data space (the mean of p(x | z)).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent codes, e.g. the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Decoded means: pixel probabilities for the Bernoulli likelihood, the
            Gaussian mean in the original units otherwise.
        """
        check_is_fitted(self)
        Z = supported_layout(check_array(X, dtype=(np.float64, np.float32), input_name="X"))
        if Z.shape[1] != self.module_.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features (latent codes), but {type(self).__name__} "
                f"has n_components={self.module_.n_components}."
            )
        return self._map("decode_mean", Z)

    def score_samples(self, X):
        """Evidence lower bound of each sample, in nats.

        ``log p_theta(x | z)`` is averaged over a fixed set of noise draws shared
        by all samples, so the result is deterministic and does not depend on
        how rows are batched.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            ELBO per sample (a lower bound on ``log p(x)``).
        """
        X = self._validate_input(X)
        if self.likelihood_ == "bernoulli":
            check_unit_range(X)
        dtype = _torch_dtype(X.dtype)
        noises = self._score_noises(dtype)
        step = self._schedule_.final()
        return self._map(lambda m: lambda x: m.elbo(x, noises, step), X)

    def score(self, X, y=None):
        """Mean ELBO per sample, in nats (higher is better).

        Usable as the model-selection criterion of ``GridSearchCV`` without labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean ELBO per sample.
        """
        return float(np.mean(self.score_samples(X)))

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

    def _score_noises(self, dtype):
        """Fixed noise draws of shape (1, J), drawn on the CPU so that every
        device scores with the same noise."""
        generator = torch.Generator().manual_seed(_SCORE_SEED)
        shape = (1, self.module_.n_components)
        return [
            tuple(t.to(self.device_, dtype) for t in self.module_.draw_noise(shape, generator))
            for _ in range(_N_SCORE_DRAWS)
        ]

    # -- scikit-learn plumbing --------------------------------------------------
    @property
    def _n_features_out(self):
        return self.n_components if not hasattr(self, "module_") else self.module_.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -- persistence -----------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never mutate self
        state.update(_persistence.version_tag())
        if "module_" in state:
            state["module_"] = _persistence.cpu_state(self.module_.state_dict())
            state["_optimizer"] = _persistence.cpu_state(self._optimizer.state_dict())
        return state

    def __setstate__(self, state):
        _persistence.check_version_tag(state, type(self).__name__)  # pops the tag
        # Parameters added after the pickle was made take their defaults, which
        # keep the old behaviour, so that get_params / clone keep working.
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not inspect.Parameter.empty:
                state.setdefault(name, param.default)
        module_state = state.get("module_")
        if isinstance(module_state, dict):
            device = loadable_device(state["device_"])
            state["device_"] = str(device)
            optimizer_state = state.pop("_optimizer")
            super().__setstate__(state)
            self.module_ = self._model_class(**self._module_config, generator=torch.Generator())
            self.module_.load_state_dict(module_state)
            self.module_.to(device)
            self._make_optimizer(optimizer_state)
            rng = torch.Generator(device=device)
            if torch.device(self.device_).type != "cpu":
                self._rng_state = self._rng_state.cpu()
            try:
                rng.set_state(self._rng_state)
            except RuntimeError:  # generator of another device type: reseed
                self._rng_state = rng.manual_seed(_params.seed_from(None)).get_state()
        else:
            super().__setstate__(state)


def _torch_dtype(np_dtype):
    return torch.float64 if np.dtype(np_dtype) == np.float64 else torch.float32


def _copy_module(module):
    return copy.deepcopy(module)
