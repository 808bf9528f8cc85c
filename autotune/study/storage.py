"""Where a study lives: opening or creating it in its storage (SQLite, PostgreSQL or a journal
file), the space digest that refuses a resume from a different space, and the heartbeats by which
a trial whose worker died, on any machine, is failed and run again.

Workers stay alive to each other through Optuna's own RDB heartbeats: each running trial records
one every ``study.heartbeat.interval`` seconds; a RUNNING trial with none for ``grace`` seconds is
failed by the next worker that looks (before each ask) and re-queued by Optuna's retry callback,
at most ``max_retry`` times. A trial whose process is certainly gone (same host, boot and PID
namespace; see autotune.study.liveness) is failed and re-queued at once, without waiting for the grace
period; that is also the only way a journal file (``journal:PATH``, no heartbeat) learns of a lost
worker: one on another machine leaves its trial RUNNING there, and ``autotune status`` shows it.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from autotune.errors import AutotuneError
from autotune.load.space_file import LoadedSpace
from autotune.space.schema import Heartbeat, Space
from autotune.study.identity import changed_parts, resume_hint, study_identity
from autotune.study.liveness import is_gone
from autotune.study.sampler import make_sampler
from autotune.targets import Target
from autotune.trial.record import LOST_ATTR, lost_reason, retried_numbers

__all__ = [
    "INTERRUPTED",
    "JOURNAL",
    "SPENT_PREFIX",
    "TrialTally",
    "absolute_storage",
    "budget_spent",
    "default_storage",
    "fail_lost_trials",
    "heartbeat",
    "local_file",
    "lost_reason",
    "make_storage",
    "open_study",
    "relative_storage",
    "retried_numbers",
    "study_name",
    "trial_tally",
]

JOURNAL = "journal:"  # a storage URL prefix: an Optuna journal file, no database
# Study attributes "spent:HOST:PID:START" hold each run's seconds: study.timeout is their sum, the
# study's whole budget across resumes and workers (each worker writes only its own attribute).
SPENT_PREFIX = "spent:"


def budget_spent(study: optuna.Study) -> float:
    """Seconds the study's runs have spent, every resume and worker counted."""
    return sum(float(v) for k, v in study.user_attrs.items() if k.startswith(SPENT_PREFIX))


# The user attribute of a trial cut by an interruption: it does not count towards n_trials.
INTERRUPTED = "interrupted"
# The user attribute of a trial failed because its process was seen gone: what was seen.
LOST = LOST_ATTR


def default_storage(out_dir: Path) -> str:
    """SQLite in the output folder."""
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def local_file(url: str) -> Path | None:
    """The file of a SQLite or journal storage URL (None for a database server)."""
    if url.startswith(JOURNAL):
        return Path(url[len(JOURNAL) :])
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url[len("sqlite:///") :])
    return None


def _with_file(url: str, file: str) -> str:
    return (JOURNAL if url.startswith(JOURNAL) else "sqlite:///") + file


def absolute_storage(url: str, base: Path | None = None) -> str:
    """``url`` with a relative SQLite or journal file's path made absolute against ``base`` (the
    working folder, as the user meant it, when None): what runs record and compare."""
    file = local_file(url)
    if file is None or file.is_absolute():
        return url
    return _with_file(url, str(((base or Path.cwd()) / file).resolve()))


def relative_storage(url: str, folder: Path) -> str:
    """``url`` with its SQLite or journal file's path relative to ``folder`` when the file lies
    in it (``absolute_storage(url, folder)`` turns it back)."""
    file = local_file(url)
    if file is None:
        return url
    try:
        return _with_file(url, str(file.resolve().relative_to(folder.resolve())))
    except ValueError:  # outside the folder
        return url


def make_storage(url: str, beat: Heartbeat | None = None, *, create: bool = True) -> BaseStorage:
    """The Optuna storage of ``url``: a journal file (``journal:PATH``), or a database (SQLite,
    PostgreSQL) with heartbeats and the retry of lost trials. Unless ``create``, a SQLite or
    journal file must exist (a command that only reads a study creates no file or folder)."""
    file = local_file(url)
    if not create and file is not None and not file.is_file():
        raise AutotuneError(
            f"storage {url}: {file} does not exist; give the storage of an existing study"
        )
    if url.startswith(JOURNAL):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        if not url[len(JOURNAL) :]:
            raise AutotuneError("storage journal:PATH needs the journal file's path")
        assert file is not None
        file.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(file)))
    beat = beat or Heartbeat()
    return optuna.storages.RDBStorage(
        url,
        heartbeat_interval=beat.interval,
        grace_period=beat.grace,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=beat.max_retry),
    )


def study_name(space: Space, target: str) -> str:
    """The name of the study of ``space`` on ``target`` in its storage."""
    return space.study.name or f"{space.name}-{target}"


def open_study(loaded: LoadedSpace, storage: str, target: Target, *, create: bool = True) -> optuna.Study:
    """The study of ``loaded`` on ``target``: created (or resumed) unless ``create`` is False; an
    AutotuneError when the storage cannot be opened or holds a study of a different space."""
    space = loaded.space
    name = study_name(space, target.name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(5):
        try:
            backend = make_storage(storage, space.study.heartbeat, create=create)
            if not create:
                return optuna.load_study(study_name=name, storage=backend, sampler=make_sampler(space))
            study = optuna.create_study(
                study_name=name,
                storage=backend,
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
            # Workers starting together on an empty database race to create Optuna's tables (or
            # the study); the loser gets a unique violation (PostgreSQL) or "table ... already
            # exists" (SQLite) and finds them on a second try.
            racing = type(exc).__name__ == "IntegrityError" or "already exists" in str(exc)
            if racing and attempt < 4:
                time.sleep(0.5 * (attempt + 1))
                continue
            if "OperationalError" in type(exc).__name__ or "sqlalchemy" in type(exc).__module__:
                first = str(exc).splitlines()[0]
                raise AutotuneError(f"storage {storage}: cannot open it ({first})") from None
            raise
    if not create:
        return study
    identity = study_identity(loaded)
    attrs = study.user_attrs
    if "identity" in attrs:
        changed = changed_parts(attrs["identity"], identity)
    elif "space_digest" in attrs:  # a study made before identities: its space digest only
        # (the same digest as the identity's space part)
        changed = ["space"] if attrs["space_digest"] != identity["space"] else []
    else:
        changed = []
    if changed:
        what = {"space": "space", "evaluation": "evaluation settings", "data": "data files",
                "model": "model"}  # fmt: skip
        raise AutotuneError(
            f"study {name!r} in {storage} was made with a different {', '.join(what[c] for c in changed)}: "
            f"its trials would not compare with new ones; change only {resume_hint()} to resume it, "
            "or use another --out / study.name"
        )
    names = [o.metric for o in space.objectives]
    if study.metric_names != names:  # optuna-dashboard and other Optuna tools show them by name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
        # trial constraints are values only in Optuna: their meaning, in the order they are stored
        study.set_user_attr("constraint_names", [str(c) for c in space.constraints])
    if "identity" not in attrs:
        study.set_user_attr("space_digest", identity["space"])
        study.set_user_attr("identity", identity)
        study.set_user_attr("space", loaded.raw)
        study.set_user_attr("space_path", str(loaded.path))
        study.set_user_attr("target", target.name)
    return study


@contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Beat for ``trial`` while the block runs, when the storage has heartbeats. Optuna's own
    thread, the one its ``optimize`` runs; ask-and-tell has no public hook for it."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    with get_heartbeat_thread(trial._trial_id, study._storage):
        yield


def fail_lost_trials(study: optuna.Study, max_retry: int = Heartbeat().max_retry) -> None:
    """Fail the RUNNING trials whose worker is lost and re-queue each, up to ``max_retry`` times:
    those whose process is certainly gone (autotune.study.liveness) at once, and those whose worker
    stopped beating for the grace period, on any machine (Optuna's ``fail_stale_trials``).
    Called between trials: this process runs none of them."""
    storage = study._storage
    with warnings.catch_warnings():  # the retry callback and fail_stale_trials are experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not is_gone(t.user_attrs):
                continue
            lost = f"process {t.user_attrs['pid']} on {t.user_attrs.get('host')} is gone"
            try:
                storage.set_trial_user_attr(t._trial_id, LOST, lost)
                if not storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                    continue
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker failed it first (and queued it again)
            failed = copy.deepcopy(storage.get_trial(t._trial_id))
            failed.user_attrs = {k: v for k, v in failed.user_attrs.items() if k != LOST}  # not the rerun's
            retry(study, failed)
        optuna.storages.fail_stale_trials(study)  # the rest: those whose heartbeat lapsed


@dataclass(frozen=True)
class TrialTally:
    """The trials that count towards n_trials, by state: not those cut by an interruption nor
    those lost with their worker and queued again (their rerun counts)."""

    complete: int = 0
    pruned: int = 0
    fail: int = 0
    running: int = 0

    @property
    def finished(self) -> int:
        """A study ends once these reach n_trials, not while a counted trial still runs."""
        return self.complete + self.pruned + self.fail

    @property
    def counted(self) -> int:
        """No new trial is asked once these (running ones included) reach n_trials."""
        return self.finished + self.running

    def states(self) -> dict[str, int]:
        return {"complete": self.complete, "pruned": self.pruned, "fail": self.fail}


def trial_tally(study: optuna.Study) -> TrialTally:
    """The study's counted trials by state, read in one pass."""
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    counts = Counter(
        t.state.name.lower()
        for t in trials
        if t.state != TrialState.WAITING and not t.user_attrs.get(INTERRUPTED) and t.number not in retried
    )
    return TrialTally(counts["complete"], counts["pruned"], counts["fail"], counts["running"])
