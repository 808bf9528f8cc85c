"""A split of the task's data as its task kind's evaluators take it: prompts rendered, targets."""

from __future__ import annotations

from typing import Any, Literal

from autotune.inputs.data import TaskData
from autotune.inputs.models import PreparedModel, load_tokenizer
from autotune.space.schema import Space
from autotune.task_kinds import get_task_kind

__all__ = ["Split", "eval_task"]

# search: what the sampler and the front see; confirm: measured once on the front after the study.
Split = Literal["search", "confirm"]


def eval_task(space: Space, model: PreparedModel, data: TaskData, split: Split = "search") -> Any:
    """The ``split`` rows (capped by ``evaluation.max_eval_rows``) as the evaluators take them
    (an ``EvalTask`` for classification, a ``GenerationTask`` for generation)."""
    examples = data.eval if split == "search" else data.confirm
    ev = space.evaluation
    if ev.max_eval_rows:
        examples = examples[: ev.max_eval_rows]
    tok = load_tokenizer(model.path, model.trust_remote_code) if data.prompt.chat_user else None
    prompts = [data.prompt.render(e.text, tok) for e in examples]
    return get_task_kind(space.task).eval_task(prompts, [e.label for e in examples], data.labels, ev)
