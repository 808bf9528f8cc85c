"""``autotune cp``: copy a shipped space out to edit it, with the files it refers to.

As torchtune's ``tune cp`` does for recipes. A shipped space names its data (and may name a GGUF
or a model folder) by a path relative to itself, so the YAML is copied as written (comments kept)
and each file it refers to is copied to the same relative place beside the copy; a path that
would leave the copy's folder is rewritten to ``data/<file name>``.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import yaml

from autotune.errors import AutotuneError
from autotune.load.space_file import load_space, resolve_space_path, shipped_spaces

__all__ = ["copy_space", "list_shipped"]


def list_shipped() -> list[tuple[str, str]]:
    """(name, description) of every shipped space."""
    out = []
    for name in shipped_spaces():
        raw = yaml.safe_load(resolve_space_path(name).read_text()) or {}
        out.append((name, str(raw.get("description", "")) if isinstance(raw, dict) else ""))
    return out


def _referred(loaded_path: Path) -> dict[str, str]:
    """Space key -> the relative path it gives, for every local file the space refers to."""
    loaded = load_space(str(loaded_path))
    space, refs = loaded.space, {}
    for key, value in (
        ("data.path", space.data.path),
        ("data.eval.path", space.data.eval.path),
        ("data.confirm.path", space.data.confirm.path),
        ("model.gguf", space.model.gguf),
        ("model.path", space.model.path),
    ):
        if value and not Path(value).is_absolute():
            refs[key] = str(value)
    return refs


def copy_space(name: str, dest: Path, *, force: bool = False) -> list[Path]:
    """Copy the shipped space ``name`` to ``dest`` (a .yaml file) with the files it refers to;
    the paths written. Nothing is overwritten unless ``force``."""
    src = resolve_space_path(name)
    if dest.suffix not in (".yaml", ".yml"):
        dest = dest / src.name if dest.is_dir() or not dest.suffix else dest
    if dest.suffix not in (".yaml", ".yml"):
        raise AutotuneError(f"{dest}: give a .yaml file (or a folder) to copy the space to")
    text = src.read_text()
    copies: list[tuple[Path, Path]] = []
    for key, rel in _referred(src).items():
        target = Path(rel)
        if ".." in target.parts:  # would leave the copy's folder: keep it beside the copy instead
            new = f"data/{target.name}"
            text = text.replace(rel, new)
            target = Path(new)
        origin = (src.parent / rel).resolve()
        copies.append((origin, dest.parent / target))
        if not origin.exists():
            raise AutotuneError(f"{src}: {key} {rel} does not exist; the shipped space is incomplete")
    # a data file already there with the same bytes (two spaces sharing one dataset) is no clash
    copies = [
        (o, d) for o, d in copies if not (d.is_file() and o.is_file() and filecmp.cmp(o, d, shallow=False))
    ]
    written = [dest, *(d for _, d in copies)]
    clash = [p for p in written if p.exists()]
    if clash and not force:
        raise AutotuneError(
            f"{', '.join(map(str, clash))} already exist(s): nothing copied; pass --force to overwrite"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    for origin, copy in copies:
        copy.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, copy, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, copy)
    dest.write_text(text)
    return written
