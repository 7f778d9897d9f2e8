"""Dead-unit revival: re-seed latent units that stopped firing by splitting busy ones.

A VSC unit whose spike probability stays below 1/2 on every training sample
carries no information and receives almost no gradient to come back (its
``gamma`` sits at the prior ``alpha``, where its KL is zero). Like the
codebook splitting of vector quantisation (Linde-Buzo-Gray), a dead unit is
given a copy of one of the busiest units, and the pair is pushed apart by a
small symmetric perturbation of their encoder rows; their decoder columns are
halved, so the decoded mean is unchanged while both fire; the latent family's
own per-unit parameters (the tied gate's) are copied from the donor. Training
then lets the two units share the donor's samples.
"""

import torch

from .train import Callback


def _copy_moments(optimizer, param, index_pairs, dim):
    """Copy Adam's moments of ``param`` along ``dim`` from donors to targets."""
    state = optimizer.state.get(param, {})
    for key in ("exp_avg", "exp_avg_sq"):
        if key in state:
            moments = state[key]
            dst, src = index_pairs
            moments.index_copy_(dim, dst, moments.index_select(dim, src))


@torch.no_grad()
def split_units(model, optimizer, counts, generator, scale=0.05):
    """Re-seed the units with ``counts == 0`` from the units with the largest counts.

    ``counts`` holds, per latent unit, how many training samples of the last
    epoch had the unit active. Each dead unit takes one donor, busiest first;
    only donors that fired on at least two samples are split. Returns the
    number of units re-seeded.
    """
    dead = torch.nonzero(counts == 0).flatten()
    donors = torch.argsort(counts, descending=True, stable=True)[: dead.numel()]
    donors = donors[counts[donors] >= 2]
    dead = dead[: donors.numel()]
    if dead.numel() == 0:
        return 0
    dst = model.encoder.unit_rows(dead)  # the unit's row in every head
    src = model.encoder.unit_rows(donors)
    for param in model.encoder.head_parameters():
        rows = param.index_select(0, src)
        noise = torch.randn(rows.shape, generator=generator, device=generator.device)
        noise = noise.to(rows.device) * scale * rows.std(dim=-1, keepdim=True)
        param.index_copy_(0, src, rows - noise)
        param.index_copy_(0, dst, rows + noise)
        _copy_moments(optimizer, param, (dst, src), 0)
    for param in model.latent.unit_parameters():  # e.g. the tied gate's slope and offset
        param.index_copy_(0, dead, param.index_select(0, donors))
        _copy_moments(optimizer, param, (dead, donors), 0)
    weight = model.decoder.first_layer().weight  # (n_out, n_components)
    half = weight.index_select(1, donors) / 2
    weight.index_copy_(1, donors, half)
    weight.index_copy_(1, dead, half)
    _copy_moments(optimizer, weight, (dead, donors), 1)
    return int(dead.numel())


class Revival(Callback):
    """Epoch callback: counts each unit's active rows during the epochs the
    schedule marks for revival (``schedule.reviving``) and splits the dead
    units at their end; the record gets ``revived``, the units re-seeded."""

    def on_epoch_start(self, context):
        if context.schedule.reviving(context.step):
            context.unit_counts = torch.zeros(
                context.model.n_components, dtype=torch.long, device=context.model.device
            )

    def on_steps_end(self, context):
        counts, context.unit_counts = context.unit_counts, None
        if counts is None:
            return None
        if context.sync is not None:  # every process splits the same units
            counts, _ = context.sync.statistics(counts, None)
        return {"revived": split_units(context.model, context.optimizer, counts, context.generator)}
