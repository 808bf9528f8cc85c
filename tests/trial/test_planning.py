"""Plans and the build sweep: which variants a new fine-tune is queued through."""

from __future__ import annotations

from pathlib import Path

from autotune.targets import get_target
from autotune.trial.plan import TrialPlan, sweep_variants
from tests.conftest import load_tiny

LORA = {
    "lora.rank": 8,
    "lora.alpha": 16,
    "lora.learning_rate": 1e-3,
    "lora.target_modules": "all-linear",
}


def test_sweep_lists_every_other_build_of_the_same_fine_tune(tmp_path: Path) -> None:
    loaded = load_tiny(
        tmp_path, passes__build__block_size=[32, 64], passes__quantize__per_channel=[False, True]
    )
    plan = TrialPlan(("lora", "merge", "build"), {}, get_target("cpu"))
    own = {"chain": "lora>merge>build", **LORA, "build.precision": "int4", "build.block_size": 32}
    variants = sweep_variants(loaded, plan, own)
    assert own not in variants
    assert all({k: v[k] for k in LORA} == LORA for v in variants)  # the fine-tune never changes
    builds = {
        (v["chain"], v.get("build.precision"), v.get("build.block_size"), v.get("quantize.per_channel"))
        for v in variants
    }
    assert builds == {
        ("lora>merge>build", "int4", 64, None),
        ("lora>merge>build", "int8", 32, None),
        ("lora>merge>build", "int8", 64, None),
        ("lora>merge>build", "fp32", None, None),  # no block size on an fp32 build
        ("lora>merge>build>quantize", None, None, False),  # quantize forces the fp32 build
        ("lora>merge>build>quantize", None, None, True),
    }
    assert len(variants) == len(builds)


def test_sweep_keeps_to_the_target_and_the_trials_own_fine_tune(tmp_path: Path) -> None:
    loaded = load_tiny(
        tmp_path,
        targets=[{"name": "cuda", "precisions": ["int4", "fp16"]}, {"name": "cpu", "precisions": ["int4"]}],
        chains=[["lora", "merge", "build"], ["qlora", "merge", "build"]],
        passes__qlora={"rank": [16, 64], "learning_rate": {"low": 5.0e-5, "high": 5.0e-4, "log": True}},
        passes__build__precision=["int4", "int8", "fp16"],
        passes__build__block_size=[32, 128],
    )
    plan = TrialPlan(("qlora", "merge", "build"), {}, get_target("cuda"))
    own = {
        "chain": "qlora>merge>build",
        "qlora.rank": 16,
        "qlora.learning_rate": 1e-4,
        "build.precision": "fp16",
    }
    variants = sweep_variants(loaded, plan, own)
    # the space declares cuda precisions int4 and fp16 (int8 is dropped) and a qlora fine-tune is
    # never swapped for a lora one.
    assert [(v["chain"], v["build.precision"], v.get("build.block_size")) for v in variants] == [
        ("qlora>merge>build", "int4", 32),
        ("qlora>merge>build", "int4", 128),
    ]
    assert all(v["qlora.rank"] == 16 for v in variants)
