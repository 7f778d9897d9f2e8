"""Units read in feature terms: typical values, feature effects, the unit table
and the bar charts."""

import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import DataConversionWarning

from skvsc import VAETransformer, VariationalSparseCoder, _interpret
from skvsc._core.vae import VAE
from skvsc._interpret import typical_values_of

FAST = dict(max_iter=20, device="cpu", n_threads=1, random_state=0)


@pytest.fixture(scope="module")
def iris_vsc():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return VariationalSparseCoder(**FAST).fit(X), X, y


def test_typical_values_are_medians_of_the_non_zeros():
    Z = np.array([[0.0, -1.0, 0.0], [2.0, -3.0, 0.0], [4.0, 0.0, 0.0], [9.0, -2.0, 0.0]])
    np.testing.assert_array_equal(typical_values_of(Z), [4.0, -2.0, 0.0])


def test_unit_values_are_stored_at_fit_and_saved(iris_vsc, tmp_path):
    import skvsc

    vsc, X, _ = iris_vsc
    Z = np.asarray(vsc.transform(X))
    np.testing.assert_allclose(vsc.unit_values_, typical_values_of(Z), rtol=1e-6)
    path = tmp_path / "m.skvsc"
    skvsc.save(vsc, path)
    np.testing.assert_array_equal(skvsc.load(path).unit_values_, vsc.unit_values_)


def exact_medians(Z):
    """Each column's median of its non-zero values, in float64 (0 without any)."""
    Z = np.asarray(Z, dtype=np.float64)
    return np.array([np.median(z[z != 0]) if (z != 0).any() else 0.0 for z in Z.T])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unit_values_are_the_exact_medians_on_small_data(dtype):
    X = load_breast_cancer().data.astype(dtype)
    vsc = VariationalSparseCoder(n_components=20, alpha=0.3, **{**FAST, "max_iter": 3}).fit(X)
    assert (vsc.activation_rates_ > 0).sum() > 3
    # Fewer rows than the sample takes: every row, the codes of transform's batches.
    Z = vsc.transform(X)
    np.testing.assert_array_equal(vsc.unit_values_, typical_values_of(Z))  # in Z's dtype
    np.testing.assert_allclose(vsc.unit_values_, exact_medians(Z), rtol=1e-6)


def test_fit_encodes_the_training_data_once(monkeypatch):
    X = load_iris().data
    encoded = []
    code = VAE.code
    monkeypatch.setattr(
        VAE, "code", lambda self, x, *o: encoded.append(len(x)) or code(self, x, *o)
    )
    vsc = VariationalSparseCoder(**{**FAST, "max_iter": 2}).fit(X)
    assert sum(encoded) == len(X)  # the statistics and the typical values in one pass
    assert vsc.unit_values_.any()
    encoded.clear()
    report = vsc.sparsity_report(X)
    assert sum(encoded) == len(X)
    np.testing.assert_array_equal(report["unit_values"], vsc.unit_values_)


def test_row_sample_takes_evenly_spaced_rows_from_any_batching(monkeypatch):
    monkeypatch.setattr(_interpret, "TYPICAL_VALUE_ROWS", 100)
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(1000, 4)) * (rng.random((1000, 4)) < [0.9, 0.3, 0.05, 0.0])
    rows = np.linspace(0, 999, 100).round().astype(int)
    for batch in (1000, 7, 64):
        sample = _interpret.RowSample(len(Z))
        for start in range(0, len(Z), batch):
            sample.add(Z[start : start + batch], start)
        np.testing.assert_array_equal(sample.code(4), Z[rows])
        np.testing.assert_array_equal(sample.medians(4), typical_values_of(Z[rows]))
    small = _interpret.RowSample(50)  # fewer rows than the limit: all of them
    small.add(Z[:50], 0)
    np.testing.assert_array_equal(small.code(4), Z[:50])


def test_unit_values_of_more_rows_than_the_sample_are_those_of_evenly_spaced_rows(monkeypatch):
    monkeypatch.setattr(_interpret, "TYPICAL_VALUE_ROWS", 100)
    X = load_breast_cancer().data
    vsc = VariationalSparseCoder(n_components=20, alpha=0.3, **{**FAST, "max_iter": 3}).fit(X)
    rows = np.linspace(0, len(X) - 1, 100).round().astype(int)
    np.testing.assert_allclose(vsc.unit_values_, exact_medians(vsc.transform(X[rows])), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "networks",
    [{"hidden_layer_sizes": ()}, {"decoder_layer_sizes": ()}],  # linear, or behind an MLP encoder
)
def test_linear_decoder_effects_are_the_decoder_weights(dtype, networks):
    # Gaussian likelihood, linear decoder: x = (W z + b) * scale + shift, so the
    # effect of unit j at value v is v * W[:, j] * scale, in the data's units.
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(300, 5)) * [1, 10, 100, 0.1, 3] + [0, 5, -50, 1, 2]).astype(dtype)
    vsc = VariationalSparseCoder(
        n_components=8, alpha=0.3, **networks, **{**FAST, "max_iter": 5}
    ).fit(X)
    module = vsc.module_
    W = module.decoder.out.weight.detach().double().numpy()  # (n_features, n_components)
    scale = module.likelihood.scale.double().numpy()
    expected = vsc.unit_values_[:, None] * W.T * scale
    np.testing.assert_allclose(vsc.feature_effects(), expected, rtol=1e-6, atol=1e-9)
    assert np.abs(vsc.feature_effects()).max() > 0
    # From other data: their typical values.
    values = typical_values_of(vsc.transform(X[:50]).astype(np.float64))
    np.testing.assert_allclose(
        vsc.feature_effects(X[:50]), values[:, None] * W.T * scale, rtol=1e-5, atol=1e-9
    )


def test_effects_agree_with_the_data_profile_on_breast_cancer():
    # Each used unit's effect (in feature SDs) points where the samples that use
    # it lie: the cosine with their mean standardised profile.
    # The sparse code the docs recommend for reading units (alpha=0.05); the
    # default alpha="auto" (0.25 on this table) classifies better, its units are
    # broader and more often mixed in sign (docs/tables.md).
    X = load_breast_cancer().data
    params = dict(alpha=0.05, device="cpu", n_threads=1, random_state=0)
    vsc = VariationalSparseCoder(**params).fit(X)
    std = X.std(axis=0)
    Xs = (X - X.mean(axis=0)) / std
    effects = vsc.feature_effects() / std
    Z = vsc.transform(X)
    cosines = []
    for j in np.flatnonzero(vsc.activation_rates_ >= 0.05):
        profile = Xs[Z[:, j] != 0].mean(axis=0)
        cosines.append(profile @ effects[j] / np.linalg.norm(profile) / np.linalg.norm(effects[j]))
    cosines = np.array(cosines)
    assert cosines.size >= 5
    # Most units agree (a few mixed-sign or rarely used ones do not).
    assert np.median(cosines) >= 0.8 and np.mean(cosines >= 0.8) >= 0.6, cosines.round(2)


def test_unit_table_columns_and_alignment(iris_vsc):
    vsc, X, y = iris_vsc
    table = vsc.unit_table(X, y, n_top=2)
    assert isinstance(table, pd.DataFrame) and len(table) == vsc.module_.n_components
    assert list(table.columns) == [
        "unit",
        "activation_rate",
        "positive_share",
        "sign",
        "typical_value",
        "top_features",
        "class",
        "class_share",
        "class_base_share",
    ]
    assert table.activation_rate.is_monotonic_decreasing
    np.testing.assert_allclose(
        table.sort_values("unit").activation_rate, vsc.activation_rates_, atol=1e-12
    )
    used = table[table.activation_rate > 0]
    assert set(used.sign) <= {"+", "-", "mixed"}
    assert (table[table.activation_rate == 0].sign == "dead").all()
    first = used.iloc[0]
    on = np.asarray(vsc.transform(X))[:, first.unit] != 0
    assert first["class_share"] == pytest.approx(np.mean(y[on] == first["class"]))
    assert first.top_features.count("sd)") == 2
    assert any(name in first.top_features for name in X.columns)
    regression = vsc.unit_table(X, X.iloc[:, 0].to_numpy() + 0.01)
    assert {"y_mean_active", "y_mean_inactive"} <= set(regression.columns)
    with pytest.raises(ValueError, match="y has 3 samples"):
        vsc.unit_table(X, y[:3])


def unit_table_oracle(vsc, X, y, n_top):
    """The unit table computed here from ``transform`` and ``feature_effects``,
    one unit at a time (the library computes it vectorised)."""
    Z = np.asarray(vsc.transform(X), dtype=np.float64)
    effects = vsc.feature_effects(X)
    Xd = np.asarray(X, dtype=np.float64)
    sd = np.array([np.std(c[~np.isnan(c)]) for c in Xd.T])  # of the observed entries
    rows = {}
    for j in range(Z.shape[1]):
        on = Z[:, j] != 0
        row = {"activation_rate": on.mean()}
        if on.any():
            share = np.mean(Z[on, j] > 0)
            row["sign"] = "+" if share >= 0.95 else "-" if share <= 0.05 else "mixed"
            row["typical_value"] = np.median(Z[on, j])
            top = np.argsort(-np.abs(effects[j] / sd), kind="stable")[:n_top]
            row["top_features"] = ", ".join(
                f"{X.columns[i]} ({effects[j, i] / sd[i]:+.2f} sd)" for i in top
            )
        else:
            row.update(sign="dead", typical_value=0.0, top_features="")
        if y is not None and np.issubdtype(np.asarray(y).dtype, np.integer):
            classes, counts = np.unique(y[on], return_counts=True)
            if on.any():
                best = classes[np.argmax(counts)]
                row.update(cls=best, share=counts.max() / on.sum(), base=np.mean(y == best))
        elif y is not None:
            row["y_active"] = y[on].mean() if on.any() else np.nan
            row["y_inactive"] = y[~on].mean() if (~on).any() else np.nan
        rows[j] = row
    return rows


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("target", ["class", "value"])
def test_unit_table_matches_an_oracle_computed_from_the_code(missing, target):
    X, y = load_iris(return_X_y=True, as_frame=True)
    if missing:  # the features' spread is that of their observed entries
        X = X.mask(np.random.default_rng(0).random(X.shape) < 0.15)
    vsc = VariationalSparseCoder(**{**FAST, "max_iter": 30}).fit(X)
    y = y.to_numpy() if target == "class" else np.linspace(0.0, 3.0, len(X)) ** 2
    Z = np.asarray(vsc.transform(X))
    # A unit on exactly one row, to tell "used once" from "dead".
    j = int(np.argmax((Z != 0).any(axis=0) & (Z == 0).any(axis=0)))
    keep = np.r_[np.flatnonzero(Z[:, j] != 0)[:1], np.flatnonzero(Z[:, j] == 0)]
    X, y = X.iloc[keep].reset_index(drop=True), y[keep]
    table = vsc.unit_table(X, y, n_top=2).set_index("unit")
    expected = unit_table_oracle(vsc, X, y, n_top=2)
    assert table.loc[j, "activation_rate"] == pytest.approx(1 / len(X))
    for unit, row in expected.items():
        got = table.loc[unit]
        assert got.activation_rate == pytest.approx(row["activation_rate"])
        assert got.sign == row["sign"], unit
        assert got.typical_value == pytest.approx(row["typical_value"], rel=1e-6)
        assert got.top_features == row["top_features"], unit
        if "cls" in row:
            assert got["class"] == row["cls"]
            assert got.class_share == pytest.approx(row["share"])
            assert got.class_base_share == pytest.approx(row["base"])
        if "y_active" in row:
            np.testing.assert_allclose(
                [got.y_mean_active, got.y_mean_inactive], [row["y_active"], row["y_inactive"]]
            )


def test_unit_table_reads_the_code_transform_gives():
    # With transform_n_nonzero_coefs the code is truncated; the table describes
    # that code, not the untruncated one.
    X, _ = load_breast_cancer(return_X_y=True)
    vsc = VariationalSparseCoder(**FAST).fit(X)
    full = vsc.unit_table(X).set_index("unit").sort_index()
    assert full.activation_rate.sum() > 1.5  # more than one active unit per row
    vsc.set_params(transform_n_nonzero_coefs=1)
    Z = np.asarray(vsc.transform(X))
    table = vsc.unit_table(X).set_index("unit").sort_index()
    np.testing.assert_allclose(table.activation_rate, (Z != 0).mean(axis=0))
    assert table.activation_rate.sum() <= 1


def test_unit_table_takes_sparse_input_and_checks_y(iris_vsc):
    vsc, X, y = iris_vsc
    dense = vsc.unit_table(X.to_numpy(), y)
    pd.testing.assert_frame_equal(vsc.unit_table(sp.csr_matrix(X.to_numpy()), y), dense)
    with pytest.warns(DataConversionWarning):  # a column vector, as scikit-learn warns
        column = vsc.unit_table(X.to_numpy(), y.to_numpy()[:, None])
    pd.testing.assert_frame_equal(column, dense)
    with pytest.raises(ValueError, match=r"^y has 149 samples, but X has 150\.$"):
        vsc.unit_table(X, y[:-1])


def test_unit_table_without_pandas_says_so(iris_vsc, monkeypatch):
    vsc, X, _ = iris_vsc
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        vsc.unit_table(X.to_numpy())


def test_plot_feature_effects_names_the_features(iris_vsc):
    plt = pytest.importorskip("matplotlib.pyplot")
    from skvsc.plotting import plot_feature_effects

    vsc, X, _ = iris_vsc
    try:
        fig = plot_feature_effects(vsc, units=[0, 3], n_features=3)
        assert len(fig.axes) == 2
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert len(labels) == 3 and set(labels) <= set(X.columns)
        bars = [p.get_width() for p in fig.axes[0].patches]
        top3 = np.sort(np.abs(vsc.feature_effects()[0]))[-3:]
        np.testing.assert_allclose(np.sort(np.abs(bars)), top3, rtol=1e-6)
        fig = plot_feature_effects(vsc, X=X, feature_names=list("abcd"))
        assert fig.axes[0].get_xlabel() == "effect (feature SD)"
        assert {t.get_text() for t in fig.axes[0].get_yticklabels()} <= set("abcd")
        with pytest.raises(TypeError, match="needs a VariationalSparseCoder"):
            plot_feature_effects(VAETransformer(n_components=2, **FAST).fit(X))
    finally:
        plt.close("all")


def test_plot_atoms_decodes_each_unit_at_its_typical_value(iris_vsc):
    plt = pytest.importorskip("matplotlib.pyplot")
    from skvsc.plotting import plot_atoms

    vsc, _, _ = iris_vsc
    units = np.flatnonzero(vsc.unit_values_ != 0)[:3]
    try:
        fig = plot_atoms(vsc, units=units, image_shape=(2, 2))
        Z = np.zeros((units.size, vsc.module_.n_components))
        Z[np.arange(units.size), units] = vsc.unit_values_[units]
        expected = vsc.inverse_transform(Z)
        for ax, atom in zip(fig.axes, expected):
            np.testing.assert_allclose(ax.images[0].get_array().ravel(), atom, rtol=1e-6)
        with pytest.raises(ValueError, match="value must be 'typical'"):
            plot_atoms(vsc, units=units, value="median", image_shape=(2, 2))
    finally:
        plt.close("all")
    assert torch.get_num_threads() >= 1
