"""Greedy generation of a free answer, one rule for every runtime.

The loop talks to a model through the small ``Stepper`` protocol: the PyTorch side takes the
argmax of a ``Decoder``'s logits (``ArgmaxStepper``), ONNX Runtime GenAI runs its own greedy
search (``_genai.GenaiGreedy``). An answer ends at an EOS id, at ``max_new_tokens`` tokens, or
once its decoded text contains a stop string; its text is cut before the first stop string.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from ._constrained import Decoder

Stopped = Literal["eos", "stop", "length"]
STOP_REASONS: tuple[Stopped, ...] = ("eos", "stop", "length")


@dataclass(frozen=True)
class GreedyAnswer:
    """One greedy answer.

    ``text``: the new tokens decoded (special tokens skipped; EOS is not text), cut before the
    first stop string, stripped. ``token_ids``: every token generated, the EOS that ended it
    included. ``passes``: forward passes run: the prompt's prefill plus one per token fed back
    (every token but the last), so ``passes == len(token_ids)``. ``stopped``: what ended it.
    """

    text: str
    token_ids: tuple[int, ...]
    passes: int
    stopped: Stopped


class Stepper(Protocol):
    """Greedy next tokens of one sequence.

    ``first`` starts a new sequence: it runs the prompt (the prefill) and returns the token the
    prefill's logits give, with room for ``max_new_tokens`` new tokens. ``next`` feeds the
    last token returned (one forward pass) and returns the one after it.
    """

    def first(self, prompt_ids: Sequence[int], max_new_tokens: int) -> int: ...

    def next(self) -> int: ...


class ArgmaxStepper:
    """A ``Stepper`` over a ``Decoder``: the token of the highest logit (ties: the lowest id)."""

    def __init__(self, decoder: Decoder) -> None:
        self._decoder = decoder
        self._last = -1

    def _take(self, logits: npt.NDArray[np.floating]) -> int:
        self._last = int(np.argmax(np.asarray(logits).reshape(-1)))
        return self._last

    def first(self, prompt_ids: Sequence[int], max_new_tokens: int) -> int:
        return self._take(self._decoder.start(prompt_ids))

    def next(self) -> int:
        if self._last < 0:
            raise RuntimeError("next() before first()")
        return self._take(self._decoder.feed(self._last))


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the earliest occurrence of any stop string (all of it if none occurs)."""
    ends = [i for i in (text.find(s) for s in stop) if i >= 0]
    return text[: min(ends)] if ends else text


def greedy_generate(
    stepper: Stepper,
    prompt_ids: Sequence[int],
    *,
    eos_ids: Collection[int],
    max_new_tokens: int,
    stop: Sequence[str],
    decode: Callable[[Sequence[int]], str],
) -> GreedyAnswer:
    """Greedy tokens after the prompt until an EOS id, a stop string in the text, or the cap.

    Checked after each token in that order: a token in ``eos_ids`` ends the answer ("eos"),
    then a stop string in the decoded tokens ("stop"), then ``max_new_tokens`` ("length").
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    tokens = [stepper.first(prompt_ids, max_new_tokens)]
    while True:
        if tokens[-1] in eos_ids:
            stopped: Stopped = "eos"
            break
        if stop and any(s in decode(tokens) for s in stop):
            stopped = "stop"
            break
        if len(tokens) >= max_new_tokens:
            stopped = "length"
            break
        tokens.append(stepper.next())
    body = tokens[:-1] if stopped == "eos" else tokens
    text = cut_at_stop(decode(body), stop).strip()
    return GreedyAnswer(text, tuple(tokens), len(tokens), stopped)
