"""After the search: the front's trials measured once on the confirm split, which no choice saw.

The sampler, the front and the winner use only the search split, so the search split's figure
(accuracy, ROUGE-L) of the winner is biased upwards (it is the best of many noisy draws). The
confirm split gives the figure a user can expect on new data. Only the feasible front (or the
closest trial when none is feasible) is measured, once per trial; the results live in the
study's user attributes (``confirm:<number>``), so every worker and every later report sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from autotune.errors import AutotuneError
from autotune.report.build import CONFIRM_ATTR, build_report
from autotune.space.schema import Space
from autotune.targets import Target
from autotune.task_kinds import get_task_kind
from autotune.trial.progress import Reporter
from autotune.trial.steps import built_model_key
from evaluators import is_genai_folder

if TYPE_CHECKING:
    from autotune.trial.runner import TrialRunner

__all__ = ["confirm_front"]


def confirm_front(
    study: optuna.Study,
    space: Space,
    target: Target,
    runner: Callable[[], TrialRunner],
    reporter: Reporter,
) -> list[int]:
    """Measure each front trial not yet confirmed on the confirm split; the numbers measured."""
    report = build_report(study, space)
    wanted = set(report.front) | ({report.winner} if report.winner is not None else set())
    done = []
    for number in sorted(wanted):
        if f"{CONFIRM_ATTR}{number}" in study.user_attrs:
            continue
        row = report.row(number)
        if not row.artifact or not is_genai_folder(Path(row.artifact)):
            reporter.message(f"trial {number}: its model is not in this machine's cache; not confirmed")
            continue
        key = built_model_key(row.steps)
        try:
            result = runner().confirm(Path(row.artifact), key, target)
        except (AutotuneError, RuntimeError, ValueError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reporter.message(f"trial {number}: confirm-split evaluation failed: {first}")
            continue
        study.set_user_attr(f"{CONFIRM_ATTR}{number}", result)
        m, kind = result["metrics"], get_task_kind(space.task)
        quality, confirm = kind.quality, kind.confirm
        reporter.message(
            f"trial {number}: confirm-split {quality} {m[confirm]:.3f} "
            f"[{m[f'{confirm}_low']:.2f}-{m[f'{confirm}_high']:.2f}] on {result['n']} rows "
            f"(search split {row.metrics.get(quality, float('nan')):.3f})"
        )
        done.append(number)
    return done
