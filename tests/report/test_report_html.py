"""report.html: the data behind the plots, and the page itself in a real headless Chromium."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from autotune.report.html import pareto_figure
from tests.report.test_report import _study, constrained_space

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def test_pareto_figure_groups_and_shades() -> None:
    from autotune.report.build import build_report

    space = constrained_space(accuracy=0.8, p90_ms=50)
    runs = [
        {"accuracy": 0.95, "latency_p90_ms": 40.0, "size_mb": 90.0},
        {"accuracy": 0.90, "latency_p90_ms": 45.0, "size_mb": 100.0},
        {"accuracy": 0.70, "latency_p90_ms": 10.0, "size_mb": 80.0},
    ]
    plans = [
        {
            "chain": chain,
            "target": "cpu",
            "params": {"lora": {"rank": rank, "learning_rate": lr}, "build": {"precision": precision}},
        }
        for chain, rank, lr, precision in (
            (["lora", "merge", "build"], 8, 0.001234, "int4"),
            (["lora", "merge", "build"], 16, 0.003, "int8"),
            (["lora", "merge", "build", "quantize"], 4, 0.002, "fp32"),
        )
    ]
    report = build_report(_study(space, runs, plans=plans), space)
    fig = pareto_figure(report, space)
    names = [t.name for t in fig.data]
    assert names == ["Pareto front (feasible)", "feasible, dominated", "infeasible", "winner"]
    assert list(fig.data[0].x) == [40.0] and list(fig.data[2].y) == [0.70]
    rect = fig.layout.shapes[0]
    assert (rect.x1, rect.y0) == (50, 0.8)
    assert fig.layout.xaxis.range[1] == pytest.approx(45.0 * 1.15)
    # A limit beyond every trial: the shaded region runs to the edge of the plot, not short of it.
    loose = space.model_copy(update={"constraints": [space.constraints[0].model_copy(), _limit(space, 500)]})
    wide = pareto_figure(build_report(_study(loose, runs), loose), loose)
    assert wide.layout.shapes[0].x1 == wide.layout.xaxis.range[1] == pytest.approx(45.0 * 1.15)
    # Hovering a point shows that trial's chain, metrics and every parameter of its plan.
    hover = {t.name: (t.hovertext or t.text) for t in fig.data}
    assert hover["Pareto front (feasible)"][0].split("<br>") == [
        "trial 0 (lora>merge>build)",
        "accuracy (search) 0.950",
        "p90 40.0 ms, size 90 MB",
        "lora.rank = 8",
        "lora.learning_rate = 0.00123",
        "build.precision = int4",
    ]
    assert hover["winner"] == hover["Pareto front (feasible)"]
    dominated, infeasible = hover["feasible, dominated"][0], hover["infeasible"][0]
    assert dominated.startswith("trial 1 (lora>merge>build)<br>") and dominated.endswith(
        "lora.rank = 16<br>lora.learning_rate = 0.003<br>build.precision = int8"
    )
    assert infeasible.startswith("trial 2 (lora>merge>build>quantize)<br>")
    assert "lora.rank = 4" in infeasible and "build.precision = fp32" in infeasible


def test_intervals_and_confirm_figures_are_drawn() -> None:
    from autotune.report.build import CONFIRM_ATTR, build_report

    space = constrained_space(accuracy=0.8, p90_ms=50)
    runs = [
        {
            "accuracy": 0.95,
            "accuracy_low": 0.85,
            "accuracy_high": 0.98,
            "latency_p90_ms": 40.0,
            "size_mb": 9.0,
        },
        {"accuracy": 0.70, "latency_p90_ms": 10.0, "size_mb": 8.0},
    ]
    study = _study(space, runs)
    confirm = {"confirm_accuracy": 0.9, "confirm_accuracy_low": 0.8, "confirm_accuracy_high": 0.96}
    study.set_user_attr(f"{CONFIRM_ATTR}0", {"metrics": confirm, "n": 50})
    fig = pareto_figure(build_report(study, space), space)
    front = next(t for t in fig.data if t.name == "Pareto front (feasible)")
    assert list(front.error_y.array) == pytest.approx([0.03]) and list(
        front.error_y.arrayminus
    ) == pytest.approx([0.10])
    infeasible = next(t for t in fig.data if t.name == "infeasible")
    assert list(infeasible.error_y.array) == [0.0]  # no interval known: no bar
    shown = next(t for t in fig.data if t.name == "confirm split (never searched)")
    assert list(shown.y) == [0.9] and list(shown.error_y.arrayminus) == pytest.approx([0.1])
    assert "accuracy (confirm) 0.900 [0.800, 0.960]" in shown.text[0]


def _limit(space: Any, value: float) -> Any:
    return space.constraints[1].model_copy(update={"value": value})


def _non_blank(png: bytes) -> int:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").resize((200, 120))
    return len(set(img.getdata()))


@pytest.mark.browser
def test_report_in_headless_chromium(tiny_study: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("AUTOTUNE_SKIP_BROWSER"):
            pytest.skip("AUTOTUNE_SKIP_BROWSER is set")
        pytest.fail("chromium is not installed: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    page_file = tiny_study / "report.html"
    assert page_file.is_file()
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(  # a fresh --user-data-dir
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_file.as_uri(), wait_until="load")
        page.wait_for_timeout(500)
        assert errors == []
        assert [u for u in requests if not u.startswith(("file:", "data:", "blob:"))] == []
        report = json.loads((tiny_study / "report.json").read_text())
        assert report["winner"] is not None
        for name in ("pareto", "history", "confusion", "recall"):
            plot = page.locator(f"#{name} .plotly-graph-div")
            assert plot.count() == 1, name
            assert _non_blank(plot.screenshot()) > 20, name
        assert page.locator("#pareto .scatterlayer .point").count() >= 1
        assert page.locator("div[id^=importance-] .plotly-graph-div").count() >= 1
        # the front with both accuracy figures: the winner's confirm figure was measured
        winner_row = page.locator("#front tr", has_text="(winner)")
        assert winner_row.count() == 1
        cells = winner_row.locator("td")
        assert cells.nth(1).inner_text().startswith("0.") and cells.nth(2).inner_text().startswith(
            ("0.", "1.")
        )
        shot = tmp_path / "pareto.png"
        page.locator("#pareto").screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        # the table sorts by a click on a header, numerically, both ways
        header = page.locator("#trials th", has_text="trial").first
        header.click()
        first = [page.locator("#trials tbody tr").nth(i).locator("td").first.inner_text() for i in range(3)]
        header.click()
        again = [page.locator("#trials tbody tr").nth(i).locator("td").first.inner_text() for i in range(3)]
        assert first == ["0", "1", "2"] and again == ["2", "1", "0"]
        browser.close()


def test_importance_leaves_out_parameters_that_never_varied() -> None:
    """A build sweep runs many trials on one fine-tune: its learning rate never varies there and
    explains nothing, so the importance plot must not give it a share."""
    import optuna

    from autotune.report.html import _varying_params

    study = optuna.create_study(directions=["maximize"])
    for i in range(6):
        study.enqueue_trial({"lora.learning_rate": 0.003, "build.precision": ["int4", "fp16"][i % 2]})
        t = study.ask()
        t.suggest_float("lora.learning_rate", 1e-4, 1e-2, log=True)
        t.suggest_categorical("build.precision", ["int4", "fp16"])
        if i < 5:
            t.suggest_int("only.some", 1, 3)
        study.tell(t, float(i % 2))
    assert _varying_params(study) == ["build.precision"]


def _write_page(report: Any, study: Any, space: Any, tmp_path: Path) -> str:
    from autotune.report.html import write_html_report

    return write_html_report(report, study, space, tmp_path).read_text(encoding="utf-8")


def test_axes_follow_the_objectives_without_a_latency_one(tmp_path: Path) -> None:
    """Objectives accuracy and size: size is the x axis, shaded by its own limit; the latency
    limit is no axis, so it shades nothing; and the page renders."""
    from autotune.report.build import build_report
    from autotune.space.schema import Space
    from tests.conftest import tiny_raw

    space = Space.model_validate(
        tiny_raw(
            objectives=[
                {"metric": "accuracy", "direction": "maximize"},
                {"metric": "size_mb", "direction": "minimize"},
            ],
            constraints=[
                {"metric": "accuracy", "op": ">=", "value": 0.8},
                {"metric": "size_mb", "op": "<=", "value": 95},
                {"metric": "latency_p90_ms", "op": "<=", "value": 50},
            ],
        )
    )
    runs = [
        {"accuracy": 0.95, "latency_p90_ms": 40.0, "size_mb": 90.0},
        {"accuracy": 0.90, "latency_p90_ms": 45.0, "size_mb": 80.0},
        {"accuracy": 0.70, "latency_p90_ms": 10.0, "size_mb": 120.0},
    ]
    study = _study(space, runs)
    report = build_report(study, space)
    fig = pareto_figure(report, space)
    front = next(t for t in fig.data if t.name == "Pareto front (feasible)")
    assert sorted(front.x) == [80.0, 90.0] and sorted(front.y) == [0.90, 0.95]
    assert fig.layout.xaxis.title.text == "size_mb (MB)"
    assert fig.layout.xaxis.range[1] == pytest.approx(120.0 * 1.15)
    assert len(fig.layout.shapes) == 1 and (fig.layout.shapes[0].x1, fig.layout.shapes[0].y0) == (95, 0.8)
    assert "p90 40.0 ms, size 90 MB" in front.text[list(front.x).index(90.0)]
    page = _write_page(report, study, space, tmp_path)
    assert "size_mb (MB)" in page and 'id="pareto-plot"' in page


def test_rows_lacking_an_axis_metric_are_left_out_and_the_page_renders(tmp_path: Path) -> None:
    from autotune.report.build import build_report

    space = constrained_space(accuracy=0.8, p90_ms=50)
    runs = [
        {"accuracy": 0.95, "latency_p90_ms": 40.0, "size_mb": 90.0},
        {"accuracy": 0.90, "latency_p90_ms": 30.0, "size_mb": 100.0},
        {"accuracy": 0.70, "latency_p90_ms": 10.0, "size_mb": 80.0},
    ]
    study = _study(space, runs)
    report = build_report(study, space)
    del report.row(1).metrics["latency_p90_ms"]  # e.g. a latency run that recorded nothing
    del report.row(2).metrics["accuracy"]
    fig = pareto_figure(report, space)
    assert report.winner == 1 and "winner" not in [t.name for t in fig.data]  # it has no p90
    assert {h.split(" ")[1] for t in fig.data for h in (t.hovertext or t.text)} == {"0"}
    assert all(len(t.x) == len(t.y) == len(t.hovertext or t.text) for t in fig.data)
    page = _write_page(report, study, space, tmp_path)
    assert 'id="pareto-plot"' in page and 'id="history-plot"' in page


def test_a_generation_study_plots_its_own_metrics_and_shows_answers(tmp_path: Path) -> None:
    """ROUGE-L (search and confirm) against time to first token; no confusion matrix, the
    winner's first answers instead."""
    from autotune.report.build import CONFIRM_ATTR, build_report
    from autotune.space.schema import Space
    from tests.conftest import REPO, tiny_raw

    raw = tiny_raw(
        task="generation",
        objectives=[
            {"metric": "rouge_l", "direction": "maximize"},
            {"metric": "ttft_p50_ms", "direction": "minimize"},
        ],
        constraints=[{"metric": "rouge_l", "op": ">=", "value": 0.3}],
        preference={"metric": "rouge_l"},
        chains=[["lora", "merge", "build"]],
        data__path=str(REPO / "search_spaces" / "data" / "qa-facts.jsonl"),
        data__text_column="question",
        data__label_column="answer",
        data__template="Q: {question}\nA: {answer}",
    )
    del raw["data"]["labels"], raw["passes"]["quantize"]
    space = Space.model_validate(raw)
    m = {"latency_p90_ms": 40.0, "size_mb": 9.0}
    runs = [
        {"rouge_l": 0.6, "rouge_l_low": 0.5, "rouge_l_high": 0.7, "ttft_p50_ms": 20.0, **m},
        {"rouge_l": 0.1, "ttft_p50_ms": 5.0, **m},
    ]
    study = _study(space, runs)
    study.set_user_attr(f"{CONFIRM_ATTR}0", {"metrics": {"confirm_rouge_l": 0.55}, "n": 12})
    report = build_report(study, space)
    assert report.winner == 0
    report.row(0).details["answers"] = [f"answer <{i}>" for i in range(15)]
    fig = pareto_figure(report, space)
    assert fig.layout.xaxis.title.text == "ttft_p50_ms (ms)"
    assert fig.layout.yaxis.title.text.startswith("rouge_l (fraction)")
    confirm = next(t for t in fig.data if t.name == "confirm split (never searched)")
    assert list(confirm.x) == [20.0] and list(confirm.y) == [0.55]
    assert confirm.text[0].split("<br>")[1:3] == [
        "rouge_l (search) 0.600 [0.500, 0.700]",
        "rouge_l (confirm) 0.550",
    ]
    page = _write_page(report, study, space, tmp_path)
    assert "rouge_l (search) [95%]" in page and "accuracy (search)" not in page
    assert "id='confusion'" not in page and "id='recall'" not in page
    assert page.count("answer &lt;") == 10 and "answer &lt;9&gt;" in page


def test_the_winner_panels_are_the_task_kinds(tmp_path: Path) -> None:
    """The confusion matrix and recall come from the classification kind (its winner's details);
    a report of a kind this process has not registered (a plug-in not loaded) draws none."""
    from autotune.report.build import build_report

    space = constrained_space(accuracy=0.5, p90_ms=50)
    study = _study(space, [{"accuracy": 0.9, "latency_p90_ms": 40.0, "size_mb": 90.0}])
    report = build_report(study, space)
    report.row(0).details.update(
        confusion={"labels": ["a", "b"], "matrix": [[3, 1], [0, 4]]}, per_label_recall={"a": 0.75, "b": 1.0}
    )
    page = _write_page(report, study, space, tmp_path)
    assert "id='confusion'" in page and "id='recall'" in page
    report.task = "not-loaded"
    page = _write_page(report, study, space, tmp_path)
    assert "id='confusion'" not in page and 'id="pareto-plot"' in page
