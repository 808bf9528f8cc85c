"""Search with the cache against the same configurations run cold, one independent run each.

    python benchmarks/search_efficiency/run.py STUDY_OUT [--every K] [--limit N]

Re-runs every K-th trial of the study (complete or pruned; trials 0, K, 2K... so the sample keeps
the study's mix of fine-tunes, pruned fine-tunes and cached builds) each with an empty cache, as a
user with one Olive config per point would (the base model is converted once and shared, which
favours the cold runs). Cold runs use autotune's own runner, accuracy gate included; a trial
the study pruned at the gate is also run cold through its whole chain, without the gate, as one
Olive config would be. Compares the cold seconds per configuration with what the study spent per
configuration over all its trials, and over the sampled trials alone. Also prints the study's
cache-hit rate, the cost of a build-only trial against a cold trial, and when the feasible front
last changed. Writes benchmarks/search_efficiency/results.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from autotune.cache import Cache
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.study.run import open_output
from autotune.targets import get_target
from autotune.trial.plan import TrialPlan
from autotune.trial.runner import TrialRunner
from autotune.trial.steps import EVAL_LATENCY, Step

HERE = Path(__file__).parent


def _with_defaults(row: Any, chain: list[str]) -> dict[str, dict[str, Any]]:
    """The row's parameters; any the study did not record (an older version) take the pass default."""
    from autotune.passes import get_pass

    out = {name: {} for name in chain} | row.pass_params()
    for name in chain:
        for spec in get_pass(name).params:
            if spec.when is None or spec.when(out[name]):
                out[name].setdefault(spec.name, spec.default)
    return out


def front_last_changed(study: Any) -> float | None:
    """Seconds from the study's first trial start to the trial after which the front stopped changing."""
    trials = sorted(
        (t for t in study.get_trials(deepcopy=False) if t.datetime_complete), key=lambda t: t.number
    )
    if not trials:
        return None
    start = min(t.datetime_start for t in trials)
    last, front = trials[0], set()
    for i in range(len(trials)):
        done = [
            t
            for t in trials[: i + 1]
            if t.state.name == "COMPLETE" and all(v <= 0 for v in t.constraints.values())
        ]
        now = {t.number for t in done if not any(_dominates(o, t, study) for o in done if o is not t)}
        if now != front:
            front, last = now, trials[i]
    return (last.datetime_complete - start).total_seconds()


def _dominates(a: Any, b: Any, study: Any) -> bool:
    better = False
    for va, vb, d in zip(a.values, b.values, study.directions, strict=True):
        sa, sb = (va, vb) if d.name == "MINIMIZE" else (-va, -vb)
        if sa > sb:
            return False
        better |= sa < sb
    return better


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--every", type=int, default=3, help="cold-run every K-th trial (default 3)")
    ap.add_argument("--limit", type=int, default=None, help="at most N cold runs")
    args = ap.parse_args()
    loaded, study, report, _info = open_output(args.out, None)
    evaluated = [r for r in report.rows if r.state in ("complete", "pruned")]
    rows = evaluated[:: max(1, args.every)][: args.limit]
    shared = Cache(args.out / "cache")
    model = prepare_model(loaded.space.model, shared, loaded.base_dir)
    data = load_task_data(loaded.space.data, loaded.base_dir)
    target = get_target(report.target)
    ungated = loaded.space.model_copy(update={"constraints": []})

    def run_cold(r: Any, space: Any) -> tuple[float, Any]:
        """One trial's plan from an empty cache; the seconds and the outcome."""
        tmp = Path(tempfile.mkdtemp(prefix="cold-"))
        try:
            runner = TrialRunner(
                space=space, model=model, data=data, cache=Cache(tmp), seed=loaded.space.study.seed
            )
            t0 = time.perf_counter()
            chain = r.chain.split(">")
            outcome = runner.run(TrialPlan(tuple(chain), _with_defaults(r, chain), target))
            return time.perf_counter() - t0, outcome
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    cold = []
    for r in rows:
        seconds, outcome = run_cold(r, loaded.space)
        # A user with one Olive config per point has no accuracy gate: a configuration the study
        # pruned before its build is built and measured all the same.
        full = seconds if outcome.state != "pruned" else run_cold(r, ungated)[0]
        cold.append(
            {
                "trial": r.number,
                "state": outcome.state,
                "cold_s": round(seconds, 1),
                "cold_full_chain_s": round(full, 1),
                "study_s": r.seconds,
                "accuracy": outcome.metrics.get("accuracy"),
            }
        )
        print(
            f"trial {r.number}: cold {seconds:.1f} s (full chain {full:.1f} s), "
            f"in the study {r.seconds} s ({outcome.state})",
            flush=True,
        )
    all_steps = [s for r in report.rows for s in r.steps if Step.parse(s["name"]) != EVAL_LATENCY]
    hits = sum(s["cache_hit"] for s in all_steps)
    sweep = [r.seconds for r in report.rows if r.state == "complete" and r.steps and r.steps[0]["cache_hit"]]
    fresh = [
        r.seconds for r in report.rows if r.state == "complete" and r.steps and not r.steps[0]["cache_hit"]
    ]
    cold_mean = statistics.fmean(c["cold_s"] for c in cold)
    full_mean = statistics.fmean(c["cold_full_chain_s"] for c in cold)
    sample_mean = statistics.fmean(float(c["study_s"]) for c in cold)
    study_mean = statistics.fmean(float(r.seconds or 0) for r in evaluated)
    result = {
        "study": str(args.out.resolve()),
        "configurations": len(evaluated),
        "cold_runs": len(cold),
        "every": args.every,
        "rows": cold,
        "cold_s_per_config": round(cold_mean, 1),
        "study_s_per_config": round(study_mean, 1),
        "ratio": round(cold_mean / study_mean, 2),
        "cold_full_chain_s_per_config": round(full_mean, 1),
        "ratio_full_chain": round(full_mean / study_mean, 2),
        "sampled_trials_study_s_per_config": round(sample_mean, 1),
        "sampled_trials_ratio": round(cold_mean / sample_mean, 2),
        "cache_hit_rate": round(hits / len(all_steps), 3),
        "steps": len(all_steps),
        "build_only_trial_s": round(statistics.fmean(sweep), 1) if sweep else None,
        "fine_tune_trial_s": round(statistics.fmean(fresh), 1) if fresh else None,
        "front_last_changed_s": front_last_changed(study),
        "study_trials": len(report.rows),
    }
    if sweep and fresh:
        result["build_only_vs_cold"] = round(cold_mean / statistics.fmean(sweep), 1)
    (HERE / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
