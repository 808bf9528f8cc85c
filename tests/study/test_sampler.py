"""The sampler's view of a build sweep: TPE sees each fine-tune once, through its best build."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from autotune.study.sampler import PerTrialSeed, SweepAwareSampler, _OneTrialPerFineTune, make_sampler
from tests.conftest import load_tiny


def test_one_trial_per_fine_tune_keeps_the_best_build() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    rows = [  # (lr, precision, accuracy, p90, violation)
        (1e-3, "int4", 0.70, 40.0, 0.15),
        (1e-3, "int8", 0.88, 45.0, 0.0),
        (1e-3, "fp32", 0.89, 95.0, 0.0),
        (3e-3, "int8", 0.80, 44.0, 0.05),
        (3e-3, "int4", 0.90, 200.0, 0.0),
    ]
    for lr, precision, accuracy, p90, violation in rows:
        study.enqueue_trial({"lora.learning_rate": lr, "build.precision": precision})
        trial = study.ask()
        trial.suggest_float("lora.learning_rate", 1e-4, 1e-2, log=True)
        trial.suggest_categorical("build.precision", ["int4", "int8", "fp32"])
        trial.set_constraint("c", violation)
        study.tell(trial, [accuracy, p90])
    study.enqueue_trial({"lora.learning_rate": 5e-3, "build.precision": "int4"})
    pruned = study.ask()
    pruned.suggest_float("lora.learning_rate", 1e-4, 1e-2, log=True)
    pruned.suggest_categorical("build.precision", ["int4", "int8", "fp32"])
    study.tell(pruned, state=TrialState.PRUNED)

    seen = _OneTrialPerFineTune(study).get_trials(deepcopy=False)
    # lr 1e-3: the best feasible build by accuracy (fp32, trial 2); lr 3e-3: the feasible one
    # (trial 4) beats the more accurate-looking infeasible one; the pruned fine-tune stays.
    assert [t.number for t in seen] == [2, 4, 5]
    assert len(study.get_trials()) == 6  # the study itself is untouched


def test_tpe_gets_the_view_only_for_fine_tune_parameters(tmp_path: Path) -> None:
    sweep = make_sampler(load_tiny(tmp_path, study__build_sweep=True).space)
    assert isinstance(sweep, PerTrialSeed) and isinstance(sweep.inner, SweepAwareSampler)
    assert isinstance(sweep.inner.inner, optuna.samplers.TPESampler)
    plain = make_sampler(load_tiny(tmp_path, study__build_sweep=False).space)
    assert isinstance(plain, PerTrialSeed) and isinstance(plain.inner, optuna.samplers.TPESampler)
    seen: dict[str, int] = {}

    class Recording(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, dist):  # type: ignore[no-untyped-def]
            seen[name] = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            return super().sample_independent(study, trial, name, dist)

    study = optuna.create_study(directions=["maximize"], sampler=SweepAwareSampler(Recording(seed=0)))
    for precision in ("int4", "int8", "fp32"):
        study.enqueue_trial({"lora.rank": 8, "build.precision": precision})
        trial = study.ask()
        trial.suggest_categorical("lora.rank", [8, 16])
        trial.suggest_categorical("build.precision", ["int4", "int8", "fp32"])
        study.tell(trial, [0.5])
    trial = study.ask()
    trial.suggest_categorical("lora.rank", [8, 16])
    trial.suggest_categorical("build.precision", ["int4", "int8", "fp32"])
    # the fine-tune parameter was sampled on one trial for the three builds; the build on all three
    assert seen == {"lora.rank": 1, "build.precision": 3}


def test_workers_starting_together_sample_different_configurations(tmp_path: Path) -> None:
    """Two processes open one study at once, each with the space's seeded sampler, and each asks
    its first trial: they draw different configurations (one trial is not spent twice), and a
    study with the same seed draws the same ones again (reproducible)."""
    from autotune.study.storage import open_study
    from autotune.targets import get_target
    from autotune.trial.plan import plan_trial

    loaded, cpu = load_tiny(tmp_path), get_target("cpu")

    def first_two(db: str) -> list[dict[str, object]]:
        storage = f"sqlite:///{tmp_path / db}"
        workers = [open_study(loaded, storage, cpu) for _ in range(2)]  # each its own sampler
        trials = [w.ask() for w in workers]
        return [plan_trial(t, loaded, cpu).to_dict()["params"] for t in trials]

    a, b = first_two("one.db")
    assert a != b
    assert first_two("again.db") == [a, b]
