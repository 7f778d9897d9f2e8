"""scikit-learn's estimator checks over both estimators, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skvsc import VAETransformer, VariationalSparseCoder

FAST = dict(hidden_layer_sizes=(8,), max_iter=3, batch_size=16, device="cpu")


@parametrize_with_checks(
    [
        VariationalSparseCoder(n_components=3, alpha=0.3, **FAST),
        VAETransformer(n_components=3, **FAST),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
