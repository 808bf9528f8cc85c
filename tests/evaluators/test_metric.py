"""The label_accuracy evaluate module, loaded by path, on hand-made predictions."""

from __future__ import annotations

import pytest

from evaluators._metric import METRIC_DIR, label_accuracy


def test_string_labels_give_exact_accuracy_recall_and_confusion() -> None:
    result = label_accuracy(
        predictions=["joy", "joy", "fear", "sadness", "joy"],
        references=["joy", "fear", "fear", "fear", "sadness"],
        labels=["joy", "fear", "sadness", "surprise"],
    )
    assert result["accuracy"] == pytest.approx(2 / 5)
    assert result["n"] == 5
    assert result["per_label_recall"] == {
        "joy": 1.0,
        "fear": pytest.approx(1 / 3),
        "sadness": 0.0,
        "surprise": None,  # no gold example
    }
    assert result["confusion"] == {
        "labels": ["joy", "fear", "sadness", "surprise"],
        "matrix": [[1, 0, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]],
    }


def test_label_indices_and_default_order() -> None:
    result = label_accuracy(predictions=[0, 1, 1, 2], references=[0, 1, 2, 2])
    assert result["accuracy"] == 0.75
    assert result["per_label_recall"] == {0: 1.0, 1: 1.0, 2: 0.5}
    assert result["confusion"]["matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_labels_outside_the_given_order_are_an_error() -> None:
    with pytest.raises(ValueError, match="not in the label order"):
        label_accuracy(predictions=["joy"], references=["anger"], labels=["joy"])


def test_module_keeps_one_import_per_line() -> None:
    source = (METRIC_DIR / "label_accuracy.py").read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and all("," not in line for line in imports)
