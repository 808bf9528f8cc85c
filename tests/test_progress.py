"""Progress: live panel on a terminal, plain lines in logs, nothing but warnings when quiet."""

from __future__ import annotations

import io

from rich.console import Console

from autotune.progress import LiveReporter, PlainReporter, QuietReporter, make_reporter


def _drive(reporter: PlainReporter) -> None:
    reporter.study_started(done=1, total=4)
    reporter.trial_started(1, "lora(rank=8) > merge > build(precision=int4)")
    reporter.step("lora", cached=False)
    for step in range(1, 11):
        reporter.train(step, 10, 1.0 / step)
    reporter.step("merge", cached=True)
    reporter.trial_finished(1, "accuracy 0.900, p90 70.0 ms", ["trial 1: accuracy 0.900, p90 70.0 ms, 80 MB"])
    reporter.message("warning: something to know")


def test_plain_lines_for_logs() -> None:
    out = io.StringIO()
    reporter = make_reporter(Console(file=out, width=200))
    assert type(reporter) is PlainReporter  # not a terminal
    _drive(reporter)
    text = out.getvalue()
    assert "[trial 2 of 4, 0s elapsed] trial 1: lora(rank=8)" in text
    assert "  lora: running" in text and "  merge: cached" in text
    assert "step 10/10 loss 0.100" in text and "step 3/10" not in text  # every fifth of the run
    assert "trial 1: accuracy 0.900" in text


def test_quiet_prints_only_warnings() -> None:
    out = io.StringIO()
    reporter = make_reporter(Console(file=out, width=200), quiet=True)
    assert type(reporter) is QuietReporter
    _drive(reporter)
    assert out.getvalue().strip() == "warning: something to know"


def test_live_panel_renders_progress_and_front() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    reporter = LiveReporter(console)
    reporter.study_started(done=1, total=4)
    reporter.trial_started(1, "lora(rank=8) > merge > build(precision=int4)")
    reporter.step("lora", cached=False)
    reporter.train(5, 10, 0.25)
    console_text = console.export_text() if console.record else ""
    panel = reporter._render()
    rendered = io.StringIO()
    Console(file=rendered, width=120, color_system=None).print(panel)
    text = rendered.getvalue()
    assert "trial 2 of 4" in text and "lora: running" in text and "5/10" in text and "loss 0.250" in text
    reporter.step("merge", cached=True)
    reporter.trial_finished(1, "ok", ["trial 1: accuracy 0.900, p90 70.0 ms, 80 MB"])
    rendered = io.StringIO()
    Console(file=rendered, width=120, color_system=None).print(reporter._render())
    assert "feasible front so far" in rendered.getvalue() and "about" in rendered.getvalue()
    reporter.close()
    assert console_text == ""
