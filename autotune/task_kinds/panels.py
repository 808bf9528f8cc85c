"""The report panels of the built-in kinds' winners: the confusion matrix and the recall per label
(classification), the first answers with their scores (generation). plotly is imported only when
a report is drawn."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ._base import Panel

__all__ = ["answers_panel", "confusion_panel", "recall_panel"]


def confusion_panel(number: int, details: Mapping[str, Any]) -> Panel | None:
    """Trial ``number``'s confusion matrix (rows gold, columns predicted), if it has one."""
    conf = details.get("confusion") or {}
    if not conf.get("matrix"):
        return None
    import plotly.graph_objects as go

    labels = conf["labels"]
    fig = go.Figure(
        go.Heatmap(
            z=conf["matrix"], x=labels, y=labels, colorscale="Blues", text=conf["matrix"],
            texttemplate="%{text}", hovertemplate="gold %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title=f"Trial {number}: confusion matrix (rows: gold, columns: predicted)",
        yaxis_autorange="reversed",
        height=420,
    )
    return Panel("confusion", figure=fig)


def recall_panel(details: Mapping[str, Any]) -> Panel | None:
    """The recall of each label, if the trial has it."""
    if not (recall := details.get("per_label_recall") or {}):
        return None
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=list(recall), y=[v if v is not None else 0 for v in recall.values()]))
    fig.update_layout(title="Winner: recall per label", yaxis_range=[0, 1], height=320)
    return Panel("recall", figure=fig)


def answers_panel(number: int, details: Mapping[str, Any], preference: str, n: int = 10) -> Panel | None:
    """Trial ``number``'s first ``n`` answers on the search split, with their ``preference``
    scores where it has them."""
    if not (answers := list(details.get("answers") or [])):
        return None
    scores = details.get(f"{preference}_scores") or []
    cells = [(i, str(a), f"{scores[i]:.3f}" if i < len(scores) else "") for i, a in enumerate(answers[:n])]
    rows = "".join(f"<tr><td>{i}</td><td>{html.escape(a)}</td><td>{s}</td></tr>" for i, a, s in cells)
    return Panel(
        "answers",
        html=f"<h3>Trial {number}: its first {len(cells)} answers (search split)</h3>"
        f"<table><thead><tr><th>#</th><th>answer</th><th>{html.escape(preference)}</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>",
    )
