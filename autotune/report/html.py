"""``report.html``: one self-contained, offline page of a study (plotly's JavaScript inlined).

Built from the report rows and Optuna's frozen trials only: the Pareto plot with the constraint
region (the preference metric against the first other objective), the hypervolume history,
parameter importances per objective, a sortable table of every trial, the winner's panels that
its task kind draws (a confusion matrix, the first answers: ``TaskKind.report_panels``) and the
study's provenance.
"""

from __future__ import annotations

import html
import math
import platform
import time
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import optuna
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from autotune.cache import library_versions
from autotune.files import write_whole
from autotune.report.build import Report, TrialRow
from autotune.space.metrics import METRICS
from autotune.space.schema import Space
from autotune.task_kinds import TASK_KINDS

__all__ = ["pareto_figure", "write_html_report"]

_GROUPS = (
    ("front", "Pareto front (feasible)", "#1f77b4"),
    ("dominated", "feasible, dominated", "#9bbbd9"),
    ("infeasible", "infeasible", "#d62728"),
)
_STAR = {"symbol": "star", "size": 22, "color": "gold", "line": {"width": 1.5, "color": "#000"}}
_DIAMOND = {"symbol": "diamond-open", "size": 12, "color": "#2ca02c", "line": {"width": 2}}


class _Axes(NamedTuple):
    x: str | None  # None: the trial number
    y: str  # the preference metric (search split)
    confirm: str | None  # the y metric's confirm-split figure, where the kind measures one


def _axes(report: Report) -> _Axes:
    """The preference metric on y, against the first other objective (else p90 latency where
    measured, else the trial number)."""
    y = report.preference
    kind = TASK_KINDS.get(report.task)
    confirm = kind.confirm if kind is not None and y == kind.quality else f"confirm_{y}"
    x = next((o["metric"] for o in report.objectives if o["metric"] != y), None)
    if x is None and any("latency_p90_ms" in r.metrics for r in report.rows):
        x = "latency_p90_ms"
    return _Axes(x, y, confirm if confirm in METRICS else None)


def _at(r: TrialRow, metric: str | None) -> float | None:
    """The row's finite value of ``metric`` (the trial number for None); None if it has none."""
    v = r.number if metric is None else r.metrics.get(metric)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _vals(rows: list[TrialRow], metric: str | None) -> list[float]:
    return [v for r in rows if (v := _at(r, metric)) is not None]


def _label(metric: str | None) -> str:
    spec = METRICS.get(metric or "")
    return "trial" if metric is None else f"{metric} ({spec.unit})" if spec else metric


def _group(r: TrialRow) -> str:
    return "front" if r.on_front else "dominated" if r.feasible else "infeasible"


def _hover(r: TrialRow, ax: _Axes) -> str:
    m = r.metrics
    lines = [
        f"trial {r.number} ({r.chain})",
        f"{ax.y} (search) {_ci(m, ax.y)}",
        *([f"{ax.y} (confirm) {_ci(m, ax.confirm)}"] if ax.confirm and ax.confirm in m else []),
        f"p90 {m.get('latency_p90_ms', math.nan):.1f} ms, size {m.get('size_mb', math.nan):.0f} MB",
    ]
    if ax.x not in (None, "latency_p90_ms", "size_mb") and (x := _at(r, ax.x)) is not None:
        lines.append(f"{ax.x} {x:.4g}")
    lines += [f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}" for k, v in r.params.items()]
    return "<br>".join(lines)


def _ci(m: dict[str, Any], metric: str) -> str:
    low, high = m.get(f"{metric}_low"), m.get(f"{metric}_high")
    value = f"{m.get(metric, math.nan):.3f}"
    return value if low is None or high is None else f"{value} [{low:.3f}, {high:.3f}]"


def _error_y(rows: list[TrialRow], metric: str) -> dict[str, Any]:
    """Asymmetric error bars from the metric's 95% interval (none where it is not known)."""
    m = [r.metrics for r in rows]
    return {
        "type": "data", "symmetric": False, "thickness": 1, "width": 3,
        "array": [x.get(f"{metric}_high", x[metric]) - x[metric] for x in m],
        "arrayminus": [x[metric] - x.get(f"{metric}_low", x[metric]) for x in m],
    }  # fmt: skip


def _ranges(rows: list[TrialRow], ax: _Axes, space: Space) -> tuple[float, float, float, float]:
    """x from 0 (or below, for negative values) to 15% past the data; y: a fraction up to 1.02
    and down to 0.08 below the lowest interval end or limit, anything else padded by 8%."""
    xs = _vals(rows, ax.x) or [1.0]
    x_lo = min(0.0, *xs)
    span = (max(xs) - x_lo) or 1.0
    m = [r.metrics for r in rows]
    lows = [float(v.get(f"{ax.y}_low", v[ax.y])) for v in m] or [0.0]
    highs = [float(v.get(f"{ax.y}_high", v[ax.y])) for v in m] or [1.0]
    limits = [c.value for c in space.constraints if c.metric == ax.y]
    floor, top = min(lows + limits), max(highs + limits)
    spec = METRICS.get(ax.y)
    if spec is not None and spec.unit == "fraction":
        y_lo, y_hi = max(0.0, floor - 0.08), 1.02
    else:
        pad = 0.08 * ((top - floor) or abs(top) or 1.0)
        y_lo, y_hi = floor - pad, top + pad
    return x_lo - (0.15 * span if x_lo < 0 else 0.0), max(xs) + 0.15 * span, y_lo, y_hi


def _scatter(rows: list[TrialRow], ax: _Axes, y: str, colour: str | None, **kw: Any) -> go.Scatter:
    """``rows`` at (x, ``y``) with their hover text (and ``y``'s interval as error bars in ``colour``)."""
    hover = {"hovertext" if "text" in kw else "text": [_hover(r, ax) for r in rows]}
    bars = {"error_y": {**_error_y(rows, y), "color": colour}} if colour else {}
    return go.Scatter(x=_vals(rows, ax.x), y=_vals(rows, y), hoverinfo="text", **hover, **bars, **kw)


def pareto_figure(report: Report, space: Space) -> go.Figure:
    """The preference metric against the first other objective (see ``_axes``); marker size is
    model size; the region meeting the constraints on those two metrics is shaded. A trial
    without a value of either metric is left out."""
    ax = _axes(report)
    rows = [r for r in report.rows if r.state == "complete" and None not in (_at(r, ax.x), _at(r, ax.y))]
    fig = go.Figure()
    biggest = max((float(r.metrics.get("size_mb", 0)) for r in rows), default=0.0) or 1.0
    for key, name, colour in _GROUPS:
        if group := [r for r in rows if _group(r) == key]:
            sizes = [10 + 30 * math.sqrt(max(0.0, r.metrics.get("size_mb", 0)) / biggest) for r in group]
            marker = {"color": colour, "line": {"width": 1, "color": "#333"}, "size": sizes}
            fig.add_trace(_scatter(group, ax, ax.y, colour, mode="markers", name=name, marker=marker))
    if w := next((r for r in rows if r.number == report.winner), None):
        label = {"text": [f"trial {w.number}"], "textposition": "top center"}
        name = "winner" if report.winner_feasible else "closest (infeasible)"
        fig.add_trace(_scatter([w], ax, ax.y, None, mode="markers+text", name=name, marker=_STAR, **label))
    if ax.confirm and (confirmed := [r for r in rows if _at(r, ax.confirm) is not None]):
        name = "confirm split (never searched)"
        fig.add_trace(
            _scatter(confirmed, ax, ax.confirm, "#2ca02c", mode="markers", name=name, marker=_DIAMOND)
        )
    x_lo, x_hi, y_lo, y_hi = _ranges(rows, ax, space)
    box = {ax.x: [x_lo, x_hi], ax.y: [y_lo, y_hi]}  # shrunk to the region meeting the constraints
    for c in (shaded := [c for c in space.constraints if c.metric in box]):
        side = box[c.metric]
        side[:] = [max(side[0], c.value), side[1]] if c.op == ">=" else [side[0], min(side[1], c.value)]
    if shaded:
        (x0, x1), (y0, y1) = box[ax.x], box[ax.y]
        fill = "rgba(44, 160, 44, 0.12)"
        fig.add_shape(
            type="rect", x0=x0, x1=x1, y0=y0, y1=y1, layer="below", line={"width": 0}, fillcolor=fill
        )
        fig.add_annotation(
            x=x0, y=y1, text=" constraints met", showarrow=False, xanchor="left", yanchor="top",
            font={"color": "#2ca02c"},
        )  # fmt: skip
    fig.update_layout(
        title=f"{ax.y} against {ax.x or 'trial'} (marker size: model size on disk)",
        xaxis_title=_label(ax.x),
        yaxis_title=f"{_label(ax.y)}, search split (ONNX Runtime GenAI)",
        xaxis_range=[x_lo, x_hi],  # a limit beyond the data: the shading reaches the edge
        yaxis_range=[y_lo, y_hi],
        height=520,
    )
    return fig


def _history(study: optuna.Study, report: Report, space: Space) -> go.Figure:
    rows = sorted((r for r in report.rows if r.state == "complete"), key=lambda r: r.number)
    if len(space.objectives) > 1 and rows:
        try:
            ref = []
            for o in space.objectives:
                values = [float(r.metrics[o.metric]) for r in rows]
                ref.append(min(values) * 0.9 if o.direction == "maximize" else max(values) * 1.1)
            fig = optuna.visualization.plot_hypervolume_history(study, reference_point=ref)
            fig.update_layout(title="Hypervolume of the feasible front over trials", height=380)
            return fig
        except Exception:
            pass
    y = report.preference
    sign = -1.0 if y in METRICS and METRICS[y].direction == "minimize" else 1.0
    best: float | None = None
    xs, ys = [], []
    for r in rows:
        v = _at(r, y)
        if r.feasible and v is not None and (best is None or sign * v > sign * best):
            best = v
        xs.append(r.number)
        ys.append(best)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"best feasible {y}"))
    fig.update_layout(
        title=f"Best feasible {y} so far", xaxis_title="trial", yaxis_title=_label(y), height=380
    )
    return fig


def _objective_value(i: int, trial: optuna.trial.FrozenTrial) -> float:
    return float(trial.values[i])


def _varying_params(study: optuna.Study) -> list[str]:
    """Parameters every complete trial has (Optuna's own choice) that took more than one value
    there: a parameter held constant explains nothing, yet fANOVA can hand it a share."""
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    common = set.intersection(*(set(t.params) for t in trials)) if trials else set()
    return sorted(name for name in common if len({repr(t.params[name]) for t in trials}) > 1)


def _importances(study: optuna.Study, space: Space) -> list[tuple[str, go.Figure | None]]:
    out: list[tuple[str, go.Figure | None]] = []
    varying = _varying_params(study)
    for i, o in enumerate(space.objectives):
        if not varying:
            out.append((o.metric, None))
            continue
        try:
            fig = optuna.visualization.plot_param_importances(
                study, target=partial(_objective_value, i), target_name=o.metric, params=varying
            )
            fig.update_layout(title=f"Parameter importance for {o.metric}", height=360)
            out.append((o.metric, fig))
        except Exception:
            out.append((o.metric, None))
    return out


def _winner(report: Report) -> TrialRow | None:
    return report.row(report.winner) if report.winner is not None else None


def _front_table(report: Report) -> str:
    """The front with both figures of the preference metric and how each trial compares with the best."""
    if not report.ties:
        return "<p class='note'>No feasible front: nothing to compare.</p>"
    ax = _axes(report)
    head = ["trial", f"{ax.y} (search) [95%]", f"{ax.y} (confirm) [95%]", "tied with the best", "why"]
    out = ["<table id='front'><thead><tr>", *[f"<th>{html.escape(h)}</th>" for h in head], "</tr></thead>"]
    for t in report.ties:
        r = report.row(t["number"])
        mark = " (winner)" if r.number == report.winner else " (best)" if r.number == report.best else ""
        straddle = f"; the interval contains {', '.join(r.straddles)}" if r.straddles else ""
        cells = [f"{r.number}{mark}"]
        cells += [_ci(r.metrics, m) if m and m in r.metrics else "not measured" for m in (ax.y, ax.confirm)]
        cells += ["yes" if t["tied"] else "no", str(t["why"]) + straddle]
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _winner_panels(report: Report) -> str:
    """What the task kind shows of the winner (``TaskKind.report_panels``: a confusion matrix, the
    first answers, ...): its figures side by side, then its tables. None for a kind this process
    has not registered."""
    w, kind = _winner(report), TASK_KINDS.get(report.task)
    if w is None:
        return "<p class='note'>No winner yet.</p>"
    panels = kind.report_panels(w.number, w.details, report.preference) if kind is not None else []
    plots = [_div(p.figure, p.name, "") for p in panels if p.figure is not None]
    tables = [f"<div id='{html.escape(p.name)}'>{p.html}</div>" for p in panels if p.figure is None]
    return (f"<div class='grid'>{''.join(plots)}</div>" if plots else "") + "".join(tables)


def _table(report: Report) -> str:
    params = sorted({k for r in report.rows for k in r.params})
    metrics = sorted({k for r in report.rows for k in r.metrics})
    steps = list(dict.fromkeys(s["name"] for r in report.rows for s in r.steps))
    head = ["trial", "state", "front", *params, *metrics, "seconds", *[f"{s} s" for s in steps]]
    head += ["cached steps", "reason"]
    out = ["<table id='trials' class='sortable'><thead><tr>"]
    out += [f"<th data-col='{i}'>{html.escape(h)}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for r in report.rows:
        by_step = {s["name"]: s for s in r.steps}
        cells: list[Any] = [
            r.number,
            r.state,
            "yes" if r.on_front else "",
            *[r.params.get(k, "") for k in params],
            *[r.metrics.get(k, "") for k in metrics],
            r.seconds or "",
            *[by_step[s]["seconds"] if s in by_step else "" for s in steps],
            ", ".join(s["name"] for s in r.steps if s["cache_hit"]),
            r.reason or "",
        ]
        text = "".join(
            f"<td>{html.escape(f'{c:.4g}' if isinstance(c, float) else str(c))}</td>" for c in cells
        )
        out.append(f"<tr class='{html.escape(r.state)}'>{text}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = +th.dataset.col;
    var asc = th.dataset.dir !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? 'asc' : 'desc';
    var rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? cmp : -cmp;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}h1{margin-bottom:4px}
.plot{border:1px solid #ddd;margin:12px 0;padding:4px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px}
table{border-collapse:collapse;font-size:12px;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:3px 6px}
th{background:#f2f2f2;cursor:pointer;position:sticky;top:0}th[data-dir=asc]::after{content:' ▲'}
th[data-dir=desc]::after{content:' ▼'}tr.pruned{color:#777}tr.fail{color:#b00}.note{color:#555}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}
"""


def _div(fig: go.Figure | None, name: str, missing: str) -> str:
    if fig is None:
        return f"<div class='plot empty' id='{name}'><p class='note'>{html.escape(missing)}</p></div>"
    body = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=f"{name}-plot",
        config={"displaylogo": False, "responsive": True},
    )
    return f"<div class='plot' id='{name}'>{body}</div>"


def provenance(study: optuna.Study, report: Report) -> dict[str, str]:
    import psutil

    starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start]
    ends = [t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete]
    out = {
        "study": report.study_name,
        "space file": str(study.user_attrs.get("space_path", "")),
        "target": report.target,
        "started": str(min(starts)) if starts else "",
        "last trial finished": str(max(ends)) if ends else "",
        "report written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": f"{platform.platform()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB",
        "python": platform.python_version(),
        "optuna": optuna.__version__,
    }
    out.update(library_versions())
    return out


def write_html_report(report: Report, study: optuna.Study, space: Space, out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` (atomically) and return its path."""
    winner = report.row(report.winner) if report.winner is not None else None
    summary = (
        f"{len(report.rows)} trials; {len(report.front)} on the feasible front; "
        f"constraints: {'; '.join(report.constraints) or 'none'}. "
    )
    if winner is not None:
        summary += f"Winner: trial {winner.number} ({report.note}). "
    summary += report.search_note
    parts = [
        f"<h1>autotune: {html.escape(report.study_name)}</h1><p>{html.escape(summary)}</p>",
        "<h2>Trade-off</h2>",
        _div(pareto_figure(report, space), "pareto", "no complete trial yet"),
        "<h2>Progress</h2>",
        _div(_history(study, report, space), "history", "no complete trial yet"),
        "<h2>What matters</h2><div class='grid'>",
        *[
            _div(fig, f"importance-{m}", f"importance of parameters for {m}: needs more complete trials")
            for m, fig in _importances(study, space)
        ],
        "</div><h2>The winner</h2>",
        f"<p>{html.escape(report.note)}. The search split is what the study selected on, so the "
        "best trial's figure there is optimistic; the confirm split was never seen by the search "
        "and is measured once, on the front.</p>",
        _front_table(report),
        _winner_panels(report),
        "<h2>All trials</h2><p class='note'>Click a column to sort.</p>",
        _table(report),
        "<h2>Provenance</h2><dl>",
        *[
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
            for k, v in provenance(study, report).items()
        ],
        "</dl>",
    ]
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>autotune report: "
        f"{html.escape(report.study_name)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{''.join(parts)}"
        f"<script>{_SORT_JS}</script></body></html>"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_whole(out_dir / "report.html", page)
    return out_dir / "report.html"
