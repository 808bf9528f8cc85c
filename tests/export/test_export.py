"""Export the winner, predict with it, and rebuild it from the exported space."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autotune.cli import main
from autotune.export.predict import predict
from evaluators import AccuracyEvaluator, EvalTask, ModelArtifact

pytestmark = pytest.mark.integration


@pytest.fixture
def exported(tiny_export: Path) -> Path:
    return tiny_export  # exported once per session, read-only


def test_export_is_self_contained(exported: Path, tiny_study: Path) -> None:
    names = {p.name for p in exported.iterdir()}
    assert {
        "model.onnx",
        "genai_config.json",
        "tokenizer.json",
        "metrics.json",
        "autotune.yaml",
        "task.json",
    } <= names
    metrics = json.loads((exported / "metrics.json").read_text())
    report = json.loads((tiny_study / "report.json").read_text())
    assert metrics["trial"] == report["winner"] and metrics["feasible"] is True
    space = yaml.safe_load((exported / "autotune.yaml").read_text())
    assert space["study"]["n_trials"] == 1 and len(space["chains"]) == 1
    assert all(not isinstance(v, (list, dict)) for p in space["passes"].values() for v in p.values())


def test_export_never_overwrites(
    exported: Path, tiny_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tiny_study), "--dest", str(exported)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (exported / "model.onnx").is_file()


def test_predict_matches_the_measured_model(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = json.loads((exported / "task.json").read_text())
    phrases = [
        "I miss my old friends so much.",
        "We won the championship!",
        "There is a spider on my bed!",
    ]
    labels = predict(exported, phrases)
    assert all(label in task["labels"] for label in labels)
    prompts = tuple(f"### Text: {p}\n### The tone is:\n" for p in phrases)
    measured = AccuracyEvaluator().evaluate(
        ModelArtifact(exported, "onnx-genai"),
        EvalTask(prompts, tuple(labels), tuple(task["labels"])),
    )
    assert measured["accuracy"] == 1.0  # the evaluator picks exactly what predict answered
    assert main(["predict", "--model", str(exported), phrases[0]]) == 0
    assert capsys.readouterr().out.strip() == labels[0]


def test_exported_space_reproduces_the_trial(exported: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    assert main(["--space", str(exported / "autotune.yaml"), "--out", str(out)]) == 0
    again = json.loads((out / "report.json").read_text())["rows"][0]
    original = json.loads((exported / "metrics.json").read_text())
    assert again["params"] == original["params"]
    assert again["metrics"]["accuracy"] == pytest.approx(original["metrics"]["accuracy"])
    assert again["metrics"]["torch_accuracy"] == pytest.approx(original["metrics"]["torch_accuracy"])


def test_export_after_the_cache_is_gone_writes_the_space_that_rebuilds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tests.conftest import tiny_raw, write_space

    # its own one-trial study: a copy of the shared one would still name the shared one's cache
    space = write_space(tmp_path / "s.yaml", tiny_raw(chains=[["lora", "merge", "build"]]))
    out = tmp_path / "o"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "1", "--quiet"]) == 0
    # the model's largest file cut in half: export checks the entry against its manifest first
    model = max((out / "cache" / "build").glob("*/model.onnx*"), key=lambda f: f.stat().st_size)
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    capsys.readouterr()
    assert main(["export", str(out), "--dest", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "do not match the cache's manifest" in err, err
    assert not (tmp_path / "d").exists()
    shutil.rmtree(out / "cache")
    assert main(["export", str(out), "--dest", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no longer in the cache" in err, err
    rebuild = tmp_path / "m.yaml"
    assert f"autotune --space {rebuild}" in err and not (tmp_path / "m").exists()
    assert main(["validate", str(rebuild)]) == 0
    assert yaml.safe_load(rebuild.read_text())["study"]["n_trials"] == 1


def test_the_rebuild_space_trains_straight(tmp_path: Path) -> None:
    from autotune.export.trials import fixed_space
    from tests.conftest import load_tiny

    loaded = load_tiny(
        tmp_path, study__fidelity={"rungs": [1]}, study__stop={"patience": 2}, study__build_sweep=True
    )
    plan = {"chain": ["lora", "merge", "build"], "target": "cpu", "params": {"build": {"precision": "int4"}}}
    study = fixed_space(loaded, plan, 7)["study"]
    assert study["n_trials"] == 1 and study["build_sweep"] is False
    assert "fidelity" not in study and "stop" not in study  # a straight run equals a resumed one


def test_several_trials_export_each_and_refuse_before_writing(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads((tiny_study / "report.json").read_text())
    done = [r["number"] for r in report["rows"] if r["state"] == "complete"][:2]
    dest = tmp_path / "two"
    args = ["export", str(tiny_study), "--dest", str(dest), *[a for n in done for a in ("--trial", str(n))]]
    assert main(args) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"trial-{n}" for n in done)
    for n in done:
        assert json.loads((dest / f"trial-{n}" / "metrics.json").read_text())["trial"] == n
    capsys.readouterr()
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / f"trial-{done[-1]}").mkdir()  # the second one is taken: nothing is written
    args[3] = str(tmp_path / "again")
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert not (tmp_path / "again" / f"trial-{done[0]}").exists()


def test_exports_to_one_dest_at_once_leave_one_whole_model(tiny_study: Path, tmp_path: Path) -> None:
    """Two exports of the winner to one --dest at the same moment, ten times: each time one
    writes the folder and the other is refused, and the folder holds every file of the model's
    cache entry, byte for byte (each export builds its own temporary folder and renames it)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from autotune.errors import AutotuneError
    from autotune.export.trials import export_trial
    from autotune.study.run import open_output

    loaded, study, report, _record = open_output(tiny_study, None)
    entry = Path(report.row(report.winner).artifact)
    skipped = ("autotune-meta.json", "build.log")  # the cache's own files: not exported
    model = {f.name: f.read_bytes() for f in entry.iterdir() if f.name not in skipped}
    for i in range(10):
        dest, start = tmp_path / f"round{i}", threading.Barrier(2)

        def export(dest: Path = dest, start: threading.Barrier = start) -> str:
            start.wait()
            try:
                export_trial(report, loaded, dict(study.user_attrs), None, dest)
            except AutotuneError as exc:
                return str(exc)
            return "exported"

        with ThreadPoolExecutor(2) as pool:
            results = sorted(pool.map(lambda _: export(), range(2)))
        assert results == [f"{dest} already exists: remove it or choose another --dest", "exported"]
        assert {n: (dest / n).read_bytes() for n in model} == model
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"round{i}" for i in range(10)]  # no leftovers
