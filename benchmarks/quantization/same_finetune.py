"""Every build of one fine-tune on the confirm split, side by side with its fp32 build.

    python benchmarks/quantization/same_finetune.py OUT [--trial N]

OUT is a study's output folder. The fine-tune is the one behind trial N (default: the report's
winner). Every complete trial of the study whose fine-tune step has the same cache key is
evaluated on the confirm split, which the search never saw (cached evaluations, as in the study's
own confirm phase), and compared with the fp32 build of that fine-tune by the exact paired test
on the same phrases. Issue 11's target: an int4 build on the front within 1 point of fp32.
Prints a table and writes OUT/same_finetune.json; the study itself is not changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from autotune.cache import Cache
from autotune.study.loop import make_runner
from autotune.study.run import open_output
from autotune.targets import get_target
from autotune.trial.progress import make_reporter, plain_console
from autotune.trial.steps import built_model_key
from evaluators.stats import paired_test, wilson_interval


def _finetune_key(row: Any) -> str | None:
    """The cache key of the trial's fine-tune step (its chain's first step)."""
    first = row.chain.split(">")[0]
    keys = [s["key"] for s in row.steps if s["name"] == first]
    return keys[-1] if keys else None


def _label(row: Any, varying: set[str]) -> str:
    """The build in a few words: precision, then the build options that differ between the rows."""
    build = {k.split(".", 1)[1]: v for k, v in row.params.items() if k.startswith("build.")}
    extra = [f"{k}={v}" for k, v in build.items() if k != "precision" and k in varying]
    quant = " > ORT int8" if row.chain.endswith("quantize") else ""
    return f"{build.get('precision')}{quant}" + (f" ({', '.join(extra)})" if extra else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--trial", type=int, help="a trial of the fine-tune (default: the winner)")
    args = ap.parse_args(argv)
    loaded, study, report, info = open_output(args.out.resolve(), None)
    number = report.winner if args.trial is None else args.trial
    if number is None:
        sys.exit(f"{args.out}: no complete trial")
    key = _finetune_key(report.row(number))
    rows = [r for r in report.rows if r.state == "complete" and _finetune_key(r) == key and r.artifact]
    build_keys = {k for r in rows for k in r.params if k.startswith("build.")}
    varying = {
        k.split(".", 1)[1] for k in build_keys if len({str(r.params[k]) for r in rows if k in r.params}) > 1
    }
    target = get_target(info.target)
    console = plain_console()
    runner = make_runner(
        loaded, study, Cache(info.cache or args.out.resolve() / "cache"), make_reporter(console, quiet=True)
    )
    results: list[dict[str, Any]] = []
    for r in rows:
        model_key = built_model_key(r.steps)
        c = runner.confirm(Path(r.artifact or ""), model_key, target)
        correct = [ch == "1" for ch in c["correct"]]
        results.append(
            {
                "trial": r.number,
                "build": _label(r, varying),
                "on_front": r.on_front,
                "size_mb": r.metrics.get("size_mb"),
                "search": r.metrics.get("accuracy"),
                "confirm": sum(correct) / len(correct),
                "confirm_95": wilson_interval(sum(correct), len(correct)),
                "n": len(correct),
                "correct": c["correct"],
            }
        )
    fp32 = next((x for x in results if x["build"].startswith("fp32") and "ORT" not in x["build"]), None)
    print(f"fine-tune of trial {number} ({key}); confirm split: {results[0]['n'] if results else 0} phrases")
    print(f"{'trial':>5}  {'build':<58} {'MB':>5} {'search':>7} {'confirm [95%]':>20} {'vs fp32':>16}")
    for x in results:
        versus = ""
        if fp32 is not None and x is not fp32:
            t = paired_test([ch == "1" for ch in fp32["correct"]], [ch == "1" for ch in x["correct"]])
            x["vs_fp32"] = {
                "points": round(100 * (x["confirm"] - fp32["confirm"]), 1),
                "b": t.b,
                "c": t.c,
                "p_worse": t.p_worse,
            }
            versus = f"{x['vs_fp32']['points']:+.1f} pt, {t.b}/{t.c} p={t.p_worse:.2f}"
        low, high = x["confirm_95"]
        front = "*" if x["on_front"] else " "
        print(
            f"{x['trial']:>4}{front}  {x['build']:<58} {x['size_mb']:>5.0f} {x['search']:>7.3f} "
            f"{x['confirm']:>7.3f} [{low:.2f}-{high:.2f}] {versus:>16}"
        )
    print(
        "* on the study's feasible front; vs fp32: confirm points, b/c = fp32 right & it wrong / "
        "fp32 wrong & it right, p = one-sided exact p that it is worse"
    )
    out = args.out / "same_finetune.json"
    out.write_text(json.dumps({"trial": number, "finetune_key": key, "builds": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
