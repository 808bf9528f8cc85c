"""Exporting a trial: a self-contained ONNX GenAI folder, its metrics, and a space that rebuilds it."""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from autotune.cache import Cache, library_versions
from autotune.errors import AutotuneError
from autotune.files import write_whole
from autotune.load.space_file import LoadedSpace
from autotune.report.build import Report, TrialRow
from autotune.task_kinds import TaskKind, get_task_kind
from evaluators import is_genai_folder

__all__ = ["ONE_TRIAL_STUDY", "StudyReset", "export_trial", "export_trials", "fixed_space"]

TASK_FILE = "task.json"


class _Left(Enum):
    OUT = "out"  # a setting the one-trial space leaves out (its default applies)


_DROP = _Left.OUT


@dataclass(frozen=True)
class StudyReset:
    """A study setting the space that reproduces one trial sets to ``value`` (or leaves out), and
    why. All lie in the ``study`` section, which says how a search runs, not what its trials are
    judged by (``autotune.study.identity.RESUME_FREE``): the rebuilt model compares with the trial's."""

    key: str
    value: int | str | bool | _Left
    why: str


# Applied in this order (it decides the order of the written study section).
ONE_TRIAL_STUDY: tuple[StudyReset, ...] = (
    StudyReset("precision_sweep", _DROP, "the older name of build_sweep"),
    StudyReset("n_trials", 1, "one trial reproduces the model"),
    StudyReset("sampler", "random", "nothing is left to choose"),
    StudyReset("build_sweep", False, "the trial's own build only"),
    StudyReset("timeout", _DROP, "one trial: no budget to share"),
    StudyReset("name", _DROP, "the new space's own study, named after it"),
    StudyReset("fidelity", _DROP, "one trial: no rung to judge (a straight run equals a resumed one)"),
    StudyReset("stop", _DROP, "one trial: nothing to stop"),
)


def _absolute(raw: dict[str, Any], key_path: tuple[str, ...], base: Path) -> None:
    node: Any = raw
    for k in key_path[:-1]:
        node = node.get(k) if isinstance(node, dict) else None
        if node is None:
            return
    last = key_path[-1]
    if isinstance(node, dict) and isinstance(node.get(last), str):
        node[last] = str((base / node[last]).resolve())


def fixed_space(loaded: LoadedSpace, plan: dict[str, Any], number: int) -> dict[str, Any]:
    """The space with every parameter fixed to this trial's values (one trial reproduces it)."""
    raw = copy.deepcopy(loaded.raw)
    base = loaded.base_dir
    for key_path in (
        ("data", "path"),
        ("data", "eval", "path"),
        ("data", "confirm", "path"),
        ("model", "path"),
        ("model", "gguf"),
    ):
        _absolute(raw, key_path, base)
    if isinstance(raw.get("model", {}).get("random"), dict):
        tok = raw["model"]["random"].get("tokenizer", {})
        for k in ("path", "gguf"):
            if isinstance(tok.get(k), str):
                tok[k] = str((base / tok[k]).resolve())
    raw["description"] = f"Reproduces trial {number} of {raw.get('name')}; every value is fixed."
    raw["name"] = f"{raw.get('name', 'space')}-trial{number}"
    raw["chains"] = [plan["chain"]]
    raw["targets"] = [plan["target"]]
    raw["passes"] = {name: dict(values) for name, values in plan["params"].items()}
    study = dict(raw.get("study") or {})
    for reset in ONE_TRIAL_STUDY:
        if reset.value is _DROP:
            study.pop(reset.key, None)
        else:
            study[reset.key] = reset.value
    raw["study"] = study
    return raw


def _find_artifact(recorded: Path, caches: Sequence[Path]) -> Path | None:
    """The trial's model as a cache entry whose files match its manifest: under its content
    address (step/key) in one of ``caches`` (the study folder's, another machine's, a shared one
    mounted elsewhere), else where it was made; None when no copy is whole (a damaged one is set
    aside by the cache)."""
    step, key = recorded.parts[-2:]
    for root in [*caches, recorded.parent.parent]:
        entry = Cache(root).get(step, key)
        if entry is not None and is_genai_folder(entry.path):
            return entry.path
    return None


def export_trial(
    report: Report,
    loaded: LoadedSpace,
    study_attrs: dict[str, Any],
    number: int | None,
    dest: Path,
    fmt: str = "autotune",
    caches: Sequence[Path] = (),
) -> Path:
    """Write trial ``number`` (the winner if None) to ``dest``; never overwrites anything."""
    if number is None:
        if report.winner is None:
            raise AutotuneError("no trial has completed yet: nothing to export")
        number = report.winner
    row, artifact = _complete_row(report, number)
    src = _find_artifact(Path(artifact), caches)
    plan = {"chain": row.chain.split(">"), "target": report.target, "params": row.pass_params()}
    fixed = fixed_space(loaded, plan, number)
    space_text = yaml.dump(fixed, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    if src is None:
        rebuild = dest.with_name(f"{dest.name}.yaml")
        if not rebuild.exists():
            rebuild.parent.mkdir(parents=True, exist_ok=True)
            rebuild.write_text(space_text)
        raise AutotuneError(
            f"--trial {number}: its model is no longer in the cache, or its files do not match the "
            f"cache's manifest ({artifact}); {rebuild} rebuilds it: "
            f"autotune --space {rebuild} --out NEW_DIR, then autotune export NEW_DIR"
        )
    if dest.exists():
        raise AutotuneError(f"{dest} already exists: remove it or choose another --dest")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # this process's own temporary folder, renamed into place at once: whole or not at all
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        for item in src.iterdir():
            if item.is_file() and item.name not in ("autotune-meta.json", "build.log"):
                shutil.copy2(item, tmp / item.name)
        (tmp / "autotune.yaml").write_text(space_text)
        data, kind = loaded.space.data, get_task_kind(loaded.space.task)
        (tmp / TASK_FILE).write_text(
            json.dumps(
                {
                    "task": kind.name,
                    "text_column": data.text_column,
                    "label_column": data.label_column,
                    "template": data.template,
                    "chat": data.chat.model_dump() if data.chat else None,
                    "provider": report.target,
                    **kind.export_fields(loaded.space.evaluation, study_attrs.get("labels") or []),
                },
                indent=1,
            )
        )
        (tmp / "metrics.json").write_text(
            json.dumps(
                {
                    "trial": number,
                    "study": report.study_name,
                    "feasible": row.feasible,
                    "note": "meets every constraint"
                    if row.feasible
                    else report.note
                    if number == report.winner
                    else "does not meet every constraint",
                    "constraints": report.constraints,
                    kind.quality: _quality_figures(row, kind),
                    "metrics": row.metrics,
                    "params": row.params,
                    "chain": row.chain,
                    "details": row.details,
                    "versions": library_versions(),
                },
                indent=1,
                default=str,
            )
        )
        if fmt == "olive":
            from autotune.olive._write import olive_config

            cfg = olive_config(
                row.params,
                row.chain.split(">"),
                fixed,
                str(study_attrs.get("model_path", "")),
                report.target,
                loaded.space.study.seed,
            )
            (tmp / "olive-config.json").write_text(json.dumps(cfg, indent=2))
        try:
            os.rename(tmp, dest)  # fails if another export filled dest meanwhile
        except OSError:
            raise AutotuneError(f"{dest} already exists: remove it or choose another --dest") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _complete_row(report: Report, number: int) -> tuple[TrialRow, str]:
    """Trial ``number``'s row and its model's path, or why it cannot be exported."""
    try:
        row = report.row(number)
    except StopIteration:
        raise AutotuneError(f"--trial {number}: no such trial (trials: 0..{len(report.rows) - 1})") from None
    if row.state != "complete" or not row.artifact:
        raise AutotuneError(f"--trial {number}: trial is {row.state} ({row.reason}); pick a complete trial")
    return row, row.artifact


def export_trials(
    report: Report,
    loaded: LoadedSpace,
    study_attrs: dict[str, Any],
    numbers: Sequence[int],
    dest: Path,
    fmt: str = "autotune",
    caches: Sequence[Path] = (),
) -> list[Path]:
    """Write each of trials ``numbers`` to ``dest/trial-N`` (as ``export_trial`` does); with
    ``fmt`` olive also ``dest/olive-config.json``, one Olive config with one build per trial
    (``autotune run --config`` runs them all again). Checks everything before writing anything."""
    if not numbers:
        raise AutotuneError("no trial to export; pick one with --trial N")
    rows = [_complete_row(report, n)[0] for n in dict.fromkeys(numbers)]
    config = dest / "olive-config.json"
    for there in [dest / f"trial-{r.number}" for r in rows] + ([config] if fmt == "olive" else []):
        if there.exists():
            raise AutotuneError(f"{there} already exists: remove it or choose another --dest")
    dest.mkdir(parents=True, exist_ok=True)
    paths = [
        export_trial(report, loaded, study_attrs, r.number, dest / f"trial-{r.number}", fmt, caches)
        for r in rows
    ]
    if fmt == "olive":
        from autotune.olive._write import olive_builds_config

        first = rows[0]
        plan = {"chain": first.chain.split(">"), "target": report.target, "params": first.pass_params()}
        cfg = olive_builds_config(
            [(f"trial-{r.number}", r.params, r.chain.split(">")) for r in rows],
            fixed_space(loaded, plan, first.number),
            str(study_attrs.get("model_path", "")),
            report.target,
            loaded.space.study.seed,
        )
        write_whole(config, json.dumps(cfg, indent=2))
        paths.append(config)
    return paths


def _quality_figures(row: Any, kind: TaskKind) -> dict[str, Any]:
    """The kind's quality figure on the search split (what the study selected on) beside the
    confirm split (never seen): accuracy, or ROUGE-L for generation."""
    m, d = row.metrics, row.details

    def one(metric: str, n: Any) -> dict[str, Any] | None:
        if metric not in m:
            return None
        return {kind.quality: m[metric], "ci95": [m.get(f"{metric}_low"), m.get(f"{metric}_high")], "n": n}

    return {
        "search": one(kind.quality, d.get("eval_rows")),
        "confirm": one(kind.confirm, (d.get("confirm") or {}).get("n")),
        "note": "search: the split the study selected on (optimistic for the winner); "
        "confirm: a split the search never saw, measured once after the study",
    }


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Writes strings with newlines double-quoted on one line, as a person would."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\n" in value else None)


_Dumper.add_representer(str, _str)
