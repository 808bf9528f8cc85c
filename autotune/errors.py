"""User-facing errors: each one prints as a single line and exits non-zero."""

from __future__ import annotations


class AutotuneError(Exception):
    """An error the user can fix; its message is one line naming what is wrong and what to do."""


class SpaceError(AutotuneError):
    """A search-space file (or an override) is invalid."""


class DataError(AutotuneError):
    """A data file is missing, unreadable or inconsistent with the space."""


class InvalidCombination(AutotuneError):
    """A pass refuses a parameter combination before doing any work."""


class StepFailed(AutotuneError):
    """A step of a trial failed; the trial is recorded as failed with this reason."""
