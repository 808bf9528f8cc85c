"""What a running study shows: live (rich) on a terminal, plain lines in logs, or nothing.

The study loop and the runner call a ``Reporter``; they never print themselves.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from autotune.space.metrics import get_metric

__all__ = [
    "LiveReporter",
    "PlainReporter",
    "QuietReporter",
    "Reporter",
    "make_reporter",
    "metrics_text",
    "plain_console",
]

# Decimals shown for a value of each unit of autotune.space.metrics; other units get none.
_DECIMALS = {"fraction": 3, "log-prob": 3, "ms": 1}


def metrics_text(metrics: Mapping[str, float], names: Iterable[str]) -> str:
    """``accuracy 0.912 [0.85-0.95], latency_p90 70.1 ms``: each of ``names`` that was measured,
    with its unit and its 95% interval when there is one (units from the metric registry)."""
    parts = []
    for name in names:
        if name not in metrics:
            continue
        unit = get_metric(name).unit
        value = f"{metrics[name]:.{_DECIMALS.get(unit, 0)}f}"
        text = f"{name.removesuffix(f'_{unit.lower()}')} {value}" + ("" if unit == "fraction" else f" {unit}")
        low, high = metrics.get(f"{name}_low"), metrics.get(f"{name}_high")
        if low is not None and high is not None:
            text += f" [{low:.2f}-{high:.2f}]"
        parts.append(text)
    return ", ".join(parts)


class Reporter(Protocol):
    def message(self, text: str) -> None: ...

    def study_started(self, done: int, total: int) -> None: ...

    def trial_started(self, number: int, text: str) -> None: ...

    def step(self, name: str, cached: bool) -> None: ...

    def train(self, step: int, steps: int, loss: float) -> None: ...

    def trial_finished(self, number: int, text: str, front: list[str]) -> None: ...

    def close(self) -> None: ...


class _Clock:
    """Trial n of N, elapsed time and an estimate of what remains (mean time per trial so far)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.done = self.total = self.finished_here = 0

    def status(self) -> str:
        elapsed = time.perf_counter() - self.start
        text = f"trial {min(self.done + 1, self.total)} of {self.total}, {_fmt(elapsed)} elapsed"
        if self.finished_here:
            left = (self.total - self.done) * elapsed / self.finished_here
            text += f", about {_fmt(left)} left"
        return text


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


class PlainReporter:
    """One line per event, for logs and pipes (what CI sees)."""

    def __init__(self, console: Any) -> None:
        self.console = console
        self.clock = _Clock()
        self._every = 1

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def message(self, text: str) -> None:
        self._print(text)

    def study_started(self, done: int, total: int) -> None:
        self.clock.done, self.clock.total = done, total

    def trial_started(self, number: int, text: str) -> None:
        self._print(f"[{self.clock.status()}] trial {number}: {text}")

    def step(self, name: str, cached: bool) -> None:
        self._print(f"  {name}: {'cached' if cached else 'running'}")

    def train(self, step: int, steps: int, loss: float) -> None:
        if step % max(1, steps // 5) == 0 or step == steps:
            self._print(f"  step {step}/{steps} loss {loss:.3f}")

    def trial_finished(self, number: int, text: str, front: list[str]) -> None:
        self.clock.done += 1
        self.clock.finished_here += 1
        self._print(f"trial {number}: {text}")

    def close(self) -> None:
        pass


class QuietReporter(PlainReporter):
    """Only what went wrong and the final report (``--quiet``)."""

    def message(self, text: str) -> None:
        if text.startswith(("warning", "error")):
            self._print(text)

    def trial_started(self, number: int, text: str) -> None:
        pass

    def step(self, name: str, cached: bool) -> None:
        pass

    def train(self, step: int, steps: int, loss: float) -> None:
        pass

    def trial_finished(self, number: int, text: str, front: list[str]) -> None:
        self.clock.done += 1


class LiveReporter(PlainReporter):
    """A live panel on a terminal: trial n of N, the current step, the fine-tune's own bar with
    its loss, cache hits, elapsed and remaining time, and the feasible front so far."""

    def __init__(self, console: Any) -> None:
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        super().__init__(console)
        self.bar = Progress(
            TextColumn("  fine-tune"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task: Any = None
        self.current = ""
        self.steps: list[str] = []
        self.front: list[str] = []
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)
        self.live.start()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        body: list[Any] = [Text(self.clock.status(), style="bold"), Text(self.current)]
        body += [Text(s) for s in self.steps[-6:]]
        if self.task is not None:
            body.append(self.bar)
        if self.front:
            body.append(Text("feasible front so far:", style="bold green"))
            body += [Text("  " + f) for f in self.front[:6]]
        return Panel(Group(*body), title="autotune", border_style="blue")

    def _refresh(self) -> None:
        self.live.update(self._render())

    def message(self, text: str) -> None:
        self.live.console.print(text, markup=False, highlight=False)

    def trial_started(self, number: int, text: str) -> None:
        self.current, self.steps = f"trial {number}: {text}", []
        self._refresh()

    def step(self, name: str, cached: bool) -> None:
        self.steps.append(f"  {name}: {'[cache hit]' if cached else 'running'}")
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        self._refresh()

    def train(self, step: int, steps: int, loss: float) -> None:
        if self.task is None:
            self.task = self.bar.add_task("fine-tune", total=steps, loss="-")
        self.bar.update(self.task, completed=step, loss=f"{loss:.3f}")
        self._refresh()

    def trial_finished(self, number: int, text: str, front: list[str]) -> None:
        super().trial_finished(number, text, front)
        self.front = front
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        self.steps = []
        self.current = ""
        self._refresh()

    def close(self) -> None:
        self.live.stop()


def make_reporter(console: Any, quiet: bool = False) -> PlainReporter:
    if quiet:
        return QuietReporter(console)
    if console.is_terminal and sys.stdout.isatty():
        return LiveReporter(console)
    return PlainReporter(console)


def plain_console() -> Any:
    """The console commands print to: as wide as the terminal, or 150 columns into a pipe or log."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 150)
