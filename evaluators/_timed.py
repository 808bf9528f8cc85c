"""One timed request: a backend wrapper that times and counts the forward passes it runs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._base import EvaluatorError, Method
from ._scoring import Backend, choose
from ._tree import TreeScorer, score_tree


@dataclass(frozen=True)
class Timing:
    """One request: wall time, its prefill and post-prefill parts, the prefills run (0 or 1),
    and the passes after the prefill with the tokens they fed."""

    total_s: float
    prefill_s: float
    decode_s: float
    prefills: int
    decode_passes: int
    decode_tokens: int
    label_tokens_in_prefill: int = 0


class Timed:
    """A ``Backend`` that times the prefill (``start``) apart from everything after it
    (``feed``/``extend``/``rewind``) and counts the forward passes actually run."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.prefill_s = self.decode_s = 0.0
        self.prefills = self.decode_passes = self.decode_tokens = 0

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.floating]:
        t0 = time.perf_counter()
        out = self.inner.start(prompt_ids)
        self.prefill_s += time.perf_counter() - t0
        self.prefills += 1
        return out

    def _after(self, t0: float, tokens: int) -> None:
        self.decode_s += time.perf_counter() - t0
        self.decode_passes += 1
        self.decode_tokens += tokens

    def feed(self, token_id: int) -> npt.NDArray[np.floating]:
        t0 = time.perf_counter()
        out = self.inner.feed(token_id)
        self._after(t0, 1)
        return out

    def extend(self, token_ids: Sequence[int]) -> npt.NDArray[np.floating]:
        t0 = time.perf_counter()
        out = self.inner.extend(token_ids)
        self._after(t0, len(token_ids))
        return out

    def rewind(self) -> None:
        t0 = time.perf_counter()
        self.inner.rewind()
        self.decode_s += time.perf_counter() - t0


def timed_request(
    backend: Backend,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    method: Method,
    normalize: bool,
) -> Timing:
    """Exactly the work of predicting one label (``_scoring.choose``), timed."""
    timed = Timed(backend)
    t0 = time.perf_counter()
    choice = choose(timed, prompt_ids, candidates, labels, method=method, normalize=normalize)
    total = time.perf_counter() - t0
    ran = timed.prefills + timed.decode_passes
    if ran != choice.passes:
        raise EvaluatorError(f"the request ran {ran} forward passes but its choice counted {choice.passes}")
    return Timing(
        total, timed.prefill_s, timed.decode_s, timed.prefills, timed.decode_passes, timed.decode_tokens
    )


def timed_tree(
    scorer: TreeScorer,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    normalize: bool,
) -> Timing:
    """Exactly the work of predicting one label in one pass (``_tree.score_tree``), timed: the
    whole request is that pass, so it counts as the prefill, with the label tokens it carried."""
    t0 = time.perf_counter()
    choice = score_tree(scorer, prompt_ids, candidates, labels, normalize=normalize)
    total = time.perf_counter() - t0
    return Timing(total, total, 0.0, choice.passes, 0, 0, label_tokens_in_prefill=choice.steps)
