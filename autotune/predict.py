"""Answering with an exported model, like the cookbook's app: a phrase in, one label out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autotune.data import PromptFormat
from autotune.errors import AutotuneError, read_json_file
from autotune.export import TASK_FILE
from autotune.targets import get_target

__all__ = ["predict"]


def predict(
    model_dir: Path, phrases: Sequence[str], provider: str | None = None, method: str | None = None
) -> list[str]:
    """The label an exported model gives each phrase (always one of its labels).

    ``method`` overrides the label rule the study measured with ("score" or "greedy").
    """
    from evaluators import EvaluatorError, ModelArtifact, predict_labels

    task_file = model_dir / TASK_FILE
    if not task_file.is_file():
        raise AutotuneError(
            f"--model {model_dir}: not an exported model (no {TASK_FILE}); use `autotune export`"
        )
    task = read_json_file(task_file, "the exported task", "export the trial again (autotune export)")
    if not isinstance(task, dict) or not isinstance(task.get("labels"), list):
        raise AutotuneError(f"{task_file}: the exported task has no labels; export the trial again")
    chat = task.get("chat") or {}
    fmt = PromptFormat(
        task["text_column"],
        task["label_column"],
        task.get("template"),
        chat.get("user"),
        chat.get("system"),
    )
    tokenizer = None
    if fmt.chat_user:
        from autotune.models import load_tokenizer

        tokenizer = load_tokenizer(str(model_dir))
    labels = list(task["labels"])
    prompts = [fmt.render(phrase, tokenizer) for phrase in phrases]
    target = get_target(str(provider or task.get("provider") or "cpu"))
    try:
        choices = predict_labels(
            ModelArtifact(model_dir, "onnx-genai", target.placement()),
            prompts,
            labels,
            method="greedy" if (method or task.get("label_scoring")) == "greedy" else "score",
            normalize=bool(task.get("length_normalize", False)),
        )
    except EvaluatorError as exc:
        raise AutotuneError(str(exc)) from None
    return [c.label for c in choices]
