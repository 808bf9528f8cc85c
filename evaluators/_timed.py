"""What the latency children share: the runtime a request names, the cycle of warm-up and timed
requests, and one timed label request (a backend wrapper that times and counts the forward
passes it runs)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import psutil

from ._base import EvaluatorError, Method, ModelArtifact, Placement
from ._rss import MB
from ._runtime import Runtime, open_runtime
from ._scorer import Backend, SequenceScorer
from ._scoring import choice_of, choose

T = TypeVar("T")


def load_for_request(request: dict[str, Any]) -> tuple[Runtime, dict[str, Any]]:
    """The runtime a timing child's ``request`` names, and the facts every timing record carries:
    provider, threads, versions, load time and the RSS right after loading."""
    placement = Placement(**request["placement"])
    t_load = time.perf_counter()
    one_pass = bool(request.get("one_pass")) and request.get("method") == "score"
    artifact = ModelArtifact(Path(request["path"]), request["kind"], placement)
    runtime = open_runtime(artifact, one_pass=one_pass)
    load_s = time.perf_counter() - t_load
    return runtime, {
        "provider": placement.label,
        "threads": runtime.threads,
        "versions": runtime.versions,
        "runtime": runtime.name,
        "load_s": load_s,
        "rss_after_load_mb": psutil.Process().memory_info().rss / MB,
    }


def timed_cycle(
    runtime: Runtime, one: Callable[[int], T], request: dict[str, Any], prompt_ids: Sequence[Sequence[int]]
) -> tuple[list[T], dict[str, Any]]:
    """``warmup`` untimed then ``repeats`` timed requests ``one(i)`` in the runtime's context, and
    the prompt lengths: per timed request (``lens``) and their spread (``prompt_len``)."""
    with runtime.context():
        for i in range(request["warmup"]):
            one(i)
        timed = [one(i) for i in range(request["repeats"])]
    lens = [len(ids) for ids in prompt_ids]
    spread = {"min": min(lens), "median": statistics.median(lens), "max": max(lens)}
    return timed, {"lens": [lens[i % len(lens)] for i in range(len(timed))], "prompt_len": spread}


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


def timed_one_pass(
    scorer: SequenceScorer,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
    *,
    normalize: bool,
) -> Timing:
    """Exactly the work of predicting one label with a scorer that runs one pass per prompt
    (``_tree.TreeScorer``), timed: the whole request is that pass, so it counts as the prefill,
    with the label tokens it carried."""
    t0 = time.perf_counter()
    choice = choice_of(scorer.score([prompt_ids], [candidates])[0], candidates, labels, normalize=normalize)
    total = time.perf_counter() - t0
    if choice.passes != 1:
        raise EvaluatorError(f"a one-pass request ran {choice.passes} forward passes")
    return Timing(total, total, 0.0, choice.passes, 0, 0, label_tokens_in_prefill=choice.steps)
