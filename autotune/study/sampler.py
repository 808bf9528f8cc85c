"""Which Optuna sampler a space asks for, how it is seeded, and how it sees the trials of a build
sweep.

Each trial is sampled from its own seed, drawn from the space's seed and the trial's number: a
study is as reproducible as with one seeded sampler, and workers that start together on one
study (each its own sampler, each asking a different trial number) do not sample the same
configurations.

With ``build_sweep`` one fine-tune is evaluated through several builds (int4, int8, fp32...).
Left as they are, those trials would tell TPE the same fine-tune parameters several times, and
mostly as "dominated" (a fine-tune has one best build; its other builds are slower or less
accurate by design), which pushes TPE away from exactly the fine-tunes that worked. When it
samples a fine-tune parameter, TPE therefore sees each fine-tune once, through its best build.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from autotune.passes import pass_names
from autotune.space.schema import Space
from autotune.trial.plan import onnx_side

__all__ = ["GridSampler", "PerTrialSeed", "make_sampler", "one_trial_per_fine_tune", "trial_seed"]


class GridSampler(optuna.samplers.BruteForceSampler):
    """Every combination of a discrete space once. Optuna's version calls ``Study.stop`` when the
    grid is exhausted, which only works inside ``optimize``; here the ask/tell loop reads
    ``exhausted`` instead."""

    exhausted = False

    def after_trial(self, study: optuna.Study, trial: Any, state: TrialState, values: Any) -> None:
        try:
            super().after_trial(study, trial, state, values)
        except RuntimeError:  # raised by study.stop() outside optimize(): the grid is done
            self.exhausted = True


def _fine_tune_passes() -> set[str]:
    """Passes that come before the ONNX model: their parameters define the fine-tune."""
    return {name for name in pass_names() if not onnx_side(name)}


def _is_fine_tune_param(name: str, fine_tune: Container[str]) -> bool:
    return name.split(".", 1)[0] in fine_tune


def _rank_key(trial: FrozenTrial, directions: Sequence[optuna.study.StudyDirection]) -> tuple[Any, ...]:
    """Feasible before infeasible, then by the first objective (the space's headline metric)."""
    feasible = all(c <= 0 for c in trial.constraints.values())
    first = trial.values[0] if trial.values else 0.0
    sign = -1.0 if directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return (not feasible, sign * first, trial.number)


def one_trial_per_fine_tune(
    trials: Sequence[FrozenTrial], directions: Sequence[optuna.study.StudyDirection]
) -> list[FrozenTrial]:
    """The trials with each group of complete trials sharing the same fine-tune reduced to its best.

    Pruned and failed trials are kept as they are (the gate prunes before any build).
    """
    fine_tune = _fine_tune_passes()
    best: dict[tuple[tuple[str, Any], ...], FrozenTrial] = {}
    kept: list[FrozenTrial] = []
    for t in trials:
        if t.state != TrialState.COMPLETE:
            kept.append(t)
            continue
        key = tuple(sorted((k, v) for k, v in t.params.items() if _is_fine_tune_param(k, fine_tune)))
        if key not in best or _rank_key(t, directions) < _rank_key(best[key], directions):
            best[key] = t
    return sorted([*kept, *best.values()], key=lambda t: t.number)


class _OneTrialPerFineTune:
    """A read-only view of a study whose trial list is ``one_trial_per_fine_tune``."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None, use_cache: bool = False) -> Any:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return one_trial_per_fine_tune(trials, self._study.directions)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return list(self._get_trials(deepcopy=deepcopy, states=states))


class _Delegating(optuna.samplers.BaseSampler):
    """A sampler that hands every call to ``inner``; subclasses change one of them."""

    inner: optuna.samplers.BaseSampler

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


class SweepAwareSampler(_Delegating):
    """Delegates to ``inner``; fine-tune parameters are sampled on one trial per fine-tune."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner
        self._fine_tune = _fine_tune_passes()

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        view: Any = study
        if _is_fine_tune_param(param_name, self._fine_tune):
            view = _OneTrialPerFineTune(study)
        return self.inner.sample_independent(view, trial, param_name, param_distribution)


def trial_seed(seed: int | None, number: int) -> int | None:
    """The seed of trial ``number`` of a study seeded with ``seed`` (None: unseeded)."""
    if seed is None:
        return None
    return int.from_bytes(hashlib.sha256(f"{seed}:{number}".encode()).digest()[:4], "big")


class PerTrialSeed(_Delegating):
    """A sampler made afresh for each trial from ``make(trial_seed(seed, trial.number))``: what a
    trial draws depends on the study's seed, its number and the trials before it, not on which
    worker asks it. Optuna's samplers keep nothing between trials but their random state (what
    they learn lives in the storage), so nothing else changes."""

    def __init__(self, make: Callable[[int | None], optuna.samplers.BaseSampler], seed: int | None) -> None:
        self._make, self._seed = make, seed
        self.inner = make(seed)

    @property
    def exhausted(self) -> bool:  # GridSampler's: every combination has run
        return bool(getattr(self.inner, "exhausted", False))

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner = self._make(trial_seed(self._seed, trial.number))
        self.inner.before_trial(study, trial)


def _seeded(space: Space, seed: int | None) -> optuna.samplers.BaseSampler:
    """The space's sampler with ``seed``; TPE sees one trial per fine-tune when the space sweeps builds."""
    s = space.study
    if s.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(4, min(20, s.n_trials // 2)))
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s.sampler == "grid":
        return GridSampler(seed=seed)  # the grid of a space's choices
    if not s.build_sweep:
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, s.n_trials // 3)))
    # With the sweep, the startup count is of fine-tunes (each brings several builds).
    return SweepAwareSampler(optuna.samplers.TPESampler(seed=seed, n_startup_trials=3))


def make_sampler(space: Space) -> optuna.samplers.BaseSampler:
    """The space's sampler, each trial sampled from its own seed (see the module's note)."""
    return PerTrialSeed(lambda seed: _seeded(space, seed), space.study.seed)
