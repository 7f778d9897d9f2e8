"""The run seam: ModelSpec (the warm-start check), Run (start, train, save,
load) and the Sync hook of data-parallel training."""

import numpy as np
import pytest
import torch

from skvsc._core.data import make_source
from skvsc._core.guard import TrainingInterrupted
from skvsc._core.run import ModelSpec, Run
from skvsc._core.train import Callback, Sync, TrainConfig, Validation

X = np.random.default_rng(0).random((40, 12), dtype=np.float32)


def spec(**changes):
    options = dict(
        n_components=3,
        likelihood="bernoulli",
        latent="spike_slab",
        latent_params={"alpha": 0.3, "usage": "prior"},
        network="mlp",
        network_params={"hidden_layer_sizes": (8,)},
        schedule_params={"sharpness": (50.0, 200.0), "kl_warmup": 0.5},
    )
    return ModelSpec(**{**options, **changes})


def start(seed=0, shift=None, scale=None, **changes):
    s = spec(**changes)
    return Run.start(
        s.config(12), s.schedule(20), seed=seed, device="cpu", learning_rate=1e-2,
        shift=shift, scale=scale,
    )  # fmt: skip


def weights(run):
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def train(run, n_epochs=2, **options):
    config = TrainConfig(batch_size=8)
    return run.train(make_source(X, "cpu"), n_epochs=n_epochs, config=config, **options)


def test_a_run_has_the_spec_it_was_started_from():
    run = start()
    assert spec().differences(run.spec) == []
    assert spec(likelihood="auto").differences(run.spec) == []  # "auto" matches
    changed = spec(
        n_components=4,
        latent="spike_slab_aggregate",
        latent_params={"alpha": 0.2, "usage": "prior"},
        network_params={"hidden_layer_sizes": (9,)},
        schedule_params={"sharpness": (50.0, 200.0), "kl_warmup": 0.1},
    )
    assert changed.differences(run.spec) == [
        ("n_components", 4, 3),
        ("latent family", "spike_slab_aggregate", "spike_slab"),
        ("alpha", 0.2, 0.3),
        ("hidden_layer_sizes", (9,), (8,)),
        ("kl_warmup", 0.1, 0.5),
    ]


def test_a_run_is_seeded_and_its_step_and_generator_advance():
    a, b = start(seed=1), start(seed=1)
    assert same_weights(weights(a), weights(b))
    assert not same_weights(weights(a), weights(start(seed=2)))
    rng = a.rng_state.clone()
    history = train(a)
    assert len(history) == 2 and a.step == 2 * 5
    assert not torch.equal(a.rng_state, rng)
    assert not same_weights(weights(a), weights(b))


def test_a_saved_run_continues_as_the_original():
    run = start()
    train(run, 1)
    loaded = Run.from_state_dict(run.state_dict(), device="cpu", learning_rate=1e-2)
    assert loaded.step == run.step and torch.equal(loaded.rng_state, run.rng_state)
    assert loaded.config == run.config and loaded.schedule == run.schedule
    assert same_weights(weights(loaded), weights(run))
    train(run, 1)
    train(loaded, 1)
    assert same_weights(weights(loaded), weights(run))  # optimizer and generator restored


def test_hold_out_splits_all_rows_and_advances_the_generator():
    run = start()
    before = run.rng_state.clone()
    rows, held = run.hold_out(40, 4)
    assert sorted([*rows, *held]) == list(range(40)) and len(held) == 4
    assert not torch.equal(run.rng_state, before)
    again = start()
    assert [list(x) for x in again.hold_out(40, 4)] == [list(rows), list(held)]


class Recording(Sync):
    """Counts the calls; ``scale`` multiplies the statistics, ``zero`` the gradients."""

    def __init__(self, scale=1.0, zero=False):
        self.scale, self.zero = scale, zero
        self.gradient_calls, self.statistics_calls = 0, []

    def gradients(self, params, loss):
        self.gradient_calls += 1
        if self.zero:
            for p in params:
                if p.grad is not None:
                    p.grad.zero_()
        return loss

    def statistics(self, sums, n_samples):
        self.statistics_calls.append(n_samples)
        return sums * self.scale, n_samples


def test_the_identity_sync_trains_as_no_sync():
    plain, synced = start(), start()
    expected = train(plain)
    sync = Recording()
    got = train(synced, sync=sync)
    assert [h["loss"] for h in got] == [h["loss"] for h in expected]
    assert same_weights(weights(plain), weights(synced))
    assert sync.gradient_calls == 2 * 5 and sync.statistics_calls == [40, 40]


def test_sync_combines_the_gradients_before_the_update():
    run = start()
    before = weights(run)
    train(run, sync=Recording(zero=True))  # all-reduced to zero: Adam does not move
    assert same_weights(weights(run), before)


def test_sync_combines_the_epoch_statistics_and_the_validation_score():
    plain, synced = start(), start()
    noises = [(torch.zeros(1, 3), torch.full((1, 3), 0.5))]

    def validation():
        return Validation(make_source(X[:10], "cpu"), noises)

    expected = train(plain, 1, validation=validation())
    sync = Recording(scale=3.0)
    got = train(synced, 1, validation=validation(), sync=sync)[0]
    assert sync.statistics_calls == [40, 10]  # the epoch's sums, then the validation sum
    for name in ("reconstruction", "kl", "active_units", "validation_score"):
        np.testing.assert_allclose(got[name], 3 * expected[0][name], rtol=1e-6)


def test_a_spec_makes_the_config_of_its_network_and_missing_values():
    conv = spec(network="conv", network_params={"conv_channels": (2,)}, likelihood="auto")
    config = conv.config(16, missing=True, likelihood="gaussian")
    assert (config.network, config.network_params) == ("conv", {"conv_channels": (2,)})
    assert config.likelihood == "gaussian" and config.n_features == 16
    assert config.missing and not conv.config(16, likelihood="gaussian").missing
    assert spec(network="conv").differences(spec()) == [("network family", "conv", "mlp")]


def test_an_option_newer_than_the_saved_run_compares_with_its_default():
    # A run saved before an option existed behaves as the option's default: the
    # default matches it, another value is a difference from the default.
    aggregate = {"alpha": 0.3, "usage": "prior"}
    saved = spec(latent="spike_slab_aggregate", latent_params=aggregate)
    same = spec(latent="spike_slab_aggregate", latent_params={**aggregate, "slab_kl_weight": 1.0})
    other = spec(latent="spike_slab_aggregate", latent_params={**aggregate, "slab_kl_weight": 0.1})
    assert same.differences(saved) == []
    assert other.differences(saved) == [("slab_kl_weight", 0.1, 1.0)]
    # An option the saved family does not have at all compares with None.
    assert other.differences(spec(latent_params=aggregate)) == [
        ("latent family", "spike_slab_aggregate", "spike_slab"),
        ("slab_kl_weight", 0.1, None),
    ]


def test_loading_a_run_checks_its_generator_state_and_leaves_the_global_rng_alone():
    run = start()
    train(run, 1)
    before = torch.get_rng_state()
    loaded = Run.from_state_dict(run.state_dict(), device="cpu", learning_rate=1e-2)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(loaded.rng_state, run.rng_state)
    for bad in (run.rng_state.long(), run.rng_state[None], run.rng_state.numpy()):
        with pytest.raises(ValueError, match="generator state is not a 1-d uint8 tensor"):
            Run.from_state_dict(
                {**run.state_dict(), "rng_state": bad}, device="cpu", learning_rate=1
            )


def test_a_run_saved_without_step_or_optimizer_state_starts_them_afresh():
    state = start().state_dict()
    del state["step"]
    state["optimizer_state"] = None
    loaded = Run.from_state_dict(state, device="cpu", learning_rate=0.25)
    assert loaded.step == 0
    assert loaded.optimizer.param_groups[0]["lr"] == 0.25 and not loaded.optimizer.state


def test_a_gaussian_run_standardises_with_the_shift_and_scale_it_is_given():
    shift, scale = torch.arange(12.0), torch.linspace(1, 2, 12)
    run = start(likelihood="gaussian", shift=shift, scale=scale)
    assert torch.equal(run.model.likelihood.shift, shift)
    assert torch.equal(run.model.likelihood.scale, scale)


def test_an_interrupted_run_keeps_the_steps_it_applied_and_its_generator():
    class Interrupt(Callback):
        def on_epoch_end(self, record, context):
            if record["epoch"] == 2:
                raise KeyboardInterrupt

    run = start()
    rng = run.rng_state.clone()
    with pytest.raises(TrainingInterrupted) as caught:
        train(run, n_epochs=5, callbacks=[Interrupt()])
    assert [h["epoch"] for h in caught.value.history] == [1, 2]
    assert caught.value.step == run.step == 2 * 5  # 40 rows in batches of 8, two epochs
    assert not torch.equal(run.rng_state, rng)
    # It goes on as a run that was trained for those two epochs and not interrupted.
    whole = start()
    train(whole, n_epochs=2)
    assert torch.equal(run.rng_state, whole.rng_state)
    assert same_weights(weights(run), weights(whole))
