"""skvsc.plotting rendered with the Agg backend."""

import copy
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvsc import VAETransformer, VariationalSparseCoder, plotting
from skvsc.plotting._common import checked_image_shape

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")

X, y = load_digits(return_X_y=True)
X, y = (X[:400] / 16.0).astype(np.float32), y[:400]
FAST = dict(hidden_layer_sizes=(16,), batch_size=64, device="cpu", n_threads=1, random_state=0)


@pytest.fixture(scope="module")
def vsc():
    # the free gate: the tests below switch units off through its gamma head
    return VariationalSparseCoder(n_components=12, alpha=0.3, gate="free", max_iter=3, **FAST).fit(
        X
    )


@pytest.fixture(scope="module")
def vae():
    return VAETransformer(
        n_components=4, max_iter=3, early_stopping=True, n_iter_no_change=50, **FAST
    ).fit(X)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images(fig):
    return [ax.images[0].get_array() for ax in fig.axes]


def test_missing_matplotlib_names_the_extra(vsc, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skvsc\[plot\]"):
        plotting.plot_atoms(vsc)


def test_image_shape():
    assert checked_image_shape(64, None) == (8, 8)
    assert checked_image_shape(784, None) == (28, 28)
    assert checked_image_shape(10, (2, 5)) == (2, 5)
    with pytest.raises(ValueError, match="image_shape"):
        checked_image_shape(10, None)
    with pytest.raises(ValueError, match="does not hold 10 features"):
        checked_image_shape(10, (3, 3))


@pytest.mark.parametrize("name", ["vsc", "vae"])
def test_plot_reconstructions(name, request):
    est = request.getfixturevalue(name)
    fig = plotting.plot_reconstructions(est, X, n=5)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 10
    shown = np.array(images(fig))
    assert shown.shape == (10, 8, 8)
    np.testing.assert_allclose(shown[:5].reshape(5, -1), X[:5])
    Z = est.transform(X[:5])
    np.testing.assert_allclose(shown[5:].reshape(5, -1), est.inverse_transform(Z), rtol=1e-6)
    titles = [ax.get_title() for ax in fig.axes[5:]]
    if name == "vsc":
        assert titles == [f"{np.count_nonzero(z)} active" for z in Z]
    else:
        assert titles == [""] * 5


def test_plot_reconstructions_non_image_data():
    est = VAETransformer(n_components=2, max_iter=1, **FAST).fit(X[:, :10])
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_reconstructions(est, X[:, :10])
    fig = plotting.plot_reconstructions(est, X[:, :10], n=3, image_shape=(2, 5))
    assert np.array(images(fig)).shape == (6, 2, 5)


def test_plot_into_given_figure(vsc):
    fig = plt.figure()
    assert plotting.plot_reconstructions(vsc, X, n=2, fig=fig) is fig
    assert len(fig.axes) == 4


def test_plot_atoms_given_units(vsc):
    fig = plotting.plot_atoms(vsc, units=[4, 0, 7], value=1.5)
    assert len(fig.axes) == 3  # the spare cell of the 2 x 2 grid is removed
    assert [ax.get_title() for ax in fig.axes] == ["unit 4", "unit 0", "unit 7"]
    Z = np.zeros((3, 12))
    Z[[0, 1, 2], [4, 0, 7]] = 1.5
    np.testing.assert_allclose(
        np.array(images(fig)).reshape(3, -1), vsc.inverse_transform(Z), rtol=1e-6
    )


def test_plot_atoms_default_units_skip_dead_ones(vsc):
    est = copy.deepcopy(vsc)
    heads = est.module_.encoder.heads
    with torch.no_grad():  # unit 1 never active
        heads.weight[24 + 1] = 0.0
        heads.bias[24 + 1] = -50.0
    est._set_code_statistics(est._code_statistics(X))
    fig = plotting.plot_atoms(est, max_units=20)
    units = [int(ax.get_title().split()[1]) for ax in fig.axes]
    rates = est.activation_rates_
    assert 1 not in units
    assert sorted(units) == np.flatnonzero(rates > 0).tolist()
    assert np.all(np.diff(rates[units]) <= 0)  # most used first
    assert len(plotting.plot_atoms(est, max_units=2).axes) == 2


def test_plot_atoms_bad_units(vsc):
    with pytest.raises(ValueError, match=r"units must lie in \[0, 11\]"):
        plotting.plot_atoms(vsc, units=[12])
    with pytest.raises(ValueError, match="sequence of ints"):
        plotting.plot_atoms(vsc, units=[0.5])


def test_plot_traversals_vsc_active_units(vsc):
    x = X[0]
    z = vsc.transform(x[None])[0]
    active = np.flatnonzero(z)
    assert active.size > 0
    fig = plotting.plot_traversals(vsc, x, n_steps=5, span=2.0)
    assert len(fig.axes) == active.size * 5
    rows = [int(ax.get_ylabel().split()[1]) for ax in fig.axes[::5]]
    assert sorted(rows) == active.tolist()
    assert [ax.get_title() for ax in fig.axes[:5]] == ["-2.0", "-1.0", "+0.0", "+1.0", "+2.0"]
    shown = np.array(images(fig)).reshape(active.size, 5, -1)
    reconstruction = vsc.inverse_transform(z[None].astype(np.float64))[0]
    for row in shown:  # the middle column is the reconstruction of x
        np.testing.assert_allclose(row[2], reconstruction, rtol=1e-5, atol=1e-6)
    moved = z.astype(np.float64).copy()
    moved[rows[0]] += 2.0
    np.testing.assert_allclose(
        shown[0, 4], vsc.inverse_transform(moved[None])[0], rtol=1e-5, atol=1e-6
    )


def test_plot_traversals_vae_and_errors(vae, vsc):
    fig = plotting.plot_traversals(vae, X[:1], units=[1, 2], n_steps=3)
    assert np.array(images(fig)).shape == (6, 8, 8)
    with pytest.raises(ValueError, match="one sample"):
        plotting.plot_traversals(vae, X[:2])
    est = copy.deepcopy(vsc)
    with torch.no_grad():  # no unit is ever active
        est.module_.encoder.heads.weight[24:] = 0.0
        est.module_.encoder.heads.bias[24:] = -50.0
    # without the aggregate prior's floor (as a fixed-prior model or alpha * J < 1): empty codes
    est.module_.latent.floor = False
    with pytest.raises(ValueError, match="no active unit"):
        plotting.plot_traversals(est, X[0])
    assert len(plotting.plot_traversals(est, X[0], units=[3], n_steps=2).axes) == 2


def test_plot_class_activation(vsc):
    ax = plotting.plot_class_activation(vsc, X, y, sort=False)
    Z = vsc.transform(X)
    used = np.flatnonzero((Z != 0).any(axis=0))
    matrix = ax.images[0].get_array()
    assert matrix.shape == (10, used.size)
    expected = np.array([np.abs(Z[y == c]).mean(axis=0) for c in range(10)])[:, used]
    np.testing.assert_allclose(matrix, expected, rtol=1e-5)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(c) for c in range(10)]
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(u) for u in used]


def test_plot_class_activation_sorted_rate(vsc):
    ax = plotting.plot_class_activation(vsc, X, y, statistic="rate", units="all")
    matrix = np.asarray(ax.images[0].get_array())
    assert matrix.shape == (10, 12)
    assert matrix.min() >= 0 and matrix.max() <= 1
    peaks = matrix.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0)  # grouped by the class where they peak
    units = [int(t.get_text()) for t in ax.get_xticklabels()]
    Z = vsc.transform(X)
    np.testing.assert_allclose(matrix[3], (Z[y == 3] != 0).mean(axis=0)[units])


def test_plot_class_activation_given_ax_and_errors(vsc):
    _, ax = plt.subplots()
    assert plotting.plot_class_activation(vsc, X, y, ax=ax) is ax
    with pytest.raises(ValueError, match="statistic"):
        plotting.plot_class_activation(vsc, X, y, statistic="max")
    with pytest.raises(ValueError, match="units must be"):
        plotting.plot_class_activation(vsc, X, y, units="some")
    with pytest.raises(ValueError, match="inconsistent"):
        plotting.plot_class_activation(vsc, X, y[:10])


def test_plot_training_curves_vsc(vsc):
    fig = plotting.plot_training_curves(vsc)
    assert len(fig.axes) == 3
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["training -ELBO", "reconstruction"]
    np.testing.assert_allclose(lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines[0].get_ydata(), vsc.loss_curve_)
    active = fig.axes[2].get_lines()[0].get_ydata()
    np.testing.assert_allclose(active, [h["active_units"] for h in vsc.history_])


def test_plot_training_curves_vae_validation(vae):
    fig = plotting.plot_training_curves(vae)
    assert len(fig.axes) == 2
    validation = fig.axes[0].get_lines()[2]
    assert validation.get_label() == "validation -ELBO"
    np.testing.assert_allclose(validation.get_ydata(), -np.array(vae.validation_scores_))
    kl = fig.axes[1].get_lines()[0].get_ydata()
    np.testing.assert_allclose(kl, [h["kl"] for h in vae.history_])


def test_unfitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plotting.plot_training_curves(VariationalSparseCoder())
