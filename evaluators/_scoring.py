"""Whole-label scoring (``method="score"``): every label's full token sequence is compared.

Greedy decoding commits to a label's first token; a short, common first token (SmolLM2
spells "sadness" as ``s|ad|ness``) can then win for every prompt. Here each label's
continuation, EOS included, is scored by the summed log-probability of its tokens, or the
mean per token with ``normalize``, and the best one wins. Like ``choose_label`` it talks to
a model through a small protocol, ``Scorer``, so it is tested with hand-set logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ._base import Method
from ._constrained import Choice, Decoder, choose_label


class Scorer(Protocol):
    """Logits of continuations of one prompt.

    ``start`` resets the state, runs the prompt (one forward pass) and returns the logits of
    its last position, 1-D. ``extend`` feeds tokens after the current state in one forward
    pass and returns the logits after each of them, shape (len(token_ids), vocab).
    ``rewind`` goes back to the end of the prompt.
    """

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.floating]: ...

    def extend(self, token_ids: Sequence[int]) -> npt.NDArray[np.floating]: ...

    def rewind(self) -> None: ...


class Backend(Decoder, Scorer, Protocol):
    """A model that serves both label rules (the HF and ORT GenAI backends are)."""


def log_softmax(logits: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Log-probabilities along the last axis, computed in float64."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - np.max(x, axis=-1, keepdims=True)
    out: npt.NDArray[np.float64] = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return out


def check_ids(ids: Sequence[int], vocab: int) -> None:
    top = max(ids)
    if top >= vocab:
        raise ValueError(f"token id {top} is outside the logits ({vocab})")


def score_labels(
    scorer: Scorer,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    normalize: bool = False,
) -> Choice:
    """The label whose whole candidate sequence is likeliest after the prompt.

    One prefill of the prompt scores every candidate's first token; a candidate of k > 1
    tokens then costs one more forward pass, feeding its first k - 1 tokens, and a rewind.
    So ``passes`` = 1 + the number of candidates longer than one token. Ties go to the
    earlier label.
    """
    if len(candidates) != len(labels) or not candidates or not all(candidates):
        raise ValueError("need one non-empty candidate sequence per label")
    first = log_softmax(np.asarray(scorer.start(prompt_ids)).reshape(-1))
    vocab = first.shape[0]
    totals: list[float] = []
    for cand in candidates:
        check_ids(cand, vocab)
        total = float(first[cand[0]])
        if len(cand) > 1:
            fed = cand[:-1]
            rows = np.asarray(scorer.extend(fed))
            if rows.shape != (len(fed), vocab):
                raise ValueError(f"extend({len(fed)} tokens) gave logits of shape {rows.shape}")
            total += float(log_softmax(rows)[np.arange(len(fed)), list(cand[1:])].sum())
            scorer.rewind()
        totals.append(total)
    return choice_of(totals, candidates, labels, normalize=normalize)


def choice_of(
    totals: Sequence[float],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    normalize: bool = False,
) -> Choice:
    """The ``Choice`` from each candidate's summed log-probability (``totals``).

    Its cost is that of ``score_labels`` on this prompt: one prefill, then one pass and
    ``len - 1`` fed tokens per candidate longer than one token; a batched backend that
    scores many prompts per pass counts each prompt's share the same way.
    """
    scores = [t / len(c) if normalize else float(t) for t, c in zip(totals, candidates, strict=True)]
    longer = [c for c in candidates if len(c) > 1]
    passes, steps = 1 + len(longer), sum(len(c) - 1 for c in longer)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    best = order[0]
    margin = scores[best] - scores[order[1]] if len(order) > 1 else math.inf
    return Choice(best, labels[best], steps, passes=passes, scores=tuple(scores), margin=margin)


def choose(
    backend: Backend,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    method: Method = "score",
    normalize: bool = False,
) -> Choice:
    """The label by ``method``: "score" (``score_labels``) or "greedy" (``choose_label``)."""
    if method == "score":
        return score_labels(backend, prompt_ids, candidates, labels, normalize=normalize)
    if method == "greedy":
        if normalize:
            raise ValueError("normalize applies to method='score' only")
        return choose_label(backend, prompt_ids, candidates, labels)
    raise ValueError(f"unknown method {method!r}; known: 'score', 'greedy'")
