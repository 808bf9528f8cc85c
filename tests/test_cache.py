from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from autotune.cache import Cache


def test_key_depends_on_every_part() -> None:
    a = Cache.key("lora", input="x", params={"rank": 8})
    assert a == Cache.key("lora", params={"rank": 8}, input="x")
    assert a != Cache.key("lora", input="x", params={"rank": 16})
    assert a != Cache.key("merge", input="x", params={"rank": 8})


def test_produce_then_hit(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    calls = []

    def make(out: Path) -> dict:
        calls.append(out)
        (out / "w.txt").write_text("weights")
        return {"n": 1}

    first = cache.produce("step", "k1", make)
    second = cache.produce("step", "k1", make)
    assert not first.hit and second.hit and len(calls) == 1
    assert (second.path / "w.txt").read_text() == "weights"
    assert second.meta["n"] == 1 and second.path == tmp_path / "step" / "k1"


def test_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def broken(out: Path) -> dict:
        (out / "half.bin").write_text("partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.produce("step", "k2", broken)
    assert cache.get("step", "k2") is None
    assert [p.name for p in (tmp_path / "step").iterdir() if not p.name.endswith(".lock")] == []


def test_incomplete_folder_is_replaced(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    stale = tmp_path / "step" / "k3"
    stale.mkdir(parents=True)
    (stale / "junk").write_text("from a crash")
    entry = cache.produce("step", "k3", lambda out: (out / "ok").write_text("1") and {})
    assert not entry.hit and (entry.path / "ok").exists() and not (entry.path / "junk").exists()
    assert json.loads((entry.path / "autotune-meta.json").read_text())["seconds"] >= 0


def _made(cache: Cache, key: str, calls: list[str]) -> Path:
    def make(out: Path) -> dict[str, Any]:
        calls.append(key)
        (out / "weights.bin").write_bytes(b"\x01" * 1000)
        (out / "sub").mkdir()
        (out / "sub" / "config.json").write_text('{"a": 1}')
        return {}

    return cache.produce("step", key, make).path


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: (p / "weights.bin").write_bytes(b"\x01" * 999),  # truncated
        lambda p: (p / "weights.bin").write_bytes(b"\x01" * 999 + b"\x02"),  # same size, flipped
        lambda p: (p / "sub" / "config.json").unlink(),  # a file gone
        lambda p: (p / "extra.bin").write_bytes(b"x"),  # a file nobody wrote there
        lambda p: (p / "autotune-meta.json").write_text('{"files": '),  # meta cut mid-write
    ],
    ids=["truncated", "flipped", "missing", "extra", "meta"],
)
def test_a_damaged_entry_is_set_aside_and_made_again(tmp_path: Path, damage: Any) -> None:
    import autotune.cache

    autotune.cache._VERIFIED.clear()  # as a new process would: contents hashed again
    cache, calls = Cache(tmp_path), []
    path = _made(cache, "k", calls)
    damage(path)
    autotune.cache._VERIFIED.clear()
    again = _made(cache, "k", calls)
    assert calls == ["k", "k"] and again == path
    assert (again / "weights.bin").read_bytes() == b"\x01" * 1000
    assert cache.get("step", "k") is not None
    aside = [p for p in (tmp_path / "step").iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and (aside[0] / "DAMAGED.txt").is_file()  # kept for a reader, not deleted


def test_a_writer_that_loses_the_race_uses_the_winners_entry(tmp_path: Path) -> None:
    """Two hosts share the folder and no lock reaches between them: both write, one publishes."""
    cache = Cache(tmp_path)

    def make(out: Path) -> dict[str, Any]:
        (out / "w").write_text("mine")
        # meanwhile a writer on another host publishes the same key
        Cache(tmp_path).produce("step", "k", lambda o: (o / "w").write_text("theirs") and {})
        return {}

    import fcntl

    real_flock = fcntl.flock
    fcntl.flock = lambda *a: None  # type: ignore[assignment]  # as on NFS: the lock reaches no one
    try:
        entry = cache.produce("step", "k", make)
    finally:
        fcntl.flock = real_flock
    assert (entry.path / "w").read_text() == "theirs" and entry.hit
    assert [p.name for p in (tmp_path / "step").iterdir() if ".tmp-" in p.name] == []


def test_temporary_names_are_unique_per_writer(tmp_path: Path) -> None:
    from autotune.cache import _writer

    names = {_writer() for _ in range(50)}
    assert len(names) == 50 and all(str(os.getpid()) in n for n in names)


def test_a_killed_writers_leftover_is_swept_once_stale(tmp_path: Path) -> None:
    from autotune.cache import STALE_AFTER_S

    cache = Cache(tmp_path)
    (tmp_path / "step").mkdir()
    old = tmp_path / "step" / ".k.tmp-otherhost-1-deadbeef"  # SIGKILLed a day ago
    live = tmp_path / "step" / ".k.tmp-otherhost-2-cafef00d"  # another host's writer, now
    for d in (old, live):
        d.mkdir()
        (d / "half.bin").write_bytes(b"x")
    long_ago = time.time() - STALE_AFTER_S - 60
    os.utime(old, (long_ago, long_ago))
    cache.produce("step", "k", lambda out: (out / "w").write_text("1") and {})
    assert not old.exists() and live.exists()
