"""Label candidates, and trie-constrained greedy decoding (``method="greedy"``).

The model picks one of the labels, never anything else. The algorithm is
backend-independent: it talks to a model through the small ``Decoder`` protocol, and to a
tokenizer through an ``encode`` callable. Whole-label scoring (the default) is in
``_scoring``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Encode = Callable[[str], Sequence[int]]


class Decoder(Protocol):
    """Incremental next-token logits of one sequence.

    ``start`` resets the state, runs the prompt and returns the logits of its last position;
    ``feed`` appends one token and returns the logits after it. Logits are 1-D numpy arrays.
    """

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.floating]: ...

    def feed(self, token_id: int) -> npt.NDArray[np.floating]: ...


@dataclass(frozen=True)
class LabelChoice:
    """The label chosen for one prompt, how sure the rule was, and what it cost.

    ``steps``: tokens fed after the prompt; ``passes``: forward passes run over this
    prompt's sequence, its prefill included (a batched pass counts once for each prompt it
    carries). ``scores``: each label's score, in ``label_set`` order (method
    "score": summed or mean log-probability; greedy: empty, it scores no whole label).
    ``margin``: chosen minus runner-up score (greedy: the smallest log-probability gap
    between the token taken and the best other allowed token over its decisions); ``inf``
    when there is a single label.
    """

    index: int
    label: str
    steps: int
    passes: int = 0
    scores: tuple[float, ...] = ()
    margin: float = math.inf


def candidate_sequences(
    encode: Encode,
    prompt: str,
    labels: Sequence[str],
    eos_id: int | None,
) -> list[tuple[int, ...]]:
    """Token sequences that would spell each label right after ``prompt``.

    A label's tokens are ``encode(prompt + label)[len(encode(prompt)):]`` when the prompt's
    tokens are a prefix of that encoding, else the label encoded alone (special tokens that
    ``encode`` adds to any text are stripped). ``eos_id`` is appended when given. Raises
    ValueError if a candidate is empty or a prefix of another, since then no greedy choice
    can tell them apart.
    """
    prompt_ids = list(encode(prompt))
    specials = list(encode(""))
    out: list[tuple[int, ...]] = []
    for label in labels:
        full = list(encode(prompt + label))
        if full[: len(prompt_ids)] == prompt_ids:
            ids = full[len(prompt_ids) :]
        else:
            ids = list(encode(label))
            if specials and ids[: len(specials)] == specials:
                ids = ids[len(specials) :]
        if eos_id is not None:
            ids.append(eos_id)
        if not ids:
            raise ValueError(f"label {label!r} encodes to no tokens after the prompt")
        out.append(tuple(int(i) for i in ids))
    _check_prefix_free(out, labels)
    return out


def _check_prefix_free(cands: Sequence[tuple[int, ...]], labels: Sequence[str]) -> None:
    for i, a in enumerate(cands):
        for j, b in enumerate(cands):
            if i != j and len(a) <= len(b) and b[: len(a)] == a:
                raise ValueError(
                    f"labels {labels[i]!r} and {labels[j]!r} are not distinguishable: tokens "
                    f"{list(a)} are a prefix of {list(b)} (use eos=True or distinct labels)"
                )


def choose_label(
    decoder: Decoder,
    prompt_ids: Sequence[int],
    candidates: Sequence[tuple[int, ...]],
    labels: Sequence[str],
) -> LabelChoice:
    """Greedy decoding restricted to the candidates' trie; stops when one candidate remains.

    At each step only tokens that continue a still-possible candidate are allowed; the
    allowed token with the highest logit is taken (ties go to the lowest token id). A
    single label needs no model (0 passes).
    """
    if len(candidates) != len(labels) or not candidates:
        raise ValueError("need one non-empty candidate sequence per label")
    alive = list(range(len(candidates)))
    if len(alive) == 1:
        return LabelChoice(0, labels[0], 0)
    logits = decoder.start(prompt_ids)
    pos = 0
    steps = 0
    margin = math.inf
    while True:
        allowed = np.array(sorted({candidates[i][pos] for i in alive}), dtype=np.int64)
        row = np.asarray(logits, dtype=np.float64).reshape(-1)
        if int(allowed.max()) >= row.shape[0]:
            raise ValueError(f"token id {int(allowed.max())} is outside the logits ({row.shape[0]})")
        best = int(np.argmax(row[allowed]))
        token = int(allowed[best])
        if len(allowed) > 1:  # a gap of logits is the gap of log-probabilities
            margin = min(margin, float(row[token] - np.max(np.delete(row[allowed], best))))
        alive = [i for i in alive if candidates[i][pos] == token]
        pos += 1
        if len(alive) == 1:
            return LabelChoice(alive[0], labels[alive[0]], steps, passes=1 + steps, margin=margin)
        logits = decoder.feed(token)
        steps += 1


def longest_candidate(
    encode: Encode, prompts: Sequence[str], labels: Sequence[str], eos_id: int | None
) -> int:
    """Length in tokens of the longest label continuation over ``prompts``."""
    return max(len(seq) for p in prompts for seq in candidate_sequences(encode, p, labels, eos_id))
