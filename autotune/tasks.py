"""A split of the task's data as an ``evaluators.EvalTask``: prompts rendered, labels, scoring."""

from __future__ import annotations

from typing import Literal

from autotune.data import TaskData
from autotune.models import PreparedModel, load_tokenizer
from autotune.space import Space
from evaluators import EvalTask

__all__ = ["Split", "eval_task"]

# search: what the sampler and the front see; confirm: measured once on the front after the study.
Split = Literal["search", "confirm"]


def eval_task(space: Space, model: PreparedModel, data: TaskData, split: Split = "search") -> EvalTask:
    """The ``split`` rows (capped by ``evaluation.max_eval_rows``) as the evaluators take them."""
    examples = data.eval if split == "search" else data.confirm
    ev = space.evaluation
    if ev.max_eval_rows:
        examples = examples[: ev.max_eval_rows]
    tok = load_tokenizer(model.path, model.trust_remote_code) if data.prompt.chat_user else None
    return EvalTask(
        prompts=tuple(data.prompt.render(e.text, tok) for e in examples),
        labels=tuple(e.label for e in examples),
        label_set=data.labels,
        method=ev.label_scoring,
        normalize=ev.length_normalize,
    )
