"""YAML whose aliases expand past a bound (billion laughs) or refer to themselves is refused in
one line, for a space file and for an override, before anything walks it."""

from __future__ import annotations

import resource
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from autotune.errors import SpaceError
from autotune.load.yaml_bounded import MAX_NODES, load_yaml
from tests.conftest import REPO, tiny_raw, write_space

_NAMES = "abcdefghi"


def _laughs(value: str) -> list[str]:
    """Nine anchored lists, each of nine aliases of the one before: 9**9 values written out."""
    first = f"&a [{', '.join([value] * 9)}]"
    rest = [f"&{cur} [{', '.join([f'*{prev}'] * 9)}]" for prev, cur in pairwise(_NAMES)]
    return [first, *rest]


def _autotune_bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """``autotune ARGS`` in a child limited to 2 GiB of address space and 60 s: a loader that
    expands the aliases fails fast instead of taking the machine's memory."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    code = "import sys; from autotune.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=60,
        cwd=REPO,
        check=False,
    )


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def test_an_alias_bomb_space_is_refused_in_one_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    laughs = _laughs('"lol"')
    bomb.write_text("name: bomb\n" + "".join(f"{n}: {v}\n" for n, v in zip(_NAMES, laughs, strict=True)))
    line = _one_line(_autotune_bounded("validate", str(bomb)))
    assert f"{bomb}: its aliases expand it to more than {MAX_NODES} values" in line
    space = write_space(tmp_path / "ok.yaml", tiny_raw())
    override = f"study.seed=[{', '.join(laughs)}]"
    line = _one_line(_autotune_bounded("validate", str(space), override))
    assert f"override study.seed: its aliases expand it to more than {MAX_NODES} values" in line


def test_a_self_referring_alias_is_refused(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text("name: loop\na: &a [1, *a]\n")
    line = _one_line(_autotune_bounded("validate", str(loop)))
    assert f"{loop}: an alias refers to a node that contains it" in line


def test_aliases_within_the_bound_load_as_before() -> None:
    text = "base: &b {rank: 4, alpha: 16}\nlora: *b\nmore: {<<: *b, rank: 8}\n"
    node, value = load_yaml(text, "x.yaml")
    assert node is not None and value == yaml.safe_load(text)
    assert load_yaml("", "x.yaml") == (None, None)
    with pytest.raises(SpaceError, match=r"x\.yaml: nested too deeply"):
        load_yaml("[" * 50_000 + "]" * 50_000, "x.yaml")
