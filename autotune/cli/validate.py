"""``autotune validate SPACE``: check a space without running it."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["cmd_validate"]


def cmd_validate(argv: list[str]) -> int:
    from autotune.load.space_file import load_space
    from autotune.targets import get_target
    from autotune.trial.plan import target_values

    p = argparse.ArgumentParser(prog="autotune validate", description="Check a space without running it.")
    p.add_argument("space", help="a space file or shipped space name")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    from autotune.inputs.data import data_summary, load_task_data
    from autotune.inputs.families import check_config
    from autotune.inputs.models import model_config
    from autotune.load.preflight import check_model

    loaded = load_space(args.space, args.overrides)
    s = loaded.space
    data = load_task_data(s.data, loaded.base_dir, s.task)  # rows, labels and split sizes, checked
    config = model_config(s.model, loaded.base_dir, local_only=True)
    if config is not None:
        check_model(loaded, config)  # the family, its precisions and LoRA targets
    print(f"{loaded.path}: valid space {s.name!r} (task {s.task})")
    if config is None:
        print(f"  model: {s.model.id} is not in the local cache: its family is checked when a study starts")
    else:
        print(f"  model: {check_config(config).name} ({config.model_type})")
    print(f"  data: {data_summary(data, s.task)}")
    print(
        f"  targets: {', '.join(t.name for t in s.targets)}; "
        f"chains: {'; '.join(' > '.join(c) for c in s.chains)}"
    )
    target = get_target(s.targets[0].name)
    for name, values in loaded.values.items():
        shown = {k: target_values(loaded, target, name, k, v) for k, v in values.items()}
        print(f"  {name}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items()))
    print(
        f"  objectives: {', '.join(f'{o.direction} {o.metric}' for o in s.objectives)}; "
        f"constraints: {', '.join(map(str, s.constraints)) or 'none'}"
    )
    return 0


def _fmt(values: Any) -> str:
    from autotune.space.params import Choice, Fixed, FloatRange, IntRange

    if isinstance(values, Fixed):
        return str(values.value)
    if isinstance(values, Choice):
        return "{" + "|".join(map(str, values.choices)) + "}"
    if isinstance(values, (IntRange, FloatRange)):
        return f"[{values.low:g}..{values.high:g}{' log' if values.log else ''}]"
    return str(values)
