"""The per-unit report: one self-contained HTML file that shows what each unit does.

Everything is drawn without matplotlib: images are PNGs encoded here (zlib)
and embedded as data URIs, histograms and bar charts are inline SVG, so the
file opens in any browser without network access and is written in seconds
for hundreds of units.
"""

import base64
import html
import math
import struct
import zlib

import numpy as np

from ._common import checked_image_shape, dense_rows

#: Units active on fewer than this share of the samples are flagged as rare.
RARE_RATE = 0.01
_SMALLEST_AUTO_IMAGE = 64  # 8 x 8: narrower square inputs are tables (iris is not 2 x 2 pixels)

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.4em} .summary td{padding:0 1em 0 0}
.units{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:12px}
.unit{border:1px solid #ccc;border-radius:6px;padding:8px;font-size:12px}
.unit h2{font-size:14px;margin:0 0 4px} .flag{color:#fff;border-radius:3px;padding:0 4px}
.dead{background:#b00} .rare{background:#d80} .row{margin:4px 0}
.label{color:#666;display:block} img.px{image-rendering:pixelated;max-width:100%}
svg{display:block} .matrix{overflow-x:auto} .matrix img{flex:none}
"""


# -- drawing ------------------------------------------------------------------------


def _png(pixels):
    """PNG bytes of a uint8 array: (h, w) grayscale or (h, w, 3) RGB."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    color = 0 if pixels.ndim == 2 else 2
    rows = pixels.reshape(height, -1)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter 0 per row

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _img(pixels, scale, alt):
    uri = base64.b64encode(_png(pixels)).decode("ascii")
    height, width = pixels.shape[:2]
    return (
        f'<img class="px" alt="{html.escape(alt)}" width="{width * scale}" '
        f'height="{height * scale}" src="data:image/png;base64,{uri}">'
    )


def _gray(images, low, high):
    """uint8 grays of ``images`` mapped from [low, high] to [0, 255]."""
    scaled = (np.asarray(images, dtype=np.float64) - low) / max(high - low, 1e-12)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)


def _strip(images, shape, low, high):
    """One row of images separated by a 1-pixel white gap."""
    h, w = shape
    out = np.full((h, len(images) * (w + 1) - 1), 255, np.uint8)
    for i, image in enumerate(images):
        out[:, i * (w + 1) : i * (w + 1) + w] = _gray(np.reshape(image, shape), low, high)
    return out


def _histogram_svg(values, width=300, height=60, bins=24):
    if values.size == 0:
        return '<svg width="300" height="20"><text x="0" y="14">never active</text></svg>'
    counts, edges = np.histogram(values, bins=bins)
    top = counts.max()
    bar = width / bins
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - 12 - c / top * (height - 14):.1f}" '
        f'width="{bar - 1:.1f}" height="{c / top * (height - 14):.1f}" fill="#4a7ab5"/>'
        for i, c in enumerate(counts)
    )
    ticks = (
        f'<text x="0" y="{height - 1}" font-size="10">{edges[0]:.3g}</text>'
        f'<text x="{width}" y="{height - 1}" font-size="10" '
        f'text-anchor="end">{edges[-1]:.3g}</text>'
    )
    return f'<svg width="{width}" height="{height}">{rects}{ticks}</svg>'


def _bars_svg(effects, names, n_bars=12, width=310, label_width=130):
    """Horizontal bars of the largest signed effects, names in a column on the
    left and zero in the middle of the bar area."""
    order = np.argsort(-np.abs(effects), kind="stable")[:n_bars]
    scale = np.abs(effects[order]).max() or 1.0
    row, half = 14, (width - label_width) / 2 - 2
    zero = label_width + half + 2
    parts = [f'<line x1="{zero}" y1="0" x2="{zero}" y2="{len(order) * row}" stroke="#999"/>']
    for i, k in enumerate(order):
        length = effects[k] / scale * half
        x = zero if length >= 0 else zero + length
        color = "#c0504d" if length >= 0 else "#4a7ab5"
        parts.append(
            f'<text x="{label_width - 4}" y="{i * row + 11}" font-size="10" text-anchor="end">'
            f"{html.escape(str(names[k]))[:24]}</text>"
            f'<rect x="{x:.1f}" y="{i * row + 2}" width="{abs(length):.1f}" height="{row - 4}" '
            f'fill="{color}"><title>{effects[k]:.4g}</title></rect>'
        )
    return f'<svg width="{width}" height="{len(order) * row}">{"".join(parts)}</svg>'


def _heatmap(matrix):
    """RGB pixels of a matrix in [0, 1]: white (0) to dark blue (1)."""
    m = np.clip(matrix, 0, 1)[..., None]
    white, blue = np.array([255, 255, 255]), np.array([8, 48, 107])
    return np.round(white + (blue - white) * m).astype(np.uint8)


# -- statistics ---------------------------------------------------------------------


def _unit_statistics(Z):
    """Per unit: activation rate, typical (median non-zero) value, quantiles."""
    active = Z != 0
    rates = active.mean(axis=0)
    typical = np.zeros(Z.shape[1])
    low = np.zeros(Z.shape[1])
    high = np.zeros(Z.shape[1])
    for j in np.flatnonzero(rates):
        values = Z[active[:, j], j]
        typical[j] = np.median(values)
        low[j], high[j] = np.quantile(values, [0.05, 0.95])
    return active, rates, typical, low, high


def _is_image(estimator, n_features, image_shape):
    if isinstance(image_shape, str):
        if image_shape != "auto":
            raise ValueError(f"image_shape must be 'auto', None or a shape, got {image_shape!r}.")
        side = math.isqrt(n_features)
        if side * side != n_features or n_features < _SMALLEST_AUTO_IMAGE:
            return None
        if hasattr(estimator, "feature_names_in_"):  # columns of a DataFrame: a table
            return None
        return side, side
    return None if image_shape is None else checked_image_shape(n_features, image_shape)


# -- the report ---------------------------------------------------------------------


def unit_report(
    estimator,
    X,
    y=None,
    path=None,
    *,
    image_shape="auto",
    n_top=8,
    n_steps=7,
    title=None,
):
    """Write a self-contained HTML report that shows what each unit of a code does.

    For every unit, from the most to the least often active: its activation
    rate, its top-activating inputs, the histogram of its non-zero values, its
    decoded atom (the decoder's output for a code holding only this unit, at
    its typical value) with its effect (that output minus the output of the
    empty code), and a traversal (a real input's code with this unit moved
    from 0 through its 5 % to 95 % range). Dead units (never active on ``X``)
    and rare units (active on fewer than 1 % of the samples) are flagged. With
    labels ``y``, a class x unit matrix shows the share of each class's
    samples on which each unit is active, and each unit names its class. Image
    data are drawn as images; other data as bar charts of feature effects
    (with the feature names).

    The file embeds its images and needs no network access to be viewed.
    matplotlib is not needed.

    Parameters
    ----------
    estimator : VariationalSparseCoder or VAETransformer
        A fitted estimator.

    X : array-like of shape (n_samples, n_features)
        The samples to encode (their units' statistics and top inputs).

    y : array-like of shape (n_samples,), default=None
        Optional labels for the class x unit matrix.

    path : str or path-like, default=None
        Where to write the HTML file (UTF-8). Nothing is written when None.

    image_shape : "auto", None or tuple of int, default="auto"
        ``(height, width)`` to draw samples as images. ``"auto"`` draws
        square inputs of at least 8 x 8 features as images, unless the
        estimator was fitted on a DataFrame; None draws bar charts.

    n_top : int, default=8
        Top-activating inputs shown per unit.

    n_steps : int, default=7
        Images in each traversal.

    title : str, default=None
        Title of the page (default: the estimator's class name).

    Returns
    -------
    html : str
        The report's HTML text.

    See Also
    --------
    plot_atoms : The atoms as a matplotlib figure.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvsc import VariationalSparseCoder
    >>> from skvsc.plotting import unit_report
    >>> X, y = load_digits(return_X_y=True)
    >>> vsc = VariationalSparseCoder(n_components=16, max_iter=2, random_state=0).fit(X / 16)
    >>> page = unit_report(vsc, X / 16, y)
    >>> page.startswith("<!DOCTYPE html>")
    True
    """
    for name, value in (("n_top", n_top), ("n_steps", n_steps)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    Z = np.asarray(estimator.transform(X), dtype=np.float64)
    X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else dense_rows(X), dtype=np.float64)
    n_samples, n_features = X.shape
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n_samples,):
            raise ValueError(f"y must have shape ({n_samples},), got {y.shape}.")
    units = _Units(estimator, Z, n_top, n_steps)
    view = _View(estimator, X, y, _is_image(estimator, n_features, image_shape))
    order = np.lexsort((np.arange(units.rates.size), -units.rates))
    matrix = _class_matrix(y, units.active, order) if y is not None else ""
    rates = units.rates
    dead, rare = int((rates == 0).sum()), int(((rates > 0) & (rates < RARE_RATE)).sum())
    title = html.escape(title or f"{type(estimator).__name__}: units")
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{_CSS}</style></head><body><h1>{title}</h1>"
        f"<table class='summary'><tr><td>samples</td><td>{n_samples}</td></tr>"
        f"<tr><td>units</td><td>{rates.size} ({rates.size - dead} active on these samples, "
        f"{dead} dead, {rare} rare: active on fewer than {RARE_RATE:.0%})</td></tr>"
        f"<tr><td>non-zeros per sample</td><td>{units.active.sum(axis=1).mean():.2f}</td></tr>"
        f"</table>{matrix}<div class='units'>{''.join(view.card(units, j) for j in order)}</div>"
        "</body></html>"
    )
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    return page


class _Units:
    """What the report shows of each unit, computed for all units at once."""

    def __init__(self, estimator, Z, n_top, n_steps):
        n_units = Z.shape[1]
        self.Z = Z
        self.active, self.rates, self.typical, low, high = _unit_statistics(Z)
        decode = _decoder(estimator, Z.dtype)
        empty = decode(np.zeros((1, n_units)))[0]
        self.atoms = decode(np.diag(self.typical))
        self.effects = self.atoms - empty
        self.tops = np.argsort(-np.abs(Z), axis=0, kind="stable")[:n_top]
        steps = _traversal_codes(Z, self.tops[0], low, high, n_steps)
        self.traversals = decode(steps.reshape(-1, n_units)).reshape(n_units, n_steps, -1)

    def top(self, j):
        """The unit's top inputs, among the samples on which it is active."""
        return self.tops[: max(1, int(self.active[:, j].sum())), j]


def _decoder(estimator, dtype):
    def decode(codes):
        return np.asarray(estimator.inverse_transform(codes.astype(dtype)), dtype=np.float64)

    return decode


def _traversal_codes(Z, top_rows, low, high, n_steps):
    """(n_units, n_steps, n_units) codes: the unit's top input's code with the
    unit set to 0, then through its 5 %-95 % range."""
    n_units = Z.shape[1]
    codes = np.repeat(Z[top_rows][:, None, :], n_steps, axis=1)
    for j in range(n_units):
        values = np.linspace(low[j], high[j], n_steps - 1) if n_steps > 1 else []
        codes[j, :, j] = np.concatenate([[0.0], values])
    return codes


class _View:
    """How samples are drawn: images of ``shape``, or bars over named features."""

    def __init__(self, estimator, X, y, shape):
        self.X, self.y, self.shape = X, y, shape
        self.names = (
            list(estimator.feature_names_in_)
            if hasattr(estimator, "feature_names_in_")
            else [f"x{k}" for k in range(X.shape[1])]
        )
        inside = X.min() >= 0 and X.max() <= 1
        self.pixel_range = (0.0, 1.0) if inside else tuple(np.quantile(X, [0.01, 0.99]))
        self.scale = max(1, 56 // shape[0]) if shape else 1
        std = X.std(axis=0)
        self.feature_scale = np.where(std > 0, std, 1.0)

    def card(self, units, j):
        rate = units.rates[j]
        flag = ""
        if rate == 0:
            flag = " <span class='flag dead'>dead</span>"
        elif rate < RARE_RATE:
            flag = " <span class='flag rare'>rare</span>"
        head = f"<h2>unit {j}{flag}</h2>rate {rate:.3f}, typical value {units.typical[j]:.3g}"
        active_j = units.active[:, j]
        if self.y is not None and active_j.any():
            classes, counts = np.unique(self.y[active_j], return_counts=True)
            k = counts.argmax()
            head += f"; {counts[k] / counts.sum():.0%} of its activations are class {classes[k]}"
        values = units.Z[active_j, j]
        parts = [head, _row("non-zero values", _histogram_svg(values))]
        if rate > 0:
            parts += self._images(units, j) if self.shape else self._bars(units, j)
        return f"<div class='unit'>{''.join(parts)}</div>"

    def _images(self, units, j):
        low, high = self.pixel_range
        effect = units.effects[j]
        bound = np.abs(effect).max() or 1.0

        def img(pixels, alt):
            return _img(pixels, self.scale, f"{alt} {j}")

        return [
            _row("top inputs", img(_strip(self.X[units.top(j)], self.shape, low, high), "top")),
            _row(
                "atom | effect (red +, blue -)",
                img(_strip([units.atoms[j]], self.shape, low, high), "atom")
                + " "
                + img(_signed(effect.reshape(self.shape), bound), "effect"),
            ),
            _row(
                "traversal (0, then 5 % to 95 %)",
                img(_strip(units.traversals[j], self.shape, low, high), "traversal"),
            ),
        ]

    def _bars(self, units, j):
        return [
            _row(
                "effect on each feature at the typical value, in feature standard deviations",
                _bars_svg(units.effects[j] / self.feature_scale, self.names),
            ),
            _row("top inputs (rows)", html.escape(", ".join(str(int(i)) for i in units.top(j)))),
        ]


def _row(label, content):
    return f"<div class='row'><span class='label'>{label}</span>{content}</div>"


def _signed(image, bound):
    """RGB pixels of a signed image: red positive, blue negative, white 0."""
    t = np.clip(image / bound, -1, 1)[..., None]
    white = np.array([255, 255, 255])
    red, blue = np.array([192, 40, 40]), np.array([40, 80, 192])
    pixels = np.where(t >= 0, white + (red - white) * t, white + (blue - white) * -t)
    return np.round(pixels).astype(np.uint8)


def _class_matrix(y, active, order):
    classes = np.unique(y)
    matrix = np.array([active[y == c][:, order].mean(axis=0) for c in classes])
    cell = 4 if len(order) > 100 else 8
    pixels = np.repeat(np.repeat(_heatmap(matrix / max(matrix.max(), 1e-12)), 12, 0), cell, 1)
    labels = "".join(
        f"<div style='height:12px;font-size:10px'>{html.escape(str(c))}</div>" for c in classes
    )
    return (
        "<h2>Share of each class's samples on which each unit is active</h2>"
        "<p>Columns: units in the order of the cards below (most active first); "
        f"rows: classes; darkest = {matrix.max():.2f}.</p>"
        f"<div class='matrix' style='display:flex'><div>{labels}</div>"
        f"{_img(pixels, 1, 'class x unit activation')}</div>"
    )
