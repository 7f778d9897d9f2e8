"""Where pickles of state format 1 (skvsc 0.1) find their training schedule.

Those pickles name the class ``skvsc._schedule.Schedule``. Unpickling one now
makes an instance of the stand-in below, whose fields the state migration
reads (:mod:`skvsc._state`); nothing else uses this module.
"""


class Schedule:
    """The fields of a format-1 schedule, as they were pickled."""
