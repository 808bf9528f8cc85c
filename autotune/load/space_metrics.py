"""Which metrics a trial of a space measures, chain by chain: an objective, constraint or
preference on a metric that some chain never measures would fail each of its trials (the metric
is missing from what the trial reports), so the loader refuses it first."""

from __future__ import annotations

from collections.abc import Sequence

from autotune.passes import get_pass
from autotune.space.metrics import METRICS, searchable_metrics
from autotune.space.schema import Space
from autotune.targets import TARGETS
from autotune.task_kinds import get_task_kind

__all__ = ["check_named_metrics", "measured_metrics", "unmeasured"]


def unmeasured(space: Space, chain: Sequence[str]) -> dict[str, str]:
    """The metrics of the space's task kind that a trial through ``chain`` never measures, each
    with why and what to do: a PyTorch metric without a fine-tune (every kind), and what the kind
    itself says (``TaskKind.unmeasured``)."""
    out: dict[str, str] = {}
    if not any(get_pass(name).output_kind == "hf" for name in chain):
        for name in searchable_metrics(space.task):
            if METRICS[name].source == "eval-torch":
                out[name] = (
                    f"{name} is measured in PyTorch on the merged fine-tune, and {' > '.join(chain)} "
                    "makes none: add a fine-tune and merge to the chain, or drop the metric"
                )
    targets = [TARGETS[t.name] for t in space.targets]
    out.update(get_task_kind(space.task).unmeasured(chain, targets, space.evaluation))
    return out


def measured_metrics(space: Space) -> list[str]:
    """The metrics every chain of the space measures (without the _low/_high interval ends)."""
    missing = {m for chain in space.chains for m in unmeasured(space, chain)}
    return [
        m for m in searchable_metrics(space.task) if m not in missing and not m.endswith(("_low", "_high"))
    ]


def check_named_metrics(space: Space) -> None:
    """A ValueError, led by the key path, for the first objective, constraint or preference whose
    metric a chain of the space never measures."""
    named = [
        *((f"objectives.{i}", f"objective {o.direction} {o.metric}", o.metric)
          for i, o in enumerate(space.objectives)),
        *((f"constraints.{i}", f"constraint {c}", c.metric) for i, c in enumerate(space.constraints)),
        ("preference.metric", f"the preference on {space.preference.metric}", space.preference.metric),
        *([("preference.then", f"the preference's then {space.preference.then}", space.preference.then)]
          if space.preference.then else []),
    ]  # fmt: skip
    for key, what, metric in named:
        for i, chain in enumerate(space.chains):
            why = unmeasured(space, chain).get(metric)
            if why is not None:
                raise ValueError(
                    f"{key}: {what} needs a metric that chains.{i} never measures ({why}); every "
                    f"chain measures: {', '.join(measured_metrics(space))}"
                )
