"""A generation study's builds on its confirm split: the winner, every precision of its fine-tune,
and the base model without a fine-tune, measured the same way, side by side.

    autotune --space benchmarks/generation/qa-short-answers.yaml --out OUT
    python benchmarks/generation/run.py OUT [--trial N]

OUT is a generation study's output folder; its confirm split (dev.jsonl for the space above) is
data the search never saw. Measured on it (cached evaluations, as in the study's own confirm
phase): every complete trial whose fine-tune is the one behind trial N (default: the report's
winner), and every trial of the [build] chain (the base model). Each row: ROUGE-L with its 95%
bootstrap interval, exact match, chrF, and the paired bootstrap's one-sided p-value that it is
worse than the fp32 build of the fine-tune (same questions). Prints a table and writes
OUT/generation_confirm.json; the study itself is not changed.
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
from evaluators.stats import bootstrap_mean_ci, paired_bootstrap


def _finetune_key(row: Any) -> str | None:
    """The cache key of the trial's fine-tune step, None for a chain without one (the base model)."""
    keys = [s["key"] for s in row.steps if s["name"] in ("lora", "qlora")]
    return keys[-1] if keys else None


def _model_key(row: Any) -> str:
    return built_model_key(row.steps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--trial", type=int, help="a trial of the fine-tune (default: the winner)")
    args = ap.parse_args(argv)
    loaded, study, report, info = open_output(args.out.resolve(), None)
    if report.task != "generation":
        sys.exit(f"{args.out}: a {report.task} study; this benchmark reads generation studies")
    number = report.winner if args.trial is None else args.trial
    if number is None:
        sys.exit(f"{args.out}: no complete trial")
    key = _finetune_key(report.row(number))
    done = [r for r in report.rows if r.state == "complete" and r.artifact]
    rows = [r for r in done if _finetune_key(r) == key] + [r for r in done if _finetune_key(r) is None]
    target = get_target(info.target)
    runner = make_runner(
        loaded,
        study,
        Cache(info.cache or args.out.resolve() / "cache"),
        make_reporter(plain_console(), quiet=True),
    )
    results: list[dict[str, Any]] = []
    for r in rows:
        c = runner.confirm(Path(r.artifact or ""), _model_key(r), target)
        scores = [float(s) for s in c["rouge_l_scores"]]
        m = c["metrics"]
        results.append(
            {
                "trial": r.number,
                "model": "fine-tune" if _finetune_key(r) else "base (no fine-tune)",
                "precision": r.params.get("build.precision"),
                "winner": r.number == report.winner,
                "on_front": r.on_front,
                "size_mb": r.metrics.get("size_mb"),
                "latency_p90_ms": r.metrics.get("latency_p90_ms"),
                "search_rouge_l": r.metrics.get("rouge_l"),
                "confirm_rouge_l": sum(scores) / len(scores),
                "confirm_rouge_l_95": bootstrap_mean_ci(scores),
                "confirm_exact_match": m.get("confirm_exact_match"),
                "confirm_chrf": m.get("confirm_chrf"),
                "n": len(scores),
                "rouge_l_scores": scores,
                "answers": c.get("answers"),
            }
        )
    ref = next((x for x in results if x["model"] == "fine-tune" and x["precision"] == "fp32"), None)
    print(f"confirm split: {results[0]['n'] if results else 0} questions the search never saw")
    print(f"{'trial':>5} {'model':<20} {'prec':<5} {'MB':>5} {'p90 ms':>7} {'search':>7} "
          f"{'confirm ROUGE-L [95%]':<24} {'EM':>5} {'chrF':>5} {'p worse than fp32':>17}")  # fmt: skip
    for x in results:
        p = None
        if ref is not None and x is not ref:
            p = paired_bootstrap(ref["rouge_l_scores"], x["rouge_l_scores"]).p_worse
        x["p_worse_than_fp32"] = p
        low, high = x["confirm_rouge_l_95"]
        mark = " *" if x["winner"] else ""
        print(
            f"{x['trial']:>5} {x['model']:<20} {x['precision']:<5} {x['size_mb']:>5.0f} "
            f"{x['latency_p90_ms']:>7.0f} {x['search_rouge_l']:>7.3f} "
            f"{x['confirm_rouge_l']:.3f} [{low:.3f}, {high:.3f}]{mark:<4} "
            f"{x['confirm_exact_match']:>5.3f} {x['confirm_chrf']:>5.3f} "
            f"{'-' if p is None else f'{p:.3f}':>17}"
        )
    print("* the report's winner; p: one-sided paired bootstrap on the same questions' ROUGE-L")
    out = args.out / "generation_confirm.json"
    out.write_text(json.dumps({"fine_tune_of_trial": number, "rows": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
