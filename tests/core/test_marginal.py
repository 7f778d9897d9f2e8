"""The importance-sampling proposals' weights against their densities written out.

The estimates themselves are checked against exact sums in
tests/test_log_likelihood.py; here each draw's ``log p(z) - log r(z)`` is
recomputed from ``torch.distributions`` densities, for a mixture whose draws
do not split evenly between its components.
"""

import pytest
import torch
from torch.distributions import Normal

from skvsc._core.latent_base import SpikeSlabPosterior
from skvsc._core.marginal import SpikeSlabProposal


def _unit_density(z, active, g, weight, alpha, mu, std):
    """Per-unit density of one component: the defensive mixture ``weight * prior +
    (1 - weight) * (g N(mu, std^2) + (1 - g) delta_0)``, w.r.t. delta_0 + Lebesgue."""
    prior = torch.where(active, alpha * Normal(0.0, 1.0).log_prob(z).exp(), 1 - alpha)
    slab = Normal(mu, std).log_prob(z).exp()
    posterior = torch.where(active, g * slab, 1 - g)
    return weight * prior + (1 - weight) * posterior, prior


@pytest.mark.parametrize("n_draws", [5, 6])
def test_each_draw_is_weighted_by_the_mixture_of_its_components(n_draws):
    n, J, alpha = 3, 4, 0.2
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(n, J, generator=gen, dtype=torch.float64)
    logvar = 0.5 * torch.randn(n, J, generator=gen, dtype=torch.float64)
    gamma = torch.rand(n, J, generator=gen, dtype=torch.float64)
    components = [(gamma, 0.1), ((gamma > 0.5).double(), 0.3)]
    proposal = SpikeSlabProposal(SpikeSlabPosterior(mu, logvar, gamma), components, alpha)
    noise = proposal.draw([torch.Generator().manual_seed(i) for i in range(n)], n_draws)
    noise = tuple(v.double() for v in noise)
    z, log_ratio = proposal.sample(noise, 0, n_draws)

    active = z != 0
    std = torch.exp(0.5 * logvar).unsqueeze(1)
    # Draws alternate between the components: 3 and 2 of 5, 3 and 3 of 6.
    counts = [len(range(m, n_draws, 2)) for m in range(2)]
    mixture = 0.0
    for (g, weight), count in zip(components, counts):
        density, prior = _unit_density(
            z, active, g.unsqueeze(1), weight, alpha, mu.unsqueeze(1), std
        )
        mixture = mixture + count / n_draws * density.prod(dim=2)
    expected = prior.prod(dim=2).log() - mixture.log()
    torch.testing.assert_close(log_ratio, expected)
    assert sum(counts) == n_draws
