"""Trie-constrained greedy decoding against a decoder whose logits the test chooses."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from evaluators import candidate_sequences, choose_label

EOS = 2
VOCAB = 4000


class TableDecoder:
    """Logits looked up by the tokens fed so far; records every call."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]]) -> None:
        self.table = table
        self.fed: list[int] = []
        self.starts = 0

    def _logits(self) -> npt.NDArray[np.float32]:
        row = np.zeros(VOCAB, dtype=np.float32)
        row[7] = 100.0  # an out-of-trie token that unconstrained greedy would pick
        for token, value in self.table.get(tuple(self.fed), {}).items():
            row[token] = value
        return row

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        self.starts += 1
        self.fed = []
        return self._logits()

    def feed(self, token_id: int) -> npt.NDArray[np.float32]:
        self.fed.append(token_id)
        return self._logits()


LABELS = ("sad", "sadness", "joy")
CANDS = [(99, 344, EOS), (99, 344, 924, EOS), (2641, EOS)]


def test_picks_best_allowed_token_and_stops_when_one_candidate_is_left() -> None:
    dec = TableDecoder({(): {99: 5.0, 2641: 4.0}, (99, 344): {924: 3.0, EOS: 1.0}})
    choice = choose_label(dec, [1, 2, 3], CANDS, LABELS)
    assert (choice.label, choice.index, choice.steps) == ("sadness", 1, 2)
    assert dec.fed == [99, 344]  # 924 decided it: EOS is never fed
    # The prefill and two feeds; the closest call was 99 over 2641 (5 - 4), not 924 over EOS.
    assert (choice.passes, choice.margin, choice.scores) == (3, 1.0, ())


def test_eos_ends_the_shorter_label() -> None:
    dec = TableDecoder({(): {99: 5.0}, (99, 344): {924: 1.0, EOS: 3.0}})
    assert choose_label(dec, [1], CANDS, LABELS).label == "sad"


def test_first_token_decides_without_feeding() -> None:
    dec = TableDecoder({(): {99: 1.0, 2641: 2.0}})
    choice = choose_label(dec, [1], CANDS, LABELS)
    assert (choice.label, choice.steps, dec.fed, choice.passes) == ("joy", 0, [], 1)


def test_single_label_needs_no_model() -> None:
    dec = TableDecoder({})
    choice = choose_label(dec, [1], [(5, EOS)], ("only",))
    assert (choice.label, choice.passes, choice.margin) == ("only", 0, math.inf)
    assert dec.starts == 0


def test_random_logits_always_give_a_label_whose_tokens_were_fed() -> None:
    rng = np.random.default_rng(0)

    class RandomDecoder(TableDecoder):
        def _logits(self) -> npt.NDArray[np.float32]:
            return rng.normal(size=VOCAB).astype(np.float32)

    for _ in range(200):
        dec = RandomDecoder({})
        choice = choose_label(dec, [1], CANDS, LABELS)
        assert choice.label in LABELS
        assert tuple(dec.fed) == CANDS[choice.index][: len(dec.fed)]
        assert choice.passes == dec.starts + len(dec.fed) and choice.margin >= 0


def _chars(text: str) -> list[int]:
    return [ord(c) for c in text]


def test_candidates_continue_the_prompt_tokens_and_end_with_eos() -> None:
    assert candidate_sequences(_chars, "ab", ["cd", "e"], EOS) == [(99, 100, EOS), (101, EOS)]
    assert candidate_sequences(_chars, "ab", ["cd", "e"], None) == [(99, 100), (101,)]


def test_candidates_fall_back_to_the_label_alone_when_tokens_merge_across_the_boundary() -> None:
    def encode(text: str) -> list[int]:  # a BOS, and "xy" merges into one token
        ids, i = [1], 0
        while i < len(text):
            if text.startswith("xy", i):
                ids.append(500)
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return ids

    # "x" + "yz" encodes as [1, 500, 122]: not an extension of [1, 120] -> encode("yz") minus BOS.
    assert candidate_sequences(encode, "x", ["yz", "q"], EOS) == [(121, 122, EOS), (113, EOS)]


def test_labels_that_cannot_be_told_apart_are_refused() -> None:
    with pytest.raises(ValueError, match="'sad' and 'sadness' are not distinguishable"):
        candidate_sequences(_chars, "p", ["sad", "sadness"], None)
    with pytest.raises(ValueError, match="not distinguishable"):
        candidate_sequences(lambda t: [len(t)], "p", ["ab", "cd"], EOS)  # same tokens
