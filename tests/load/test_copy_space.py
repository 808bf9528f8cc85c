"""autotune cp: a shipped space copied out, with its data, validates and runs from its new folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotune.cli import main
from autotune.load.space_file import load_space, shipped_spaces


@pytest.mark.parametrize("name", shipped_spaces())
def test_each_shipped_space_copied_out_validates_there(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # a fresh folder, as a new user's
    assert main(["cp", name, f"spaces/{name}.yaml"]) == 0
    copy = tmp_path / "spaces" / f"{name}.yaml"
    loaded = load_space(str(copy))
    data = (copy.parent / loaded.space.data.path).resolve()
    assert data.is_relative_to(tmp_path) and data.is_file()  # the copy's own data, not the package's
    assert main(["validate", str(copy)]) == 0
    assert "valid space" in capsys.readouterr().out


def test_cp_never_overwrites_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "mine.yaml"
    assert main(["cp", "smollm2-emotion", str(dest)]) == 0
    dest.write_text(dest.read_text() + "# my edit\n")
    assert main(["cp", "smollm2-emotion", str(dest)]) == 2
    assert "already exist" in capsys.readouterr().err and dest.read_text().endswith("# my edit\n")
    assert main(["cp", "smollm2-emotion", str(dest), "--force"]) == 0
    assert not dest.read_text().endswith("# my edit\n")
    assert main(["cp", "--list"]) == 0
    assert "smollm2-emotion " in capsys.readouterr().out


def test_objectives_are_named_for_optuna_tools(tiny_study: Path) -> None:
    import optuna

    study = optuna.load_study(study_name="tiny-cpu", storage=f"sqlite:///{tiny_study / 'study.db'}")
    assert study.metric_names == ["accuracy", "latency_p90_ms", "size_mb"]
    assert study.user_attrs["constraint_names"] == ["accuracy >= 0", "latency_p90_ms <= 2000"]


def test_two_spaces_share_their_data_file_in_one_folder(tmp_path: Path) -> None:
    """A second space copied beside the first reuses the identical data file; an edited one is kept."""
    assert main(["cp", "phi3", str(tmp_path / "phi3.yaml")]) == 0
    assert main(["cp", "smollm2-emotion", str(tmp_path / "smollm2.yaml")]) == 0  # same emotions.jsonl
    data = tmp_path / "data" / "emotions.jsonl"
    data.write_text(data.read_text() + '{"phrase": "mine", "tone": "joy"}\n')
    assert main(["cp", "tiny", str(tmp_path / "tiny.yaml")]) == 2  # would overwrite the edited data
    assert data.read_text().endswith('"mine", "tone": "joy"}\n')
