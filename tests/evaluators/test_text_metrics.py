"""The rouge_l, chrf and exact_match evaluate modules, loaded by path, on hand-made answers."""

from __future__ import annotations

import pytest

from evaluators._metric import METRICS, text_scores


def test_rouge_l_is_the_f_measure_of_the_longest_common_subsequence() -> None:
    scores = text_scores(
        "rouge_l",
        ["the cat sat", "a b c d", "Police KILLED the gunman!", "", "x"],
        ["the cat sat on", "a c d e", "police killed the gunman", "anything", "y"],
    )
    # LCS 3 of 3 predicted and 4 reference words: P 1, R 3/4; "a c d" of 4 and 4: P = R = 3/4;
    # case and punctuation do not count; an empty answer and no common word score 0.
    assert scores == pytest.approx([2 * 1 * 0.75 / 1.75, 0.75, 1.0, 0.0, 0.0])


def test_chrf_is_per_sentence_on_a_zero_to_one_scale() -> None:
    scores = text_scores(
        "chrf", ["abc", "ab", "a b", "", "same text"], ["abd", "abc", "ab", "x", "same text"]
    )
    # abc/abd: 1-grams P = R = 2/3, 2-grams P = R = 1/2, no common 3-gram: mean P = R = 7/18.
    # ab/abc: P = 1 at orders 1 and 2, R = 2/3 and 1/2 (mean 7/12); F-beta 2 = 5PR / (4P + R) = 7/11.
    # Whitespace is not a character of chrF: "a b" is "ab".
    assert scores == pytest.approx([7 / 18, 7 / 11, 1.0, 0.0, 1.0])


def test_chrf_mean_is_the_mean_of_sentences_not_the_corpus_score() -> None:
    from sacrebleu.metrics.chrf import CHRF

    predictions, references = ["abc", "x y z"], ["abd", "x y"]
    scores = text_scores("chrf", predictions, references)
    corpus = CHRF().corpus_score(predictions, [references]).score / 100
    assert sum(scores) / 2 == pytest.approx((7 / 18 + 0.875) / 2)
    assert abs(sum(scores) / 2 - corpus) > 0.1


def test_exact_match_normalises_as_squad_does() -> None:
    pairs = [
        ("The Eiffel Tower!", "eiffel tower", 1.0),  # case, punctuation, article
        ("an apple", "Apple.", 1.0),
        ("Paris,   France", "paris france", 1.0),  # whitespace collapsed
        ("theatre", "atre", 0.0),  # articles only as whole words
        ("answers", "answer", 0.0),
        ("", "a", 1.0),  # both normalise to ""
        ("joy", "joy\n", 1.0),
    ]
    scores = text_scores("exact_match", [p for p, _, _ in pairs], [r for _, r, _ in pairs])
    assert scores == [e for _, _, e in pairs]


def test_modules_return_the_mean_and_refuse_mismatched_input() -> None:
    import evaluate

    for name, key in (("rouge_l", "rouge_l"), ("chrf", "chrf"), ("exact_match", "exact_match")):
        metric = evaluate.load(str(METRICS / name), keep_in_memory=True)
        result = metric.compute(predictions=["abc d", "x"], references=["abc d", "y"])
        assert result == {key: pytest.approx(0.5), "scores": [pytest.approx(1.0), 0.0], "n": 2}
    with pytest.raises(ValueError):
        text_scores("rouge_l", ["a", "b"], ["a"])


@pytest.mark.parametrize("name", ["rouge_l", "chrf", "exact_match"])
def test_modules_keep_one_import_per_line(name: str) -> None:
    source = (METRICS / name / f"{name}.py").read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all("," not in line for line in imports)
