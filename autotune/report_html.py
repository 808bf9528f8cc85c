"""``report.html``: one self-contained, offline page of a study (plotly's JavaScript inlined).

Built from the report rows and Optuna's frozen trials only: the Pareto plot with the constraint
region, the hypervolume history, parameter importances per objective, a sortable table of every
trial, the winner's confusion matrix and the study's provenance.
"""

from __future__ import annotations

import html
import math
import platform
import time
from functools import partial
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from autotune.cache import library_versions
from autotune.report import Report, TrialRow
from autotune.space import Space

__all__ = ["pareto_figure", "write_html_report"]

_GROUPS = (
    ("front", "Pareto front (feasible)", "#1f77b4"),
    ("dominated", "feasible, dominated", "#9bbbd9"),
    ("infeasible", "infeasible", "#d62728"),
)


def _group(r: TrialRow) -> str:
    return "front" if r.on_front else "dominated" if r.feasible else "infeasible"


def _hover(r: TrialRow) -> str:
    m = r.metrics
    lines = [
        f"trial {r.number} ({r.chain})",
        f"accuracy (search) {_ci(m, 'accuracy')}",
        *([f"accuracy (confirm) {_ci(m, 'confirm_accuracy')}"] if "confirm_accuracy" in m else []),
        f"p90 {m.get('latency_p90_ms', math.nan):.1f} ms, size {m.get('size_mb', math.nan):.0f} MB",
    ]
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
        "type": "data",
        "symmetric": False,
        "array": [x.get(f"{metric}_high", x[metric]) - x[metric] for x in m],
        "arrayminus": [x[metric] - x.get(f"{metric}_low", x[metric]) for x in m],
        "thickness": 1,
        "width": 3,
    }


def pareto_figure(report: Report, space: Space) -> go.Figure:
    """Accuracy against p90 latency; marker size is model size; the feasible region is shaded."""
    rows = [r for r in report.rows if r.state == "complete"]
    fig = go.Figure()
    biggest = max((float(r.metrics.get("size_mb", 1)) for r in rows), default=1.0)
    for key, name, colour in _GROUPS:
        group = [r for r in rows if _group(r) == key]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r.metrics["latency_p90_ms"] for r in group],
                y=[r.metrics["accuracy"] for r in group],
                mode="markers",
                name=name,
                text=[_hover(r) for r in group],
                hoverinfo="text",
                error_y={**_error_y(group, "accuracy"), "color": colour},
                marker={
                    "color": colour,
                    "line": {"width": 1, "color": "#333"},
                    "size": [10 + 30 * math.sqrt(float(r.metrics["size_mb"]) / biggest) for r in group],
                },
            )
        )
    if report.winner is not None and report.row(report.winner).state == "complete":
        w = report.row(report.winner)
        fig.add_trace(
            go.Scatter(
                x=[w.metrics["latency_p90_ms"]],
                y=[w.metrics["accuracy"]],
                mode="markers+text",
                name="winner" if report.winner_feasible else "closest (infeasible)",
                text=[f"trial {w.number}"],
                textposition="top center",
                hovertext=[_hover(w)],
                hoverinfo="text",
                marker={
                    "symbol": "star",
                    "size": 22,
                    "color": "gold",
                    "line": {"width": 1.5, "color": "#000"},
                },
            )
        )
    confirmed = [r for r in rows if "confirm_accuracy" in r.metrics]
    if confirmed:
        fig.add_trace(
            go.Scatter(
                x=[r.metrics["latency_p90_ms"] for r in confirmed],
                y=[r.metrics["confirm_accuracy"] for r in confirmed],
                mode="markers",
                name="confirm split (never searched)",
                text=[_hover(r) for r in confirmed],
                hoverinfo="text",
                error_y={**_error_y(confirmed, "confirm_accuracy"), "color": "#2ca02c"},
                marker={"symbol": "diamond-open", "size": 12, "color": "#2ca02c", "line": {"width": 2}},
            )
        )
    xs = [float(r.metrics["latency_p90_ms"]) for r in rows] or [1.0]
    accs = [float(r.metrics.get("accuracy_low", r.metrics["accuracy"])) for r in rows] or [0.0]
    floor = min([*accs, *[c.value for c in space.constraints if c.metric == "accuracy"]])
    x_hi, y_lo, y_hi = max(xs) * 1.15, max(0.0, floor - 0.08), 1.02
    x_max, y_min = x_hi, y_lo
    for c in space.constraints:
        if c.metric == "latency_p90_ms" and c.op == "<=":
            x_max = min(x_max, c.value)
        if c.metric == "accuracy" and c.op == ">=":
            y_min = max(y_min, c.value)
    if space.constraints:
        fig.add_shape(
            type="rect",
            x0=0,
            x1=x_max,
            y0=y_min,
            y1=y_hi,
            layer="below",
            line={"width": 0},
            fillcolor="rgba(44, 160, 44, 0.12)",
        )
        fig.add_annotation(
            x=0,
            y=y_hi,
            text=" constraints met",
            showarrow=False,
            xanchor="left",
            yanchor="top",
            font={"color": "#2ca02c"},
        )
    fig.update_layout(
        title="Accuracy against latency (marker size: model size on disk)",
        xaxis_title="p90 latency per request (ms)",
        yaxis_title="accuracy, search split (ONNX Runtime GenAI)",
        xaxis_range=[0, x_hi],  # a latency limit beyond the data: the shading reaches the edge
        yaxis_range=[y_lo, y_hi],
        height=520,
    )
    return fig


def _history(study: optuna.Study, report: Report, space: Space) -> go.Figure:
    rows = sorted((r for r in report.rows if r.state == "complete"), key=lambda r: r.number)
    if len(space.objectives) > 1 and rows:
        ref = []
        for o in space.objectives:
            values = [float(r.metrics[o.metric]) for r in rows]
            ref.append(min(values) * 0.9 if o.direction == "maximize" else max(values) * 1.1)
        try:
            fig = optuna.visualization.plot_hypervolume_history(study, reference_point=ref)
            fig.update_layout(title="Hypervolume of the feasible front over trials", height=380)
            return fig
        except Exception:
            pass
    best, xs, ys = -math.inf, [], []
    for r in rows:
        if r.feasible:
            best = max(best, float(r.metrics["accuracy"]))
        xs.append(r.number)
        ys.append(best if best > -math.inf else None)
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines+markers", name="best feasible accuracy"))
    fig.update_layout(title="Best feasible accuracy so far", xaxis_title="trial", height=380)
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


def _confusion(report: Report) -> go.Figure | None:
    if report.winner is None:
        return None
    w = report.row(report.winner)
    conf = w.details.get("confusion") or {}
    if not conf.get("matrix"):
        return None
    labels = conf["labels"]
    fig = go.Figure(
        go.Heatmap(
            z=conf["matrix"],
            x=labels,
            y=labels,
            colorscale="Blues",
            text=conf["matrix"],
            texttemplate="%{text}",
            hovertemplate="gold %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Trial {w.number}: confusion matrix (rows: gold, columns: predicted)",
        yaxis_autorange="reversed",
        height=420,
    )
    return fig


def _recall(report: Report) -> go.Figure | None:
    if report.winner is None:
        return None
    recall = report.row(report.winner).details.get("per_label_recall") or {}
    if not recall:
        return None
    fig = go.Figure(go.Bar(x=list(recall), y=[v if v is not None else 0 for v in recall.values()]))
    fig.update_layout(title="Winner: recall per label", yaxis_range=[0, 1], height=320)
    return fig


def _front_table(report: Report) -> str:
    """The front with both accuracy figures and how each trial compares with the best one."""
    if not report.ties:
        return "<p class='note'>No feasible front: nothing to compare.</p>"
    head = ["trial", "accuracy (search) [95%]", "accuracy (confirm) [95%]", "tied with the best", "why"]
    out = ["<table id='front'><thead><tr>", *[f"<th>{html.escape(h)}</th>" for h in head], "</tr></thead>"]
    for t in report.ties:
        r = report.row(t["number"])
        mark = " (winner)" if r.number == report.winner else " (best)" if r.number == report.best else ""
        straddle = f"; the interval contains {', '.join(r.straddles)}" if r.straddles else ""
        confirm = _ci(r.metrics, "confirm_accuracy") if "confirm_accuracy" in r.metrics else "not measured"
        cells = [f"{r.number}{mark}", _ci(r.metrics, "accuracy"), confirm, "yes" if t["tied"] else "no"]
        cells.append(str(t["why"]) + straddle)
        out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _table(report: Report) -> str:
    params = sorted({k for r in report.rows for k in r.params})
    metrics = sorted({k for r in report.rows for k in r.metrics})
    steps = list(dict.fromkeys(s["name"] for r in report.rows for s in r.steps))
    head = [
        "trial",
        "state",
        "front",
        *params,
        *metrics,
        "seconds",
        *[f"{s} s" for s in steps],
        "cached steps",
        "reason",
    ]
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
        out.append(
            f"<tr class='{html.escape(r.state)}'>"
            + "".join(
                f"<td>{html.escape(f'{c:.4g}' if isinstance(c, float) else str(c))}</td>" for c in cells
            )
            + "</tr>"
        )
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
        "<div class='grid'>",
        _div(_confusion(report), "confusion", "no winner yet"),
        _div(_recall(report), "recall", "no winner yet"),
        "</div><h2>All trials</h2><p class='note'>Click a column to sort.</p>",
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
    tmp = out_dir / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out_dir / "report.html")
    return out_dir / "report.html"
