"""Teacher-forced log-probabilities of continuations after a prompt: one interface for every
runtime.

``SequenceScorer.score`` takes prompts and, per prompt, the token sequences that may follow it
(a task's labels, or its one reference answer) and gives each token's log-probability
(``Scored``). Label choice (``_scoring``) and answer likelihood are written once on top of it.
The implementations: PyTorch in batches (``_hf_scorer.HfScorer``), ORT GenAI
(``_genai.GenaiScorer``), the one-pass ONNX Runtime graph (``_tree.TreeScorer``), and
``Stepwise``: one prompt at a time over a step-by-step backend (the small ``Scorer`` protocol
below), which ORT GenAI and the latency child's timed requests use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ._constrained import Decoder

Continuations = Sequence[Sequence[int]]


@dataclass(frozen=True)
class Scored:
    """One prompt's continuations, scored.

    ``logprobs[j][k]``: the log-probability of token k of continuation j after the prompt and
    that continuation's tokens before k, as if it alone followed the prompt (float64).
    ``passes``: forward passes the scorer ran over this prompt's sequence, its prefill included
    (a pass over a batch counts once for each prompt it carries).
    """

    logprobs: tuple[npt.NDArray[np.float64], ...]
    passes: int

    @property
    def totals(self) -> list[float]:
        """Each continuation's summed log-probability."""
        return [float(lp[0]) + float(lp[1:].sum()) for lp in self.logprobs]


class SequenceScorer(ABC):
    """Scores continuations of prompts by teacher forcing (no decoding)."""

    @abstractmethod
    def score(self, prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]) -> list[Scored]:
        """Per prompt, the log-probabilities of each of its continuations' tokens.

        Every prompt and continuation is non-empty (``check`` refuses others). How the passes
        are laid out is the scorer's own, and ``Scored.passes`` says what it ran: the runtimes'
        scorers feed a prompt given one continuation with it (its tokens but the last) in one
        pass, and share a prompt's pass among several continuations as the runtime can (a pass
        each after one prefill; ``_tree``: one pass for all).
        """


def check(prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]) -> None:
    """Refuse what no scorer can score: a prompt without continuations, empty sequences."""
    if len(prompts) != len(continuations):
        raise ValueError(f"{len(prompts)} prompts but {len(continuations)} lists of continuations")
    if not all(prompts) or not all(c and all(c) for c in continuations):
        raise ValueError("need a non-empty prompt and non-empty continuations for every example")


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


class Scorer(Protocol):
    """Logits of continuations of one prompt, step by step.

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


class Stepwise(SequenceScorer):
    """A ``SequenceScorer`` over a step-by-step ``Scorer``, one prompt at a time: the prompt's
    prefill scores every continuation's first token; a continuation of k > 1 tokens then costs
    one more pass feeding its first k - 1 tokens, and a rewind. So ``passes`` = 1 + the number
    of continuations longer than one token, one continuation alone included."""

    def __init__(self, backend: Scorer) -> None:
        self.backend = backend

    def score(self, prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]) -> list[Scored]:
        check(prompts, continuations)
        return [self._one(p, c) for p, c in zip(prompts, continuations, strict=True)]

    def _one(self, prompt_ids: Sequence[int], candidates: Continuations) -> Scored:
        first = log_softmax(np.asarray(self.backend.start(prompt_ids)).reshape(-1))
        vocab = first.shape[0]
        out: list[npt.NDArray[np.float64]] = []
        for cand in candidates:
            check_ids(cand, vocab)
            lp = first[[cand[0]]]
            if len(cand) > 1:
                fed = cand[:-1]
                rows = np.asarray(self.backend.extend(fed))
                if rows.shape != (len(fed), vocab):
                    raise ValueError(f"extend({len(fed)} tokens) gave logits of shape {rows.shape}")
                lp = np.concatenate([lp, log_softmax(rows)[np.arange(len(fed)), list(cand[1:])]])
                self.backend.rewind()
            out.append(lp)
        return Scored(tuple(out), 1 + sum(len(c) > 1 for c in candidates))
