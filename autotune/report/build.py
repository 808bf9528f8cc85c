"""The study's report, built only from frozen trials: the feasible front, the winner, files."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from autotune.files import write_whole
from autotune.selection.convergence import ENDED_ATTR, REPEATED_ERRORS
from autotune.selection.winner import choose_winner
from autotune.space.schema import Constraint, Space
from autotune.task_kinds import get_task_kind
from autotune.trial.record import lost_reason, retried_numbers

__all__ = ["CONFIRM_ATTR", "SEED_ATTR", "Report", "TrialRow", "build_report", "print_report", "write_report"]

SEED_ATTR = "seeded_from"  # trial attribute of a warm start's seed: "<source folder> trial <n>"
CONFIRM_ATTR = "confirm:"  # study user attribute "confirm:<trial number>": its confirm-split figures


@dataclass
class TrialRow:
    number: int
    state: str
    chain: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    reason: str | None
    seconds: float | None
    steps: list[dict[str, Any]]
    feasible: bool | None
    violations: dict[str, float]
    on_front: bool = False
    artifact: str | None = None
    build: str | None = None  # the Olive build it runs (autotune run --config with builds)
    details: dict[str, Any] = field(default_factory=dict)
    # Accuracy constraints met or missed by the point estimate while the 95% interval crosses them.
    straddles: list[str] = field(default_factory=list)
    seeded_from: str | None = None  # warm start: "<folder> trial <n>" of the study it came from

    def pass_params(self) -> dict[str, dict[str, Any]]:
        """``{"lora": {"rank": 8, ...}, ...}`` from the flat ``lora.rank`` names."""
        out: dict[str, dict[str, Any]] = {}
        for key, value in self.params.items():
            name, param = key.split(".", 1)
            out.setdefault(name, {})[param] = value
        return out


@dataclass
class Report:
    study_name: str
    target: str
    objectives: list[dict[str, str]]
    constraints: list[str]
    rows: list[TrialRow]
    front: list[int]
    winner: int | None
    winner_feasible: bool
    note: str
    best: int | None = None  # the front's best trial on the preference metric (search split)
    ties: list[dict[str, Any]] = field(default_factory=list)  # how each front trial compares with it
    ended: dict[str, Any] | None = None  # how the search loop last ended (see autotune.selection.convergence)
    task: str = "classification"  # the space's task kind (autotune.task_kinds)
    preference: str = "accuracy"  # the metric the winner is picked on (with its paired test)

    @property
    def search_note(self) -> str:
        """Whether the search converged or was cut, in one sentence ("" if unknown)."""
        e = self.ended
        if not e:
            return ""
        last, since = e.get("last_improvement"), e.get("since", 0)
        moved = (
            f"the winner last moved beyond noise at trial {last}, {since} trial(s) before the end"
            if last is not None
            else "no trial met every constraint"
        )
        why = e.get("why")
        rule = e.get("rule") or {}
        if why == "converged":
            return f"Search converged: {moved} (stop rule: patience {rule.get('patience')})."
        cut = {
            "timeout": "cut by its timeout",
            "n_trials": "ran its n_trials",
            "grid": "ran every grid combination",
            "interrupted": "interrupted",
            "errors": f"stopped by {REPEATED_ERRORS} trials in a row failing with one error",
            "fatal": f"stopped at once by an error every trial would meet ({e.get('reason')})",
        }.get(str(why), str(why))
        if why == "grid":
            verdict = ""
        elif rule and e.get("rule_met"):  # met while queued builds ran, then the end came first
            verdict = f"; the stop rule was met (patience {rule.get('patience')}): converged"
        elif rule:
            verdict = f"; not converged (stop rule: patience {rule.get('patience')}), more trials may help"
        else:
            verdict = "; no stop rule is set (study.stop), so convergence was not judged"
        states = e.get("states") or {}
        counts = (
            f" ({states.get('complete', 0)} complete, {states.get('pruned', 0)} pruned, "
            f"{states.get('fail', 0)} failed)"
            if states
            else ""
        )
        return f"Search {cut} after {e.get('finished')} trials{counts}: {moved}{verdict}."

    def row(self, number: int) -> TrialRow:
        return next(r for r in self.rows if r.number == number)


def _row(t: FrozenTrial, space: Space, confirm: dict[str, Any] | None, retried: set[int]) -> TrialRow:
    plan = t.user_attrs.get("plan") or {}
    params = {f"{p}.{k}": v for p, vals in (plan.get("params") or {}).items() for k, v in vals.items()}
    cons = {k: float(v) for k, v in t.constraints.items()} if t.state == TrialState.COMPLETE else {}
    metrics = dict(t.user_attrs.get("metrics") or {})
    details = dict(t.user_attrs.get("details") or {})
    if confirm:
        metrics.update(confirm.get("metrics") or {})
        details["confirm"] = {k: v for k, v in confirm.items() if k != "metrics"}
    return TrialRow(
        number=t.number,
        state=t.state.name.lower(),
        chain=">".join(plan.get("chain", [])),
        params=params,
        metrics=metrics,
        reason=t.user_attrs.get("reason") or lost_reason(t, retried),
        seconds=t.user_attrs.get("seconds"),
        steps=list(t.user_attrs.get("steps") or []),
        feasible=all(v <= 0 for v in cons.values()) if t.state == TrialState.COMPLETE else None,
        violations=cons,
        artifact=t.user_attrs.get("artifact"),
        details=details,
        straddles=[str(c) for c in space.constraints if _straddles(c, metrics)],
        seeded_from=t.user_attrs.get(SEED_ATTR),
    )


def _straddles(c: Constraint, metrics: dict[str, Any]) -> bool:
    """Whether the metric's 95% interval contains the constraint's threshold."""
    low, high = metrics.get(f"{c.metric}_low"), metrics.get(f"{c.metric}_high")
    return low is not None and high is not None and float(low) < c.value < float(high)


def _closest(rows: list[TrialRow], space: Space) -> TrialRow:
    def distance(r: TrialRow) -> float:
        total = 0.0
        for c in space.constraints:
            total += max(0.0, c.violation(float(r.metrics[c.metric]))) / max(abs(c.value), 1e-9)
        return total

    return min(rows, key=distance)


def build_report(study: optuna.Study, space: Space) -> Report:
    trials = study.get_trials(deepcopy=False)
    attrs = study.user_attrs
    retried = retried_numbers(trials)
    rows = [
        _row(t, space, attrs.get(f"{CONFIRM_ATTR}{t.number}"), retried)
        for t in trials
        if t.state != TrialState.WAITING
    ]
    if space.olive and space.olive.get("builds"):  # an Olive config's builds: each trial by its own
        from autotune.olive import build_namer

        namer = build_namer(space)
        for r in rows:
            r.build = namer(r.chain.split(">"), r.pass_params())
    complete = [r for r in rows if r.state == "complete"]
    front_trials = study.best_trials if complete else []
    front = sorted(t.number for t in front_trials if all(v <= 0 for v in t.constraints.values()))
    for r in rows:
        r.on_front = r.number in front
    report = Report(
        study_name=study.study_name,
        target=str(attrs.get("target", "")),
        objectives=[{"metric": o.metric, "direction": o.direction} for o in space.objectives],
        constraints=[str(c) for c in space.constraints],
        rows=rows,
        front=front,
        task=space.task,
        preference=space.preference.metric,
        winner=None,
        winner_feasible=False,
        note="no trial completed yet",
        ended=attrs.get(ENDED_ATTR),
    )
    if front:
        choice = choose_winner([r for r in rows if r.on_front], space.preference)
        report.winner, report.winner_feasible, report.note = choice.winner, True, choice.note
        report.best, report.ties = choice.best, [asdict(t) for t in choice.ties]
    elif complete:
        report.winner = _closest(complete, space).number
        report.note = "NO trial meets every constraint: this is the closest one"
    return report


def write_report(report: Report, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = asdict(report)
    write_whole(out_dir / "report.json", json.dumps(data, indent=1, default=str))
    metric_keys = sorted({k for r in report.rows for k in r.metrics})
    param_keys = sorted({k for r in report.rows for k in r.params})
    step_names = list(dict.fromkeys(s["name"] for r in report.rows for s in r.steps))
    builds = any(r.build for r in report.rows)
    with io.StringIO(newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "number",
                "state",
                "feasible",
                "on_front",
                "chain",
                *(["build"] if builds else []),
                *param_keys,
                *metric_keys,
                "seconds",
                *[f"{s}_s" for s in step_names],
                *[f"{s}_cached" for s in step_names],
                "reason",
            ]
        )
        for r in report.rows:
            steps = {s["name"]: s for s in r.steps}
            w.writerow(
                [
                    r.number,
                    r.state,
                    r.feasible,
                    r.on_front,
                    r.chain,
                    *([r.build or ""] if builds else []),
                    *[r.params.get(k, "") for k in param_keys],
                    *[r.metrics.get(k, "") for k in metric_keys],
                    r.seconds,
                    *[steps[s]["seconds"] if s in steps else "" for s in step_names],
                    *[steps[s]["cache_hit"] if s in steps else "" for s in step_names],
                    r.reason or "",
                ]
            )
        write_whole(out_dir / "trials.csv", f.getvalue())


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _varying(rows: list[TrialRow]) -> set[str]:
    """Parameters whose value is not the same in every trial (the ones worth showing)."""
    seen: dict[str, set[str]] = {}
    for r in rows:
        for k, v in r.params.items():
            seen.setdefault(k, set()).add(str(v))
    return {k for k, vals in seen.items() if len(vals) > 1 or k == "build.precision"}


def print_report(report: Report, console: Any, out_dir: Path | None = None) -> None:
    from rich.table import Table

    counts: dict[str, int] = {}
    for r in report.rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    console.print(
        f"[bold]{report.study_name}[/] on {report.target}: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f"; constraints: {'; '.join(report.constraints)}" if report.constraints else "")
    )
    kind = get_task_kind(report.task)
    quality = kind.quality.replace("_", "-")
    table = Table(title="Feasible Pareto front" if report.front else "No feasible trial")
    extras = [(h, metric, fmt) for h, metric, fmt in kind.table_columns]
    for col in (
        "trial",
        "chain",
        f"{quality} (search) [95%]",
        "confirm [95%]",
        f"PyTorch {kind.gate.removeprefix('torch_').replace('_', '-')}",
        *(h for h, _, _ in extras[:1]),
        "p50 ms",
        "p90 ms",
        *(h for h, _, _ in extras[1:]),
        "MB",
        "peak MB",
    ):
        table.add_column(col, justify="left" if col == "chain" else "right")
    shown = [report.row(n) for n in report.front]
    if not shown and report.winner is not None:
        shown = [report.row(report.winner)]
    varying = _varying(report.rows)
    tied = {t["number"] for t in report.ties if t["tied"]}
    for r in shown:
        m = r.metrics
        mark = " *" if r.number == report.winner else " =" if r.number in tied else ""
        cells = [f"{m.get(metric, math.nan):{fmt}}" for _, metric, fmt in extras]
        table.add_row(
            f"{r.number}{mark}",
            (f"{r.build}: " if r.build else "") + r.chain.replace(">merge>", ">"),
            _interval(m, kind.quality) + (" !" if r.straddles else ""),
            _interval(m, kind.confirm) if kind.confirm in m else "not run",
            f"{m.get(kind.gate, math.nan):.3f}",
            *cells[:1],
            f"{m.get('latency_p50_ms', math.nan):.1f}",
            f"{m.get('latency_p90_ms', math.nan):.1f}",
            *cells[1:],
            f"{m.get('size_mb', math.nan):.0f}",
            f"{m.get('peak_rss_mb', math.nan):.0f}",
        )
    console.print(table)
    for r in shown:  # the parameters that differ between trials, one line per trial
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in r.params.items() if k in varying)
        seeded = f" (warm start: {r.seeded_from})" if r.seeded_from else ""
        console.print(f"  trial {r.number}: {params}{seeded}", markup=False)
    console.print(
        f"* winner; = statistically tied with the best front trial on {report.preference}; ! the 95% "
        "interval contains a constraint's threshold. Search: the split the study selected on; "
        "confirm: a split it never saw, measured once on the front."
    )
    if report.winner is not None:
        console.print(
            f"winner: trial {report.winner} ({report.note}); "
            f"export it with: autotune export {out_dir or 'DIR'} --trial {report.winner}"
        )
    else:
        console.print(report.note)
    if report.search_note:
        console.print(report.search_note)


def _interval(m: dict[str, Any], metric: str) -> str:
    """``0.896 [0.82-0.94]`` from a metric and its ``_low`` / ``_high`` companions."""
    value, low, high = m.get(metric), m.get(f"{metric}_low"), m.get(f"{metric}_high")
    if value is None:
        return "-"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.2f}-{high:.2f}]"
