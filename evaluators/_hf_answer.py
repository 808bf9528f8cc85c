"""Teacher-forced log-probabilities of answers on a transformers model, many examples per pass.

Each example is its prompt followed by its answer tokens but the last; examples of similar
length are left-padded into one forward pass (position ids skip the padding, no KV cache),
and only the last positions, those that predict answer tokens, are projected onto the
vocabulary. The log-probabilities are those of one example at a time up to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ._scoring import check_ids


def _logits(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    """Logits of the last ``keep`` positions (all positions where ``logits_to_keep`` is unknown)."""
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    kwargs: dict[str, Any] = dict(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
    try:
        out = model(**kwargs, logits_to_keep=keep)
    except TypeError as exc:  # transformers < 4.50
        if "logits_to_keep" not in str(exc):
            raise
        out = model(**kwargs)
    logits: torch.Tensor = out.logits
    return logits[:, -keep:]


def _batch(
    model: torch.nn.Module, prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]]
) -> list[npt.NDArray[np.float64]]:
    dev = next(model.parameters()).device
    fed = [[*p, *a[:-1]] for p, a in zip(prompts, answers, strict=True)]
    width = max(len(f) for f in fed)
    ids = torch.zeros((len(fed), width), dtype=torch.long, device=dev)
    mask = torch.zeros_like(ids)
    for r, f in enumerate(fed):
        ids[r, width - len(f) :] = torch.tensor(f, dtype=torch.long)
        mask[r, width - len(f) :] = 1
    keep = max(len(a) for a in answers)
    logits = _logits(model, ids, mask, keep)
    out = []
    for r, answer in enumerate(answers):
        check_ids(answer, logits.shape[-1])
        rows = logits[r, keep - len(answer) :].double().log_softmax(-1)  # one row at a time: memory
        picked = rows[torch.arange(len(answer), device=dev), torch.tensor(list(answer), device=dev)]
        out.append(picked.cpu().numpy())
    return out


def answer_logprobs_batched(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    *,
    batch_size: int = 16,
) -> list[npt.NDArray[np.float64]]:
    """Per example, the log-probability of each answer token given the prompt and the answer
    tokens before it. The model must be in eval mode (and inference mode)."""
    if len(prompts) != len(answers) or not all(answers) or not all(prompts):
        raise ValueError("need one non-empty prompt and one non-empty answer per example")
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(answers[i]))
    out: dict[int, npt.NDArray[np.float64]] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        scored = _batch(model, [prompts[i] for i in rows], [answers[i] for i in rows])
        out.update(zip(rows, scored, strict=True))
    return [out[i] for i in range(len(prompts))]
