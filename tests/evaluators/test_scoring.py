"""Whole-label scoring against a backend whose logits the test chooses."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from evaluators import choose, choose_label, score_labels

EOS = 2
VOCAB = 64
DISTRACTOR = 7  # an out-of-label token that takes most of the probability


class TableBackend:
    """Logits looked up by the tokens fed after the prompt; records every call."""

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]]) -> None:
        self.table = table
        self.fed: list[int] = []
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def row(self, prefix: tuple[int, ...]) -> npt.NDArray[np.float32]:
        row = np.zeros(VOCAB, dtype=np.float32)
        row[DISTRACTOR] = 5.0
        for token, value in self.table.get(prefix, {}).items():
            row[token] = value
        return row

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        self.calls.append(("start", tuple(prompt_ids)))
        self.fed = []
        return self.row(())

    def feed(self, token_id: int) -> npt.NDArray[np.float32]:
        self.calls.append(("feed", (token_id,)))
        self.fed.append(token_id)
        return self.row(tuple(self.fed))

    def extend(self, token_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        self.calls.append(("extend", tuple(token_ids)))
        rows = []
        for t in token_ids:
            self.fed.append(t)
            rows.append(self.row(tuple(self.fed)))
        return np.stack(rows)

    def rewind(self) -> None:
        self.calls.append(("rewind", ()))
        self.fed = []


def logp(backend: TableBackend, seq: tuple[int, ...]) -> float:
    """Summed log-probability of ``seq`` after the prompt, computed token by token."""
    total = 0.0
    for i, token in enumerate(seq):
        row = backend.row(seq[:i]).astype(np.float64)
        total += float(row[token] - np.logaddexp.reduce(row))
    return total


# SmolLM2 spells sadness as s|ad|ness; joy is one token.
LABELS = ("sadness", "joy")
CANDS = [(10, 11, 12, EOS), (20, EOS)]
# "s" is the likeliest first token, but "ad" after it is very unlikely; joy then ends cleanly.
FIRST_TOKEN_TRAP = {
    (): {10: 3.0, 20: 2.0},
    (10,): {11: -4.0},
    (10, 11): {12: 8.0},
    (10, 11, 12): {EOS: 8.0},
    (20,): {EOS: 8.0},
}


def test_whole_label_score_beats_a_likely_first_token_where_greedy_commits() -> None:
    greedy = choose_label(TableBackend(FIRST_TOKEN_TRAP), [1], CANDS, LABELS)
    backend = TableBackend(FIRST_TOKEN_TRAP)
    scored = score_labels(backend, [1], CANDS, LABELS)
    assert (greedy.label, scored.label) == ("sadness", "joy")
    expected = [logp(backend, c) for c in CANDS]
    assert expected[1] > expected[0]
    np.testing.assert_allclose(scored.scores, expected, rtol=1e-9)
    assert scored.margin == pytest.approx(expected[1] - expected[0])
    # Greedy's margin is the first-token logit gap (its only decision).
    assert greedy.margin == pytest.approx(1.0) and greedy.scores == ()


def test_each_candidate_is_fed_without_its_last_token_in_one_pass_then_rewound() -> None:
    backend = TableBackend(FIRST_TOKEN_TRAP)
    choice = score_labels(backend, [1, 2], CANDS, LABELS)
    assert backend.calls == [
        ("start", (1, 2)),
        ("extend", (10, 11, 12)),
        ("rewind", ()),
        ("extend", (20,)),
        ("rewind", ()),
    ]
    assert (choice.passes, choice.steps) == (3, 4)


def test_single_token_candidates_need_no_pass_after_the_prefill() -> None:
    backend = TableBackend({(): {20: 1.0, 30: 2.0}})
    choice = score_labels(backend, [1], [(10, 11), (20,), (30,)], ("a", "b", "c"))
    assert [c[0] for c in backend.calls] == ["start", "extend", "rewind"]
    assert (choice.label, choice.passes, choice.steps) == ("c", 2, 1)


def test_margin_is_best_minus_runner_up_and_scores_follow_label_order() -> None:
    table = {(): {10: 1.0, 20: 3.0, 30: 2.0}}
    backend = TableBackend(table)
    choice = score_labels(backend, [1], [(10,), (20,), (30,)], ("a", "b", "c"))
    assert (choice.index, choice.label) == (1, "b")
    a, b, c = choice.scores
    assert b > c > a and choice.margin == pytest.approx(b - c) == pytest.approx(1.0)


class LogpBackend(TableBackend):
    """The table holds log-probabilities, not logits: the rest of the mass goes elsewhere."""

    def row(self, prefix: tuple[int, ...]) -> npt.NDArray[np.float32]:
        wanted = self.table.get(prefix, {})
        row = np.full(VOCAB, -np.inf, dtype=np.float64)
        for token, value in wanted.items():
            row[token] = value
        row[DISTRACTOR] = math.log(1.0 - sum(math.exp(v) for v in wanted.values()))
        return row.astype(np.float32)


def test_normalize_divides_by_length_and_can_change_the_decision() -> None:
    # short: 2 tokens, total -3 (mean -1.5); long: 4 tokens, total -4 (mean -1.0).
    short, long = (20, EOS), (30, 31, 32, EOS)
    table = {
        (): {20: -1.0, 30: -1.0},
        (20,): {EOS: -2.0},
        (30,): {31: -1.0},
        (30, 31): {32: -1.0},
        (30, 31, 32): {EOS: -1.0},
    }
    total = score_labels(LogpBackend(table), [1], [short, long], ("short", "long"))
    mean = score_labels(LogpBackend(table), [1], [short, long], ("short", "long"), normalize=True)
    np.testing.assert_allclose(total.scores, [-3.0, -4.0], atol=1e-6)
    np.testing.assert_allclose(mean.scores, [-1.5, -1.0], atol=1e-6)
    assert (total.label, mean.label) == ("short", "long")
    assert mean.margin == pytest.approx(0.5, abs=1e-6) and total.margin == pytest.approx(1.0, abs=1e-6)


def test_ties_go_to_the_earlier_label_with_zero_margin() -> None:
    choice = score_labels(TableBackend({(): {10: 1.0, 20: 1.0}}), [1], [(10,), (20,)], ("a", "b"))
    assert (choice.label, choice.margin) == ("a", 0.0)


def test_one_label_is_scored_with_infinite_margin() -> None:
    choice = score_labels(TableBackend({}), [1], [(10, EOS)], ("only",))
    assert (choice.label, choice.passes, choice.margin) == ("only", 2, math.inf)


def test_choose_dispatches_by_method() -> None:
    assert choose(TableBackend(FIRST_TOKEN_TRAP), [1], CANDS, LABELS).label == "joy"
    assert choose(TableBackend(FIRST_TOKEN_TRAP), [1], CANDS, LABELS, method="greedy").label == "sadness"
    with pytest.raises(ValueError, match="unknown method 'beam'"):
        choose(TableBackend({}), [1], CANDS, LABELS, method="beam")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalize applies to method='score' only"):
        choose(TableBackend({}), [1], CANDS, LABELS, method="greedy", normalize=True)


def test_bad_logits_and_tokens_are_refused() -> None:
    class Short(TableBackend):
        def extend(self, token_ids: Sequence[int]) -> npt.NDArray[np.float32]:
            return super().extend(token_ids)[-1:]  # only the last position, like get_logits()

    with pytest.raises(ValueError, match=r"extend\(3 tokens\) gave logits of shape \(1, 64\)"):
        score_labels(Short({}), [1], CANDS, LABELS)
    with pytest.raises(ValueError, match="token id 99 is outside the logits"):
        score_labels(TableBackend({}), [1], [(99, EOS), (20, EOS)], LABELS)
    with pytest.raises(ValueError, match="one non-empty candidate sequence per label"):
        score_labels(TableBackend({}), [1], [(10,)], LABELS)
