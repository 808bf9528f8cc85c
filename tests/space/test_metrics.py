"""Metrics are declared once; the space, the runner and Olive's goals read the same registry."""

from __future__ import annotations

import pytest

from autotune.errors import SpaceError
from autotune.load.space_file import load_space
from autotune.space.metrics import METRICS, collect, get_metric, higher_is_better, olive_metric
from tests.conftest import tiny_raw, write_space


def test_collect_picks_each_source_and_interval_ends() -> None:
    onnx = {"accuracy": 0.75, "accuracy_ci95": [0.6, 0.86], "margin_mean": 1.5, "n": 40}
    assert collect("eval-onnx", onnx) == {
        "accuracy": 0.75,
        "accuracy_low": 0.6,
        "accuracy_high": 0.86,
        "label_margin": 1.5,
    }
    assert collect("eval-torch", onnx)["torch_accuracy_high"] == 0.86
    latency = {"p50_ms": 10.0, "p90_ms": 12.0, "mean_ms": 11.0, "decode_passes_per_s": 90.0}
    got = collect("latency", latency)
    assert got["latency_p90_ms"] == 12.0 and got["decode_passes_per_s"] == 90.0
    assert "prefill_tokens_per_s" not in got  # absent from the output: not invented


def test_every_metric_names_a_direction_and_unit() -> None:
    for m in METRICS.values():
        assert m.direction in ("maximize", "minimize") and m.unit and m.description
    assert higher_is_better("decode_passes_per_s") and not higher_is_better("latency_p90_ms")
    assert olive_metric("latency", "p90") == "latency_p90_ms"
    assert olive_metric("accuracy", "accuracy_score") == "accuracy"


def test_space_refuses_old_names_and_confirm_metrics(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="renamed: use decode_passes_per_s"):
        get_metric("decode_tokens_per_s")
    from pathlib import Path

    root = Path(str(tmp_path))
    bad = tiny_raw(objectives=[{"metric": "confirm_accuracy", "direction": "maximize"}])
    with pytest.raises(
        SpaceError, match=r"objectives\.0\.metric: 'confirm_accuracy' is measured on the confirm"
    ):
        load_space(str(write_space(root / "a.yaml", bad)))
    old = tiny_raw(constraints=[{"metric": "decode_tokens_per_s", "op": ">=", "value": 1}])
    with pytest.raises(SpaceError, match="renamed"):
        load_space(str(write_space(root / "b.yaml", old)))
