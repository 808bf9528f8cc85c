"""The spaces shipped in search_spaces/: each one loads and validates through the CLI.

The unit tests build their spaces in code (tests/conftest.py), so editing a shipped space can
break only this file.
"""

from __future__ import annotations

import pytest

from autotune.load.space_file import load_space, shipped_spaces
from autotune.space.params import Fixed
from tests.cli.test_cli import run


@pytest.mark.parametrize("name", shipped_spaces())
def test_every_shipped_space_validates(name: str) -> None:
    proc = run("validate", name)
    assert proc.returncode == 0, proc.stderr
    assert f"valid space {name!r}" in proc.stdout


def test_the_readme_names_are_shipped() -> None:
    assert {"tiny", "smollm2-emotion", "phi3"} <= set(shipped_spaces())


def test_phi3_space_matches_the_cookbook() -> None:
    loaded = load_space("phi3")
    assert loaded.space.model.id == "microsoft/Phi-3-mini-4k-instruct"
    assert loaded.values["lora"]["target_modules"] == Fixed("qkv_proj,o_proj")
    assert {t.name for t in loaded.space.targets} == {"cpu", "cuda"}
    assert loaded.space.data.template is not None and "<|assistant|>" in loaded.space.data.template
