"""A training run: what continues training, and exactly what a fitted model saves.

The estimators describe a model with one :class:`ModelSpec` (their
parameters, before the data are seen) and keep one :class:`Run` (the model
they fitted): its :class:`~.vae.ModelConfig` (the spec resolved against the
data), the :class:`~.schedule.Schedule`, the :class:`~.vae.VAE`, its
optimizer, the state of the training generator and the steps applied.
Continuing training (``warm_start``, ``partial_fit``) requires
``spec == run.spec``; :meth:`Run.state_dict` is the saved entry.

The seam for other ways to train: :meth:`Run.train` takes any data source
(see :mod:`.train`) and a :class:`~.train.Sync` for data-parallel training.
"""

import dataclasses
import inspect
import secrets
from dataclasses import dataclass, field

import torch

from .guard import NonFiniteLossError, TrainingInterrupted
from .latents import LATENTS
from .optim import make_optimizer
from .schedule import Schedule
from .train import fit_model
from .vae import ModelConfig, build_vae

#: The schedule's options (every field but the length, which the data set).
_SCHEDULE_OPTIONS = {
    f.name: f.default for f in dataclasses.fields(Schedule) if f.name != "total_steps"
}


def _latent_default(latent, name):
    """The default of option ``name`` of latent family ``latent`` (None if it has none)."""
    param = inspect.signature(LATENTS[latent]).parameters.get(name) if latent in LATENTS else None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


@dataclass(frozen=True)
class ModelSpec:
    """One model as an estimator's parameters name it.

    ``n_components`` and ``likelihood`` may be ``"auto"`` (resolved from the
    data when a run starts); ``latent`` and ``network`` are keys of
    :data:`~.latents.LATENTS` and :data:`~.networks.NETWORKS`, with their
    options; ``schedule_params`` are options of the
    :class:`~.schedule.Schedule` (the others take its defaults). Every field
    is fixed when a model is initialised: :meth:`differences` from the spec
    of the fitted run is the warm-start check.
    """

    n_components: object
    likelihood: str
    latent: str
    latent_params: dict = field(default_factory=dict)
    network: str = "mlp"
    network_params: dict = field(default_factory=dict)
    schedule_params: dict = field(default_factory=dict)

    @classmethod
    def of(cls, config, schedule):
        """The spec of a model built from ``config`` with ``schedule``."""
        options = {name: getattr(schedule, name) for name in _SCHEDULE_OPTIONS}
        return cls(
            config.n_components,
            config.likelihood,
            config.latent,
            dict(config.latent_params),
            config.network,
            dict(config.network_params),
            options,
        )

    def config(self, n_features, missing=False, **resolved):
        """The :class:`~.vae.ModelConfig` for ``n_features`` features (with
        missing values when ``missing``), with the ``"auto"`` fields given in
        ``resolved`` (``likelihood=...``)."""
        spec = dataclasses.replace(self, **resolved)
        return ModelConfig(
            n_features=n_features,
            n_components=spec.n_components,
            likelihood=spec.likelihood,
            latent=spec.latent,
            latent_params=spec.latent_params,
            network=spec.network,
            network_params=spec.network_params,
            missing=missing,
        )

    def schedule(self, total_steps):
        return Schedule(total_steps, **self.schedule_params)

    def differences(self, other):
        """``(name, self's value, other's value)`` of each option of ``self``
        that differs in ``other``, named as the estimators' parameters. An
        ``"auto"`` of ``self`` matches what it resolved to; ``other`` may hold
        more options (a run's spec holds every schedule option), which
        ``self`` leaves at what they were."""
        names = {"latent": "latent family", "network": "network family"}
        found = []
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                # a run saved before an option existed has the option's default;
                # an "auto" matches what it resolved to
                their = {k: theirs.get(k, _latent_default(other.latent, k)) for k in mine}
                found += [
                    (k, v, their[k]) for k, v in mine.items() if v != their[k] and v != "auto"
                ]
            elif mine != theirs and mine != "auto":
                found.append((names.get(f.name, f.name), mine, theirs))
        return found


@dataclass
class Run:
    """The state of a training run (see the module docstring).

    ``rng_state`` is the state of the generator that shuffles batches and
    draws the noise (a CPU tensor); ``step`` counts the optimizer steps
    applied, by which the schedule is read.
    """

    config: ModelConfig
    schedule: Schedule
    model: torch.nn.Module
    optimizer: object
    rng_state: torch.Tensor
    step: int = 0

    @classmethod
    def start(cls, config, schedule, *, seed, device, learning_rate, shift=None, scale=None):
        """A new run: weights drawn from ``seed``, the training generator seeded
        with ``seed + 1`` on ``device``. ``shift`` and ``scale`` go to a
        likelihood that standardises the data."""
        model = build_vae(config, torch.Generator().manual_seed(seed), shift, scale).to(device)
        optimizer = make_optimizer(model.parameters(), learning_rate)
        rng_state = torch.Generator(device=device).manual_seed(seed + 1).get_state()
        return cls(config, schedule, model, optimizer, rng_state)

    @property
    def spec(self):
        return ModelSpec.of(self.config, self.schedule)

    @property
    def device(self):
        return self.model.device

    def warming_up(self):
        """Whether the last step applied was still in a warm-up."""
        return self.schedule.warming_up(self.step - 1)

    def set_learning_rate(self, learning_rate):
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def generator(self):
        """A training generator in the run's current state."""
        generator = torch.Generator(device=self.device)
        generator.set_state(self.rng_state)
        return generator

    def hold_out(self, n_samples, n_validation):
        """A random split of ``n_samples`` rows: ``(training rows, validation
        rows)`` as NumPy index arrays, drawn from the training generator."""
        generator = self.generator()
        perm = torch.randperm(n_samples, generator=generator, device=self.device).cpu().numpy()
        self.rng_state = generator.get_state()
        return perm[n_validation:], perm[:n_validation]

    def train(self, source, *, n_epochs, config, validation=None, callbacks=(), **options):
        """Train ``n_epochs`` epochs over ``source`` with :func:`~.train.fit_model`;
        return the history. ``options``: ``first_epoch``, ``sync``.

        The step and the generator advance also when training stops on a
        non-finite loss or an interrupt (the exception is passed on).
        """
        generator = self.generator()
        try:
            history, self.step = fit_model(
                self.model,
                self.optimizer,
                source,
                n_epochs=n_epochs,
                schedule=self.schedule,
                generator=generator,
                config=config,
                step=self.step,
                validation=validation,
                callbacks=callbacks,
                **options,
            )
        except (NonFiniteLossError, TrainingInterrupted) as exc:
            self.step = exc.step
            self.rng_state = generator.get_state()
            raise
        self.rng_state = generator.get_state()
        return history

    # -- saving ---------------------------------------------------------------
    def state_dict(self):
        """Plain data: dicts, CPU tensors and numbers (the saved ``run`` entry)."""
        return {
            "model_config": self.config.to_dict(),
            "schedule": self.schedule.to_dict(),
            "module_state": cpu_state(self.model.state_dict()),
            "optimizer_state": cpu_state(self.optimizer.state_dict()),
            "rng_state": self.rng_state.cpu(),
            "step": self.step,
        }

    @classmethod
    def from_state_dict(cls, state, *, device, learning_rate):
        """The run saved in ``state``, on ``device``. A generator state of
        another device type (a model moved from a GPU) is reseeded."""
        config = ModelConfig.from_dict(state["model_config"])
        schedule = Schedule.from_dict(state["schedule"])
        model = build_vae(config, torch.Generator())
        _check_like(state["module_state"], model.state_dict(), "weight")
        model.load_state_dict(state["module_state"])
        model = model.to(device)
        optimizer = make_optimizer(model.parameters(), learning_rate)
        if state.get("optimizer_state") is not None:
            _check_optimizer_state(state["optimizer_state"], list(model.parameters()))
            optimizer.load_state_dict(state["optimizer_state"])
        rng_state = state["rng_state"]
        if not (
            isinstance(rng_state, torch.Tensor)
            and rng_state.dtype == torch.uint8
            and rng_state.dim() == 1
        ):
            raise ValueError("the generator state is not a 1-d uint8 tensor")
        rng_state = rng_state.cpu()
        generator = torch.Generator(device=device)
        try:
            generator.set_state(rng_state)
        except RuntimeError:  # the state of another device type's generator: reseed
            rng_state = generator.manual_seed(secrets.randbits(63)).get_state()
        return cls(config, schedule, model, optimizer, rng_state, state.get("step", 0))


def drop_unused_heads(state):
    """The run state ``state`` (:meth:`Run.state_dict`) without the rows of
    encoder heads that its latent family does not compute.

    Encoders were built with one head per posterior field until the tied
    gate's ``gamma`` head, which it never computed, was dropped (saved state
    format 3; :func:`~.vae.build_vae`). Its rows, and their optimizer moments,
    are cut from the module's and the optimizer's state; other states are
    returned as they are. Tensors or NumPy arrays alike (pickles store arrays).
    A malformed state is returned as it is, for :meth:`Run.from_state_dict` to
    refuse with the reason.
    """
    try:
        model = build_vae(ModelConfig.from_dict(state["model_config"]), torch.Generator())
    except (KeyError, TypeError, ValueError):
        return state
    if not isinstance(state.get("module_state"), dict):
        return state
    params = list(model.parameters())
    heads = {id(param): param.shape[0] for param in model.encoder.head_parameters()}
    names = {name: id(param) for name, param in model.named_parameters()}
    module_state = dict(state["module_state"])
    for name, value in module_state.items():
        if names.get(name) in heads:
            module_state[name] = value[: heads[names[name]]]
    optimizer_state = state.get("optimizer_state")
    if isinstance(optimizer_state, dict) and isinstance(optimizer_state.get("state"), dict):
        moments = dict(optimizer_state["state"])
        for index, entry in moments.items():
            if isinstance(index, int) and 0 <= index < len(params) and id(params[index]) in heads:
                rows = heads[id(params[index])]
                moments[index] = {
                    key: value[:rows] if key in ("exp_avg", "exp_avg_sq") else value
                    for key, value in dict(entry).items()
                }
        optimizer_state = {**optimizer_state, "state": moments}
    return {**state, "module_state": module_state, "optimizer_state": optimizer_state}


def cpu_state(obj):
    """Recursively move the tensors of a (nested) state dict to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: cpu_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [cpu_state(v) for v in obj]
    return obj


def _check_like(saved, expected, what):
    """The saved tensors are those of ``expected`` (a state dict), each a tensor
    of the same dtype and shape: loading would otherwise cast re-typed weights
    (int64, bool) silently."""
    if set(saved) != set(expected):
        raise ValueError(f"the {what}s stored are {sorted(saved)}, not {sorted(expected)}")
    for name, reference in expected.items():
        value = saved[name]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"the {what} {name} is a {type(value).__name__}, not a tensor")
        if value.dtype != reference.dtype or value.shape != reference.shape:
            raise ValueError(
                f"the {what} {name} is stored as {value.dtype} of shape {tuple(value.shape)}, "
                f"not {reference.dtype} of shape {tuple(reference.shape)}"
            )


def _check_optimizer_state(state, params):
    """The moments of a saved optimizer state have the dtypes and shapes of the
    parameters they belong to (a fused optimizer would write past them
    otherwise), and the step counts are real scalars (a number in files of
    older torch versions)."""
    for index, moments in state["state"].items():
        if not 0 <= index < len(params):
            raise ValueError(f"the optimizer state names parameter {index} of {len(params)}")
        moments = dict(moments)
        step = torch.as_tensor(moments.pop("step", 0))
        if step.numel() != 1 or not (step.dtype.is_floating_point or step.dtype == torch.int64):
            raise ValueError(f"the optimizer step of parameter {index} is not a number")
        param = params[index].detach()
        expected = {"exp_avg": param, "exp_avg_sq": param}
        _check_like(moments, expected, f"optimizer state of parameter {index}:")
