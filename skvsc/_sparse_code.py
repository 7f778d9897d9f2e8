"""What a fitted spike-and-slab code offers beyond ``transform``: its statistics and
diagnostics, its units in feature terms, ``gamma`` and the dense slab means.

:class:`SparseCodeMixin` holds the methods of
:class:`~skvsc.VariationalSparseCoder` that read its fitted code, as
:class:`~skvsc._inference.InferenceMixin` holds those every estimator shares; the
estimator's module keeps its parameters, their checks and the model they name.
"""

import warnings

from sklearn.utils.validation import check_is_fitted

from . import _inference, _interpret, _params
from ._diagnostics import CONSTANT_CODE_VARIANCE, statistics_of_summary

#: With ``fit_n_nonzero_floor``, more active units per sample than this many times
#: ``alpha * n_components`` draw a warning: the recipes measured with it end at
#: 1.3-2.5 x, the runaways at 3.7-10 x (docs/results.md, "Dead units of the short code").
FLOOR_RUNAWAY = 3.0


class SparseCodeMixin:
    """The code statistics, diagnostics and code-reading methods of
    :class:`~skvsc.VariationalSparseCoder`."""

    def _fitted_alpha(self):
        """The model's ``alpha``, ``"auto"`` resolved (fitted estimators)."""
        return self._run.config.latent_params["alpha"]

    def _code_statistics(self, X, sync=None):
        """The code statistics of validated ``X`` (``sync``: each rank of a
        data-parallel fit encodes its share of the rows)."""
        # One encoding pass: the typical values come from the codes of a
        # sample of rows taken from its batches.
        sample = _interpret.RowSample(X.shape[0])
        summary = _inference.summarize_rows(self, X, "code", sync=sync, sample=sample)
        stats = statistics_of_summary(summary)
        return {**stats, "unit_values": sample.medians(self._run.model.n_components)}

    def _set_code_statistics(self, stats):
        self.activation_rates_ = stats["activation_rates"]
        self.mean_active_units_ = stats["mean_active_units"]
        self.n_dead_units_ = stats["n_dead_units"]
        self.n_always_on_units_ = stats["n_always_on_units"]
        self.code_variance_ = stats["code_variance"]
        self.unit_values_ = stats["unit_values"]
        n_units, n_features = self._run.model.n_components, self.n_features_in_
        # An all-zero code is what the ELBO asks for when no unit is worth its KL cost
        # (see Notes); say so rather than hand a classifier nothing. Not during warm-up.
        if self._run.warming_up():
            return
        if self.mean_active_units_ == 0:
            warnings.warn(
                "Every training sample has an all-zero sparse code "
                f"(alpha={self._fitted_alpha():g}, n_components={n_units}, prior={self.prior!r}, "
                f"{self.likelihood_} likelihood). "
                + (
                    "Use prior='aggregate', a larger alpha"
                    if self.prior == "fixed"
                    else "Make alpha * n_components >= 1, train longer"
                )
                + ", or use encode_mean() for dense features.",
                UserWarning,
                stacklevel=4,
            )
        elif self.code_variance_.max() <= CONSTANT_CODE_VARIANCE:
            warnings.warn(
                "The sparse code does not depend on the input: its "
                f"{self.mean_active_units_:.0f} active units take the same values on every "
                "training sample (posterior collapse; code_variance_ is 0), so it carries no "
                "information about X. "
                f"Try a smaller learning_rate_init (e.g. {self._learning_rate() / 3:.2g})"
                + (", likelihood='gaussian'" if self.likelihood_ == "bernoulli" else "")
                + " or more training samples (docs/user_guide: small image sets).",
                UserWarning,
                stacklevel=4,
            )
        elif 2 * self.n_dead_units_ > n_units:
            warnings.warn(
                f"{self.n_dead_units_} of {n_units} latent units are active on no "
                "training sample: the code uses few of its units. Train longer, use fewer "
                "units, or set revive (e.g. 0.5) to re-seed dead units.",
                UserWarning,
                stacklevel=4,
            )
        if n_units > n_features and self.mean_active_units_ > n_features:
            # More non-zeros than the input has values: not a compressed code.
            warnings.warn(
                f"The code has {self.mean_active_units_:.1f} active units per sample, more "
                f"than the {n_features} input features, out of n_components={n_units}: it "
                "does not compress the data. Use fewer units (n_components='auto' follows "
                "the input's width) or a smaller alpha.",
                UserWarning,
                stacklevel=4,
            )
        floor = self.fit_n_nonzero_floor
        expected = self._fitted_alpha() * n_units
        if floor > 0 and self.mean_active_units_ > FLOOR_RUNAWAY * expected:
            # The floor's subsidies raise whole-code activity to rank units into the
            # short code; with many units per kept slot they can run away (docs/results.md).
            warnings.warn(
                f"With fit_n_nonzero_floor={floor:g} the code has "
                f"{self.mean_active_units_:.1f} active units per sample, "
                f"{self.mean_active_units_ / expected:.1f} x alpha * n_components: the "
                "floor's subsidies made the untruncated code dense. Use a smaller "
                "fit_n_nonzero_floor, or an alpha * n_components nearer "
                f"fit_n_nonzero_coefs={self.fit_n_nonzero_coefs}; transform_n_nonzero_coefs "
                "still gives the short code.",
                UserWarning,
                stacklevel=4,
            )

    def sparsity_report(self, X):
        """Sparsity statistics of the code of ``X``.

        A unit is active on a sample where :meth:`transform` is non-zero: where
        its activity probability ``gamma > 0.5``, and the most probable unit of
        a sample with none under the aggregate prior's floor (see the class
        Notes). At the end of
        :meth:`fit` the statistics of the training data are stored as the
        attributes ``activation_rates_``, ``mean_active_units_``,
        ``n_dead_units_``, ``n_always_on_units_``, ``code_variance_`` and
        ``unit_values_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode (streamed in batches).

        Returns
        -------
        report : dict
            ``n_samples``; ``activation_rates`` (ndarray of shape
            (n_components,), the fraction of samples on which each unit is
            active); ``mean_active_units`` (mean number of active units per
            sample); ``n_dead_units`` (units active on no sample);
            ``n_always_on_units`` (units active on every sample);
            ``code_variance`` (ndarray of shape (n_components,), the variance
            of each unit's code value across the samples);
            ``unit_values`` (ndarray of shape (n_components,), the median
            non-zero value of each unit, 0 for units never active; from at
            most 10,000 evenly spaced rows).

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvsc import VariationalSparseCoder
        >>> X = load_digits().data / 16.0
        >>> vsc = VariationalSparseCoder(n_components=16, alpha=0.5, max_iter=2,
        ...                              random_state=0).fit(X)
        >>> report = vsc.sparsity_report(X[:100])
        >>> report["activation_rates"].shape
        (16,)
        >>> import numpy as np
        >>> bool(np.isclose(report["mean_active_units"], report["activation_rates"].sum()))
        True
        """
        return self._code_statistics(self._validate_input(X))

    def _summary_lines(self):
        if not hasattr(self, "activation_rates_"):
            return []
        n_units = self.activation_rates_.shape[0]
        return [
            f"Code on the training data: {self.mean_active_units_:.2f} active units per "
            f"sample ({100 * self.mean_active_units_ / n_units:.1f} % of {n_units}, "
            f"prior alpha {self._fitted_alpha():g}), {self.n_dead_units_} dead units, "
            f"{self.n_always_on_units_} always-on units"
        ]

    def feature_effects(self, X=None):
        """Each unit's effect on each input feature, in the units of the data.

        The effect of unit ``j`` is what it adds to the decoding of the empty
        code when it takes its typical signed value ``v_j`` (the median of its
        non-zero values): ``inverse_transform(v_j e_j) - inverse_transform(0)``.
        It is in the units of the data given to :meth:`fit` (the Gaussian
        likelihood's internal standardisation is undone), a change in
        probability for the Bernoulli likelihood and in rate for Poisson.
        Units never active have ``v_j = 0`` and no effect.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features), default=None
            Data whose code gives the typical values; None uses
            ``unit_values_`` (the training data's).

        Returns
        -------
        effects : ndarray of shape (n_components, n_features)
            Row ``j`` is unit ``j``'s effect on every feature.

        See Also
        --------
        unit_table : The units with their rates, signs and top features.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from skvsc import VariationalSparseCoder
        >>> X = load_iris().data
        >>> vsc = VariationalSparseCoder(max_iter=20, random_state=0).fit(X)
        >>> vsc.feature_effects().shape
        (8, 4)
        """
        check_is_fitted(self)
        if X is None:
            values = self.unit_values_
        else:
            values = _interpret.typical_values_of(_interpret._code(self, self._validate_input(X)))
        return _interpret.feature_effects(self, values)

    def unit_table(self, X, y=None, *, n_top=3):
        """One row per unit: how often it is on, its sign, its top features.

        Needs pandas. Columns: ``unit``; ``activation_rate`` (fraction of the
        rows of ``X`` that use it); ``positive_share`` (share of its non-zero
        values above 0); ``sign`` (``"+"`` or ``"-"`` when at least 95 % of
        them have that sign, ``"mixed"`` otherwise, ``"dead"`` when never on);
        ``typical_value`` (median non-zero value); ``top_features`` (the
        ``n_top`` features on which its :meth:`feature_effects` are largest
        in standard deviations of ``X``, with those effects). With class
        labels ``y``: ``class`` (the majority class of the rows that use the
        unit), ``class_share`` (its share among them) and
        ``class_base_share`` (its share among all rows); with a continuous
        ``y``: ``y_mean_active`` and ``y_mean_inactive``. Rows are sorted by
        activation rate, most used first.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode (the training data, usually).
        y : array-like of shape (n_samples,), default=None
            Targets, to align the units with.
        n_top : int, default=3
            Features listed per unit.

        Returns
        -------
        table : pandas.DataFrame
            One row per unit.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from skvsc import VariationalSparseCoder
        >>> X, y = load_iris(return_X_y=True, as_frame=True)
        >>> vsc = VariationalSparseCoder(max_iter=20, random_state=0).fit(X)
        >>> table = vsc.unit_table(X, y)
        >>> list(table.columns[:4])
        ['unit', 'activation_rate', 'positive_share', 'sign']
        """
        check_is_fitted(self)
        _params.check_int("n_top", n_top, 1)
        return _interpret.unit_table(self, X, y, n_top=n_top)

    def activity_proba(self, X):
        """Posterior probability ``gamma`` that each latent unit is active.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        gamma : ndarray of shape (n_samples, n_components)
            Activity probabilities in (0, 1); :meth:`transform` keeps the units
            with ``gamma > 0.5`` (and, under the aggregate prior's floor, the
            unit of largest ``gamma`` of a row with none: see the class Notes).
        """
        return _inference.map_module(self, "posterior_field", self._validate_input(X), "gamma")

    def encode_mean(self, X):
        """Dense posterior mean ``mu`` of the slab of every unit.

        This is not a sparse code: ``mu`` of an inactive unit is not
        constrained by the prior. It is what the public reproduction of the
        paper classified; use :meth:`transform` for the sparse code.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        mu : ndarray of shape (n_samples, n_components)
            Slab means.
        """
        return _inference.map_module(self, "posterior_field", self._validate_input(X), "mu")
