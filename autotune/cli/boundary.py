"""The CLI's one boundary: whatever a command raises reaches the terminal as one line.

An expected failure (an ``AutotuneError``: a bad space, data file, model, path, storage or
Olive config) prints its own line, which names the file, key or row and the fix. Anything else
is a bug or a broken machine: one line naming the exception, with the full traceback written to
``autotune-error.log`` in the command's output folder (or the temp folder when there is none).
Paths a command will write to are checked before any work (``writable_folder``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from autotune.errors import AutotuneError, StudyFailed

__all__ = ["LOG_NAME", "guarded", "log_to", "writable_folder"]

LOG_NAME = "autotune-error.log"
_log_folder: list[Path] = []  # the current command's output folder, once it is known


def log_to(folder: Path) -> None:
    """Tracebacks of unexpected errors go to ``folder``/autotune-error.log from now on."""
    _log_folder[:] = [folder]


def _write_log(exc: BaseException, argv: list[str]) -> Path | None:
    text = (
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} autotune {' '.join(argv)}\n"
        + "".join(traceback.format_exception(exc))
        + "\n"
    )
    temp = Path(tempfile.gettempdir()) / f"autotune-error-{os.getpid()}.log"
    for path in [f / LOG_NAME for f in _log_folder if f.is_dir()] + [temp]:
        try:
            with path.open("a", encoding="utf-8") as log:
                log.write(text)
            return path
        except OSError:
            continue
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def guarded(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """``command(argv)``'s exit status; every exception becomes one line on stderr and a non-zero
    status: 2 for input the user must fix, 1 for a study that ran and failed, 3 for a bug."""
    _log_folder.clear()  # each command says where its own log goes
    try:
        return command(argv)
    except AutotuneError as exc:
        print(f"autotune: error: {_first_line(exc)}", file=sys.stderr)
        return 1 if isinstance(exc, StudyFailed) else 2
    except KeyboardInterrupt:
        print("autotune: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` that closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the boundary: never a raw traceback on the terminal
        log = _write_log(exc, argv)
        where = f"; the traceback is in {log}" if log else ""
        if isinstance(exc, OSError) and exc.strerror:
            name = f"{exc.filename}: " if exc.filename else ""
            print(
                f"autotune: error: {name}{exc.strerror} (check the path, its permissions and free "
                f"space){where}",
                file=sys.stderr,
            )
            return 2
        first = _first_line(exc)
        print(
            f"autotune: internal error: {type(exc).__name__}{': ' + first if first else ''}{where}; "
            "please report it with that file",
            file=sys.stderr,
        )
        return 3


def writable_folder(flag: str, path: Path) -> Path:
    """``path`` resolved, once it is a folder this process may write in, or a folder it may
    create; an AutotuneError naming ``flag`` otherwise."""
    path = path.expanduser().resolve()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == path else f"is under {probe}, which is a file"
        raise AutotuneError(f"{flag} {path}: {what}, not a folder; give a folder path")
    try:  # a real write: permission bits say nothing for root, nor on a read-only mount
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        where = "" if probe == path else f" (in {probe}, the nearest folder that exists)"
        raise AutotuneError(
            f"{flag} {path}: cannot write there{where}: {exc.strerror}; give a folder you can write to"
        ) from None
    return path
