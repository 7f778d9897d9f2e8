"""TopK sparse autoencoder: the exact-sparse baseline with the VSC's networks.

A deterministic autoencoder whose code keeps, per sample, the ``k`` largest
ReLU'd pre-activations of the encoder and sets every other unit to exactly 0
(the k-sparse autoencoder of Makhzani & Frey, 2013, with the ReLU after the
selection of Gao et al., 2024), with the VSC's networks and loss
(``_autoencoder.py``).

Dead latents: the auxiliary loss, an initialisation, a k schedule
------------------------------------------------------------------
A TopK code lets latents die: a unit that is never among the ``k`` largest
gets no gradient from the reconstruction, so it never becomes larger. With
this MLP most of them die in the first epoch (175 of 200 at k = 10 in a
diagnostic run on 20,000 MNIST images), partly for a reason that a linear SAE
does not have: the encoder's hidden layer is a ReLU, so its output has a
positive mean, which random output weights turn into a sample-independent
offset of every latent; the latents with the largest offsets win the top k on
every sample.

The auxiliary loss of Gao et al. (2024, section 2.4, "AuxK",
``SparseAutoencoder.aux_loss``) revives them: a latent that has not fired in
the main code for ``dead_window`` training samples is *dead* (Gao et al. count
tokens); the ``aux_k`` largest pre-activations among the dead latents help
reconstruct the batch given the (detached) main code, weighted 1/32.

Two further options, off by default:

- ``data_init``: a data-dependent initialisation that standardises every
  pre-activation (mean 0, standard deviation 1 on 2,048 training images),
  removing the offsets above. It helps short runs (MNIST validation, 5
  epochs, k = 2: 87.6 % instead of 83.0 % accuracy) but hurts at the 20-epoch
  budget, where the auxiliary loss alone keeps all 200 latents alive (k = 2,
  5, 10, 20: 1.3-1.6 points lower).
- ``k_start``: the code size falls linearly from ``k_start`` to ``k`` over the
  first ``k_warmup`` of the training steps, the remedy of Makhzani & Frey
  (2013). At 20 epochs it helped at k = 2 (89.7 % instead of 89.0 % with
  ``k_start=50``) and hurt at k = 5 and 10.

The validation screen behind these choices is in
``benchmarks/paper/results/sparse_baselines_screen.jsonl`` (see
``benchmarks/paper/sparse_baselines.py``).
"""

import torch

from ._autoencoder import SparseAutoencoder, bce, keep_topk

__all__ = ["TopKAutoencoder", "topk_relu"]


def topk_relu(h, k):
    """Keep the ``k`` largest entries of each row of ``h``, ReLU'd; zero the rest.

    Parameters
    ----------
    h : torch.Tensor of shape (n, J)
        Pre-activations. Entries set to ``-inf`` are never selected unless a
        row has fewer than ``k`` finite entries (then they become 0).
    k : int
        Number of entries kept per row, ``1 <= k <= J``.

    Returns
    -------
    z : torch.Tensor of shape (n, J)
        At most ``k`` non-zeros per row (fewer where a selected pre-activation
        is <= 0); the gradient flows to the selected entries only.
    """
    return keep_topk(h, k)


class TopKAutoencoder(SparseAutoencoder):
    """TopK sparse autoencoder with a dead-latent auxiliary loss.

    Parameters
    ----------
    n_components : int, default=200
        Number of latent units J.
    k : int, default=10
        Non-zeros per code (at most; exactly ``k`` unless some of the ``k``
        largest pre-activations are <= 0).
    hidden_layer_sizes : tuple of int, default=(400,)
        Hidden layers of the encoder; the decoder mirrors them.
    network : {"mlp", "conv"}, default="mlp"
        ``"conv"``: the networks of skvsc's ``network="conv"`` family (its
        stride-2 convolutions of ``conv_channels`` on square one-channel
        images, then ``hidden_layer_sizes``; a transposed-conv decoder).
    conv_channels : tuple of int, default=(16, 32)
        Channels of the convolutions of ``network="conv"``.
    max_iter : int, default=20
        Training epochs (all of them are run; no early stopping).
    batch_size : int, default=128
        Mini-batch size.
    learning_rate_init : float, default=1e-3
        Adam learning rate.
    aux_k : int or None, default=None
        Dead latents used by the auxiliary pass per sample; None means
        ``max(2 * k, 32)``. Capped by the number of dead latents.
    aux_weight : float, default=1/32
        Weight of the auxiliary loss (Gao et al.'s value); 0 disables it.
    aux_activation : {"linear", "relu"}, default="linear"
        Whether the dead latents' selected pre-activations enter the auxiliary
        pass as they are (gradient even where they are negative) or ReLU'd as
        in the main code.
    dead_window : int, default=10000
        A latent is dead when it has not fired in the main code for this many
        training samples (about a sixth of an MNIST epoch; 78 steps of 128,
        close to Gao et al.'s 10M tokens in batches of 131k).
    k_start : int or None, default=None
        Code size at the start of training, falling linearly to ``k`` over
        the first ``k_warmup`` fraction of the steps; None: ``k`` throughout.
    k_warmup : float, default=0.5
        Fraction of the training steps of the ``k_start`` schedule.
    data_init : bool, default=False
        Standardise the encoder's pre-activations on 2,048 training images at
        initialisation (see the module docstring).
    n_threads : int or None, default=None
        Torch intra-op threads during ``fit`` and ``transform``; None leaves
        torch's setting.
    random_state : int, RandomState or None, default=None
        Seeds the initialisation and shuffling generators.
    verbose : int, default=0
        Print one line per epoch when > 0.

    Attributes
    ----------
    module_ : torch.nn.Module
        ``encoder`` and ``decoder`` networks.
    n_iter_ : int
        Epochs trained.
    loss_curve_ : list of float
        Mean reconstruction loss per sample (nats) of each epoch.
    aux_loss_curve_ : list of float
        Mean auxiliary loss per sample of each epoch (0 for steps without dead
        latents).
    dead_curve_ : list of int
        Dead latents (by ``dead_window``) at the end of each epoch.
    fit_seconds_ : float
        Wall time of ``fit``.
    """

    def __init__(
        self,
        n_components=200,
        *,
        k=10,
        hidden_layer_sizes=(400,),
        network="mlp",
        conv_channels=(16, 32),
        max_iter=20,
        batch_size=128,
        learning_rate_init=1e-3,
        aux_k=None,
        aux_weight=1 / 32,
        aux_activation="linear",
        dead_window=10000,
        k_start=None,
        k_warmup=0.5,
        data_init=False,
        n_threads=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.k = k
        self.hidden_layer_sizes = hidden_layer_sizes
        self.network = network
        self.conv_channels = conv_channels
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.aux_k = aux_k
        self.aux_weight = aux_weight
        self.aux_activation = aux_activation
        self.dead_window = dead_window
        self.k_start = k_start
        self.k_warmup = k_warmup
        self.data_init = data_init
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    _curves = ("aux_loss",)

    def _check_params(self):
        if not 1 <= self.k <= self.n_components:
            raise ValueError(f"k must be in [1, n_components], got {self.k}.")
        if self.network not in ("mlp", "conv"):
            raise ValueError(f"network must be 'mlp' or 'conv', got {self.network!r}.")
        if self.network == "conv" and self.data_init:
            raise ValueError("data_init is implemented for network='mlp' only.")
        self._aux_k = self._check_aux()

    def _initialize(self, x_all, generator):
        if self.data_init:
            self._standardize_encoder(x_all[torch.randperm(len(x_all), generator=generator)[:2048]])

    @torch.no_grad()
    def _standardize_encoder(self, x):
        """Data-dependent initialisation: every pre-activation has mean 0 and
        standard deviation 1 on ``x``.

        The encoder's hidden layer is a ReLU, so its output has a positive
        mean, and with random output weights that mean gives every latent a
        sample-independent offset; the latents with the largest offsets then
        win the top k on every sample and the others die within the first
        epoch. Centering and scaling the pre-activations lets the top k be
        chosen by what differs between samples."""
        last = self.module_.encoder[-1]
        h = self.module_.encoder(x)
        scale = 1.0 / h.std(dim=0).clamp_min(1e-6)
        last.weight *= scale[:, None]
        last.bias.copy_((last.bias - h.mean(dim=0)) * scale)

    def _k_at(self, step):
        """The code size at ``step``: ``k_start`` falling linearly to ``k``."""
        k_start = self.k if self.k_start is None else int(self.k_start)
        warm_steps = self.k_warmup * self._n_steps
        frac = min(1.0, step / warm_steps) if warm_steps > 0 else 1.0
        return round(k_start + (self.k - k_start) * frac)

    def _batch_loss(self, x, step):
        h = self.module_.encoder(x)
        z = topk_relu(h, self._k_at(step))
        rec = bce(self.module_.decoder(z), x)
        return self._with_aux(h, z, x, rec)

    def _encode(self, x):
        return topk_relu(self.module_.encoder(x), self.k)
