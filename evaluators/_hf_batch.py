"""Whole-label scoring of many prompts per forward pass on a transformers model.

``score_labels`` runs one prompt at a time: a prefill, then one small pass per label. In
eager PyTorch on a CPU each pass costs mostly fixed overhead, so a batch does the same
work in far less time: prompts of similar length are left-padded into one prefill (with
position ids that skip the padding), and each label's fed tokens for the whole batch go
in one more pass over the batch's cache, which is then cut back to the prompts. The
log-probabilities are those of ``score_labels`` up to float rounding; the ``Choice`` is
built by the same ``choice_of``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from ._constrained import Choice
from ._scoring import check_ids, choice_of


class HfForward:
    """A causal LM's forward with its cache under the name this transformers version uses,
    projecting only the last position onto the vocabulary where the model allows it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        # Project only the last position onto the vocabulary (transformers >= 4.50).
        self.last_only: dict[str, Any] = {"logits_to_keep": 1}

    def __call__(
        self,
        ids: torch.Tensor,
        cache: dict[str, Any],
        last_only: bool,
        mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The logits and the cache after ``ids`` (``cache``: {} or what a call returned)."""
        kwargs: dict[str, Any] = dict(input_ids=ids, use_cache=True, **cache)
        if mask is not None:
            kwargs.update(attention_mask=mask, position_ids=pos)
        if last_only and self.last_only:
            try:
                out = self.model(**kwargs, **self.last_only)
            except TypeError as exc:
                if "logits_to_keep" not in str(exc):
                    raise
                self.last_only = {}
                out = self.model(**kwargs)
        else:
            out = self.model(**kwargs)
        # transformers >= 5.24 names the cache `cache`; earlier versions `past_key_values`.
        fields = getattr(type(out), "__dataclass_fields__", {})
        key = "cache" if "cache" in fields else "past_key_values"
        logits: torch.Tensor = out.logits
        return logits, {key: getattr(out, key)}


def snapshot_unless_croppable(cache: Any) -> Any:
    """None if ``cache`` can be cropped back to the prompt (``crop(-n)`` removes n tokens in
    transformers 4 and 5 alike), else a copy of it to restore from."""
    croppable = hasattr(cache, "crop") and getattr(cache, "is_croppable", True)
    return None if croppable else copy.deepcopy(cache)


def _totals(
    forward: HfForward, prompts: Sequence[Sequence[int]], candidates: Sequence[Sequence[tuple[int, ...]]]
) -> list[list[float]]:
    """Each prompt's summed log-probability of each of its candidates (one batch)."""
    dev = forward.device
    lengths = torch.tensor([len(p) for p in prompts], device=dev)
    width = int(lengths.max())
    ids = torch.zeros((len(prompts), width), dtype=torch.long, device=dev)
    mask = torch.zeros_like(ids)
    for r, p in enumerate(prompts):
        ids[r, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[r, width - len(p) :] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits, cache = forward(ids, {}, True, mask, pos)
    first = logits[:, -1].double().log_softmax(-1)
    vocab = first.shape[-1]
    for cands in candidates:
        for c in cands:
            check_ids(c, vocab)
    totals = [[float(first[r, c[0]]) for c in cands] for r, cands in enumerate(candidates)]
    kv = next(iter(cache.values()))
    snapshot = snapshot_unless_croppable(kv)
    for j in range(len(candidates[0])):
        fed = [cands[j][:-1] for cands in candidates]
        k = max(len(f) for f in fed)
        if k == 0:
            continue
        # tokens after a shorter candidate are padding: causal attention keeps them out of its logits
        ext = torch.zeros((len(prompts), k), dtype=torch.long, device=dev)
        for r, f in enumerate(fed):
            ext[r, : len(f)] = torch.tensor(list(f), dtype=torch.long)
        ext_mask = torch.cat([mask, torch.ones_like(ext)], dim=1)
        ext_pos = lengths[:, None] + torch.arange(k, device=dev)[None, :]
        logits, _ = forward(ext, cache, False, ext_mask, ext_pos)
        logp = logits[:, -k:].double().log_softmax(-1)
        for r, f in enumerate(fed):
            if f:
                nxt = torch.tensor(candidates[r][j][1:], device=dev)
                totals[r][j] += float(logp[r, torch.arange(len(f), device=dev), nxt].sum())
        if snapshot is None:
            kv.crop(-k)
        else:
            kv = copy.deepcopy(snapshot)
            cache = {next(iter(cache)): kv}
    return totals


def score_labels_batched(
    model: torch.nn.Module,
    prompt_ids: Sequence[Sequence[int]],
    candidates: Sequence[Sequence[tuple[int, ...]]],
    labels: Sequence[str],
    *,
    normalize: bool = False,
    batch_size: int = 32,
) -> list[Choice]:
    """``score_labels`` for every prompt, ``batch_size`` prompts of similar length per pass.

    The model must already be in eval mode (and inference mode); ``candidates[i]`` holds
    one token sequence per label for prompt ``i``.
    """
    if any(len(c) != len(labels) or not all(c) for c in candidates) or not labels:
        raise ValueError("need one non-empty candidate sequence per label")
    forward = HfForward(model)
    order = sorted(range(len(prompt_ids)), key=lambda i: len(prompt_ids[i]))
    out: dict[int, Choice] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        totals = _totals(forward, [prompt_ids[i] for i in rows], [candidates[i] for i in rows])
        for i, t in zip(rows, totals, strict=True):
            out[i] = choice_of(t, candidates[i], labels, normalize=normalize)
    return [out[i] for i in range(len(prompt_ids))]
