"""Answering with an exported model, like the cookbook's app: a phrase in, its answer out (one
of the labels for classification, a generated answer for generation)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autotune.data import PromptFormat
from autotune.errors import AutotuneError, read_json_file
from autotune.export import TASK_FILE
from autotune.targets import get_target
from autotune.task_kinds import get_task_kind

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
    task = read_json_file(task_file, "the exported task", "export the trial again (autotune export)")
    if not isinstance(task, dict):
        raise AutotuneError(f"{task_file}: the exported task is not a JSON object; export the trial again")
    try:  # task.json of earlier versions has no "task": they were all classification
        kind = get_task_kind(str(task.get("task", "classification")))
    except ValueError as exc:
        raise AutotuneError(f"{task_file}: {exc}; export the trial again with this version") from None
    if kind.labelled and not isinstance(task.get("labels"), list):
        raise AutotuneError(f"{task_file}: the exported task has no labels; export the trial again")
    if method is not None:
        task = {**task, "label_scoring": method}
    chat = task.get("chat") or {}
    try:
        fmt = PromptFormat(
            str(task["text_column"]),
            str(task["label_column"]),
            task.get("template"),
            chat.get("user"),
            chat.get("system"),
        )
    except (KeyError, AttributeError):
        raise AutotuneError(
            f"{task_file}: the exported task has no prompt format; export the trial again"
        ) from None
    tokenizer = None
    if fmt.chat_user:
        from autotune.models import load_tokenizer

        tokenizer = load_tokenizer(str(model_dir))
    prompts = [fmt.render(phrase, tokenizer) for phrase in phrases]
    target = get_target(str(provider or task.get("provider") or "cpu"))
    try:
        return kind.predict(ModelArtifact(model_dir, "onnx-genai", target.placement()), prompts, task)
    except EvaluatorError as exc:
        raise AutotuneError(str(exc)) from None
