"""Checks of the data against the model that no trial's parameters change, made before a study
opens: a failure here would otherwise fail every trial the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from autotune.errors import DataError
from autotune.task_kinds import get_task_kind

if TYPE_CHECKING:
    from autotune.inputs.data import TaskData
    from autotune.inputs.models import PreparedModel
    from autotune.load.space_file import LoadedSpace
    from autotune.space.schema import Space

__all__ = ["check_context", "preflight"]


def preflight(loaded: LoadedSpace, cache_dir: Path) -> None:
    """Read the data, prepare the base model (cached) and check one against the other before a
    study is opened: what fails here is recorded nowhere, so the fixed space starts clean."""
    from autotune.cache import Cache
    from autotune.inputs.data import load_task_data
    from autotune.inputs.models import prepare_model

    space = loaded.space
    data = load_task_data(space.data, loaded.base_dir, space.task)
    check_context(data, prepare_model(space.model, Cache(cache_dir), loaded.base_dir), space)


def tokens_needed(count: Callable[[str], int], prompt: str, continuations: Sequence[str], room: int) -> int:
    """The context a prompt needs: with its longest continuation (a target, a label; none for a
    free answer) and the ``room`` its task kind's answer takes after it (``TaskKind.answer_room``).
    The one rule of the load's check and of ``predict``'s."""
    return max(count(prompt + c) for c in (continuations or [""])) + room


def check_context(data: TaskData, model: PreparedModel, space: Space) -> None:
    """Every evaluated prompt with its target and the room the task kind's answer takes after it
    (``TaskKind.answer_room``: EOS, or generation's answer cap) fits the model's context; a
    DataError naming the longest row otherwise. Training rows are cut to ``lora.max_length`` and
    are not checked."""
    from transformers import AutoConfig

    from autotune.inputs.models import load_tokenizer

    config = AutoConfig.from_pretrained(model.path, trust_remote_code=model.trust_remote_code)
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
