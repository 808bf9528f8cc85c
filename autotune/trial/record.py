"""What a trial records in the study's storage besides Optuna's own fields, and how a report
reads it back: why a trial failed when its worker was lost, and which trials were run again."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

__all__ = ["LOST_ATTR", "lost_reason", "retried_numbers"]

LOST_ATTR = "lost"  # user attribute of a trial failed because its process is gone: how it was seen


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the trials lost with their worker and queued again (their reruns name them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}


def lost_reason(trial: FrozenTrial, retried: set[int]) -> str | None:
    """Why a failed trial that recorded no reason failed: its worker was lost."""
    if trial.state != TrialState.FAIL or trial.user_attrs.get("reason"):
        return None
    host, pid = trial.user_attrs.get("host", "?"), trial.user_attrs.get("pid", "?")
    rerun = "run again" if trial.number in retried else "not run again (retry limit reached)"
    seen = trial.user_attrs.get(LOST_ATTR) or f"host {host}, pid {pid}: no heartbeat within the grace period"
    return f"worker lost ({seen}); {rerun}"
