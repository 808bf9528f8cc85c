"""A content-addressed cache of step outputs, written atomically and shared by all trials."""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache as memoize
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["Cache", "CacheEntry", "library_versions"]

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
    """Folders keyed by a hash of everything they depend on: ``root/<step>/<key>``.

    A folder appears only once complete (written under a temporary name, then renamed), and a
    lock per key keeps two processes from producing the same thing at once.
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
        path = self.path(step, key)
        meta_file = path / _META
        if not meta_file.is_file():
            return None
        return CacheEntry(path, key, True, 0.0, json.loads(meta_file.read_text()))

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
            tmp = final.parent / f".{key}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            start = time.perf_counter()
            try:
                meta = fn(tmp) or {}
                seconds = time.perf_counter() - start
                meta = {**meta, "seconds": round(seconds, 3), "created": time.time()}
                (tmp / _META).write_text(json.dumps(meta, indent=1, default=str))
                if final.exists():  # an incomplete leftover (no meta file): replace it
                    shutil.rmtree(final)
                os.rename(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return CacheEntry(final, key, False, seconds, meta)
