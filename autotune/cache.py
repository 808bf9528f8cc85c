"""A content-addressed cache of step outputs, written atomically and shared by all trials."""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache as memoize
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["Cache", "CacheEntry", "file_sha256", "library_versions"]

CACHE_SCHEMA = 1
_META = "autotune-meta.json"
# Libraries whose version can change what a step writes: distribution -> the module to ask
# instead (None: the distribution's metadata). GPU machines install onnxruntime-gpu and
# onnxruntime-genai-cuda beside (and ahead of) the CPU distributions of the same modules, so
# those two are asked what actually imports.
_LIBRARIES: dict[str, str | None] = {
    "torch": None,
    "transformers": None,
    "peft": None,
    "onnxruntime": "onnxruntime",
    "onnxruntime-genai": "onnxruntime_genai",
    "onnx": None,
    "gguf": None,
}


@memoize
def library_versions() -> dict[str, str]:
    out = {}
    for name, module in _LIBRARIES.items():
        try:
            out[name] = str(importlib.import_module(module).__version__) if module else version(name)
        except (ImportError, PackageNotFoundError):
            out[name] = "absent"
    return out


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    key: str
    hit: bool
    seconds: float  # time spent producing it now (0 for a hit)
    meta: dict[str, Any]


class Cache:
    """Folders keyed by a hash of everything they depend on: ``root/<step>/<key>``, shared by the
    trials of every worker that reaches ``root`` (a local disk, or a shared path).

    An entry is written under a temporary name unique to its writer (host, pid, random), its files
    are fsynced, their sizes and sha256 go into its meta file, which is written last, and the folder
    is renamed into place: it appears complete or not at all. A reader checks the files against
    the meta (sizes always; contents once per process): an entry that does not match is moved
    aside (never deleted: another worker may be reading it) and produced again. Two writers of one
    key, where no lock reaches between them, both finish; the first rename wins and the second
    writer uses it. A lock per key (``flock``: one host's processes) only saves that double work.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    @staticmethod
    def key(step: str, **parts: Any) -> str:
        blob = json.dumps(
            {"step": step, "schema": CACHE_SCHEMA, "versions": library_versions(), **parts},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def path(self, step: str, key: str) -> Path:
        return self.root / step / key

    def get(self, step: str, key: str) -> CacheEntry | None:
        """The entry, if it is there and its files match its meta; a damaged one is set aside."""
        path = self.path(step, key)
        meta_file = path / _META
        if not meta_file.is_file():
            return None
        try:
            meta = json.loads(meta_file.read_text())
            if not isinstance(meta, dict):
                raise ValueError("meta is not an object")
            _check_files(path, meta.get("files"))
        except (OSError, ValueError) as exc:
            _set_aside(path, str(exc))
            return None
        return CacheEntry(path, key, True, 0.0, meta)

    def produce(self, step: str, key: str, fn: Callable[[Path], dict[str, Any]]) -> CacheEntry:
        """Return the cached folder, or run ``fn(tmp_dir)`` to write it and publish it atomically."""
        hit = self.get(step, key)
        if hit is not None:
            return hit
        final = self.path(step, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with (final.parent / f".{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            hit = self.get(step, key)  # another process may have made it while we waited
            if hit is not None:
                return hit
            _sweep_leftovers(final.parent, key)
            tmp = final.parent / f".{key}.tmp-{_writer()}"
            tmp.mkdir()
            start = time.perf_counter()
            try:
                meta = fn(tmp) or {}
                seconds = time.perf_counter() - start
                files = _manifest(tmp)
                meta = {**meta, "seconds": round(seconds, 3), "created": time.time(), "files": files}
                _write_synced(tmp / _META, json.dumps(meta, indent=1, default=str))
                _fsync_dir(tmp)
                if final.exists() and not (final / _META).is_file():
                    _set_aside(final, "incomplete (no meta file)")
                try:
                    os.rename(tmp, final)
                except OSError:  # a writer elsewhere published it first: use theirs
                    hit = self.get(step, key)
                    if hit is None:
                        raise
                    return hit
                _fsync_dir(final.parent)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return CacheEntry(final, key, False, seconds, meta)


# A writer killed (SIGKILL, power loss) leaves its temporary folder; one this old has no live writer.
STALE_AFTER_S = 24 * 3600


def _sweep_leftovers(folder: Path, key: str) -> None:
    """Remove the temporary folders of ``key`` that writers killed long ago left behind (a live
    writer's, on any host, is younger: its name is unique, so no one else touches it)."""
    now = time.time()
    for tmp in folder.glob(f".{key}.tmp-*"):
        try:
            if now - tmp.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:  # removed meanwhile
            pass


def _writer() -> str:
    """A name no other writer on any host can have: host, pid and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != _META)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's contents, read in 4 MiB pieces."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _manifest(folder: Path) -> dict[str, list[Any]]:
    """Every file's [size, sha256], each fsynced first so that what is hashed is on disk."""
    out: dict[str, list[Any]] = {}
    for p in _files(folder):
        with p.open("rb") as f:
            os.fsync(f.fileno())
        out[str(p.relative_to(folder))] = [p.stat().st_size, file_sha256(p)]
    return out


_VERIFIED: set[tuple[str, float]] = set()  # entries whose contents this process has hashed


def _check_files(folder: Path, files: Any) -> None:
    """Raise ValueError unless ``folder`` holds exactly the files of the manifest (sizes always,
    contents once per process). An entry written before manifests existed is taken as it is."""
    if files is None:
        return
    if not isinstance(files, dict):
        raise ValueError("meta 'files' is not a manifest")
    present = {str(p.relative_to(folder)): p for p in _files(folder)}
    if set(present) != set(files):
        raise ValueError(f"files differ from the manifest ({len(present)} present, {len(files)} listed)")
    for name, (size, _digest) in files.items():
        if present[name].stat().st_size != size:
            raise ValueError(f"{name}: {present[name].stat().st_size} bytes, the manifest says {size}")
    stamp = (str(folder), (folder / _META).stat().st_mtime)
    if stamp in _VERIFIED:
        return
    for name, (_size, digest) in files.items():
        if file_sha256(present[name]) != digest:
            raise ValueError(f"{name}: contents differ from the manifest's sha256")
    _VERIFIED.add(stamp)


def _set_aside(folder: Path, why: str) -> None:
    """Move a damaged entry out of the way (a reader may still hold its files open)."""
    aside = folder.parent / f".{folder.name}.damaged-{_writer()}"
    try:
        os.rename(folder, aside)
        (aside / "DAMAGED.txt").write_text(why + "\n")
    except OSError:  # another worker set it aside first, or it is gone
        pass


def _write_synced(path: Path, text: str) -> None:
    with path.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
