"""Checks of the data against the model that no trial's parameters change, made before a study
opens: a failure here would otherwise fail every trial the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotune.errors import DataError
from autotune.space.params import Choice, Fixed, SearchValues
from autotune.task_kinds import get_task_kind

if TYPE_CHECKING:
    from autotune.inputs.data import TaskData
    from autotune.inputs.models import PreparedModel
    from autotune.load.space_file import LoadedSpace
    from autotune.space.schema import Space

__all__ = ["check_context", "check_model", "preflight"]

# passes whose ``target_modules`` name the base model's layers
_LORA_PASSES = ("lora", "qlora")


def preflight(loaded: LoadedSpace, cache_dir: Path) -> None:
    """Read the data, prepare the base model (cached) and check one against the other before a
    study is opened: what fails here is recorded nowhere, so the fixed space starts clean."""
    from transformers import AutoConfig

    from autotune.cache import Cache
    from autotune.inputs.data import load_task_data
    from autotune.inputs.models import prepare_model

    space = loaded.space
    data = load_task_data(space.data, loaded.base_dir, space.task)
    model = prepare_model(space.model, Cache(cache_dir), loaded.base_dir)
    config = AutoConfig.from_pretrained(model.path, trust_remote_code=model.trust_remote_code)
    check_model(loaded, config)
    check_context(data, model, space, config)


def _strings(values: SearchValues) -> list[str]:
    if isinstance(values, Fixed):
        return [str(values.value)]
    if isinstance(values, Choice):
        return [str(v) for v in values.choices]
    return []


def check_model(loaded: LoadedSpace, config: Any) -> None:
    """The base model's family is one autotune carries, with every build precision and LoRA
    target the space may ask of it; a ModelError naming the family and the reason otherwise
    (before any training: a trial would otherwise fail after its fine-tune)."""
    from autotune.inputs.families import check_config, check_precisions, check_targets, linear_modules

    family = check_config(config)
    used = {name for chain in loaded.space.chains for name in chain}
    if "build" in used:
        check_precisions(family, _strings(loaded.values["build"]["precision"]), "build.precision")
    modules: list[str] | None = None
    for name in _LORA_PASSES:
        if name in used:
            modules = modules if modules is not None else linear_modules(config)
            values = _strings(loaded.values[name]["target_modules"])
            check_targets(values, modules, family, f"passes.{name}.target_modules")


def tokens_needed(count: Callable[[str], int], prompt: str, continuations: Sequence[str], room: int) -> int:
    """The context a prompt needs: with its longest continuation (a target, a label; none for a
    free answer) and the ``room`` its task kind's answer takes after it (``TaskKind.answer_room``).
    The one rule of the load's check and of ``predict``'s."""
    return max(count(prompt + c) for c in (continuations or [""])) + room


def check_context(data: TaskData, model: PreparedModel, space: Space, config: Any) -> None:
    """Every evaluated prompt with its target and the room the task kind's answer takes after it
    (``TaskKind.answer_room``: EOS, or generation's answer cap) fits the model's context; a
    DataError naming the longest row otherwise. Training rows are cut to ``lora.max_length`` and
    are not checked."""
    from autotune.inputs.models import load_tokenizer

    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int):
        return
    tokenizer = load_tokenizer(model.path, model.trust_remote_code)
    extra, setting = get_task_kind(space.task).answer_room(space.evaluation)
    longest, worst = 0, ""
    for ex in (*data.eval, *data.confirm):
        prompt = data.prompt.render(ex.text, tokenizer)
        n = tokens_needed(lambda s: len(tokenizer(s)["input_ids"]), prompt, [ex.label], extra)
        if n > longest:
            longest, worst = n, ex.text
    if longest > limit:
        shown = worst if len(worst) <= 60 else worst[:57] + "..."
        raise DataError(
            f"data: the longest prompt with its target takes {longest} tokens ({shown!r}"
            f"{f', with {setting}' if setting else ''}); the model "
            f"takes {limit}: shorten data.template or drop that row"
        )
