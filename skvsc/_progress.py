"""Progress reports while fitting: an epoch callback of the training loop.

``verbose=0`` reports nothing, ``verbose=1`` shows a tqdm bar over the epochs
(plain short lines when tqdm is not installed) and ``verbose>=2`` prints one
line per epoch with every number of the record.
"""

import sys

from ._core.train import Callback


def format_epoch(record, n_epochs=None):
    """One line with every field of an epoch record (the ``verbose=2`` line)."""
    line = (
        f"Epoch {_epoch(record, n_epochs)}: -ELBO {record['loss']:.4f} "
        f"(reconstruction {record['reconstruction']:.4f}, KL {record['kl']:.4f}), "
        f"active units/sample {record['active_units']:.2f}"
    )
    if "validation_score" in record:
        line += f", validation ELBO {record['validation_score']:.4f}"
    if record.get("revived"):
        line += f", {record['revived']} dead units re-seeded"
    return f"{line}, {record['time']:.2f} s"


def _epoch(record, n_epochs):
    return f"{record['epoch']}" if n_epochs is None else f"{record['epoch']}/{n_epochs}"


def _postfix(record):
    """The short summary shown next to the bar (and in the fallback lines)."""
    text = f"-ELBO={record['loss']:.4f}, active={record['active_units']:.2f}"
    if "validation_score" in record:
        text += f", val ELBO={record['validation_score']:.4f}"
    return text


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Progress(Callback):
    """Epoch callback (and context manager) that reports each epoch's record.

    Parameters
    ----------
    verbose : int
        0: silent; 1: a progress bar (or short lines without tqdm); 2 or
        more: one full line per epoch.
    n_epochs : int or None
        Most epochs of this call. ``None`` when the total is unknown (one
        epoch of ``partial_fit``): lines are printed instead of a bar.
    first_epoch : int, default=1
        Number of the first epoch of this call (the bar starts at
        ``first_epoch - 1`` epochs done out of ``first_epoch - 1 + n_epochs``).
    desc : str, default=None
        Label of the bar.
    file : file-like, default=None
        Where lines are printed (``sys.stdout``) and the bar is drawn
        (``sys.stderr``, tqdm's default).
    """

    def __init__(self, verbose, n_epochs, *, first_epoch=1, desc=None, file=None):
        self.verbose = int(verbose)
        self.n_epochs = None if n_epochs is None else first_epoch - 1 + n_epochs
        self.first_epoch = first_epoch
        self.desc = desc
        self.file = file
        self._bar = None

    def __enter__(self):
        tqdm = _tqdm() if self.verbose == 1 and self.n_epochs is not None else None
        if tqdm is not None:
            self._bar = tqdm(
                total=self.n_epochs,
                initial=self.first_epoch - 1,
                desc=self.desc,
                unit="epoch",
                file=self.file,
                dynamic_ncols=True,
            )
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def on_epoch_end(self, record, context):
        self(record)
        return False

    def __call__(self, record):
        if self.verbose <= 0:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(_postfix(record), refresh=False)
            self._bar.update(1)
        elif self.verbose == 1:
            self._print(f"Epoch {_epoch(record, self.n_epochs)}: {_postfix(record)}")
        else:
            self._print(format_epoch(record, self.n_epochs))

    def note(self, line):
        """Print ``line`` below the progress output (nothing at ``verbose=0``)."""
        if self.verbose > 0:
            self.close()
            self._print(line)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _print(self, line):
        print(line, file=self.file if self.file is not None else sys.stdout, flush=True)
