"""TopK sparse autoencoder: the exact-sparse baseline with the VSC's networks.

A deterministic autoencoder whose code keeps, per sample, the ``k`` largest
ReLU'd pre-activations of the encoder and sets every other unit to exactly 0
(the k-sparse autoencoder of Makhzani & Frey, 2013, with the ReLU after the
selection of Gao et al., 2024). Encoder and decoder are the MLPs of
``skvsc.VariationalSparseCoder`` with its defaults (784 -> 400 ReLU -> J
pre-activations; J -> 400 ReLU -> 784 logits), trained with the same Bernoulli
reconstruction loss (binary cross-entropy with logits, summed over pixels),
Adam and mini-batches of 128, so that a comparison at equal non-zeros per
sample measures the code, not the network.

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

The auxiliary loss of Gao et al. (2024, section 2.4, "AuxK") revives them: a
latent that has not fired in the main code for ``dead_window`` training
samples is *dead* (Gao et al. count tokens); the ``k_aux`` largest
pre-activations among the dead latents reconstruct the main reconstruction's
residual ``x - x_hat`` through their linear decoder, weighted 1/32. With a
non-linear decoder the residual cannot be split off additively, so here the
auxiliary pass decodes the main code *plus* the auxiliary code,

    z_aux = the k_aux largest pre-activations h_j among the dead latents
    L_aux = BCE(decoder(stop_gradient(z) + z_aux), x),

which asks the same question -- which values of the dead latents would
improve the reconstruction given the live code -- without assuming linearity.
The main code is detached so that the auxiliary loss trains only the dead
latents' encoder weights and the decoder (including the dead latents' input
weights, which get no other gradient), not the live code. The selected
pre-activations enter *without* the ReLU (``aux_activation="linear"``): a dead
latent's pre-activations are mostly negative, and a ReLU would give it no
gradient at all. The total loss per sample is ``L_rec + aux_weight * L_aux``;
the auxiliary term is exactly 0 when no latent is dead.

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
``sparse_baselines.py``).

Randomness (initialisation, shuffling) comes from explicit
``torch.Generator`` objects seeded by ``random_state``; torch's global RNG is
never touched, so a fit is reproducible for a seed and a thread count.
"""

import contextlib
import itertools
import math
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F

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
    values, indices = h.topk(k, dim=1)
    # relu(-inf) = 0, so masked entries that had to be selected contribute nothing
    return torch.zeros_like(h).scatter(1, indices, F.relu(values))


def _linear(n_in, n_out, generator):
    """``nn.Linear`` with PyTorch's default initialisation (the one the VSC's
    networks use), drawn from ``generator`` instead of the global RNG."""
    layer = nn.Linear(n_in, n_out, device="meta").to_empty(device="cpu")  # no global-RNG init
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def _mlp(sizes, generator):
    """Linear layers through ``sizes`` with a ReLU between layers (none after
    the last: the encoder's output is the pre-activation, the decoder's the
    logits)."""
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [_linear(n_in, n_out, generator), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class _Networks(nn.Module):
    """Encoder to J pre-activations, decoder from a J-dimensional code to logits."""

    def __init__(self, n_features, hidden, n_components, generator):
        super().__init__()
        self.encoder = _mlp([n_features, *hidden, n_components], generator)
        self.decoder = _mlp([n_components, *reversed(hidden), n_features], generator)


def _bce(logits, x):
    """Bernoulli negative log-likelihood, summed over pixels, mean over samples."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


class TopKAutoencoder(TransformerMixin, BaseEstimator):
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

    # -- helpers ----------------------------------------------------------------
    def _check_params(self):
        if not 1 <= self.k <= self.n_components:
            raise ValueError(f"k must be in [1, n_components], got {self.k}.")
        if self.aux_weight < 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}.")
        if self.aux_activation not in ("linear", "relu"):
            raise ValueError(
                f"aux_activation must be 'linear' or 'relu', got {self.aux_activation!r}."
            )
        aux_k = max(2 * self.k, 32) if self.aux_k is None else int(self.aux_k)
        if aux_k < 1:
            raise ValueError(f"aux_k must be >= 1, got {self.aux_k}.")
        return min(aux_k, self.n_components)

    @contextlib.contextmanager
    def _threads(self):
        """Within the block, torch uses ``n_threads`` intra-op threads."""
        saved = torch.get_num_threads()
        if self.n_threads is not None:
            torch.set_num_threads(int(self.n_threads))
        try:
            yield
        finally:
            torch.set_num_threads(saved)

    @staticmethod
    def _as_tensor(X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {X.shape}.")
        return torch.from_numpy(np.ascontiguousarray(X))

    def aux_loss(self, h, z, x, dead):
        """Auxiliary reconstruction loss of the dead latents (0 if none is dead).

        Parameters
        ----------
        h : torch.Tensor of shape (n, J)
            Encoder pre-activations of the batch.
        z : torch.Tensor of shape (n, J)
            Main TopK code of the batch.
        x : torch.Tensor of shape (n, n_features)
            The batch, in [0, 1].
        dead : torch.Tensor of bool, shape (J,)
            Which latents are dead.

        Returns
        -------
        loss : torch.Tensor, scalar
            ``BCE(decoder(stop_gradient(z) + z_aux), x)`` per sample.
        """
        n_dead = int(dead.sum())
        if n_dead == 0:
            return h.new_zeros(())
        aux_k = min(self._aux_k, n_dead)
        # only dead latents can be chosen: the others are masked to -inf
        h_dead = h.masked_fill(~dead, float("-inf"))
        if self.aux_activation == "relu":
            z_aux = topk_relu(h_dead, aux_k)
        else:
            values, indices = h_dead.topk(aux_k, dim=1)
            z_aux = torch.zeros_like(h).scatter(1, indices, values)
        return _bce(self.module_.decoder(z.detach() + z_aux), x)

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

    # -- estimator API ----------------------------------------------------------
    def fit(self, X, y=None):
        """Train on ``X`` (n_samples, n_features), values in [0, 1].

        Returns
        -------
        self : TopKAutoencoder
        """
        self._aux_k = self._check_params()
        x_all = self._as_tensor(X)
        n, d = x_all.shape
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        init_gen = torch.Generator().manual_seed(seed)
        shuffle_gen = torch.Generator().manual_seed(seed + 1)
        start = time.perf_counter()
        with self._threads():
            self.module_ = _Networks(d, tuple(self.hidden_layer_sizes), self.n_components, init_gen)
            if self.data_init:
                self._standardize_encoder(x_all[torch.randperm(n, generator=init_gen)[:2048]])
            opt = torch.optim.Adam(self.module_.parameters(), lr=self.learning_rate_init)
            # training samples seen since each latent last fired in the main code
            since_fired = torch.zeros(self.n_components, dtype=torch.long)
            self.loss_curve_, self.aux_loss_curve_, self.dead_curve_ = [], [], []
            batch = min(int(self.batch_size), n)
            k_start = self.k if self.k_start is None else int(self.k_start)
            warm_steps = self.k_warmup * self.max_iter * math.ceil(n / batch)
            step = 0
            for epoch in range(int(self.max_iter)):
                order = torch.randperm(n, generator=shuffle_gen)
                total_rec = total_aux = 0.0
                for i in range(0, n, batch):
                    x = x_all[order[i : i + batch]]
                    h = self.module_.encoder(x)
                    frac = min(1.0, step / warm_steps) if warm_steps > 0 else 1.0
                    z = topk_relu(h, round(k_start + (self.k - k_start) * frac))
                    step += 1
                    rec = _bce(self.module_.decoder(z), x)
                    with torch.no_grad():
                        since_fired += x.shape[0]
                        since_fired[(z > 0).any(dim=0)] = 0
                        dead = since_fired >= self.dead_window
                    loss = rec
                    if self.aux_weight > 0:
                        aux = self.aux_loss(h, z, x, dead)
                        loss = rec + self.aux_weight * aux
                        total_aux += float(aux.detach()) * x.shape[0]
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total_rec += float(rec.detach()) * x.shape[0]
                self.loss_curve_.append(total_rec / n)
                self.aux_loss_curve_.append(total_aux / n)
                self.dead_curve_.append(int((since_fired >= self.dead_window).sum()))
                if self.verbose:
                    print(
                        f"epoch {epoch + 1}: rec {self.loss_curve_[-1]:.2f} "
                        f"aux {self.aux_loss_curve_[-1]:.2f} dead {self.dead_curve_[-1]} "
                        f"({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
        self.n_iter_ = int(self.max_iter)
        self.n_features_in_ = d
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _batches(self, X, fn, batch=4096):
        check_is_fitted(self, "module_")
        x_all = self._as_tensor(X)
        with self._threads(), torch.no_grad():
            return torch.cat([fn(x_all[i : i + batch]) for i in range(0, len(x_all), batch)])

    def transform(self, X):
        """TopK codes of ``X``: shape (n_samples, n_components), at most ``k``
        non-zeros per row, the rest exactly 0."""
        return self._batches(X, lambda x: topk_relu(self.module_.encoder(x), self.k)).numpy()

    def inverse_transform(self, Z):
        """Decoded pixel means ``sigmoid(decoder(Z))``."""
        return self._batches(Z, lambda z: torch.sigmoid(self.module_.decoder(z))).numpy()

    def reconstruction_loss(self, X):
        """Mean Bernoulli negative log-likelihood per sample (nats) of the
        reconstruction of ``X`` through its TopK code."""

        def per_sample(x):
            logits = self.module_.decoder(topk_relu(self.module_.encoder(x), self.k))
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)

        return float(self._batches(X, per_sample).mean())
