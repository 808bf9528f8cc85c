"""The family matrix as a table: every family autotune knows, through its own LoRA, merge and
fp32/int8/int4 builds on a tiny random model of the family's layout, then ONNX Runtime GenAI
against PyTorch on the merged model (the measurement of tests/inputs/test_families.py).

    python benchmarks/families/run.py [--out benchmarks/families/results.json] [NAME ...]

Prints one Markdown row per family (the README's "Model families" table): its status, and per
precision the largest |logit difference| over every compared position (3 prompts of the shipped
data, then 6 greedy tokens of PyTorch fed to both; the test windows are 8 tokens, so they slide)
and the smallest correlation of the two logit vectors at a position; then how many of the label
choices and greedy answers agree. Threads: ONNX Runtime's and torch's defaults on this machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import tests.conftest  # noqa: E402,F401  (caches under a temp folder, offline hub)
from autotune.errors import ModelError  # noqa: E402
from autotune.inputs.families import FAMILIES, check_config  # noqa: E402
from tests.inputs.family_configs import BASE, BOS, CONFIGS, REFUSED_CONFIGS  # noqa: E402
from tests.inputs.family_matrix import agreement, build_family  # noqa: E402

PRECISIONS = ("fp32", "int8", "int4")


def _status(config: dict[str, object]) -> str:
    from transformers import AutoConfig

    fields = {**BASE, **config}
    try:
        family = check_config(AutoConfig.for_model(str(fields.pop("model_type")), **fields))
    except ModelError:
        return "refused"
    return f"{', '.join(family.precisions)} only" if family.precisions else "carried"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="families (default: all)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = p.parse_args()
    configs = {**CONFIGS, **REFUSED_CONFIGS}
    rows = []
    print(
        "| family | model_type | status | fp32 max abs | int8 max abs / corr | int4 max abs / corr "
        "| labels same | greedy same |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.names or list(configs):
        config = configs[name]
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            built = build_family(config, Path(tmp), PRECISIONS, "all-linear", bos=name in BOS)
            row: dict[str, object] = {
                "name": name,
                "model_type": config["model_type"],
                "status": _status(config),
            }
            labels = greedy = total = 0
            for precision in PRECISIONS:
                folder = built.builds[precision]
                if isinstance(folder, str):
                    row[precision] = {"error": folder}
                    continue
                a = agreement(built, precision)
                row[precision] = {"max_abs": a.max_abs, "min_corr": a.min_corr, "same_ids": a.same_ids}
                labels += sum(x == y for x, y, _ in a.labels)
                greedy += sum(x == y for x, y in a.answers)
                total += len(a.answers)
        row.update(
            labels_same=labels,
            greedy_same=greedy,
            compared=total,
            seconds=round(time.perf_counter() - start, 1),
        )
        rows.append(row)

        def cell(precision: str, row: dict[str, object] = row) -> str:
            r = row[precision]
            assert isinstance(r, dict)
            if "error" in r:
                return "builder refuses"
            return (
                f"{r['max_abs']:.2g}" if precision == "fp32" else f"{r['max_abs']:.2g} / {r['min_corr']:.4f}"
            )

        family = FAMILIES[str(config["model_type"])]
        variant = f" ({name.split('-', 1)[1]})" if "-" in name else ""
        cells = " | ".join(cell(p) for p in PRECISIONS)
        print(
            f"| {family.name}{variant} | {config['model_type']} | {row['status']} | {cells} "
            f"| {labels}/{total} | {greedy}/{total} |",
            flush=True,
        )
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
