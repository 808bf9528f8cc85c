"""User-facing errors: each one prints as a single line and exits non-zero."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class AutotuneError(Exception):
    """An error the user can fix; its message is one line naming what is wrong and what to do."""


class SpaceError(AutotuneError):
    """A search-space file (or an override) is invalid."""


class DataError(AutotuneError):
    """A data file is missing, unreadable or inconsistent with the space."""


class InvalidCombination(AutotuneError):
    """A pass refuses a parameter combination before doing any work."""


class StudyFatal(AutotuneError):
    """A failure every trial would meet whatever its parameters (the base model, the data, the
    machine): the study ends at once instead of failing trial after trial."""


class ModelError(StudyFatal):
    """The space's base model cannot be found or loaded."""


class StudyFailed(AutotuneError):
    """A study ran and produced nothing usable: no trial completed, or an error every trial would
    meet ended it (exit status 1; what it recorded stays)."""


class StepFailed(AutotuneError):
    """A step of a trial failed; the trial is recorded as failed with this reason."""


def read_json_file(path: Path, what: str, fix: str) -> Any:
    """The JSON in ``path``; an AutotuneError naming the file, where it breaks and ``fix`` when it
    is unreadable or not JSON (a file cut by a crash, say)."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AutotuneError(
            f"{path}: {what} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); {fix}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AutotuneError(f"{path}: {what} cannot be read ({exc}); {fix}") from None
