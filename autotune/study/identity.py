"""What a study's trials depend on, so that a resume never mixes incomparable trials.

A study records its identity when it is created: the space (less the sections of ``RESUME_FREE``,
which may change on a resume), the evaluation settings, the data files' contents and the model's
identity. A resume whose identity differs in any part is refused, naming the part, before anything
is written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotune.cache import file_sha256
from autotune.load.space_file import LoadedSpace

__all__ = ["RESUME_FREE", "FreeSection", "changed_parts", "resume_hint", "study_identity"]


@dataclass(frozen=True)
class FreeSection:
    """A top-level section of a space that a resume may change, and why the trials made before
    the change still compare with those made after it."""

    key: str
    why: str
    # how a refused resume names it to the user; None: the user does not write it
    hint: str | None


# The one list of what a resume may change; everything else of the space is the study's identity
# (the "space" part, and the "evaluation" part for its own section).
RESUME_FREE: tuple[FreeSection, ...] = (
    FreeSection(
        "study",
        why="how the search runs (n_trials, timeout, name, sampler, seed, build_sweep, fidelity, "
        "stop, heartbeat): which trials run and for how long, not the data, model or measures "
        "they are judged by",
        hint="study.*",
    ),
    FreeSection("description", why="text only", hint="description"),
    FreeSection(
        "preference",
        why="picks the winner among the same trials; each report applies it afresh",
        hint="preference",
    ),
    FreeSection(
        "olive",
        why="the provenance of a space imported from an Olive config, written by the import",
        hint=None,
    ),
)
_FREE = tuple(f.key for f in RESUME_FREE)
# Sections digested as parts of their own, so that a refusal names them.
_OWN_PARTS = ("evaluation",)


def resume_hint() -> str:
    """What a refused resume tells the user to change only: ``study.*, description or preference``."""
    hints = [f.hint for f in RESUME_FREE if f.hint is not None]
    return f"{', '.join(hints[:-1])} or {hints[-1]}" if len(hints) > 1 else hints[0]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _data_files(loaded: LoadedSpace) -> dict[str, Path]:
    data = loaded.space.data
    named = {"data.path": data.path, "data.eval.path": data.eval.path, "data.confirm.path": data.confirm.path}
    return {k: (loaded.base_dir / v).resolve() for k, v in named.items() if v}


def _model_identity(loaded: LoadedSpace) -> str | None:
    """The model's content where it is a file (a GGUF), its files' names, sizes and times where it
    is a folder, its id and revision on a hub; None where the file is not on this machine."""
    from autotune.inputs.models import PACKAGED, _packaged_gguf

    spec = loaded.space.model
    if spec.packaged is not None and spec.packaged in PACKAGED:
        try:
            return file_sha256(_packaged_gguf(spec.packaged))
        except Exception:  # the package is missing: model preparation says so in one line
            return None
    if spec.gguf is not None:
        gguf = (loaded.base_dir / spec.gguf).resolve()
        return file_sha256(gguf) if gguf.is_file() else None
    if spec.path is not None:
        folder = (loaded.base_dir / spec.path).resolve()
        if not folder.is_dir():
            return None
        stats = [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns]
                 for p in sorted(folder.rglob("*")) if p.is_file()]  # fmt: skip
        return _digest(stats)
    return _digest(spec.model_dump())  # a hub id and revision, or a random model's recipe


def study_identity(loaded: LoadedSpace) -> dict[str, str]:
    """The parts a study's trials depend on, each as a short digest. A part this machine cannot
    read (a data file or model not here) is left out: loading it fails with its own message."""
    raw = loaded.raw
    out = {
        "space": _digest({k: v for k, v in raw.items() if k not in (*_FREE, *_OWN_PARTS)}),
        "evaluation": _digest(loaded.space.evaluation.model_dump()),
    }
    files = _data_files(loaded)
    if all(p.is_file() for p in files.values()):
        out["data"] = _digest({k: file_sha256(p) for k, p in files.items()})
    model = _model_identity(loaded)
    if model is not None:
        out["model"] = model
    return out


def changed_parts(stored: dict[str, str], now: dict[str, str]) -> list[str]:
    """The parts both identities know that differ."""
    return [k for k in now if k in stored and stored[k] != now[k]]
