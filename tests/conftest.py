"""Shared fixtures: caches in a temp folder, the tiny space, one finished tiny study."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# One home for the caches of a test run, shared by pytest-xdist's workers (the same run id): the
# tokenizer autotune keeps per machine is then read out of its GGUF once per run.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
_HOME = (
    Path(tempfile.gettempdir()) / f"autotune-tests-{_RUN}"
    if _RUN
    else Path(tempfile.mkdtemp(prefix="autotune-tests-"))
)
_HOME.mkdir(exist_ok=True)
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


# The tiny space, built here rather than read from search_spaces/tiny.yaml, so that editing a
# shipped space cannot change what the unit tests test (tests/load/test_shipped_spaces.py checks those).
TINY: dict[str, Any] = {
    "name": "tiny",
    "description": "Tiny random Phi-3 on the shipped emotion data, for tests.",
    "model": {
        "random": {
            "config": {
                "model_type": "phi3",
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 4,
                "max_position_embeddings": 512,
                "original_max_position_embeddings": 512,
            },
            "tokenizer": {"packaged": "smollm2-135m-instruct"},
            "seed": 0,
        }
    },
    "data": {
        "path": str(EMOTIONS),
        "text_column": "phrase",
        "label_column": "tone",
        "template": "### Text: {phrase}\n### The tone is:\n{tone}",
        "labels": ["sadness", "joy", "fear", "surprise"],
        "eval": {"fraction": 0.2, "seed": 0},
        "max_train_rows": 64,
        "max_eval_rows": 12,
    },
    "targets": ["cpu"],
    "chains": [["lora", "merge", "build"], ["lora", "merge", "build", "quantize"]],
    "passes": {
        "lora": {
            "rank": [4, 8],
            "alpha": 16,
            "dropout": 0.0,
            "learning_rate": {"low": 1.0e-3, "high": 1.0e-2, "log": True},
            "target_modules": [["qkv_proj", "o_proj"], "all-linear"],
            "steps": 3,
            "batch_size": 4,
            "max_length": 64,
        },
        "build": {"precision": ["int4", "int8", "fp32"], "block_size": 32},
        "quantize": {"per_channel": False},
    },
    "objectives": [
        {"metric": "accuracy", "direction": "maximize"},
        {"metric": "latency_p90_ms", "direction": "minimize"},
        {"metric": "size_mb", "direction": "minimize"},
    ],
    "constraints": [
        {"metric": "accuracy", "op": ">=", "value": 0.0},
        {"metric": "latency_p90_ms", "op": "<=", "value": 2000},
    ],
    "preference": {"metric": "accuracy", "tolerance": 0.05, "then": "latency_p90_ms"},
    "evaluation": {"latency_warmup": 1, "latency_repeats": 4, "latency_prompts": 4},
    "study": {"n_trials": 3, "sampler": "tpe", "seed": 0},
}


def tiny_raw(**changes: object) -> dict[str, Any]:
    """The tiny space as a dict (the shipped emotion data, capped at 64 training and 12
    search/confirm rows), with ``changes`` merged: ``passes__lora__steps=1`` sets passes.lora.steps."""
    raw = copy.deepcopy(TINY)
    for dotted, value in changes.items():
        node = raw
        *head, last = dotted.split("__")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    return raw


def load_tiny(tmp_path: Path, **changes: object) -> Any:
    """The tiny space with ``changes``, written to ``tmp_path`` and loaded (a LoadedSpace)."""
    from autotune.load.space_file import load_space

    return load_space(str(write_space(tmp_path / "tiny.yaml", tiny_raw(**changes))))


def write_space(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def call_main(argv: list[str]) -> int:
    """``autotune ARGV`` in this process: its exit status, argparse's own usage errors included."""
    from autotune.cli import main

    try:
        return main(argv)
    except SystemExit as exc:  # argparse: usage and one error line, status 2
        return exc.code if isinstance(exc.code, int) else 2


def spawn_autotune(args: list[str]) -> subprocess.Popen[str]:
    """``autotune ARGS`` in a process of its own (one a test can SIGKILL), output unbuffered."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "autotune.cli", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def read_until(proc: subprocess.Popen[str], marker: str) -> None:
    """Read ``proc``'s output until it prints ``marker`` (a step's start line: a known moment)."""
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"{marker!r} never printed:\n{''.join(seen[-20:])}")


# Fixtures that build a model or run a study: a test that uses one, even through another
# fixture, takes more than a few seconds.
_SLOW_FIXTURES = {"tiny_hf_dir", "tiny_onnx", "tiny_study", "tiny_export"}


@pytest.hookimpl(tryfirst=True)  # before -m selects on the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark from what a test uses: ``integration`` if it reads the tiny study, and ``slow`` if it
    builds a model or is an integration test."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & {"tiny_study", "tiny_export"}:
            item.add_marker(pytest.mark.integration)
        if used & _SLOW_FIXTURES or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.slow)


def built_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """A folder that ``make(folder)`` fills once per test run: under pytest-xdist the first
    worker builds it while the others wait on a file lock, then all read the same folder (the
    fixtures built so are read-only). A build that fails leaves nothing, so the next one retries."""
    from filelock import FileLock

    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run
    folder, done = root / f"once-{name}", root / f"once-{name}.done"
    with FileLock(str(root / f"once-{name}.lock")):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def _fingerprint(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` by (size, modification time): what a write would change."""
    stats = {str(f.relative_to(folder)): f.stat() for f in folder.rglob("*") if f.is_file()}
    return {name: (st.st_size, st.st_mtime_ns) for name, st in stats.items()}


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real 3-trial study of the tiny model, run once through the CLI, shared by every test that
    reads one: ROOT/tiny.yaml (its data path relative, ROOT/emotions.jsonl), ROOT/out (the study).

    Read-only: a test that writes (a resume, a report, an export into the folder) works on
    ``copy_study(tiny_study, tmp_path)``. The session fails at the end if any test changed it."""
    from autotune.cli import main

    def make(root: Path) -> None:
        shutil.copyfile(EMOTIONS, root / EMOTIONS.name)
        # study.seed 5 draws two chains and two LoRA ranks in its three trials (tests read both)
        space = write_space(root / "tiny.yaml", tiny_raw(data__path=EMOTIONS.name, study__seed=5))
        assert main(["--space", str(space), "--out", str(root / "out"), "--n-trials", "3", "--quiet"]) == 0

    root = built_once(tmp_path_factory, "tiny-study", make)
    out = root / "out"
    before = _fingerprint(root)
    yield out
    changed = sorted(set(before.items()) ^ set(_fingerprint(root).items()))
    assert not changed, f"a test wrote into the shared tiny_study (copy it first): {changed[:5]}"


def copy_study(out: Path, dest: Path, *, cache: bool = True) -> Path:
    """A private, writable copy of a study made like ``tiny_study`` (its space, data and output
    folder): returns the copy's output folder; without its cache if ``cache`` is False."""
    root = dest / "study-copy"
    ignore = None if cache else shutil.ignore_patterns("cache")
    shutil.copytree(out.parent, root, ignore=ignore)
    return root / out.name


@pytest.fixture(scope="session")
def tiny_export(tiny_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study's winner exported once (read-only, like tiny_study)."""
    from autotune.cli import main

    def make(folder: Path) -> None:
        assert main(["export", str(tiny_study), "--dest", str(folder / "winner")]) == 0

    return built_once(tmp_path_factory, "tiny-export", make) / "winner"


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one tiny model of a test run, as a plain Hugging Face folder (what --model or
    model.path take): the tiny space's random 2-layer Phi-3 (hidden 64) with SmolLM2's
    tokenizer, its weights drawn wider than the default 0.02 so that predictions differ between
    prompts. Built by autotune's own random-model path, as a study builds its model."""
    from autotune.cache import Cache
    from autotune.inputs.models import prepare_model
    from autotune.space.schema import ModelSpec

    spec = copy.deepcopy(TINY["model"])
    spec["random"]["config"]["initializer_range"] = 0.3

    def make(root: Path) -> None:
        model = prepare_model(ModelSpec.model_validate(spec), Cache(root), root)
        (root / "path").write_text(model.path)

    return Path((built_once(tmp_path_factory, "tiny-model", make) / "path").read_text())
