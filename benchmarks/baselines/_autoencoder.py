"""What the sparse-autoencoder baselines share: the VSC's networks, the training
loop, dead-unit bookkeeping and the AuxK auxiliary loss.

Encoder and decoder are the MLPs of ``skvsc.VariationalSparseCoder`` with its
defaults (784 -> 400 ReLU -> J pre-activations; J -> 400 ReLU -> 784 logits),
trained with the same Bernoulli reconstruction loss (binary cross-entropy with
logits, summed over pixels), Adam and mini-batches of 128, so that a comparison
at equal non-zeros per sample measures the code, not the network. A subclass
says how the code is made from the pre-activations in training
(:meth:`SparseAutoencoder._batch_loss`) and at inference
(:meth:`SparseAutoencoder._encode`).

Randomness (initialisation, shuffling) comes from explicit ``torch.Generator``
objects seeded by ``random_state``; torch's global RNG is never touched, so a
fit is reproducible for a seed and a thread count.
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
    """Encoder to J pre-activations, decoder from a J-dimensional code to logits.

    With ``conv_channels``, the networks of skvsc's ``network="conv"`` family
    (square one-channel images): its convolutions, the dense layers of
    ``hidden`` and one head of J pre-activations; its transposed-conv decoder.
    """

    def __init__(self, n_features, hidden, n_components, generator, conv_channels=None):
        super().__init__()
        if conv_channels is None:
            self.encoder = _mlp([n_features, *hidden, n_components], generator)
            self.decoder = _mlp([n_components, *reversed(hidden), n_features], generator)
            return
        from skvsc._core.conv import ConvNet

        net = ConvNet(conv_channels=tuple(conv_channels), hidden_layer_sizes=tuple(hidden))
        encoder, self.decoder = net.build(n_features, n_components, 1, generator)
        self.encoder = _FirstHead(encoder)


class _FirstHead(nn.Module):
    """The single head of an skvsc encoder, as a tensor."""

    def __init__(self, encoder):
        super().__init__()
        self.inner = encoder

    def forward(self, x):
        return self.inner(x)[0]


def bce(logits, x):
    """Bernoulli negative log-likelihood, summed over pixels, mean over samples."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def keep_topk(h, k, relu=True):
    """Keep the ``k`` largest entries of each row of ``h`` (ReLU'd with ``relu``);
    zero the rest. The gradient flows to the kept entries only. Entries set to
    ``-inf`` are never kept unless a row has fewer than ``k`` finite ones."""
    values, indices = h.topk(k, dim=1)
    # relu(-inf) = 0, so masked entries that had to be selected contribute nothing
    return torch.zeros_like(h).scatter(1, indices, F.relu(values) if relu else values)


class SparseAutoencoder(TransformerMixin, BaseEstimator):
    """Base class: the training loop of the baselines (not an estimator itself).

    Subclasses define ``__init__`` (every parameter explicit, as scikit-learn
    requires), :meth:`_check_params`, :meth:`_batch_loss` and :meth:`_encode`;
    the AuxK ones also set ``aux_k``, ``aux_weight``, ``aux_activation`` and
    ``dead_window``.
    """

    #: Per-epoch logs besides ``loss`` (the reconstruction): ``<name>_curve_`` attributes.
    _curves = ()
    _aux_k = 0

    # -- hooks -------------------------------------------------------------------
    def _check_params(self):
        """Validate the parameters; raise ValueError naming the bad one."""

    def _initialize(self, x_all, generator):
        """After the networks are built (e.g. data-dependent initialisation)."""

    def _param_groups(self):
        """Adam's parameter groups (one, at ``learning_rate_init``, by default)."""
        return [{"params": list(self.module_.parameters())}]

    def _batch_loss(self, x, step):
        """``(loss, code, logs)`` of the batch ``x`` at training step ``step``;
        ``logs`` maps ``"loss"`` (the reconstruction loss) and the names in ``_curves``
        to floats, averaged over each epoch into ``loss_curve_`` and ``<name>_curve_``."""
        raise NotImplementedError

    def _encode(self, x):
        """The inference code of ``x``."""
        raise NotImplementedError

    def _finish(self, x_all, generator):
        """After the last epoch (e.g. estimating an inference threshold)."""

    # -- dead units and AuxK ---------------------------------------------------------
    def _check_aux(self):
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

    def _dead_after(self, z):
        """Count the batch of code ``z`` in every unit's time since it last fired;
        return which units are now dead (silent for ``dead_window`` samples)."""
        with torch.no_grad():
            self._since_fired += z.shape[0]
            self._since_fired[(z > 0).any(dim=0)] = 0
            return self._since_fired >= self.dead_window

    def aux_loss(self, h, z, x, dead):
        """AuxK: reconstruction loss of the dead units (0 if none is dead).

        Gao et al. (2024, section 2.4): the ``aux_k`` largest pre-activations
        among the dead units reconstruct the main reconstruction's residual.
        With a non-linear decoder the residual cannot be split off additively,
        so here the auxiliary pass decodes the main code *plus* the auxiliary
        code, ``BCE(decoder(stop_gradient(z) + z_aux), x)``: which values of the
        dead units would improve the reconstruction given the live code. The
        main code is detached, so the loss trains only the dead units' encoder
        weights and the decoder. With ``aux_activation="linear"`` the selected
        pre-activations enter without the ReLU (a dead unit's pre-activations
        are mostly negative, and a ReLU would give it no gradient at all).

        Parameters
        ----------
        h : torch.Tensor of shape (n, J)
            Encoder pre-activations of the batch.
        z : torch.Tensor of shape (n, J)
            Main code of the batch.
        x : torch.Tensor of shape (n, n_features)
            The batch, in [0, 1].
        dead : torch.Tensor of bool, shape (J,)
            Which units are dead.

        Returns
        -------
        loss : torch.Tensor, scalar
            ``BCE(decoder(stop_gradient(z) + z_aux), x)`` per sample.
        """
        n_dead = int(dead.sum())
        if n_dead == 0:
            return h.new_zeros(())
        # only dead units can be chosen: the others are masked to -inf
        h_dead = h.masked_fill(~dead, float("-inf"))
        z_aux = keep_topk(h_dead, min(self._aux_k, n_dead), relu=self.aux_activation == "relu")
        return bce(self.module_.decoder(z.detach() + z_aux), x)

    def _with_aux(self, h, z, x, rec):
        """``(loss, logs)``: ``rec`` plus the weighted AuxK loss of this batch (after
        counting the batch's code ``z`` in the dead-unit bookkeeping)."""
        dead = self._dead_after(z)
        logs = {"loss": float(rec.detach()), "aux_loss": 0.0}
        if self.aux_weight <= 0:
            return rec, logs
        aux = self.aux_loss(h, z, x, dead)
        logs["aux_loss"] = float(aux.detach())
        return rec + self.aux_weight * aux, logs

    # -- helpers -----------------------------------------------------------------------
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

    def _batches(self, X, fn, batch=4096):
        check_is_fitted(self, "module_")
        x_all = self._as_tensor(X)
        with self._threads(), torch.no_grad():
            return torch.cat([fn(x_all[i : i + batch]) for i in range(0, len(x_all), batch)])

    # -- estimator API -------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train on ``X`` (n_samples, n_features), values in [0, 1].

        Returns
        -------
        self : object
        """
        self._check_params()
        x_all = self._as_tensor(X)
        n, d = x_all.shape
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        init_gen = torch.Generator().manual_seed(seed)
        shuffle_gen = torch.Generator().manual_seed(seed + 1)
        start = time.perf_counter()
        with self._threads():
            conv = self.conv_channels if getattr(self, "network", "mlp") == "conv" else None
            self.module_ = _Networks(
                d, tuple(self.hidden_layer_sizes), self.n_components, init_gen, conv
            )
            self._initialize(x_all, init_gen)
            opt = torch.optim.Adam(self._param_groups(), lr=self.learning_rate_init)
            # training samples seen since each unit last fired in the main code
            self._since_fired = torch.zeros(self.n_components, dtype=torch.long)
            self.loss_curve_, self.dead_curve_ = [], []
            for name in self._curves:
                setattr(self, f"{name}_curve_", [])
            batch = min(int(self.batch_size), n)
            self._n_steps = int(self.max_iter) * math.ceil(n / batch)
            step = 0
            for epoch in range(int(self.max_iter)):
                order = torch.randperm(n, generator=shuffle_gen)
                totals = {}
                for i in range(0, n, batch):
                    x = x_all[order[i : i + batch]]
                    loss, logs = self._batch_loss(x, step)
                    step += 1
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    for name, value in logs.items():
                        totals[name] = totals.get(name, 0.0) + value * x.shape[0]
                self.loss_curve_.append(totals.pop("loss") / n)
                for name in self._curves:
                    getattr(self, f"{name}_curve_").append(totals.get(name, 0.0) / n)
                self.dead_curve_.append(int((self._since_fired >= self.dead_window).sum()))
                if self.verbose:
                    logs = " ".join(f"{k} {v / n:.3g}" for k, v in totals.items())
                    print(
                        f"epoch {epoch + 1}: rec {self.loss_curve_[-1]:.2f} {logs} dead "
                        f"{self.dead_curve_[-1]} ({time.perf_counter() - start:.0f} s)",
                        flush=True,
                    )
            self._finish(x_all, shuffle_gen)
        self.n_iter_ = int(self.max_iter)
        self.n_features_in_ = d
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def transform(self, X):
        """Codes of ``X``: shape (n_samples, n_components), exact zeros off the code."""
        return self._batches(X, lambda x: self._encode(x)).numpy()

    def inverse_transform(self, Z):
        """Decoded pixel means ``sigmoid(decoder(Z))``."""
        return self._batches(Z, lambda z: torch.sigmoid(self.module_.decoder(z))).numpy()

    def reconstruction_loss(self, X):
        """Mean Bernoulli negative log-likelihood per sample (nats) of the
        reconstruction of ``X`` through its inference code."""

        def per_sample(x):
            logits = self.module_.decoder(self._encode(x))
            return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)

        return float(self._batches(X, per_sample).mean())
