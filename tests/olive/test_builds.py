"""Olive configs with several named pipelines (``builds``): each build a chain of one study, read
and refused in one line naming the key; run end to end on the tiny model."""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autotune.olive import OliveConfigError, read_olive_config
from autotune.olive._build import build_space
from tests.cli.test_hostile_inputs import FUZZ, _clean_or_valid, _mutate

ASSETS = Path(__file__).parent / "assets"


def builds_config(**builds: Any) -> dict[str, Any]:
    """The current-schema test config with two more ModelBuilder entries and a quantizer, and
    ``builds`` (default: int4 and fp32 over one chain, quantized over another)."""
    cfg = json.loads((ASSETS / "current-config.json").read_text())
    cfg["passes"]["fp32"] = {"type": "ModelBuilder", "precision": "fp32"}
    cfg["passes"]["quant"] = {"type": "OnnxDynamicQuantization", "per_channel": False}
    cfg["builds"] = builds or {
        "_default": {"output_dir": "models"},
        "int4": {"pipeline": ["lora", "merge", "builder"]},
        "fp32": {"pipeline": ["lora", "merge", "fp32"]},
        "quantized": {"pipeline": ["lora", "merge", "fp32", "quant"], "output_dir": "q-model"},
    }
    return cfg


def write(folder: Path, cfg: dict[str, Any]) -> Path:
    """``cfg`` as folder/builds.json, with the dataset it names beside it."""
    if not (folder / "dataset").exists():
        shutil.copytree(ASSETS / "dataset", folder / "dataset")
    path = folder / "builds.json"
    path.write_text(json.dumps(cfg))
    return path


def space_of(folder: Path, cfg: dict[str, Any], **kw: Any) -> tuple[dict[str, Any], list[str]]:
    wf = read_olive_config(write(folder, cfg), model="/nonexistent/model-id", **kw)
    return build_space(wf, {n: 32 for n in wf.data}), wf.ignored


def test_each_build_is_a_chain_with_its_own_values(tmp_path: Path) -> None:
    space, _ = space_of(tmp_path, builds_config())
    assert space["chains"] == [["lora", "merge", "build"], ["lora", "merge", "build", "quantize"]]
    # the space holds the union; each build keeps its own values
    assert space["passes"]["build"]["precision"] == {"choices": ["int4", "fp32"]}
    builds = space["olive"]["builds"]
    assert list(builds) == ["int4", "fp32", "quantized"]
    assert [builds[b]["passes"]["build"]["precision"] for b in builds] == ["int4", "fp32", "fp32"]
    assert builds["quantized"]["chain"] == ["lora", "merge", "build", "quantize"]
    assert builds["int4"]["passes"]["lora"] == builds["quantized"]["passes"]["lora"]  # one fine-tune
    # _default's output_dir with the build's name below it; a build's own as it is
    assert builds["int4"]["output_dir"] == str(tmp_path / "models" / "int4")
    assert builds["quantized"]["output_dir"] == str(tmp_path / "q-model")
    assert space["study"]["n_trials"] == 3  # each build once, queued (see autotune.olive.queue_builds)


def test_without_output_dirs_builds_go_below_the_study_folder(tmp_path: Path) -> None:
    cfg = builds_config(
        a={"pipeline": ["lora", "merge", "builder"]}, b={"pipeline": ["lora", "merge", "fp32"]}
    )
    space, _ = space_of(tmp_path, cfg)
    assert [b["output_dir"] for b in space["olive"]["builds"].values()] == [None, None]


def test_identical_builds_run_once(tmp_path: Path) -> None:
    cfg = builds_config(
        a={"pipeline": ["lora", "merge", "builder"]}, b={"pipeline": ["lora", "merge", "builder"]}
    )
    space, _ = space_of(tmp_path, cfg)
    assert space["study"]["n_trials"] == 1 and space["chains"] == [["lora", "merge", "build"]]


def test_search_spans_every_build(tmp_path: Path) -> None:
    import yaml

    from autotune.olive import prepare_olive_space

    cfg = builds_config()
    cfg["passes"]["builder"]["precision"] = ["int4", "int8"]
    cfg["builds"]["_default"]["search_strategy"] = True
    space_path, wf = prepare_olive_space(
        write(tmp_path, cfg),
        tmp_path / "out",
        model="/nonexistent/model-id",
        data_root=None,
        search=None,
        baseline=lambda _path, _wanted: {},
        log=print,
    )
    space = yaml.safe_load(space_path.read_text())
    assert wf.search and space["olive"]["search"] is True
    assert space["passes"]["build"]["precision"] == {"choices": ["int4", "int8", "fp32"]}
    # the grid over both chains: three precisions, and the quantized chain's forced fp32 build
    assert space["study"]["n_trials"] == 4 and space["study"]["sampler"] == "grid"


def test_unused_passes_components_and_concurrency_are_warned_about(tmp_path: Path) -> None:
    cfg = builds_config()
    cfg["passes"]["unused"] = {"type": "SomethingOliveHasAndAutotuneNot"}  # not run: not checked
    cfg["builds"]["int4"]["components"] = ["decoder"]
    cfg["max_concurrent_builds"] = 2
    _, ignored = space_of(tmp_path, cfg)
    text = "\n".join(ignored)
    assert "passes.unused: in no build's pipeline, so not run" in text
    assert "builds.int4.components: autotune tunes one causal language model" in text
    assert "max_concurrent_builds: this process runs one trial at a time" in text
    assert "unknown key" not in text


def _refused(folder: Path, change: Any) -> str:
    cfg = builds_config()
    change(cfg)
    with pytest.raises(OliveConfigError) as info:
        space_of(folder, cfg)
    assert "\n" not in str(info.value)
    return str(info.value)


def _set(path: str, value: Any) -> Any:
    def change(cfg: dict[str, Any]) -> None:
        node = cfg
        *head, last = path.split(".")
        for k in head:
            node = node[k]
        node[last] = copy.deepcopy(value)

    return change


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("builds.fp32.pipeline", ["lora", "merge", "nope"], "builds.fp32.pipeline[2]: no pass named 'nope'"),
        ("builds.fp32.pipeline", [], "builds.fp32.pipeline: no passes"),
        ("builds.fp32.pipeline", ["lora", "builder"], "builds.fp32.pipeline[1]: 'builder' (build) takes a "),
        ("builds.fp32.pipeline", ["merge", "builder"], "builds.fp32.pipeline[0]: 'merge' (merge) takes a "),
        ("builds.fp32.pipeline", ["lora", "merge"], "builds.fp32.pipeline: ends with a Hugging Face model"),
        ("builds.fp32.pipeline", ["builder", "quant", "quant"], "builds.fp32.pipeline[2]: 'quant' runs"),
        ("builds.int4", {"output_dir": "x"}, "builds.int4.pipeline: no passes"),
        ("builds.fp32.pipeline", "lora", "builds.fp32.pipeline: must be a JSON array"),
        ("builds.fp32", ["lora"], "builds.fp32: a build is a JSON object"),
        ("builds.fp32.pipelines", ["lora"], "builds.fp32.pipelines: not a key of a build"),
        ("builds.bad name", {"pipeline": ["builder"]}, "builds.bad name: a build's name is letters"),
        ("builds", {"_default": {"output_dir": "x"}}, "builds: no build besides _default"),
        ("builds.fp32.output_dir", "models/int4/deeper", "builds.fp32.output_dir: "),
        ("max_concurrent_builds", 0, "max_concurrent_builds: must be a positive integer"),
        ("builds.fp32.search_strategy", True, "builds.fp32.search_strategy: differs from builds.int4's"),
        ("builds.fp32.evaluator", "nope", "builds.fp32.evaluator: no evaluator named 'nope'"),
    ],
)
def test_bad_builds_are_refused_naming_the_key(tmp_path: Path, path: str, value: Any, expected: str) -> None:
    msg = _refused(tmp_path, _set(path, value))
    assert expected in msg, msg


def test_a_build_on_another_target_is_refused(tmp_path: Path) -> None:
    accelerator = {"device": "gpu", "execution_providers": ["CUDAExecutionProvider"]}
    gpu = {"type": "LocalSystem", "accelerators": [accelerator]}

    def change(cfg: dict[str, Any]) -> None:
        cfg["systems"]["gpu_system"] = gpu
        cfg["builds"]["fp32"]["target"] = "gpu_system"

    msg = _refused(tmp_path, change)
    assert msg.startswith("builds.fp32.target: runs on cuda but builds.int4 on cpu"), msg


def test_a_build_naming_the_workflows_target_is_accepted(tmp_path: Path) -> None:
    cfg = builds_config()
    for b in ("int4", "fp32", "quantized"):
        cfg["builds"][b]["target"] = "local_system"
    space, ignored = space_of(tmp_path, cfg)
    assert space["targets"] == ["cpu"] and not any("systems.local_system" in w for w in ignored)


@FUZZ
@given(data=st.data())
def test_fuzz_builds(tmp_path: Path, data: st.DataObject) -> None:
    """A builds config with a few keys replaced or deleted reads (and translates) or is refused in
    one line, never a traceback."""
    cfg = _mutate(builds_config(), data)
    _clean_or_valid(lambda: space_of(tmp_path, cfg))


@pytest.mark.integration
def test_builds_run_once_each_share_the_fine_tune_and_write_their_models(
    tiny_hf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autotune.cli import main
    from autotune.export.predict import predict

    config = write(tmp_path, builds_config())
    out = tmp_path / "out"
    rc = main(["run", "--config", str(config), "--model", str(tiny_hf_dir), "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    report = json.loads((out / "report.json").read_text())
    rows = {r["build"]: r for r in report["rows"]}
    assert sorted(rows) == ["fp32", "int4", "quantized"], [r["build"] for r in report["rows"]]
    assert all(r["state"] == "complete" for r in rows.values())
    assert rows["int4"]["params"]["build.precision"] == "int4"
    assert rows["fp32"]["params"]["build.precision"] == "fp32"
    assert rows["quantized"]["chain"] == "lora>merge>build>quantize"
    # one fine-tune for all three: made by the first trial, taken from the cache by the others
    lora = [next(s for s in r["steps"] if s["name"] == "lora") for r in report["rows"]]
    assert [s["cache_hit"] for s in lora] == [False, True, True]
    assert len({s["key"] for s in lora}) == 1
    with (out / "trials.csv").open() as f:
        assert sorted(r["build"] for r in csv.DictReader(f)) == ["fp32", "int4", "quantized"]
    for dest in (tmp_path / "models" / "int4", tmp_path / "models" / "fp32", tmp_path / "q-model"):
        model = dest / "output_model"
        assert (model / "genai_config.json").is_file(), printed
        assert predict(model, ["We won the championship!"])[0] in {"sadness", "joy", "fear", "surprise"}
    said = " ".join(printed.split())
    assert "builds int4, fp32, quantized: each once, as written" in said
    assert all(f"build {b}: trial {rows[b]['number']} in " in said for b in rows), said
    assert not (out / "output_model").exists()
    # a rerun resumes: nothing is queued or run again
    assert main(["run", "--config", str(config), "--model", str(tiny_hf_dir), "--out", str(out)]) == 0
    assert len(json.loads((out / "report.json").read_text())["rows"]) == 3
