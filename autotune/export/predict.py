"""Answering with an exported model, like the cookbook's app: a phrase in, its answer out (one
of the labels for classification, a generated answer for generation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from autotune.errors import AutotuneError
from autotune.export.task_file import ExportedTask, read_exported_task
from autotune.export.trials import TASK_FILE
from autotune.inputs.data import PromptFormat
from autotune.load.preflight import tokens_needed
from autotune.targets import get_target
from autotune.task_kinds import TaskKind, get_task_kind

__all__ = ["predict"]


def predict(
    model_dir: Path, phrases: Sequence[str], provider: str | None = None, method: str | None = None
) -> list[str]:
    """What an exported model answers to each phrase, by the rule its study measured with.

    ``method`` overrides a classification's label rule ("score" or "greedy").
    """
    from evaluators import EvaluatorError, ModelArtifact

    task_file = model_dir / TASK_FILE
    if not task_file.is_file():
        raise AutotuneError(
            f"--model {model_dir}: not an exported model (no {TASK_FILE}); use `autotune export`"
        )
    task = read_exported_task(task_file)
    kind = get_task_kind(task.task)
    fmt = PromptFormat.of(task)
    tokenizer = None
    if fmt.chat_user:
        from autotune.inputs.models import load_tokenizer

        tokenizer = load_tokenizer(str(model_dir))
    prompts = [fmt.render(phrase, tokenizer) for phrase in phrases]
    _check_context(model_dir, phrases, prompts, task, kind)
    target = get_target(str(provider or task.provider or "cpu"))
    settings = task.model_dump() | ({"label_scoring": method} if method is not None else {})
    try:
        return kind.predict(ModelArtifact(model_dir, "onnx-genai", target.placement()), prompts, settings)
    except EvaluatorError as exc:
        raise AutotuneError(str(exc)) from None


def _token_counter(model_dir: Path) -> Callable[[str], int] | None:
    """Tokens in a text by the folder's tokenizer.json (what ORT GenAI reads; the tokenizers
    library loads it at once, where transformers takes seconds); None without one."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    except Exception:  # no tokenizer.json, or one it cannot read: the runtime says why
        return None
    return lambda text: len(tokenizer.encode(text).ids)


def _check_context(
    model_dir: Path, phrases: Sequence[str], prompts: Sequence[str], task: ExportedTask, kind: TaskKind
) -> None:
    """Each prompt with what follows it (the longest label and EOS, or the answer's cap) fits the
    model's context (the load's rule: ``preflight.tokens_needed``); an AutotuneError otherwise."""
    from evaluators import context_length

    limit, count = context_length(model_dir), _token_counter(model_dir)
    if limit is None or count is None:
        return
    room, setting = kind.answer_room(task)
    labels = (task.labels or []) if kind.labelled else []
    after = f"the answer's {room} ({setting.rpartition('.')[2]})" if setting else "its longest label and EOS"
    for phrase, prompt in zip(phrases, prompts, strict=True):
        own, total = count(prompt), tokens_needed(count, prompt, labels, room)
        if total > limit:
            shown = phrase if len(phrase) <= 40 else phrase[:37] + "..."
            raise AutotuneError(
                f"the phrase {shown!r} takes {own} tokens in its prompt, {total} with {after}; the "
                f"model's context is {limit} tokens: shorten the phrase"
            )
