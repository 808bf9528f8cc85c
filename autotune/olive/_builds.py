"""The ``builds`` of an Olive config (Olive's current schema): several named pipelines over the
top-level ``passes`` of one workflow. Each build becomes a chain of one autotune study; the
builds share what their chains share (the fine-tune) through the cache, and one Pareto front
ranks them all."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotune.olive._shape import AZURE_TYPES, at
from autotune.passes import get_pass
from autotune.targets import target_for_providers

__all__ = ["DEFAULT", "OliveBuild", "agreed", "build_providers", "check_chain", "read_builds"]

DEFAULT = "_default"  # the entry of "builds" whose values every build starts from
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a build's name is also a folder's
_KEYS = ("pipeline", "output_dir", "components", "host", "target", "evaluator", "search_strategy")
_KINDS = {"adapter": "a LoRA adapter", "hf": "a Hugging Face model", "onnx": "an ONNX model"}


@dataclass(frozen=True)
class OliveBuild:
    name: str
    pipeline: tuple[str, ...]  # keys of the config's "passes", in order
    where: str  # the key path of its pipeline: builds.NAME.pipeline, or builds._default.pipeline
    output_dir: Path | None  # where its model goes (in output_model/); None: the study's folder / name
    # host, target, evaluator and search_strategy as the build (or _default) gives them
    settings: dict[str, Any] = field(default_factory=dict)


def _check_keys(entry: dict[str, Any], key: str) -> None:
    for k in entry:
        if k not in _KEYS:
            raise at(f"{key}.{k}", f"not a key of a build; a build has {', '.join(_KEYS)}")


def _concurrency(cfg: dict[str, Any], ignored: list[str]) -> None:
    if "max_concurrent_builds" not in cfg:
        return
    value = cfg["max_concurrent_builds"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise at("max_concurrent_builds", f"must be a positive integer (got {value!r})")
    ignored.append(
        "max_concurrent_builds: this process runs one trial at a time, and the builds after the "
        "first take the fine-tune they share from the cache; to run builds side by side, start "
        "`autotune worker --storage URL --study NAME` processes on the study"
    )


def _output_dir(name: str, own: dict[str, Any], default: dict[str, Any], wf_dir: Path) -> Path | None:
    """As Olive places a build's output: its own output_dir, else _default's with the build's name
    below it, else (None) the workflow's output folder with the build's name below it."""
    if own.get("output_dir"):
        return (wf_dir / str(own["output_dir"])).resolve()
    if default.get("output_dir"):
        return (wf_dir / str(default["output_dir"]) / name).resolve()
    return None


def read_builds(
    cfg: dict[str, Any], passes: dict[str, Any], wf_dir: Path, ignored: list[str]
) -> list[OliveBuild]:
    """The config's builds in order ([] without a ``builds`` section); ``passes`` is its "passes"."""
    raw = cfg.get("builds")
    if raw is None:
        if "max_concurrent_builds" in cfg:
            ignored.append("max_concurrent_builds: the config has no builds")
        return []
    _concurrency(cfg, ignored)
    default = raw.get(DEFAULT) or {}
    _check_keys(default, f"builds.{DEFAULT}")
    builds = []
    for name, own in raw.items():
        if name == DEFAULT:
            continue
        key = f"builds.{name}"
        if not _NAME.fullmatch(name):
            raise at(key, "a build's name is letters, digits, '.', '_' and '-', from a letter or digit")
        _check_keys(own, key)
        merged = {**default, **own}
        inherited = "pipeline" not in own and "pipeline" in default
        where = f"builds.{DEFAULT}.pipeline" if inherited else f"{key}.pipeline"
        pipeline = merged.get("pipeline")
        if not pipeline:
            raise at(where, 'no passes; give the build\'s passes in order, e.g. ["lora", "merge", "builder"]')
        for i, p in enumerate(pipeline):
            if not isinstance(p, str) or p not in passes:
                known = ", ".join(passes) or "none"
                raise at(f"{where}[{i}]", f"no pass named {p!r} in passes (passes: {known})")
        if merged.get("components"):
            ignored.append(
                f"{key}.components: autotune tunes one causal language model; the build runs on the "
                "whole input model"
            )
        settings = {k: merged[k] for k in ("host", "target", "evaluator", "search_strategy") if k in merged}
        builds.append(
            OliveBuild(name, tuple(pipeline), where, _output_dir(name, own, default, wf_dir), settings)
        )
    if not builds:
        raise at("builds", f'no build besides {DEFAULT}; name one, e.g. {{"int4": {{"pipeline": [...]}}}}')
    _distinct_outputs(builds)
    unused = [p for p in passes if not any(p in b.pipeline for b in builds)]
    ignored += [f"passes.{p}: in no build's pipeline, so not run" for p in unused]
    return builds


def _distinct_outputs(builds: list[OliveBuild]) -> None:
    """Two builds never write into one folder (nor one into the other's)."""
    seen: dict[Path, str] = {}
    for b in builds:
        if b.output_dir is None:
            continue
        for path, other in seen.items():
            if b.output_dir == path or path in b.output_dir.parents or b.output_dir in path.parents:
                raise at(
                    f"builds.{b.name}.output_dir",
                    f"{b.output_dir} overlaps builds.{other}'s output folder {path}; give each its own",
                )
        seen[b.output_dir] = b.name


def check_chain(build: OliveBuild, types: dict[str, str]) -> list[str]:
    """The autotune chain of ``build`` (``types``: pipeline entry -> autotune pass), refused in one
    line, naming the entry, when its passes do not follow one another."""
    chain: list[str] = []
    kind = "hf"
    for i, entry in enumerate(build.pipeline):
        name = types[entry]
        cls = get_pass(name)
        here = f"{build.where}[{i}]"
        if name in chain:
            raise at(here, f"{entry!r} runs autotune's {name} pass again; a chain runs each pass once")
        if cls.input_kind != kind:
            raise at(
                here,
                f"{entry!r} ({name}) takes {_KINDS[cls.input_kind]} but the passes before it make "
                f"{_KINDS[kind]}; put the passes in the order LoRA, MergeAdapterWeights, ModelBuilder, "
                "then ONNX quantization",
            )
        chain.append(name)
        kind = cls.output_kind
    if kind != "onnx":
        raise at(build.where, f"ends with {_KINDS[kind]}; end it with ModelBuilder (and any quantization)")
    return chain


def _providers(top: dict[str, Any], systems: dict[str, Any], host: Any, target: Any) -> list[str]:
    """The execution providers of the config, its target system and its host system (the model
    runs on the target: its providers come first)."""
    providers: list[str] = list(top.get("execution_providers") or [])
    for sys_name in (target, host):
        system = systems.get(sys_name) if isinstance(sys_name, str) else sys_name
        if isinstance(system, dict):
            if system.get("type") in AZURE_TYPES:
                raise at(
                    f"systems.{sys_name}",
                    "AzureML systems cannot run here; use a LocalSystem (autotune runs on this machine)",
                )
            for acc in system.get("config", system).get("accelerators") or []:
                if isinstance(acc, dict):
                    providers += list(acc.get("execution_providers") or [])
    return providers


def build_providers(top: dict[str, Any], systems: dict[str, Any], builds: list[OliveBuild]) -> list[str]:
    """The providers every build runs on: one study has one target, so builds whose host or target
    systems mean another target are refused."""
    providers = _providers(top, systems, top.get("host"), top.get("target"))

    def target(found: list[str]) -> str:
        try:
            return target_for_providers(found).name
        except ValueError as exc:
            raise at("execution_providers", str(exc)) from None

    first: tuple[str, str] | None = None
    for b in builds:
        host, tgt = (b.settings.get(role, top.get(role)) for role in ("host", "target"))
        mine = _providers(top, systems, host, tgt)
        if first is None:
            first, providers = (b.name, target(mine)), mine
        elif target(mine) != first[1]:
            raise at(
                f"builds.{b.name}.target",
                f"runs on {target(mine)} but builds.{first[0]} on {first[1]}; one autotune study runs "
                "on one target: give each target's builds a config of their own",
            )
    return providers


def agreed(builds: list[OliveBuild], setting: str, workflow: Any, value: Any) -> Any:
    """``setting`` as every build runs it (its own, else the workflow's ``workflow``); one study
    searches and ranks its builds alike, so builds that differ are refused."""
    first: tuple[str, Any] | None = None
    for b in builds:
        mine = value(b.settings[setting], f"builds.{b.name}.{setting}") if setting in b.settings else workflow
        if first is None:
            first = (b.name, mine)
        elif mine != first[1]:
            raise at(
                f"builds.{b.name}.{setting}",
                f"differs from builds.{first[0]}'s; one study searches and ranks every build alike: "
                f"give {setting} once, in builds._default or at the top level",
            )
    return workflow if first is None else first[1]
