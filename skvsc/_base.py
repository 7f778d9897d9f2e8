"""Private base estimator: validate, build a config, call the core, store.

:class:`~skvsc.VariationalSparseCoder` and :class:`~skvsc.VAETransformer`
add their docstring, ``__init__`` and:

- ``_family()``: checks their own parameters and returns the :class:`Family`
  of the model (latent family and its parameters, schedule parameters);
- ``_code_statistics(X)`` and ``_summary_lines()``: the diagnostics.

``_network()`` names the network family and its parameters (one, the MLP, for
now). The inference methods live in :class:`~skvsc._inference.InferenceMixin`.
"""

import math
import warnings
from dataclasses import dataclass

import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin
from sklearn.utils.validation import check_is_fitted

from . import _inference, _params, _state
from ._core.data import make_source
from ._core.guard import NonFiniteLossError, TrainingInterrupted
from ._core.likelihoods import LIKELIHOODS
from ._core.optim import make_optimizer
from ._core.revive import Revival
from ._core.schedule import Schedule
from ._core.train import EarlyStopping, TrainConfig, Validation, fit_model
from ._core.vae import ModelConfig, build_vae
from ._data_checks import (
    auto_likelihood,
    check_magnitude,
    column_stats,
    data_range,
    looks_like_8bit_pixels,
    onto_support,
    validated,
)
from ._device import matmul_flops, resolve_device, torch_threads
from ._inference import InferenceMixin
from ._progress import Progress
from ._widths import resolve_n_components

#: Steps between non-finite checks on a GPU (one host sync each; see StepGuard).
_GPU_CHECK_EVERY = 32


#: ``max_iter="auto"``: epochs = _AUTO_EPOCH_SCALE / sqrt(steps per epoch), within
#: _AUTO_EPOCHS. Large data sets converge in fewer epochs, small ones need more
#: passes, but not in proportion to their size: on 6,667 MNIST images 151 epochs
#: (an earlier rule, 8,000 steps) coded worse than 40 or 80. 390 gives 18 epochs
#: on 60,000 images at batch 128; 25 or 30 there (scales 540, 650) gained ELBO on
#: a validation split but not on the test set, at 1.4-1.7 x the time
#: (docs/performance.md, time to a good model).
_AUTO_EPOCH_SCALE = 390.0
_AUTO_EPOCHS = (10, 200)


@dataclass(frozen=True)
class Family:
    """What an estimator adds to the shared parameters: the latent family
    (a key of ``LATENTS``) with its keyword arguments, and the keyword
    arguments of the :class:`~skvsc._core.schedule.Schedule`. Both are named
    as the estimator's parameters and fixed when the model is initialised."""

    latent: str
    latent_params: dict
    schedule_params: dict


class _BaseVAE(ClassNamePrefixFeaturesOutMixin, InferenceMixin, BaseEstimator):
    """Shared implementation of the VAE-family transformers."""

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
        return self._fit(X, None, resume=self.warm_start, early_stopping=True)

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
        return self._fit(X, 1, resume=True, early_stopping=False)

    def _fit(self, X, n_epochs, *, resume, early_stopping):
        """Validate, initialise unless resuming, and train ``n_epochs`` epochs
        (None: ``max_iter``, resolved for ``X``)."""
        family = self._check_params()
        resume = resume and hasattr(self, "module_")
        if resume:
            _params.check_unchanged(self, family)
        X, (low, high) = self._validate_fit_data(X, reset=not resume)
        if not resume:
            self._initialize(X, family, low, high)
        if n_epochs is None:
            n_epochs = self._max_epochs(X.shape[0])
        self._train(X, n_epochs, early_stopping=early_stopping and self.early_stopping)
        return self._store_code_statistics(X)

    def _check_params(self):
        """Check every parameter; return the estimator's :class:`Family`."""
        _params.check_shared(self)
        return self._family()

    def _network(self):
        """The network family and its keyword arguments, named as the
        estimator's parameters (fixed when the model is initialised)."""
        return "mlp", {"hidden_layer_sizes": tuple(self.hidden_layer_sizes)}

    def _validate_fit_data(self, X, reset):
        """Validated ``X`` and its value range."""
        X = validated(self, X, reset=reset)
        value_range = data_range(X)
        check_magnitude(*value_range)
        likelihood = self.likelihood if reset else self.likelihood_
        if likelihood == "auto":
            likelihood = auto_likelihood(*value_range)
        return onto_support(X, likelihood, value_range, strict=True), value_range

    def _initialize(self, X, family, low, high):
        """Resolve the likelihood and device, build the model and optimizer."""
        self.device_ = str(resolve_device(self.device))
        if self.likelihood == "auto":
            self.likelihood_ = auto_likelihood(low, high)
            if self.likelihood_ == "gaussian" and looks_like_8bit_pixels(X, low, high):
                warnings.warn(
                    f"X holds whole numbers in [{low:g}, {high:g}], like unscaled 8-bit pixels, "
                    "so likelihood='auto' chose the Gaussian likelihood. For pixel "
                    "intensities divide X by 255 (the Bernoulli likelihood), or pass "
                    "likelihood='gaussian' or 'poisson' to keep this choice silently.",
                    UserWarning,
                    stacklevel=4,
                )
        else:
            self.likelihood_ = self.likelihood
        network, network_params = self._network()
        self._model_config = ModelConfig(
            n_features=X.shape[1],
            n_components=resolve_n_components(self.n_components, X.shape[1]),
            likelihood=self.likelihood_,
            latent=family.latent,
            latent_params=family.latent_params,
            network=network,
            network_params=network_params,
        )
        seed = _params.seed_from(self.random_state)
        init_generator = torch.Generator().manual_seed(seed)
        stats = column_stats(X) if LIKELIHOODS[self.likelihood_].standardizes else (None, None)
        self.module_ = build_vae(self._model_config, init_generator, *stats).to(self.device_)
        self._optimizer = make_optimizer(self.module_.parameters(), self.learning_rate_init)
        generator = torch.Generator(device=self.device_).manual_seed(seed + 1)
        self._rng_state = generator.get_state()
        total_steps = self._max_epochs(X.shape[0]) * self._steps_per_epoch(X.shape[0])
        self._schedule_ = Schedule(total_steps, **family.schedule_params)
        self._step = 0
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
        """``max_iter``, with ``"auto"`` resolved for ``n_samples`` training samples:
        ``_AUTO_EPOCH_SCALE / sqrt(steps per epoch)`` epochs, within ``_AUTO_EPOCHS``."""
        if self.max_iter != "auto":
            return self.max_iter
        epochs = round(_AUTO_EPOCH_SCALE / math.sqrt(self._steps_per_epoch(n_samples)))
        return min(max(epochs, _AUTO_EPOCHS[0]), _AUTO_EPOCHS[1])

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
        # One epoch (partial_fit) has no known total: lines instead of a bar.
        progress = Progress(
            self.verbose,
            n_epochs if n_epochs > 1 else None,
            first_epoch=self.n_iter_ + 1,
            desc=type(self).__name__,
        )
        callbacks = [Revival()] if self._schedule_.revive > 0 else []
        work = matmul_flops(self.module_, self._batch_size(X.shape[0]))
        with torch_threads(self.n_threads, work=work), progress:
            validation = None
            if early_stopping:
                n_val = self._validation_size(X.shape[0])
                perm = torch.randperm(X.shape[0], generator=generator, device=device)
                perm = perm.cpu().numpy()
                X, X_val = X[perm[n_val:]], X[perm[:n_val]]
                noises = _inference.score_noises(self.module_, torch.float32, device)
                validation = Validation(make_source(X_val, device), noises)
            if self.verbose:
                callbacks.append(progress)
            stopper = None
            if n_epochs > 1:
                restore_best = validation is not None
                stopper = EarlyStopping(self.tol, self.n_iter_no_change, restore_best=restore_best)
                callbacks.append(stopper)
            config = TrainConfig(
                batch_size=self._batch_size(X.shape[0]),
                max_grad_norm=self.max_grad_norm,
                check_every=1 if device.type == "cpu" else _GPU_CHECK_EVERY,
            )
            try:
                history, step = fit_model(
                    self.module_,
                    self._optimizer,
                    make_source(X, device),
                    n_epochs=n_epochs,
                    schedule=self._schedule_,
                    generator=generator,
                    config=config,
                    step=self._step,
                    validation=validation,
                    callbacks=callbacks,
                    first_epoch=self.n_iter_ + 1,
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
                    stacklevel=4,
                )
                return self
            if stopper is not None and stopper.stopped:
                monitored = "validation" if validation is not None else "training"
                progress.note(
                    f"Stopped after {len(history)} of {n_epochs} epochs: the {monitored} "
                    f"-ELBO did not improve by tol={self.tol} nats for "
                    f"n_iter_no_change={self.n_iter_no_change} epochs after the warm-up."
                )
        self._record(history, step, generator)
        return self

    def _record(self, history, step, generator):
        _warn_if_diverged(self.loss_curve_ + [h["loss"] for h in history], self)
        self._step = step
        self._rng_state = generator.get_state()
        self.n_iter_ += len(history)
        self.history_.extend(history)
        self.loss_curve_.extend(h["loss"] for h in history)
        scores = [h["validation_score"] for h in history if "validation_score" in h]
        if scores and self.validation_scores_ is None:  # early_stopping switched on
            self.validation_scores_ = []
        if self.validation_scores_ is not None:
            self.validation_scores_.extend(scores)

    # -- diagnostics -------------------------------------------------------------
    def _store_code_statistics(self, X):
        """Store the statistics of the code of the training data as attributes
        (one extra encoding pass)."""
        for name, value in self._code_statistics(X).items():
            if name != "n_samples":
                setattr(self, f"{name}_", value)
        return self

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
        return self.module_.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def __getstate__(self):
        return _state.get_state(self)

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
            f"per sample. Lower learning_rate_init (now {estimator.learning_rate_init}) or "
            "set max_grad_norm (1.0, say).",
            UserWarning,
            stacklevel=6,
        )
