from __future__ import annotations

import re
from pathlib import Path

import pytest

from autotune.errors import SpaceError
from autotune.load.space_file import apply_overrides, load_space, shipped_spaces
from autotune.space.params import Choice, Fixed
from tests.conftest import tiny_raw, write_space


def test_overrides_merge_typed_values(tmp_path: Path) -> None:
    path = write_space(tmp_path / "tiny.yaml", tiny_raw())
    loaded = load_space(str(path), ["study.n_trials=7", "passes.lora.rank=[2, 4]", "passes.lora.steps=1"])
    assert loaded.space.study.n_trials == 7
    assert loaded.values["lora"]["rank"] == Choice((2, 4))
    assert loaded.values["lora"]["steps"] == Fixed(1)
    assert apply_overrides({"a": {"b": 1}}, ["a.c=x"]) == {"a": {"b": 1, "c": "x"}}


def _error(tmp_path: Path, raw: dict | str) -> str:
    path = tmp_path / "space.yaml"
    if isinstance(raw, str):
        path.write_text(raw)
    else:
        write_space(path, raw)
    with pytest.raises(SpaceError) as info:
        load_space(str(path))
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, "name: x\nmodel: {packaged: smollm2-135m-instruct\ndata: [\n")
    assert "malformed YAML" in msg and "line" in msg


def test_unknown_key_points_at_its_line(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw["study"]["n_trails"] = 3
    msg = _error(tmp_path, raw)
    assert "study.n_trails" in msg and "unknown key" in msg
    line = next(
        i
        for i, text in enumerate((tmp_path / "space.yaml").read_text().splitlines(), 1)
        if "n_trails" in text
    )
    assert f"line {line}:" in msg


def test_unknown_pass_lists_the_known_ones(tmp_path: Path) -> None:
    from autotune.passes import pass_names

    raw = tiny_raw(chains=[["lora", "merge", "bulid"]])
    known = pass_names()  # every registered pass, so that adding one does not touch this test
    assert {"build", "lora", "merge", "qlora", "quantize"} <= set(known)
    assert f"unknown pass 'bulid'; known passes: {', '.join(known)}" in _error(tmp_path, raw)


def test_unknown_pass_parameter(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw["passes"]["lora"]["rnak"] = 4
    msg = _error(tmp_path, raw)
    assert "passes.lora.rnak: unknown parameter of lora" in msg and "rank" in msg


def test_bad_parameter_value(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw["passes"]["build"]["precision"] = ["int4", "int3"]
    assert "passes.build.precision: 'int3' is not allowed" in _error(tmp_path, raw)


def test_precision_invalid_on_target(tmp_path: Path) -> None:
    raw = tiny_raw(targets=[{"name": "cpu", "precisions": ["int4", "fp16"]}])
    assert "not valid on cpu" in _error(tmp_path, raw)


def test_chain_kinds_must_connect(tmp_path: Path) -> None:
    assert "merge takes a adapter model but gets hf" in _error(
        tmp_path, tiny_raw(chains=[["merge", "build"]])
    )
    assert "must end with an ONNX model" in _error(tmp_path, tiny_raw(chains=[["lora", "merge"]]))


def test_template_must_end_with_the_label(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw["data"]["template"] = "{tone}: {phrase}"
    assert "template must end with {tone}" in _error(tmp_path, raw)


def test_objective_metric_is_checked(tmp_path: Path) -> None:
    raw = tiny_raw(objectives=[{"metric": "acuracy", "direction": "maximize"}])
    assert "objectives.0.metric" in _error(tmp_path, raw)


def test_missing_space_file_lists_shipped(tmp_path: Path) -> None:
    shipped = re.escape(", ".join(shipped_spaces()))
    with pytest.raises(SpaceError, match=rf"no shipped space of that name \(shipped: {shipped}\)"):
        load_space(str(tmp_path / "nope.yaml"))


def test_grid_sampler_needs_discrete_values(tmp_path: Path) -> None:
    raw = tiny_raw()
    raw["study"]["sampler"] = "grid"
    assert "grid needs discrete values" in _error(tmp_path, raw)
    raw["passes"]["lora"]["learning_rate"] = [0.001, 0.01]
    write_space(tmp_path / "ok.yaml", raw)
    assert load_space(str(tmp_path / "ok.yaml")).space.study.sampler == "grid"


def test_precision_sweep_is_the_older_name_of_build_sweep(tmp_path: Path) -> None:
    old = load_space(str(write_space(tmp_path / "old.yaml", tiny_raw(study__precision_sweep=True))))
    new = load_space(str(write_space(tmp_path / "new.yaml", tiny_raw(study__build_sweep=True))))
    assert old.space.study.build_sweep is True and new.space.study.build_sweep is True
    assert load_space(str(write_space(tmp_path / "none.yaml", tiny_raw()))).space.study.build_sweep is False


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        (["sadness", "joy", "fear", "surprise", "joy"], "data.labels: label 'joy' is listed more than once"),
        (["sadness", "joy", "", "fear", "surprise"], "data.labels: entry 2 (counting from 0) is empty"),
        (["sadness", "joy", "  ", "fear", "surprise"], "data.labels: entry 2 (counting from 0) is empty"),
        (["sadness", " joy", "fear", "surprise"], "data.labels: label ' joy' has surrounding spaces"),
    ],
)
def test_labels_are_distinct_and_not_empty(tmp_path: Path, labels: list[str], says: str) -> None:
    assert says in _error(tmp_path, tiny_raw(data__labels=labels))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        (  # a constraint on a PyTorch metric, and a chain that makes no merged fine-tune
            {"constraints": [{"metric": "torch_accuracy", "op": ">=", "value": 0.5}]},
            "constraints.0: constraint torch_accuracy >= 0.5 needs a metric that chains.1 never measures",
        ),
        (
            {"preference": {"metric": "accuracy", "then": "torch_accuracy"}},
            "preference.then: the preference's then torch_accuracy needs a metric that chains.1 never",
        ),
        (
            {"preference": {"metric": "torch_accuracy"}},
            "preference.metric: the preference on torch_accuracy needs a metric that chains.1 never",
        ),
    ],
)
def test_a_metric_some_chain_never_measures_is_refused(
    tmp_path: Path, changes: dict[str, object], says: str
) -> None:
    raw = tiny_raw(chains=[["lora", "merge", "build"], ["build"]], **changes)
    msg = _error(tmp_path, raw)
    assert says in msg and "torch_accuracy is measured in PyTorch on the merged fine-tune" in msg
    assert "every chain measures: " in msg and "torch_accuracy," not in msg.split("every chain")[1]


def test_answer_rate_needs_answers_longer_than_one_token(tmp_path: Path) -> None:
    raw = tiny_raw(
        task="generation",
        data__labels=None,
        evaluation={"max_new_tokens": 1},
        objectives=[{"metric": "rouge_l", "direction": "maximize"}],
        constraints=[{"metric": "answer_tokens_per_s", "op": ">=", "value": 10}],
        preference={"metric": "rouge_l"},
    )
    msg = _error(tmp_path, raw)
    assert "constraints.0: constraint answer_tokens_per_s >= 10 needs a metric" in msg
    assert "evaluation.max_new_tokens is 1" in msg


def test_a_decode_rate_the_cpu_label_scorer_never_measures_is_refused(tmp_path: Path) -> None:
    """On the CPU every label of a built model is scored in the prompt's own pass: no decode pass
    to count, so a constraint on decode_passes_per_s would fail each such trial (before: accepted,
    then every trial of the tiny space failed with KeyError). A chain through ORT's int8
    quantizer is decoded, and keeps it."""
    rate = [{"metric": "decode_passes_per_s", "op": ">=", "value": 10}]
    msg = _error(tmp_path, tiny_raw(constraints=rate))
    assert "constraints.0: constraint decode_passes_per_s >= 10 needs a metric that chains.0 never" in msg
    assert "scored in the prompt's own forward pass" in msg and "latency_p90_ms" in msg
    quantized = tiny_raw(constraints=rate, chains=[["lora", "merge", "build", "quantize"]])
    load_space(str(write_space(tmp_path / "q.yaml", quantized)))


def test_a_space_file_not_in_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SpaceError, match=r"space\.yaml: not valid UTF-8 at byte 9; save the file as UTF-8"):
        load_space(str(path))
