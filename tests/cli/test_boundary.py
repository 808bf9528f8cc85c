"""The CLI's boundary: every failure a user can meet is one line and a non-zero exit, found before
the study's storage is touched where it can be; a study that produced nothing exits 1; what an
earlier run computed is kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from autotune.cli import main
from tests.conftest import tiny_raw, write_space


def _one_line(capsys: pytest.CaptureFixture[str], start: str = "autotune: error: ") -> str:
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    err = out.err.strip()
    assert err.startswith(start) and len(err.splitlines()) == 1, err
    return err


def _space(tmp_path: Path, **changes: Any) -> Path:
    return write_space(tmp_path / "s.yaml", tiny_raw(**changes))


@pytest.mark.parametrize(
    ("flag", "where", "says"),
    [
        ("--out", "afile", "is a file, not a folder"),
        ("--out", "afile/sub", "which is a file, not a folder"),
        ("--cache", "afile", "is a file, not a folder"),
        ("--out", "/proc/autotune-test/out", "cannot write there"),
    ],
)
def test_output_paths_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, where: str, says: str
) -> None:
    (tmp_path / "afile").write_text("keep me")
    path = where if where.startswith("/") else str(tmp_path / where)
    args = ["--space", str(_space(tmp_path)), flag, path]
    if flag != "--out":
        args += ["--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = _one_line(capsys)
    assert says in err and flag in err
    assert (tmp_path / "afile").read_text() == "keep me"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ({"gguf": "bad.gguf"}, "bad.gguf is not a GGUF file"),
        ({"gguf": "missing.gguf"}, "model.gguf: file not found"),
        ({"path": "."}, "model.path: "),
        ({"id": "nobody/not-a-model-here"}, "model.id: 'nobody/not-a-model-here' cannot be loaded"),
    ],
)
def test_a_model_that_cannot_load_fails_before_the_study(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    model: dict[str, str],
    says: str,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "bad.gguf").write_text("this is not a GGUF file\n")
    raw = tiny_raw()
    raw["model"] = model
    out = tmp_path / "out"
    assert main(["--space", str(write_space(tmp_path / "s.yaml", raw)), "--out", str(out)]) == 2
    assert says in _one_line(capsys)
    assert not (out / "study.db").exists()  # the storage is untouched: a fixed space starts clean


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "value", "says"),
    [
        ("model_type", "phi9", "model.random.config.model_type: 'phi9' is not a model type"),
        ("num_attention_heads", 5, "model.random: the model cannot be built"),
    ],
)
def test_a_random_model_that_cannot_be_built_fails_before_the_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, value: Any, says: str
) -> None:
    raw = tiny_raw()
    raw["model"]["random"]["config"][change] = value
    out = tmp_path / "out"
    assert main(["--space", str(write_space(tmp_path / "s.yaml", raw)), "--out", str(out)]) == 2
    err = _one_line(capsys)
    assert says in err and len(err) < 400
    assert not (out / "study.db").exists()


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("passes.lora.rank", "{low: 4, high: 16, step: 4, log: true}", "Optuna refuses this range"),
        ("passes.build.intra_op_threads", "{low: 0, high: 2, log: true}", "`low >= 1` must hold"),
    ],
)
def test_every_range_is_an_optuna_distribution_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: str, says: str
) -> None:
    for verb in (["validate", str(_space(tmp_path))], ["--space", str(_space(tmp_path))]):
        assert main([*verb, f"{key}={value}"]) == 2
        err = _one_line(capsys)
        assert says in err and key in err


def test_an_unexpected_error_is_one_line_and_a_logged_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import autotune.study.run

    def broken(out: Path, storage: str | None) -> Any:
        return {}["a bug"]  # stands for a bug anywhere below a command

    (tmp_path / "out").mkdir()
    monkeypatch.setattr(autotune.study.run, "open_output", broken)
    assert main(["export", str(tmp_path / "out"), "--dest", str(tmp_path / "dest")]) == 3
    err = _one_line(capsys, "autotune: internal error: KeyError: 'a bug'")
    log = tmp_path / "out" / "autotune-error.log"
    assert str(log) in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text


def _snapshot(out: Path) -> dict[str, str]:
    """Every file under ``out`` (the study's storage, reports, cache, exports) by its content hash."""
    import hashlib

    return {
        str(f.relative_to(out)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(out.rglob("*"))
        if f.is_file() and f.name != "autotune-error.log"
    }


@pytest.mark.slow
@pytest.mark.integration
def test_failing_runs_keep_what_was_computed(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import copy_study

    out = copy_study(tiny_study, tmp_path)
    space = out.parent / "tiny.yaml"
    assert main(["export", str(out), "--trial", "0", "--dest", str(out / "exported")]) == 0
    capsys.readouterr()
    before = _snapshot(out)
    (tmp_path / "afile").write_text("x")
    for argv in (
        ["--space", str(space), "--out", str(out), "--cache", str(tmp_path / "afile")],
        ["--space", str(space), "--out", str(out), "passes.lora.steps=7"],  # another space
        ["--space", str(space), "--out", str(out), "passes.lora.rank={low: 2, high: 8, step: 2, log: true}"],
        ["export", str(out), "--trial", "0", "--dest", str(tmp_path / "afile")],
        ["export", str(out), "--trial", "99", "--dest", str(out / "exported")],
    ):
        assert main(argv) == 2, argv
        _one_line(capsys)
    assert _snapshot(out) == before


@pytest.mark.slow
@pytest.mark.integration
def test_a_model_that_breaks_in_a_trial_ends_the_study_at_once_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_hf_dir: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_hf_dir, model)
    weights = next(model.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # config.json fine, weights cut
    raw = tiny_raw(chains=[["lora", "merge", "build"]])
    raw["model"] = {"path": str(model)}
    space, out = write_space(tmp_path / "s.yaml", raw), tmp_path / "out"
    assert main(["--space", str(space), "--out", str(out), "--n-trials", "4", "--quiet"]) == 1
    err = _one_line(capsys)
    assert "the study stopped: model 'model' cannot be loaded" in err and str(out) in err
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [r["state"] for r in rows] == ["fail"]  # not 3 more trials failing the same way


@pytest.mark.slow
def test_a_prompt_longer_than_the_model_takes_fails_before_the_study(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tiny_raw()
    raw["data"]["template"] = "word " * 600 + raw["data"]["template"]  # the tiny model takes 512
    out = tmp_path / "out"
    assert main(["--space", str(write_space(tmp_path / "s.yaml", raw)), "--out", str(out)]) == 2
    err = _one_line(capsys)
    assert "data: the longest prompt with its target takes" in err and "the model takes 512" in err
    assert not (out / "study.db").exists()


def test_a_study_in_which_no_trial_completed_is_a_failure_with_the_shared_reason(tmp_path: Path) -> None:
    import optuna

    from autotune.errors import StudyFailed
    from autotune.report.build import build_report
    from autotune.space.schema import Space
    from autotune.study.run import check_outcome

    space = Space.model_validate(tiny_raw())
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", directions=["maximize"] * 2)
    for reason in ("RuntimeError: out of ideas", "RuntimeError: out of ideas", "invalid: no"):
        trial = study.ask()
        trial.set_user_attr("reason", reason)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    report = build_report(study, space)
    with pytest.raises(StudyFailed, match=r"no trial completed \(2 of 3 failed with: RuntimeError: out of"):
        check_outcome(report, None, tmp_path)
    with pytest.raises(StudyFailed, match="the study stopped: the disk is gone"):
        check_outcome(report, "the disk is gone", tmp_path)
