"""Which metrics a trial of a space measures, chain by chain: an objective, constraint or
preference on a metric that some chain never measures would fail each of its trials (the metric
is missing from what the trial reports), so the loader refuses it first."""

from __future__ import annotations

from collections.abc import Sequence

from autotune.passes import get_pass
from autotune.space.metrics import METRICS, searchable_metrics
from autotune.space.schema import Space
from autotune.targets import TARGETS

__all__ = ["check_named_metrics", "measured_metrics", "unmeasured"]


def unmeasured(space: Space, chain: Sequence[str]) -> dict[str, str]:
    """The metrics of the space's task kind that a trial through ``chain`` never measures, each
    with why and what to do."""
    out: dict[str, str] = {}
    if not any(get_pass(name).output_kind == "hf" for name in chain):
        for name in searchable_metrics(space.task):
            if METRICS[name].source == "eval-torch":
                out[name] = (
                    f"{name} is measured in PyTorch on the merged fine-tune, and {' > '.join(chain)} "
                    "makes none: add a fine-tune and merge to the chain, or drop the metric"
                )
    one_pass = [t.name for t in space.targets if not TARGETS[t.name].genai_provider]
    if (
        one_pass
        and space.evaluation.label_scoring == "score"
        and chain[-1] != "quantize"  # ORT's per-tensor int8 activations: the label scorer decodes
        and "decode_passes_per_s" in searchable_metrics(space.task)
    ):
        out["decode_passes_per_s"] = (
            f"on target {one_pass[0]} every label of a model built by {' > '.join(chain)} is scored in "
            "the prompt's own forward pass, so there is no decode pass to count: name "
            "latency_p90_ms instead, or drop the metric"
        )
    if space.evaluation.max_new_tokens < 2 and "answer_tokens_per_s" in searchable_metrics(space.task):
        out["answer_tokens_per_s"] = (
            "answer_tokens_per_s counts the tokens after an answer's first, and evaluation."
            "max_new_tokens is 1: raise it, or drop the metric"
        )
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
