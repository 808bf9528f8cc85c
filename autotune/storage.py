"""Where a study lives: opening or creating it in its storage (SQLite or PostgreSQL), the space
digest that refuses a resume from a different space, and recovering the trials of dead workers."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from autotune.errors import AutotuneError
from autotune.sampler import make_sampler
from autotune.space_file import LoadedSpace
from autotune.targets import Target

__all__ = ["INTERRUPTED", "counted_trials", "default_storage", "open_study", "recover"]

# The user attribute of a trial cut by an interruption: it does not count towards n_trials.
INTERRUPTED = "interrupted"


def default_storage(out_dir: Path) -> str:
    """SQLite in the output folder."""
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def _space_digest(loaded: LoadedSpace) -> str:
    # What the trials depend on; study.*, the preference and the texts may change on resume.
    report_only = ("study", "description", "evaluation", "preference", "olive")
    shape = {k: v for k, v in loaded.raw.items() if k not in report_only}
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


def open_study(loaded: LoadedSpace, storage: str, target: Target, *, create: bool = True) -> optuna.Study:
    """The study of ``loaded`` on ``target``: created (or resumed) unless ``create`` is False; an
    AutotuneError when the storage cannot be opened or holds a study of a different space."""
    space = loaded.space
    name = space.study.name or f"{space.name}-{target.name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(5):
        try:
            if not create:
                return optuna.load_study(study_name=name, storage=storage, sampler=make_sampler(space))
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=make_sampler(space),
                load_if_exists=True,
                directions=[o.direction for o in space.objectives],
            )
            break
        except (ImportError, ModuleNotFoundError) as exc:
            raise AutotuneError(
                f"storage {storage}: driver missing ({exc}); for PostgreSQL: pip install 'autotune[postgres]'"
            ) from None
        except KeyError:
            raise AutotuneError(f"storage {storage}: no study named {name!r}") from None
        except Exception as exc:
            # Workers starting together on an empty PostgreSQL database race to create Optuna's
            # tables; the loser gets a unique violation and finds the tables on a second try.
            if type(exc).__name__ == "IntegrityError" and attempt < 4:
                time.sleep(0.5 * (attempt + 1))
                continue
            if "OperationalError" in type(exc).__name__ or "sqlalchemy" in type(exc).__module__:
                first = str(exc).splitlines()[0]
                raise AutotuneError(f"storage {storage}: cannot open it ({first})") from None
            raise
    digest = _space_digest(loaded)
    stored = study.user_attrs.get("space_digest")
    if stored is None:
        study.set_user_attr("space_digest", digest)
        study.set_user_attr("space", loaded.raw)
        study.set_user_attr("space_path", str(loaded.path))
        study.set_user_attr("target", target.name)
    elif stored != digest:
        raise AutotuneError(
            f"study {name!r} in {storage} was made from a different space; change only study.* to "
            "resume it, or use another --out / study.name"
        )
    return study


def recover(study: optuna.Study) -> None:
    """Mark trials left RUNNING by a dead process of this host as failed (interrupted)."""
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") != host or not isinstance(pid, int) or _alive(pid):
            continue
        # Optuna has no public way to annotate another process's trial; attrs go first, since a
        # finished trial can no longer be written.
        study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
        study._storage.set_trial_user_attr(t._trial_id, "reason", "interrupted (process ended)")
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(t.params, skip_if_exists=False)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards n_trials: finished or running, not those cut by an interruption."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.WAITING and not t.user_attrs.get(INTERRUPTED)
    )
