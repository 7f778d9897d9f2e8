"""Small models and weight comparisons for the tests (of the core and of faults)."""

import pytest
import torch

from skvsc._core.vae import ModelConfig, build_vae


def small_vae(
    n_features,
    n_components,
    hidden=(8,),
    *,
    likelihood="bernoulli",
    latent="spike_slab",
    seed=0,
    generator=None,
    **latent_params,
):
    """A VAE with an MLP of ``hidden`` layers, weights drawn from ``seed``
    (or ``generator``); spike-and-slab with alpha=0.3 and the "prior" usage
    penalty unless told otherwise."""
    if latent.startswith("spike_slab"):
        latent_params = {"alpha": 0.3, "usage": "prior", **latent_params}
    config = ModelConfig(
        n_features,
        n_components,
        likelihood,
        latent,
        latent_params,
        "mlp",
        {"hidden_layer_sizes": tuple(hidden)},
    )
    generator = torch.Generator().manual_seed(seed) if generator is None else generator
    return build_vae(config, generator)


def train_tiny(source, n_epochs=2, *, validation=None, **switches):
    """Train a tiny VSC (12 features, 3 units) on ``source`` from a fixed seed;
    return ``(history, weights)``. ``switches`` go to the TrainConfig."""
    from skvsc._core.optim import make_optimizer
    from skvsc._core.schedule import Schedule
    from skvsc._core.train import TrainConfig, fit_model

    model = small_vae(12, 3, (8,))
    optimizer = make_optimizer(model.parameters(), 1e-2)
    history, _ = fit_model(
        model,
        optimizer,
        source,
        n_epochs=n_epochs,
        schedule=Schedule(8, sharpness=(50.0, 200.0), kl_warmup=0.5, usage_weight=1.0),
        generator=torch.Generator().manual_seed(1),
        config=TrainConfig(batch_size=16, **switches),
        validation=validation,
    )
    return history, [p.detach().clone() for p in model.parameters()]


def weights(module):
    """Copies of a module's state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def fused_adam_on_cpu():
    """Whether this torch has a fused Adam kernel on the CPU in float32 (torch
    >= 2.4; older releases have it for CUDA only, and our Adam then takes the
    plain update)."""
    from skvsc._core.optim import _fused_kernel_exists

    return _fused_kernel_exists(torch.device("cpu"), torch.float32)


#: Skips a test of the fused update where this torch has no CPU kernel for it.
needs_fused_adam_on_cpu = pytest.mark.skipif(
    not fused_adam_on_cpu(), reason="torch < 2.4 has no fused Adam kernel on the CPU"
)
