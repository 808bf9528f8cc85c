"""Teacher-forced scoring on a transformers model, many prompts per forward pass.

One prompt at a time, eager PyTorch on a CPU spends each pass mostly on fixed overhead; a
batch does the same work in far less time. Prompts go in batches of similar length, left-padded,
with position ids that skip the padding, laid out by what each carries:

- several continuations each (a task's labels): one prefill of the prompts, then each
  continuation's fed tokens for the whole batch in one more pass over the batch's cache, which
  is then cut back to the prompts (``passes`` as ``Stepwise``: 1 + the continuations longer
  than one token);
- one continuation each (a reference answer): the prompt and its continuation but the last
  token in one pass without a cache, the vocabulary projected only for the positions that
  predict a continuation token (``passes`` 1).

The log-probabilities are those of one prompt at a time up to float rounding. The model must be
in eval mode, and the calls made in inference mode (the runtime's context).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ._hf import HfForward, snapshot_unless_croppable
from ._scorer import Continuations, Scored, SequenceScorer, check, check_ids


class HfScorer(SequenceScorer):
    """``SequenceScorer`` over a transformers causal LM. ``batch_size``: prompts per pass
    (default 32 with several continuations, 16 with one, whose rows are longer)."""

    def __init__(self, model: torch.nn.Module, *, batch_size: int | None = None) -> None:
        self.model = model
        self.batch_size = batch_size

    def score(self, prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]) -> list[Scored]:
        check(prompts, continuations)
        forward = HfForward(self.model)
        out: dict[int, Scored] = {}
        for single in (True, False):
            group = [i for i, c in enumerate(continuations) if (len(c) == 1) == single]
            size = self.batch_size or (16 if single else 32)
            order = sorted(group, key=lambda i: len(prompts[i]) + (len(continuations[i][0]) if single else 0))
            for start in range(0, len(order), size):
                rows = order[start : start + size]
                batch = ([prompts[i] for i in rows], [continuations[i] for i in rows])
                scored = _joined(forward, *batch) if single else _shared(forward, *batch)
                out.update(zip(rows, scored, strict=True))
        return [out[i] for i in range(len(prompts))]


def _left_padded(rows: Sequence[Sequence[int]], dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded on the left to the longest row, and the mask of the real tokens."""
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long, device=dev)
    mask = torch.zeros_like(ids)
    for r, row in enumerate(rows):
        ids[r, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
        mask[r, width - len(row) :] = 1
    return ids, mask


def _shared(
    forward: HfForward, prompts: Sequence[Sequence[int]], candidates: Sequence[Continuations]
) -> list[Scored]:
    """Each prompt's continuations after one prefill of the batch (see the module)."""
    dev = forward.device
    lengths = torch.tensor([len(p) for p in prompts], device=dev)
    ids, mask = _left_padded(prompts, dev)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits, cache = forward(ids, {}, True, mask, pos)
    first = logits[:, -1].double().log_softmax(-1)
    vocab = first.shape[-1]
    for cands in candidates:
        for c in cands:
            check_ids(c, vocab)
    heads = first.cpu().numpy()
    parts = [[[heads[r, c[0] : c[0] + 1]] for c in cands] for r, cands in enumerate(candidates)]
    kv = next(iter(cache.values()))
    snapshot = snapshot_unless_croppable(kv)
    for j in range(max(len(c) for c in candidates)):
        fed = [cands[j][:-1] if j < len(cands) else () for cands in candidates]
        k = max(len(f) for f in fed)
        if k == 0:
            continue
        # tokens after a shorter continuation are padding: causal attention keeps them out of its logits
        ext = torch.zeros((len(prompts), k), dtype=torch.long, device=dev)
        for r, f in enumerate(fed):
            ext[r, : len(f)] = torch.tensor(list(f), dtype=torch.long)
        ext_mask = torch.cat([mask, torch.ones_like(ext)], dim=1)
        ext_pos = lengths[:, None] + torch.arange(k, device=dev)[None, :]
        logits, _ = forward(ext, cache, False, ext_mask, ext_pos)
        logp = logits[:, -k:].double().log_softmax(-1)
        for r, f in enumerate(fed):
            if f:
                nxt = torch.tensor(list(candidates[r][j][1:]), device=dev)
                parts[r][j].append(logp[r, torch.arange(len(f), device=dev), nxt].cpu().numpy())
        if snapshot is None:
            kv.crop(-k)
        else:
            kv = copy.deepcopy(snapshot)
            cache = {next(iter(cache)): kv}
    return [
        Scored(tuple(np.concatenate(p) for p in per), 1 + sum(len(c) > 1 for c in cands))
        for per, cands in zip(parts, candidates, strict=True)
    ]


def _joined(
    forward: HfForward, prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]
) -> list[Scored]:
    """Each prompt's one continuation, fed with it in one pass (see the module)."""
    dev = forward.device
    answers = [c[0] for c in continuations]
    ids, mask = _left_padded([[*p, *a[:-1]] for p, a in zip(prompts, answers, strict=True)], dev)
    keep = max(len(a) for a in answers)
    logits = _last_logits(forward.model, ids, mask, keep)
    out = []
    for r, answer in enumerate(answers):
        check_ids(answer, logits.shape[-1])
        rows = logits[r, keep - len(answer) :].double().log_softmax(-1)  # one row at a time: memory
        picked = rows[torch.arange(len(answer), device=dev), torch.tensor(list(answer), device=dev)]
        lp: npt.NDArray[np.float64] = picked.cpu().numpy()
        out.append(Scored((lp,), 1))
    return out


def _last_logits(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
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
