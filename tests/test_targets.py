"""Targets own every word about where a model runs; Olive providers map onto them or fail."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from autotune.cli import main
from autotune.errors import InvalidCombination
from autotune.targets import (
    FLOAT_BUILD,
    PRECISIONS,
    TARGETS,
    Target,
    get_precision,
    get_target,
    target_for_providers,
)

OLIVE_ASSETS = Path(__file__).parent / "olive" / "assets"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_each_target_is_complete_and_consistent(name: str) -> None:
    t = get_target(name)
    assert t.name == name and t.execution_provider.endswith("ExecutionProvider")
    assert t.execution_provider in t.olive_providers and t.olive_device in ("cpu", "gpu", "npu")
    assert isinstance(getattr(torch, t.train_dtype), torch.dtype)
    assert torch.device(t.device).type == t.device and t.precisions
    assert all(t.allows(p) and p in PRECISIONS for p in t.precisions) and not t.allows("int3")
    # available() is what this machine really offers: its ORT provider and its torch device
    expected = (
        t.execution_provider in ort.get_available_providers() and getattr(torch, t.device).is_available()
    )
    assert t.available() == expected
    # and what it lacks is said in words: the device, the provider (with how to get it)
    lacks = t.missing()
    assert ("device visible to torch" in lacks) == (not getattr(torch, t.device).is_available())
    assert (t.execution_provider in lacks) == (t.execution_provider not in ort.get_available_providers())


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_evaluators_get_the_targets_own_words(name: str) -> None:
    t = get_target(name)
    placement = t.placement()
    assert (placement.device, placement.genai_provider) == (t.device, t.genai_provider)


def test_precisions_say_what_they_mean() -> None:
    """One record per precision: the builder's word for it and the bits it quantizes to."""
    from autotune.passes import get_pass

    assert [p.name for p in PRECISIONS.values() if p.quantized] == ["int4", "int8"]
    assert (PRECISIONS["int4"].bits, PRECISIONS["int8"].bits, PRECISIONS["fp16"].bits) == (4, 8, None)
    assert all(p.builder == p.name for p in PRECISIONS.values())  # the builder's (and Olive's) words
    assert get_precision("bf16") is PRECISIONS["bf16"] and get_precision(None) is None
    assert FLOAT_BUILD in PRECISIONS and not PRECISIONS[FLOAT_BUILD].quantized
    # the build pass accepts every precision some target may run, and no other
    (spec,) = [s for s in get_pass("build").params if s.name == "precision"]
    assert spec.allowed == tuple(PRECISIONS)
    assert {p for t in TARGETS.values() for p in t.precisions} <= set(PRECISIONS)


def test_a_target_lists_only_known_precisions() -> None:
    with pytest.raises(ValueError, match="unknown precision"):
        dataclasses.replace(TARGETS["cpu"], precisions=("int4", "int3"))


def test_where_a_model_runs_is_its_provider_not_its_training_device() -> None:
    assert TARGETS["cpu"].runs_on_cpu and not TARGETS["cuda"].runs_on_cpu
    dml = dataclasses.replace(TARGETS["cpu"], execution_provider="DmlExecutionProvider")
    assert dml.device == "cpu" and not dml.runs_on_cpu


def test_cpu_runs_here() -> None:
    assert get_target("cpu").available()


def test_olive_providers_map_to_a_target_or_fail() -> None:
    assert target_for_providers(["CUDAExecutionProvider", "CPUExecutionProvider"]).name == "cuda"
    assert target_for_providers(["CPUExecutionProvider"]).name == "cpu"
    assert target_for_providers([]).name == "cpu"
    with pytest.raises(ValueError, match=r"DmlExecutionProvider are not supported; autotune runs CPU"):
        target_for_providers(["DmlExecutionProvider"])
    with pytest.raises(ValueError, match="TensorrtExecutionProvider"):
        target_for_providers(["TensorrtExecutionProvider", "CUDAExecutionProvider"])


def test_olive_config_with_an_unsupported_provider_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(OLIVE_ASSETS / "dataset", tmp_path / "dataset")
    cfg = json.loads((OLIVE_ASSETS / "current-config.json").read_text())
    cfg["systems"]["local_system"]["accelerators"] = [
        {"device": "gpu", "execution_providers": ["DmlExecutionProvider"]}
    ]
    path = tmp_path / "dml.json"
    path.write_text(json.dumps(cfg))
    assert (
        main(
            [
                "run",
                "--config",
                str(path),
                "--model",
                str(tmp_path / "no-model"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DmlExecutionProvider are not supported" in err, err


def test_a_new_target_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DirectML-like target added to TARGETS alone reaches the space, the passes, the
    evaluators and Olive export, with no other module changed."""
    from autotune.olive._write import olive_config
    from autotune.passes import get_pass
    from autotune.space.schema import Space
    from evaluators import Placement
    from tests.conftest import tiny_raw
    from tests.passes.test_checks import ctx

    dml = Target(
        name="dml",
        execution_provider="DmlExecutionProvider",
        builder_ep="dml",
        genai_provider="dml",
        device="cpu",
        train_dtype="float32",
        precisions=("int4", "fp16"),
        olive_device="gpu",
        olive_providers=("DmlExecutionProvider",),
    )
    monkeypatch.setitem(TARGETS, "dml", dml)
    assert Space.model_validate(tiny_raw(targets=["dml"])).targets[0].name == "dml"
    assert dml.placement() == Placement("cpu", "dml")
    assert target_for_providers(["DmlExecutionProvider"]) is dml
    build = get_pass("build")()
    build.check({"precision": "fp16"}, ctx("dml"))
    assert build.key_parts({"precision": "fp16"}, ctx("dml")) == {"ep": "dml"}
    with pytest.raises(InvalidCombination, match="CPU chain"):  # it trains on the CPU, runs on DirectML
        get_pass("quantize")().check({}, ctx("dml", {"build": {"precision": "fp32"}}))
    cfg = olive_config({"build.precision": "fp16"}, ["build"], {"data": {"path": "d.jsonl"}}, "m", "dml", 0)
    assert cfg["systems"]["local_system"]["accelerators"] == [
        {"device": "gpu", "execution_providers": ["DmlExecutionProvider"]}
    ]
    assert not dml.available()  # this machine's ORT has no DirectML provider
