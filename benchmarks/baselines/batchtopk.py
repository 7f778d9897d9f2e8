"""BatchTopK sparse autoencoder (Bussmann, Leask & Nanda, 2024) with the VSC's networks.

In training, the code keeps the ``k * n`` largest ReLU'd pre-activations of a
batch of ``n`` samples, wherever they fall, and zeroes the rest: ``k`` non-zeros
per sample on average, more for samples that need more. At inference the batch
is gone, so a single global threshold ``threshold_`` replaces the selection: a
unit is active where its ReLU'd pre-activation exceeds it. Following the paper,
``threshold_`` is the mean over training batches of the smallest activation the
batch selection keeps; here it is estimated after the last epoch, with the
trained networks, over one shuffled pass of the training data in batches of
``batch_size``. Dead units are revived by the AuxK loss of the TopK baseline
(``SparseAutoencoder.aux_loss``), as in the paper's experiments.
"""

import torch
from torch.nn import functional as F

from ._autoencoder import SparseAutoencoder, bce

__all__ = ["BatchTopKAutoencoder", "batch_topk"]


def batch_topk(h, k):
    """Keep the ``k * n`` largest ReLU'd entries of the ``(n, J)`` batch ``h``; zero the rest.

    Returns a tensor of the shape of ``h``; the gradient flows to the kept entries.
    """
    flat = F.relu(h).flatten()
    values, indices = flat.topk(min(k * h.shape[0], flat.numel()))
    return torch.zeros_like(flat).scatter(0, indices, values).view_as(h)


def smallest_kept(z):
    """The smallest positive entry of a BatchTopK code, or None if it has none."""
    kept = z[z > 0]
    return float(kept.min()) if kept.numel() else None


class BatchTopKAutoencoder(SparseAutoencoder):
    """BatchTopK sparse autoencoder with the AuxK dead-unit loss.

    Parameters
    ----------
    n_components : int, default=200
        Number of latent units J.
    k : int, default=10
        Mean non-zeros per code in training (the batch keeps ``k`` times its size).
    hidden_layer_sizes : tuple of int, default=(400,)
        Hidden layers of the encoder; the decoder mirrors them.
    max_iter : int, default=20
        Training epochs (all of them are run).
    batch_size : int, default=128
        Mini-batch size; also the batch of the threshold's estimate.
    learning_rate_init : float, default=1e-3
        Adam learning rate.
    aux_k : int or None, default=None
        Dead units used by the auxiliary pass per sample; None means ``max(2 * k, 32)``.
    aux_weight : float, default=1/32
        Weight of the auxiliary loss; 0 disables it.
    aux_activation : {"linear", "relu"}, default="linear"
        Whether the dead units' selected pre-activations enter the auxiliary pass
        as they are or ReLU'd.
    dead_window : int, default=10000
        A unit is dead when it has not fired in the main code for this many
        training samples.
    n_threads : int or None, default=None
        Torch intra-op threads during ``fit`` and ``transform``; None leaves torch's.
    random_state : int, RandomState or None, default=None
        Seeds the initialisation and shuffling generators.
    verbose : int, default=0
        Print one line per epoch when > 0.

    Attributes
    ----------
    module_ : torch.nn.Module
        ``encoder`` and ``decoder`` networks.
    threshold_ : float
        Global inference threshold on the ReLU'd pre-activations.
    n_iter_ : int
        Epochs trained.
    loss_curve_ : list of float
        Mean reconstruction loss per sample (nats) of each epoch.
    aux_loss_curve_ : list of float
        Mean auxiliary loss per sample of each epoch.
    dead_curve_ : list of int
        Dead units (by ``dead_window``) at the end of each epoch.
    fit_seconds_ : float
        Wall time of ``fit``.
    """

    _curves = ("aux_loss",)

    def __init__(
        self,
        n_components=200,
        *,
        k=10,
        hidden_layer_sizes=(400,),
        max_iter=20,
        batch_size=128,
        learning_rate_init=1e-3,
        aux_k=None,
        aux_weight=1 / 32,
        aux_activation="linear",
        dead_window=10000,
        n_threads=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.k = k
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.aux_k = aux_k
        self.aux_weight = aux_weight
        self.aux_activation = aux_activation
        self.dead_window = dead_window
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        if not 1 <= self.k <= self.n_components:
            raise ValueError(f"k must be in [1, n_components], got {self.k}.")
        self._aux_k = self._check_aux()

    def _batch_loss(self, x, step):
        h = self.module_.encoder(x)
        z = batch_topk(h, self.k)
        rec = bce(self.module_.decoder(z), x)
        return self._with_aux(h, z, x, rec)

    @torch.no_grad()
    def _finish(self, x_all, generator):
        order = torch.randperm(len(x_all), generator=generator)
        batch = min(int(self.batch_size), len(x_all))
        mins = []
        for i in range(0, len(x_all), batch):
            z = batch_topk(self.module_.encoder(x_all[order[i : i + batch]]), self.k)
            low = smallest_kept(z)
            if low is not None:
                mins.append(low)
        self.threshold_ = sum(mins) / len(mins) if mins else 0.0

    def _encode(self, x):
        a = F.relu(self.module_.encoder(x))
        return a * (a > self.threshold_)
