"""Progress: live panel on a terminal, plain lines in logs, nothing but warnings when quiet."""

from __future__ import annotations

import io
import re

from rich.console import Console

from autotune.trial.progress import LiveReporter, PlainReporter, QuietReporter, make_reporter


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


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _screen(raw: str) -> tuple[list[list[str]], list[str]]:
    """What a terminal shows, from the bytes written: (every panel frame drawn, plain lines)."""
    frames: list[list[str]] = []
    plain: list[str] = []
    for line in _ANSI.sub("", raw).replace("\r", "\n").splitlines():
        if line.startswith("╭"):
            frames.append([line])
        elif line.startswith(("│", "╰")):
            frames[-1].append(line)
        elif line.strip():
            plain.append(line)
    return frames, plain


def test_live_panel_prints_progress_and_front() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    reporter = LiveReporter(console)
    reporter.study_started(done=1, total=4)
    reporter.trial_started(1, "lora(rank=8) > merge > build(precision=int4)")
    reporter.step("lora", cached=False)
    reporter.train(5, 10, 0.25)
    reporter.live.refresh()  # what its refresh thread does 4 times a second
    frames, plain = _screen(out.getvalue())
    panel = "\n".join(frames[-1])
    assert "trial 2 of 4" in panel and "trial 1: lora(rank=8) > merge" in panel
    assert "lora: running" in panel and "5/10" in panel and "loss 0.250" in panel
    assert plain == []  # the steps and the fine-tune's progress stay inside the panel
    reporter.message("warning: something to know")
    reporter.step("merge", cached=True)
    reporter.live.refresh()
    assert "merge: [cache hit]" in "\n".join(_screen(out.getvalue())[0][-1])
    reporter.trial_finished(1, "accuracy 0.900", ["trial 1: accuracy 0.900, p90 70.0 ms, 80 MB"])
    reporter.close()
    raw = out.getvalue()
    frames, plain = _screen(raw)
    # Above the panel, once each: the message and the finished trial's summary; nothing else.
    assert plain == ["warning: something to know", "trial 1: accuracy 0.900"]
    # What stays on the screen: the panel as the study left it, not redrawn after it.
    final = _screen(raw[raw.rindex("\x1b[2K") :])[0]
    assert len(final) == 1 and final[0] == frames[-1]
    last = "\n".join(final[0])
    assert "trial 3 of 4" in last and "about" in last and "left" in last
    assert "feasible front so far:" in last and "trial 1: accuracy 0.900, p90 70.0 ms, 80 MB" in last
    assert "running" not in last and "loss" not in last  # the finished trial's steps are gone
