from __future__ import annotations

import json
from pathlib import Path

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
