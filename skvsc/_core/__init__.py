"""The numerical core of skvsc: pure PyTorch, no scikit-learn.

Nothing in this package imports from outside it (``tests/test_layering.py``
checks it). The estimators validate their input, build a
:class:`~.vae.ModelConfig` and call :func:`~.train.fit_model`; see the
architecture page of the documentation for the layers and protocols.
"""
