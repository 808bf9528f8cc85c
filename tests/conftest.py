"""Shared fixtures: caches in a temp folder, the tiny space, one finished tiny study."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="autotune-tests-"))
for var, sub in (
    ("HF_HOME", "hf"),
    ("HF_DATASETS_CACHE", "hf/datasets"),
    ("XDG_CACHE_HOME", "xdg"),
):
    os.environ.setdefault(var, str(_HOME / sub))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import yaml  # noqa: E402

ASSETS = Path(__file__).parent / "assets"
TINY_DATA = ASSETS / "tiny_emotions.jsonl"  # 32 rows: too few for the search and confirm splits
REPO = Path(__file__).resolve().parents[1]
EMOTIONS = REPO / "search_spaces" / "data" / "emotions.jsonl"  # 480 rows, 120 per label


def tiny_raw(**changes: object) -> dict:
    """The shipped tiny space as a dict (the shipped emotion data, capped at 64 training and 12
    search/confirm rows), the data path made absolute, with ``changes`` merged."""
    raw = yaml.safe_load((REPO / "search_spaces" / "tiny.yaml").read_text())
    raw["data"]["path"] = str(EMOTIONS)
    for dotted, value in changes.items():
        node = raw
        *head, last = dotted.split("__")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    return raw


def write_space(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 3-trial study of the tiny model, run once through the CLI."""
    from autotune.cli import main

    root = tmp_path_factory.mktemp("study")
    space = write_space(root / "tiny.yaml", tiny_raw())
    out = root / "out"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "3"]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Phi-3 as a plain Hugging Face folder (what --model or model.path take)."""
    from autotune.cache import Cache
    from autotune.models import prepare_model
    from autotune.space import ModelSpec

    root = tmp_path_factory.mktemp("tiny-model")
    return Path(prepare_model(ModelSpec.model_validate(tiny_raw()["model"]), Cache(root), root).path)
