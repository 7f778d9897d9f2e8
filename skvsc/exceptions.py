"""Warnings and errors that skvsc raises for its users to catch or filter."""

__all__ = ["InconsistentVersionWarning"]


class InconsistentVersionWarning(UserWarning):
    """A model saved by another skvsc version was loaded.

    It may behave differently or fail; refit it, or load it with the version
    that saved it, if results matter.
    """
