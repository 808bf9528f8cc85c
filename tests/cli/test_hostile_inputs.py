"""Bad input gets one clear line naming the file, key or row, before any work; never a traceback.

Each class of input the issue names is tried here, then arbitrary and mutated inputs (hypothesis)
go through the space loader, the override parser, the data loader and the Olive reader: each
gives a valid result or one clean AutotuneError.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autotune.cli import main
from autotune.errors import AutotuneError
from autotune.inputs.data import load_task_data
from autotune.load.space_file import load_space
from autotune.olive import read_olive_config
from autotune.space.schema import DataSpec
from tests.conftest import REPO, tiny_raw, write_space

OLIVE_ASSETS = Path(__file__).parents[1] / "olive" / "assets"


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("autotune: error: ") and len(err.splitlines()) == 1, err
    return err


def _set(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = raw
    *head, last = dotted.split(".")
    for part in head:
        node = node.setdefault(part, {})
    node[last] = value
    return raw


@pytest.mark.parametrize(
    ("dotted", "value", "says"),
    [
        ("constraints", [{"metric": "accuracy", "op": ">=", "value": math.nan}], "constraints.0.value"),
        ("data.template", "### {phrase} {tone}\n### The tone is:\n{tone}", "names {tone} 2 times"),
        ("name", "../../outside", "is not a valid name"),
        ("study.name", "a/b", "is not a valid name"),
        ("passes.lora.learning_rate", {"low": 0.0, "high": 0.01, "log": True}, "below the minimum"),
        ("passes.lora.learning_rate", {"low": 1e-4, "high": 1e-2, "log": True, "step": 1e-4}, "no step"),
        ("study.heartbeat", {"interval": 10, "grace": 5}, "must be longer than interval"),
        ("data.eval", {"fraction": 0.0001, "seed": 0}, "the search split would have 0 rows"),
    ],
)
def test_a_bad_space_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dotted: str, value: Any, says: str
) -> None:
    space = write_space(tmp_path / "s.yaml", _set(tiny_raw(), dotted, value))
    assert main(["validate", str(space)]) == 2
    assert says in _one_line_error(capsys)
    assert not (tmp_path / "autotune-out").exists()


def test_truncated_records_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "run.json").write_text('{"space_path": "/x", "raw": {"na')
    assert main(["report", str(tmp_path)]) == 2
    assert "run.json: the study's run record is not valid JSON" in _one_line_error(capsys)
    model = tmp_path / "exported"
    model.mkdir()
    (model / "genai_config.json").write_text("{}")
    (model / "task.json").write_text('{"labels": ["joy"')
    assert main(["predict", "--model", str(model), "hi"]) == 2
    assert "task.json: the exported task is not valid JSON" in _one_line_error(capsys)


def _olive_copy(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / "olive"
    shutil.copytree(OLIVE_ASSETS, folder)
    return folder, json.loads((folder / "current-config.json").read_text())


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (("systems",), "local", "systems: must be a JSON object"),
        (("systems", "local_system", "accelerators", 0, "execution_providers"), "CUDAExecutionProvider",
         "execution_providers: must be a JSON array"),
        (("data_configs",), {"name": "x"}, "data_configs: must be a JSON array"),
        (("passes",), ["lora"], "passes"),
        (("output_dir",), ["models"], "output_dir: must be a JSON string"),
    ],
)  # fmt: skip
def test_an_olive_config_of_the_wrong_shape_is_one_line(
    tmp_path: Path, path: tuple[Any, ...], value: Any, says: str
) -> None:
    folder, cfg = _olive_copy(tmp_path)
    node = cfg
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (folder / "bad.json").write_text(json.dumps(cfg))
    with pytest.raises(AutotuneError, match=None) as err:
        read_olive_config(folder / "bad.json", model="/nonexistent")
    assert says in str(err.value) and "\n" not in str(err.value)


# ---- fuzzing: arbitrary and mutated inputs -------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with a few random keys replaced by arbitrary values or deleted."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_VALUES)
    return doc


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _clean_or_valid(fn: Any) -> None:
    try:
        fn()
    except AutotuneError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip(), str(exc)


@FUZZ
@given(data=st.data())
def test_fuzz_space_loader(tmp_path: Path, data: st.DataObject) -> None:
    raw = _mutate(tiny_raw(), data)
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    _clean_or_valid(lambda: load_space(str(path)))


@FUZZ
@given(overrides=st.lists(st.text(max_size=30), max_size=3))
def test_fuzz_overrides(tmp_path: Path, overrides: list[str]) -> None:
    path = write_space(tmp_path / "s.yaml", tiny_raw())
    _clean_or_valid(lambda: load_space(str(path), overrides))


@FUZZ
@given(lines=st.lists(st.one_of(st.text(max_size=40), _VALUES.map(json.dumps)), max_size=30))
def test_fuzz_data_loader(tmp_path: Path, lines: list[str]) -> None:
    rows = (REPO / "search_spaces" / "data" / "emotions.jsonl").read_text().splitlines()[:200]
    data_file = tmp_path / "data.jsonl"
    data_file.write_text("\n".join(rows + lines) + "\n")
    spec = DataSpec.model_validate({**tiny_raw()["data"], "path": str(data_file)})
    _clean_or_valid(lambda: load_task_data(spec, tmp_path))


@FUZZ
@given(data=st.data())
def test_fuzz_olive_reader(tmp_path: Path, data: st.DataObject) -> None:
    folder = tmp_path / "olive"
    if not folder.exists():
        shutil.copytree(OLIVE_ASSETS, folder)
    cfg = _mutate(json.loads((folder / "current-config.json").read_text()), data)
    (folder / "fuzz.json").write_text(json.dumps(cfg))
    _clean_or_valid(lambda: read_olive_config(folder / "fuzz.json", model="/nonexistent"))


def test_a_pytorch_metric_needs_a_merged_fine_tune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tiny_raw(chains=[["build"]], constraints=[])
    raw["objectives"] = [{"metric": "torch_accuracy", "direction": "maximize"}]
    assert main(["validate", str(write_space(tmp_path / "s.yaml", raw))]) == 2
    assert "torch_accuracy is measured in PyTorch on the merged fine-tune" in _one_line_error(capsys)


def _issue32_space(tmp_path: Path, case: str) -> dict[str, Any]:
    """The tiny space with one of issue 32's bad inputs (its data written to ``tmp_path``)."""
    if case == "template column":
        return tiny_raw(data__template="{speaker}: {phrase}\n{tone}")
    if case in ("duplicate label", "empty label"):  # the data's four labels, and one more
        extra = "joy" if case == "duplicate label" else ""
        return tiny_raw(data__labels=["sadness", "joy", "fear", "surprise", extra])
    if case == "one label":
        rows = [json.dumps({"phrase": f"p{i}", "tone": "joy"}) for i in range(120)]
        (tmp_path / "joy.jsonl").write_text("\n".join(rows) + "\n")
        return tiny_raw(data__path="joy.jsonl", data__labels=None)
    if case == "unmeasured metric":
        return tiny_raw(chains=[["build"]], preference={"metric": "accuracy", "then": "torch_accuracy"})
    assert case == "invalid UTF-8"
    rows_ = (REPO / "search_spaces" / "data" / "emotions.jsonl").read_bytes().splitlines()[:9]
    (tmp_path / "bad.jsonl").write_bytes(b"\n".join([*rows_, b'{"phrase": "\xff\xfe", "tone": "joy"}\n']))
    return tiny_raw(data__path="bad.jsonl")


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("template column", "data.template names {speaker}"),
        ("duplicate label", "data.labels: label 'joy' is listed more than once"),
        ("empty label", "data.labels: entry 4 (counting from 0) is empty"),
        ("one label", "joy.jsonl: every row has the label 'joy'"),
        ("unmeasured metric", "preference.then: the preference's then torch_accuracy needs a metric"),
        ("invalid UTF-8", "bad.jsonl line 10 (byte "),
    ],
)
def test_bad_data_or_space_stops_validate_and_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, says: str
) -> None:
    """Issue 32: each of these was accepted (exit 0, or every trial failed) or crashed (exit 3)."""
    space = write_space(tmp_path / "s.yaml", _issue32_space(tmp_path, case))
    assert main(["validate", str(space)]) == 2
    assert says in _one_line_error(capsys)
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--quiet"]) == 2
    assert says in _one_line_error(capsys)
    assert not (out / "study.db").exists() and not (out / "cache").exists()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"model__random__config__model_type": "olmo"}, "model: OLMo (olmo) is refused: the model builder's"),
        (
            {"model__random__config__model_type": "qwen2"},
            "passes.lora.target_modules: qkv_proj is not a linear layer of Qwen2 / Qwen2.5 (qwen2)",
        ),
    ],
    ids=["refused family", "lora target the family lacks"],
)
def test_a_model_that_cannot_be_carried_stops_validate_and_run_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], says: str
) -> None:
    """Issue 34: a family the builder or runtime cannot carry failed every trial after its fine-tune."""
    space = write_space(tmp_path / "s.yaml", tiny_raw(**change))
    assert main(["validate", str(space)]) == 2
    assert says in _one_line_error(capsys)
    out = tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--quiet"]) == 2
    assert says in _one_line_error(capsys)
    assert not (out / "study.db").exists() and not list(out.glob("cache/lora*"))
