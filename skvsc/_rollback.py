"""A failed call changes nothing: all-or-nothing ``set_params`` and the snapshot a
failed ``fit`` or ``partial_fit`` is rolled back to (``docs/reliability.md``)."""

import copy


class RollbackMixin:
    """``set_params`` that sets every parameter or none, and the snapshot and
    restore of the fitted state around a training call."""

    def set_params(self, **params):
        """Set the parameters of this estimator: all of them, or none.

        scikit-learn sets them one by one and stops at the first unknown
        name; here an unknown name is refused before anything is set.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
            Estimator instance.
        """
        valid = self.get_params(deep=False)
        unknown = [key for key in params if key.partition("__")[0] not in valid]
        if unknown:  # scikit-learn's own error, raised before any parameter is set
            return super().set_params(**{unknown[0]: params[unknown[0]]})
        return super().set_params(**params)

    def _snapshot(self, copy_run):
        """The attributes that are not parameters, as they are now: lists that
        training extends are copied, and the run too where training would
        continue it in place (``copy_run``)."""
        params = self.get_params(deep=False)
        saved = {}
        for name, value in vars(self).items():
            if name in params:
                continue
            if name == "_run" and copy_run:
                value = copy.deepcopy(value)
            elif isinstance(value, list):
                value = list(value)
            saved[name] = value
        return saved

    def _restore(self, saved):
        """Put back the attributes of :meth:`_snapshot` (and drop any set since)."""
        params = self.get_params(deep=False)
        for name in [name for name in vars(self) if name not in params]:
            delattr(self, name)
        vars(self).update(saved)
