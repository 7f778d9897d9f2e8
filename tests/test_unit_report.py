"""skvsc.plotting.unit_report: a self-contained HTML page per fitted model.

The drawing pieces are checked against independent decoders (Pillow reads the
PNGs), the unit effects against a linear decoder, and the whole page is
rendered by headless Chromium where it is installed.
"""

import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc.plotting import _report, unit_report


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    vsc = VariationalSparseCoder(n_components=12, max_iter=3, random_state=0, n_threads=1)
    return vsc.fit(X), X, y


@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3)])
def test_png_encoder_round_trips_through_pillow(shape):
    Image = pytest.importorskip("PIL.Image")
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(_report._png(pixels))))
    np.testing.assert_array_equal(decoded, pixels)


class LinearDecoder:
    """inverse_transform(Z) = Z @ W + b: the effects must be typical * W."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def inverse_transform(self, Z):
        return Z @ self.W + self.b


def test_unit_effects_of_a_linear_decoder_are_its_weights():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 5)), rng.normal(size=5)
    Z = np.array([[0.0, 2.0, 0.0], [1.0, 4.0, 0.0], [3.0, 0.0, 0.0]])
    units = _report._Units(LinearDecoder(W, b), Z, n_top=2, n_steps=3)
    np.testing.assert_allclose(units.typical, [2.0, 3.0, 0.0])  # medians of non-zeros
    np.testing.assert_allclose(units.effects, units.typical[:, None] * W, atol=1e-12)
    np.testing.assert_array_equal(units.rates, [2 / 3, 2 / 3, 0])
    # Traversals start at the unit's top input with the unit off, then sweep its range.
    np.testing.assert_allclose(units.traversals[1, 0], Z[1] @ W + b - 4.0 * W[1])
    assert units.top(0).tolist() == [2, 1] and units.top(2).size == 1


def test_digits_report_shows_every_unit_with_images(digits_model, tmp_path):
    vsc, X, y = digits_model
    path = tmp_path / "report.html"
    page = unit_report(vsc, X, y, path)
    assert path.read_text(encoding="utf-8") == page
    assert page.count("<div class='unit'>") == 12
    rates = (vsc.transform(X) != 0).mean(axis=0)
    alive = int((rates > 0).sum())
    assert page.count('alt="atom ') == alive  # every active unit has its atom drawn
    assert page.count('alt="traversal ') == alive
    assert page.count("<span class='flag dead'>") == 12 - alive
    assert "Share of each class" in page and "http" not in page.replace("http-equiv", "")


def test_tables_get_bars_with_feature_names():
    pd = pytest.importorskip("pandas")
    data = load_iris(as_frame=True)
    vsc = VariationalSparseCoder(n_components=4, max_iter=5, random_state=0, n_threads=1)
    vsc.fit(data.data)
    page = unit_report(vsc, data.data, data.target)
    assert page.count("<img") == 1  # the class x unit matrix only: no pixel images
    assert "petal length (cm)" in page and "feature standard deviations" in page
    assert isinstance(data.data, pd.DataFrame)


def test_a_square_table_is_not_drawn_as_images():
    X = np.random.default_rng(0).random((50, 4))  # 4 = 2 x 2, but a table
    vsc = VariationalSparseCoder(n_components=3, max_iter=2, random_state=0, n_threads=1).fit(X)
    assert 'alt="atom' not in unit_report(vsc, X)
    assert 'alt="atom' in unit_report(vsc, X, image_shape=(2, 2))


def test_a_dense_vae_code_works(digits_model):
    _, X, _ = digits_model
    vae = VAETransformer(n_components=4, max_iter=2, random_state=0, n_threads=1).fit(X)
    page = unit_report(vae, X, title="VAE <units>")
    assert page.count("<div class='unit'>") == 4 and "VAE &lt;units&gt;" in page


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_top=0), "n_top must be a positive int"),
        (dict(n_steps=2.5), "n_steps must be a positive int"),
        (dict(image_shape="square"), "image_shape must be 'auto'"),
        (dict(image_shape=(5, 5)), "does not hold 64 features"),
        (dict(y=np.zeros(3)), r"y must have shape \(1797,\)"),
    ],
)
def test_bad_arguments_are_refused(digits_model, kwargs, match):
    vsc, X, _ = digits_model
    with pytest.raises(ValueError, match=match):
        unit_report(vsc, X, **kwargs)


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="headless Chromium (the OS package) is not installed"
)
def test_chromium_renders_the_report_with_every_image_loaded(digits_model, tmp_path):
    vsc, X, y = digits_model
    page = unit_report(vsc, X, y)
    # A probe added to a copy of the page: counts the images the browser decoded.
    probe = (
        "<script>window.addEventListener('load', () => {const all = [...document.images];"
        "document.body.setAttribute('data-loaded', all.filter("
        "i => i.complete && i.naturalWidth > 0).length + '/' + all.length);});</script>"
    )
    path = tmp_path / "probe.html"
    path.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    result = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    loaded = re.search(r'data-loaded="(\d+)/(\d+)"', result.stdout)
    assert loaded, result.stderr[-2000:]
    assert int(loaded.group(1)) == int(loaded.group(2)) == page.count("<img")
