"""A study shared by several machines: ``autotune worker`` joins one, ``autotune status`` shows it.

The study's storage (PostgreSQL, or a journal file on a shared path) holds everything a worker
needs: the space, the target and the trials. A worker runs the same loop as ``autotune --space``
with its own output folder and cache; Optuna's heartbeats fail and re-queue the trial of a worker
that died (see autotune.study.storage).
"""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autotune.errors import AutotuneError
from autotune.load.space_file import LoadedSpace, loaded_from_raw
from autotune.study.storage import JOURNAL, make_storage
from autotune.targets import Target, get_target

__all__ = ["join_study", "load_shared_study", "workers_seen"]


def load_shared_study(storage: str, name: str) -> tuple[optuna.Study, LoadedSpace, Target]:
    """The study ``name`` in ``storage`` with the space and target it was made from."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:  # the study exists already: a missing storage file is an error, never created
        study = optuna.load_study(study_name=name, storage=make_storage(storage, create=False))
    except KeyError:
        known = optuna.get_all_study_names(storage=make_storage(storage, create=False))
        raise AutotuneError(
            f"storage {storage}: no study named {name!r} (studies there: {', '.join(known) or 'none'})"
        ) from None
    except AutotuneError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AutotuneError(f"storage {storage}: cannot open it ({first})") from None
    attrs = study.user_attrs
    if "space" not in attrs or "target" not in attrs:
        raise AutotuneError(f"study {name!r} in {storage} was not made by autotune (no space recorded)")
    path = Path(str(attrs.get("space_path", "space.yaml")))
    loaded = loaded_from_raw(attrs["space"], path, f"study {name!r} in {storage}: the recorded space")
    return study, loaded, get_target(str(attrs["target"]))


def _refuse_remote_sqlite(storage: str, study: optuna.Study) -> None:
    """SQLite is one machine's file: a worker on another host must not share it."""
    if not storage.startswith("sqlite"):
        return
    here = socket.gethostname()
    hosts = {t.user_attrs.get("host") for t in study.get_trials(deepcopy=False)} - {None, here}
    if hosts:
        raise AutotuneError(
            f"study in {storage} is run from {', '.join(sorted(map(str, hosts)))}, not this host: SQLite "
            f"is one machine's file; share the study through PostgreSQL or {JOURNAL}PATH instead"
        )


def join_study(storage: str, name: str) -> tuple[optuna.Study, LoadedSpace, Target]:
    """The study ``name`` in ``storage`` for this machine to run trials of: refused when this machine
    cannot (a SQLite file another host runs, the space's folder or the target missing here)."""
    study, loaded, target = load_shared_study(storage, name)
    _refuse_remote_sqlite(storage, study)
    if not loaded.base_dir.is_dir():
        raise AutotuneError(
            f"study {name!r} was made from {loaded.path}, which this machine lacks (its data paths "
            "are relative to it): copy the space's folder to the same path, or run autotune --space "
            f"FILE --storage {storage} with the same space"
        )
    if lacks := target.missing():
        raise AutotuneError(f"study {name!r} runs on {target.name}; this machine lacks it: {lacks}")
    return study, loaded, target


def workers_seen(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """Each worker (host, pid) that ran trials: how many, which are running, when last active."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for t in trials:
        host, pid = t.user_attrs.get("host"), t.user_attrs.get("pid")
        if host is None or pid is None:
            continue
        w = seen.setdefault((str(host), int(pid)), {"host": host, "pid": pid, "trials": 0, "running": []})
        w["trials"] += 1
        if t.state == TrialState.RUNNING:
            w["running"].append(t.number)
        times = [d for d in (t.datetime_start, t.datetime_complete) if d is not None]
        if times and (w.get("last") is None or max(times) > w["last"]):
            w["last"] = max(times)
    return sorted(seen.values(), key=lambda w: w.get("last") or datetime.min, reverse=True)
