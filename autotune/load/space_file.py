"""Reading a space: a path or a shipped name, ``key=value`` overrides, errors with YAML lines."""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autotune.errors import AutotuneError, SpaceError
from autotune.load.space_metrics import check_named_metrics
from autotune.load.yaml_bounded import load_yaml
from autotune.passes import get_pass
from autotune.space.params import FloatRange, SearchValues, parse_values
from autotune.space.schema import Space

__all__ = [
    "LoadedSpace",
    "apply_overrides",
    "load_space",
    "loaded_from_raw",
    "resolve_pass_values",
    "resolve_space_path",
    "shipped_spaces",
]


@dataclass(frozen=True)
class LoadedSpace:
    space: Space
    path: Path
    raw: dict[str, Any]  # the YAML after overrides, as written by the user
    values: dict[str, dict[str, SearchValues]]  # pass -> parameter -> search values

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def _shipped_dir() -> Path:
    return Path(str(importlib.resources.files("search_spaces")))


def shipped_spaces() -> list[str]:
    return sorted(p.stem for p in _shipped_dir().glob("*.yaml"))


def resolve_space_path(name: str) -> Path:
    """A path to a YAML file, or the name of a space shipped in search_spaces/."""
    path = Path(name)
    if path.is_file():
        return path.resolve()
    for candidate in (_shipped_dir() / name, _shipped_dir() / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    raise SpaceError(
        f"space {name!r}: no such file, and no shipped space of that name "
        f"(shipped: {', '.join(shipped_spaces())})"
    )


def _lines(node: yaml.Node, prefix: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[prefix] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out[(*prefix, k.value)] = k.start_mark.line + 1
            _lines(v, (*prefix, k.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*prefix, i), out)


def _line_of(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in loc[:n])
        if key in lines:
            return lines[key]
    return None


def _parse_scalar(text: str, key: str) -> Any:
    try:
        return load_yaml(text, f"override {key}")[1]
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Merge ``a.b.c=value`` overrides (values parsed as YAML) into a copy of ``raw``."""
    import copy

    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpaceError(f"override {item!r}: expected key.path=value, e.g. study.n_trials=3")
        node: Any = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):
                raise SpaceError(f"override {item!r}: {part} is not a mapping")
            node = node.setdefault(part, {})
        node[parts[-1]] = _parse_scalar(value, key.strip())
    return out


def _check_chains(space: Space) -> None:
    for i, chain in enumerate(space.chains):
        kind = "hf"
        for name in chain:
            cls = get_pass(name)
            if cls.input_kind != kind:
                raise ValueError(f"chains.{i}: {name} takes a {cls.input_kind} model but gets {kind}")
            kind = cls.output_kind
        if kind != "onnx":
            raise ValueError(f"chains.{i}: a chain must end with an ONNX model (add build)")
    check_named_metrics(space)  # a metric some chain never measures would fail its every trial


def resolve_pass_values(space: Space) -> dict[str, dict[str, SearchValues]]:
    """Check every pass parameter the space names and return search values for all of them.

    Raises ``KeyError``/``ValueError`` with a key path; the loader turns them into SpaceErrors.
    """
    used = {p for chain in space.chains for p in chain}
    for name in list(space.passes) + sorted(used):
        get_pass(name)  # unknown pass -> SpaceError listing the known ones
    out: dict[str, dict[str, SearchValues]] = {}
    for name in sorted(used | set(space.passes)):
        cls = get_pass(name)
        given = space.passes.get(name) or {}
        known = {p.name for p in cls.params}
        for key in given:
            if key not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise KeyError(f"passes.{name}.{key}: unknown parameter of {name}; known: {listed}")
        values = {}
        for spec in cls.params:
            try:
                values[spec.name] = parse_values(spec, given.get(spec.name))
            except ValueError as exc:
                raise ValueError(f"passes.{name}.{spec.name}: {exc}") from None
        out[name] = values
    return out


def load_space(name: str, overrides: list[str] | None = None) -> LoadedSpace:
    """Load, override and validate a space; every error is one line naming file, key and line."""
    path = resolve_space_path(name)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpaceError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpaceError(f"{path}: not valid UTF-8 at byte {exc.start}; save the file as UTF-8") from None
    try:
        node, raw = load_yaml(text, str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpaceError(f"{path}{where}: malformed YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{path}: a space must be a YAML mapping (name, model, data, ...)")
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    return loaded_from_raw(apply_overrides(raw, overrides or []), path, str(path), lines=lines)


def loaded_from_raw(
    raw: dict[str, Any],
    path: Path,
    source: str,
    fix: str | None = None,
    *,
    lines: dict[tuple[Any, ...], int] | None = None,
) -> LoadedSpace:
    """The one constructor of a :class:`LoadedSpace`: the schema, the chains, the pass parameters,
    the named metrics and the sampler's needs, checked for a space read from ``source`` (a file, or
    a study's record of one). An error is one SpaceError naming ``source``, the line where
    ``lines`` knows it, the key path, and ``fix`` when given."""
    lines = lines or {}
    tail = f"; {fix}" if fix else ""

    def error(loc: tuple[Any, ...], msg: str) -> SpaceError:
        line = _line_of(lines, loc) if loc else None
        return SpaceError(f"{source}{f' line {line}' if line else ''}: {msg}{tail}")

    try:
        space = Space.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        key, sep, rest = msg.partition(": ")
        if not loc and sep and re.fullmatch(r"[A-Za-z_]+(\.[A-Za-z0-9_]+)*", key):
            # a check across sections names its key path first ("objectives.0: ...")
            loc, msg = tuple(int(p) if p.isdigit() else p for p in key.split(".")), rest
        where = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling; `autotune validate --help` lists the reference)"
        extra = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise error(loc, f"{where}: {msg}{extra}") from None
    try:
        _check_chains(space)
        values = resolve_pass_values(space)
    except (KeyError, ValueError) as exc:
        text_msg = str(exc.args[0] if exc.args else exc)
        key = text_msg.split(":")[0]
        raise error(tuple(int(p) if p.isdigit() else p for p in key.split(".")), text_msg) from None
    except AutotuneError as exc:
        raise error((), str(exc)) from None
    if space.study.sampler == "grid":
        continuous = [
            f"passes.{p}.{k}"
            for p, vals in values.items()
            for k, v in vals.items()
            if isinstance(v, FloatRange)
        ]
        if continuous:
            raise error(
                ("study", "sampler"),
                f"study.sampler: grid needs discrete values, but {continuous[0]} is a float range; "
                "give it choices or use tpe",
            )
    return LoadedSpace(space, path, raw, values)
