"""An output folder's run record (run.json): which study the folder belongs to, where its storage
and cache are, and the space it was run with.

A folder belongs to one study: a run of another study (another space, target, study name or
storage) is refused before anything is written, so a failed run never rewrites another study's
record or reports. Paths inside the folder (the default SQLite file, a journal file there, the
cache) are recorded relative to it, so a copied or moved folder reads its own files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autotune.errors import AutotuneError, read_json_file
from autotune.files import write_whole
from autotune.study.storage import absolute_storage, relative_storage

__all__ = ["RUN_FILE", "RunRecord", "claim_folder", "read_record", "write_record"]

RUN_FILE = "run.json"
_FIX = "rerun the study's autotune command to write it again"


@dataclass(frozen=True)
class RunRecord:
    """A run record with its paths resolved against its folder."""

    raw: dict[str, Any]
    space_path: Path
    storage: str
    target: str
    cache: Path | None
    study: str  # the study's name in its storage


def _inside(path: Path, folder: Path) -> str | None:
    try:
        return str(path.resolve().relative_to(folder.resolve()))
    except ValueError:
        return None


def write_record(out: Path, raw: dict[str, Any], space_path: Path, storage: str, target: str,
                 cache: Path, study: str) -> None:  # fmt: skip
    """Write ``out``/run.json whole or not at all."""
    record = {
        "space_path": str(space_path),
        "raw": raw,
        "storage": relative_storage(storage, out),
        "target": target,
        "cache": _inside(cache, out) or str(cache.resolve()),
        "study": study,
    }
    write_whole(out / RUN_FILE, json.dumps(record, indent=1))


def read_record(out: Path) -> RunRecord:
    """The run record of output folder ``out``; an AutotuneError naming what is wrong."""
    info_file = out / RUN_FILE
    if not info_file.is_file():
        raise AutotuneError(
            f"{out}: not an autotune output folder (no {RUN_FILE}); give the --out of a study"
        )
    info = read_json_file(info_file, "the study's run record", _FIX)
    if (
        not isinstance(info, dict)
        or not {"raw", "space_path", "storage", "target"} <= set(info)
        or not isinstance(info["raw"], dict)
        or not all(isinstance(info[k], str) for k in ("space_path", "storage", "target"))
    ):
        raise AutotuneError(f"{info_file}: the run record lacks raw, space_path, storage or target; {_FIX}")
    cache = info.get("cache")
    raw = info["raw"]
    study = info.get("study")
    if not isinstance(study, str):  # a record written before the study's name was kept
        name = (raw.get("study") or {}).get("name") if isinstance(raw.get("study"), dict) else None
        study = name or f"{raw.get('name')}-{info['target']}"
    return RunRecord(
        raw=raw,
        space_path=Path(info["space_path"]),
        storage=absolute_storage(info["storage"], out),
        target=info["target"],
        cache=(out / cache).resolve() if isinstance(cache, str) else None,
        study=study,
    )


def claim_folder(out: Path, study: str, storage: str) -> None:
    """Refuse to run study ``study`` in ``storage`` with ``out`` as its folder when the folder's
    run record names another study or storage (before anything is written)."""
    if not (out / RUN_FILE).is_file():
        return
    try:
        old = read_record(out)
    except AutotuneError:
        return  # an unreadable record names no study: this run writes a good one
    if (old.study, old.storage) != (study, storage):
        raise AutotuneError(
            f"--out {out}: it holds the study {old.study!r} (storage {old.storage}); this run is "
            f"the study {study!r} (storage {storage}) and would replace its run record and reports: "
            "give another --out, or rerun that study's own command to resume it"
        )
