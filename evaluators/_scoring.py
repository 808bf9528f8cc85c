"""Choosing a label, written once for every runtime.

Whole-label scoring (``method="score"``, the default) compares every label's full token
sequence: greedy decoding commits to a label's first token, and a short, common first token
(SmolLM2 spells "sadness" as ``s|ad|ness``) can then win for every prompt. Each label's
continuation, EOS included, is scored by the summed log-probability of its tokens, or the mean
per token with ``normalize``, and the best one wins; the log-probabilities come from the
runtime's ``SequenceScorer`` (``_scorer``). ``method="greedy"`` decodes restricted to the
labels' token trie (``_constrained.choose_label``). ``score_labels`` and ``choose`` run one
prompt over a step-by-step backend; the latency child times exactly those.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._base import Method
from ._constrained import LabelChoice, candidate_sequences, choose_label
from ._runtime import Runtime, decoding
from ._scorer import Backend, Scored, Scorer, Stepwise


def _check_labels(candidates: Sequence[tuple[int, ...]], labels: Sequence[str]) -> None:
    if len(candidates) != len(labels) or not candidates or not all(candidates):
        raise ValueError("need one non-empty candidate sequence per label")


def choice_of(
    scored: Scored,
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    normalize: bool = False,
) -> LabelChoice:
    """The ``LabelChoice`` among ``labels`` from their candidates' ``scored`` log-probabilities.

    Its score is a candidate's summed log-probability (its mean per token with ``normalize``);
    ties go to the earlier label. ``passes`` is what the scorer ran; ``steps`` the label tokens
    fed after the prompt (every candidate's but its last).
    """
    _check_labels(candidates, labels)
    totals = scored.totals
    scores = [t / len(c) if normalize else float(t) for t, c in zip(totals, candidates, strict=True)]
    steps = sum(len(c) - 1 for c in candidates)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    best = order[0]
    margin = scores[best] - scores[order[1]] if len(order) > 1 else math.inf
    return LabelChoice(best, labels[best], steps, passes=scored.passes, scores=tuple(scores), margin=margin)


def score_labels(
    scorer: Scorer,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    normalize: bool = False,
) -> LabelChoice:
    """The label whose whole candidate sequence is likeliest after the prompt, over a
    step-by-step backend (``Stepwise``): ``passes`` = 1 + the number of candidates longer than
    one token. Ties go to the earlier label."""
    _check_labels(candidates, labels)
    scored = Stepwise(scorer).score([prompt_ids], [candidates])[0]
    return choice_of(scored, candidates, labels, normalize=normalize)


def choose(
    backend: Backend,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    method: Method = "score",
    normalize: bool = False,
) -> LabelChoice:
    """The label by ``method``: "score" (``score_labels``) or "greedy" (``choose_label``)."""
    if method == "score":
        return score_labels(backend, prompt_ids, candidates, labels, normalize=normalize)
    if method == "greedy":
        if normalize:
            raise ValueError("normalize applies to method='score' only")
        return choose_label(backend, prompt_ids, candidates, labels)
    raise ValueError(f"unknown method {method!r}; known: 'score', 'greedy'")


def choose_labels(
    runtime: Runtime,
    prompts: Sequence[str],
    label_set: Sequence[str],
    *,
    eos: bool = True,
    method: Method = "score",
    normalize: bool = False,
) -> list[LabelChoice]:
    """The label (by ``method``) for every prompt, tokenized by the runtime's own tokenizer.

    "score" hands every prompt to the runtime's scorer at once (PyTorch batches them; ONNX
    Runtime scores one prompt at a time); "greedy" decodes one prompt at a time, since each
    prompt's next pass depends on its own choice. Call it inside ``runtime.context()``.
    """
    if method not in ("score", "greedy"):
        raise ValueError(f"unknown method {method!r}; known: 'score', 'greedy'")
    if normalize and method != "score":
        raise ValueError("normalize applies to method='score' only")
    eos_id = runtime.eos_for(eos)
    cands = [candidate_sequences(runtime.encode, p, label_set, eos_id) for p in prompts]
    ids = [runtime.encode(p) for p in prompts]
    if method == "score":
        scored = runtime.scorer.score(ids, cands)
        return [choice_of(s, c, label_set, normalize=normalize) for s, c in zip(scored, cands, strict=True)]
    decoder = decoding(runtime).backend(max(len(s) for c in cands for s in c))
    return [choose_label(decoder, i, c, label_set) for i, c in zip(ids, cands, strict=True)]
