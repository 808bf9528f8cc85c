"""The search-space file: typed with pydantic and validated at load, errors point at YAML lines."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from autotune.space.metrics import get_metric, searchable_metrics
from autotune.space.params import SearchValues
from autotune.targets import TARGETS
from autotune.task_kinds import TASK_KINDS, get_task_kind

__all__ = [
    "ChainPlan",
    "Constraint",
    "DataSpec",
    "Fidelity",
    "Heartbeat",
    "ModelSpec",
    "Objective",
    "Space",
    "StopRule",
]


def _searchable(name: str) -> str:
    spec = get_metric(name)
    if not spec.searchable:
        raise ValueError(
            f"{name!r} is measured on the confirm split after the study; the search must not see it "
            f"(searchable: {', '.join(searchable_metrics())})"
        )
    return name


# A metric an objective, constraint or preference may name (declared in autotune.space.metrics).
Metric = Annotated[str, AfterValidator(_searchable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# a name that becomes a folder and a study name: no separators, nothing hidden, no "..".
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME_HINT = "letters, digits, '.', '_' and '-', starting with a letter or digit (it names a folder)"


def _safe_name(value: str | None) -> str | None:
    import re

    if value is not None and (not re.match(_NAME, value) or ".." in value):
        raise ValueError(f"{value!r} is not a valid name: use {_NAME_HINT}")
    return value


class RandomModelSpec(_Strict):
    config: dict[str, Any] = Field(description="a transformers config; must name model_type")
    tokenizer: ModelSpec
    seed: int = 0
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="the dtype the weights are stored in (bfloat16 halves a large model)"
    )

    @field_validator("config")
    @classmethod
    def _has_type(cls, v: dict[str, Any]) -> dict[str, Any]:
        if "model_type" not in v:
            raise ValueError("config needs model_type (e.g. phi3, llama)")
        return v


class ModelSpec(_Strict):
    """Exactly one source: a hub id, a local HF folder, a GGUF file, a packaged model, or random."""

    id: str | None = None
    revision: str | None = None
    path: str | None = None
    gguf: str | None = None
    packaged: Literal["smollm2-135m-instruct", "gemma3-270m"] | None = None
    random: RandomModelSpec | None = None
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        given = [k for k in ("id", "path", "gguf", "packaged", "random") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of id, path, gguf, packaged, random (got {given or 'none'})")
        return self


# The search and confirm fractions together stay below this, so that training keeps rows.
MAX_HELD_OUT = 0.8


class _Split(_Strict):
    """A held-out split: a stratified fraction of data.path's distinct phrases, or a file."""

    fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="share of data.path's distinct phrases; the default is raised to 20 rows on "
        "small data while training keeps half",
    )
    path: str | None = Field(None, description="a separate file, relative to the space file")

    @model_validator(mode="after")
    def _one_source(self) -> _Split:
        if self.path is not None and "fraction" in self.model_fields_set:
            raise ValueError("give fraction or path, not both")
        return self


class EvalSplit(_Split):
    """``data.eval``: the search split, on which trials are measured and selected."""

    seed: int = Field(0, description="draws the search and confirm splits and the row caps")


class ConfirmSplit(_Split):
    """``data.confirm``: measured once on the front after the study; the search never sees it."""


class ChatSpec(_Strict):
    user: str
    system: str | None = None


class DataSpec(_Strict):
    path: str
    text_column: str = "phrase"
    label_column: str = Field(
        "tone",
        validation_alias=AliasChoices("label_column", "answer_column"),
        description="the target column: a label (classification) or the reference answer "
        "(generation; answer_column is the same key)",
    )
    template: str | None = None
    chat: ChatSpec | None = None
    labels: list[str] | None = None
    eval: EvalSplit = EvalSplit()
    confirm: ConfirmSplit = ConfirmSplit()
    max_train_rows: int | None = Field(None, ge=1)
    max_eval_rows: int | None = Field(None, ge=1, description="caps the search and confirm splits")

    @field_validator("labels")
    @classmethod
    def _labels_distinct(cls, v: list[str] | None) -> list[str] | None:
        """Each label once, and none empty: a row's label is compared stripped."""
        for i, label in enumerate(v or ()):
            if not label.strip():
                raise ValueError(f"entry {i} (counting from 0) is empty; remove it or write the label's text")
            if label != label.strip():
                raise ValueError(f"label {label!r} has surrounding spaces; write it as {label.strip()!r}")
        twice = sorted(label for label, n in Counter(v or ()).items() if n > 1)
        if twice:
            raise ValueError(f"label {twice[0]!r} is listed more than once; list each label once")
        return v

    @model_validator(mode="after")
    def _prompt(self) -> DataSpec:
        text, label = "{" + self.text_column + "}", "{" + self.label_column + "}"
        if (self.template is None) == (self.chat is None):
            raise ValueError("give exactly one of template or chat")
        if self.template is not None:
            if text not in self.template:
                raise ValueError(f"template must contain {text}")
            if not self.template.endswith(label):
                raise ValueError(f"template must end with {label} (the answer comes last)")
            if self.template.count(label) != 1:
                raise ValueError(
                    f"template names {label} {self.template.count(label)} times; name it once, at the "
                    "end, where the answer goes (the prompt must not contain the answer)"
                )
        if self.chat is not None and text not in self.chat.user:
            raise ValueError(f"chat.user must contain {text}")
        if self.labels is not None and len(set(self.labels)) < 2:
            raise ValueError("labels needs at least two distinct labels")
        return self

    @model_validator(mode="after")
    def _held_out(self) -> DataSpec:
        drawn = sum(s.fraction for s in (self.eval, self.confirm) if s.path is None)
        if round(drawn, 9) >= MAX_HELD_OUT:
            raise ValueError(
                f"eval.fraction + confirm.fraction is {drawn:g}; keep it below {MAX_HELD_OUT:g} so "
                "that training keeps rows (or give a split as a file with path)"
            )
        return self


class TargetSpec(_Strict):
    name: str
    precisions: list[str] | None = None

    @model_validator(mode="after")
    def _known(self) -> TargetSpec:
        if self.name not in TARGETS:
            raise ValueError(f"unknown target {self.name!r}; known: {', '.join(TARGETS)}")
        valid = TARGETS[self.name].precisions
        bad = [p for p in self.precisions or () if p not in valid]
        if bad:
            raise ValueError(f"precision(s) {bad} not valid on {self.name} (valid: {', '.join(valid)})")
        return self


class Objective(_Strict):
    metric: Metric
    direction: Literal["maximize", "minimize"]


class Constraint(_Strict):
    metric: Metric
    op: Literal[">=", "<="]
    value: float

    def violation(self, measured: float) -> float:
        """Optuna's convention: <= 0 when satisfied."""
        return self.value - measured if self.op == ">=" else measured - self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class Preference(_Strict):
    """How to pick one winner from the front.

    With an accuracy ``metric``, the trials statistically tied with the most accurate front trial
    (a paired exact test on the search split's examples does not find them worse at
    ``significance``), or within ``tolerance`` of it, are candidates; the best ``then`` wins.
    """

    metric: Metric = Field("accuracy", description="the task kind's quality metric by default")
    tolerance: float = Field(0.0, ge=0)
    then: Metric | None = None
    significance: float = Field(
        0.05, gt=0, lt=1, description="level of the paired test that says a trial is worse"
    )


class EvaluationSpec(_Strict):
    """The ``evaluation`` section: the keys every space has, and the built-in kinds' own. Another
    task kind's own keys (``TaskKind.settings``) sit beside them: the space checks them against
    its kind (``Space._kind_settings``) and keeps them, defaults filled in, as extra fields."""

    model_config = ConfigDict(extra="allow")
    max_eval_rows: int | None = Field(None, ge=1)
    latency_warmup: int = Field(3, ge=0)
    latency_repeats: int = Field(20, ge=1)
    latency_prompts: int = Field(8, ge=1)
    label_scoring: Literal["score", "greedy"] = Field(
        "score",
        description="score: every label's whole continuation by log-likelihood; greedy: "
        "trie-constrained greedy decoding (commits to the first token)",
    )
    length_normalize: bool = Field(False, description="score labels by mean log-prob per token")
    max_new_tokens: int = Field(
        32, ge=1, le=2048, description="generation: the answer's cap in tokens (greedy, ends at EOS)"
    )
    stop: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="generation: strings that end an answer (e.g. a newline)"
    )


class StopRule(_Strict):
    """Stop the study when the winner has not moved beyond noise for ``patience`` trials."""

    patience: int = Field(ge=1, description="finished trials in a row without progress")
    min_trials: int = Field(1, ge=1, description="never stop before this many finished trials")
    min_improvement: float = Field(
        0.05,
        ge=0,
        description="relative gain on the preference's then metric that counts as progress "
        "between winners tied on accuracy",
    )


class Fidelity(_Strict):
    """Successive halving over fine-tuning steps: stop each fine-tune at ``rungs`` (steps, below
    the pass's ``steps``) and continue only the runs promoted there (see autotune.selection.fidelity).
    The constraints' PyTorch gate judges the whole run only: a rung is mid-schedule."""

    rungs: list[int] = Field(min_length=1, description="step counts where a fine-tune is judged")
    eta: int = Field(3, ge=2, description="the top 1/eta of the runs at a rung go on")

    @field_validator("rungs")
    @classmethod
    def _increasing(cls, v: list[int]) -> list[int]:
        if any(r < 1 for r in v) or any(b <= a for a, b in pairwise(v)):
            raise ValueError(f"rungs must be positive and increasing, got {v}")
        return v


class Heartbeat(_Strict):
    """How workers on any machine tell each other they are alive (Optuna's RDB heartbeats)."""

    interval: int = Field(20, ge=1, description="seconds between a running trial's heartbeats")
    grace: int = Field(
        60, ge=2, description="seconds without a heartbeat after which the trial's worker counts as lost"
    )
    max_retry: int = Field(2, ge=0, description="times a lost worker's trial is run again")

    @model_validator(mode="after")
    def _grace_covers_beats(self) -> Heartbeat:
        if self.grace <= self.interval:
            raise ValueError(f"grace ({self.grace} s) must be longer than interval ({self.interval} s)")
        return self


class StudySpec(_Strict):
    name: Annotated[str | None, AfterValidator(_safe_name)] = None
    n_trials: int = Field(10, ge=1)
    timeout: float | None = Field(
        None,
        gt=0,
        description="the study's budget in seconds, every resume and worker counted; no new trial "
        "starts once it is spent",
    )
    sampler: Literal["tpe", "nsga2", "random", "grid"] = "tpe"
    seed: int = 0
    build_sweep: bool = Field(
        False,
        validation_alias=AliasChoices("build_sweep", "precision_sweep"),
        description="after a new fine-tune, queue the same trial through every other chain and "
        "ONNX-side choice (precision, block size, quantizer options)",
    )
    fidelity: Fidelity | None = Field(
        None, description="multi-fidelity fine-tunes: rungs of steps and who goes on (off by default)"
    )
    stop: StopRule | None = Field(
        None, description="stop early when the winner has not moved beyond noise (off by default)"
    )
    heartbeat: Heartbeat = Field(
        default_factory=Heartbeat,
        description="a trial whose worker stops beating for grace seconds is failed and re-run",
    )


def _primary(kind: str) -> list[str]:
    return [m for m in searchable_metrics(kind) if not m.endswith(("_low", "_high"))]


def _known_task(name: str) -> str:
    get_task_kind(name)
    return name


class Space(_Strict):
    name: Annotated[str, AfterValidator(_safe_name)]
    description: str = ""
    task: Annotated[str, AfterValidator(_known_task)] = Field(
        "classification",
        description="what the fine-tune must do: a registered task kind (autotune.task_kinds): "
        "classification (one label of a closed set per row), generation (a free answer per row), "
        "or one a plug-in registers",
    )
    model: ModelSpec
    data: DataSpec
    targets: list[TargetSpec] = Field(min_length=1)
    chains: list[list[str]] = Field(min_length=1)
    passes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    objectives: list[Objective] = Field(min_length=1)
    constraints: list[Constraint] = Field(default_factory=list)
    preference: Preference = Preference()
    evaluation: EvaluationSpec = EvaluationSpec()
    study: StudySpec = StudySpec()
    olive: dict[str, Any] | None = Field(
        None, description="provenance of a space imported from an Olive config"
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in v] if isinstance(v, list) else v

    @model_validator(mode="before")
    @classmethod
    def _preference_default(cls, raw: Any) -> Any:
        """The preference's metric defaults to the task kind's quality metric."""
        if not isinstance(raw, dict) or not isinstance(raw.get("task", "classification"), str):
            return raw
        kind = TASK_KINDS.get(raw.get("task", "classification"))
        pref = raw.get("preference", {})
        if kind is not None and isinstance(pref, dict) and "metric" not in pref:
            return {**raw, "preference": {**pref, "metric": kind.quality}}
        return raw

    @model_validator(mode="before")
    @classmethod
    def _kind_settings(cls, raw: Any) -> Any:
        """The ``evaluation`` keys beyond EvaluationSpec's are the task kind's own: checked with
        its ``settings`` (an error names the key) and kept with their defaults filled in."""
        if not isinstance(raw, dict) or not isinstance(raw.get("task", "classification"), str):
            return raw
        kind = TASK_KINDS.get(raw.get("task", "classification"))
        ev = raw.get("evaluation", {})
        if kind is None or not isinstance(ev, dict):
            return raw  # the task's or the section's own error says why
        shared = list(EvaluationSpec.model_fields)
        own = {k: v for k, v in ev.items() if k not in shared}
        keys = list(kind.settings.model_fields) if kind.settings is not None else []
        if clash := [k for k in keys if k in shared]:
            raise ValueError(f"task: task kind {kind.name!r} redeclares evaluation key(s) {clash}")
        if unknown := [k for k in own if k not in keys]:
            raise ValueError(
                f"evaluation.{unknown[0]}: unknown key (check its spelling; for task {kind.name!r} "
                f"evaluation takes: {', '.join([*shared, *keys])})"
            )
        if kind.settings is None:
            return raw
        try:
            settings = kind.settings.model_validate(own)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ValueError(f"evaluation.{where}: {err['msg']}") from None
        return {**raw, "evaluation": {**ev, **settings.model_dump()}}

    @model_validator(mode="after")
    def _metrics_distinct(self) -> Space:
        names = [o.metric for o in self.objectives]
        if len(names) != len(set(names)):
            raise ValueError("objectives name a metric twice")
        return self

    @model_validator(mode="after")
    def _metrics_of_the_task(self) -> Space:
        kind = get_task_kind(self.task)
        named = [
            *(("objectives", i, o.metric) for i, o in enumerate(self.objectives)),
            *(("constraints", i, c.metric) for i, c in enumerate(self.constraints)),
            ("preference", "metric", self.preference.metric),
            *([("preference", "then", self.preference.then)] if self.preference.then else []),
        ]
        for section, where, metric in named:
            if not get_metric(metric).measured_by(kind.name):
                raise ValueError(
                    f"{section}.{where}: {metric!r} is not measured for task {kind.name!r} "
                    f"(its metrics: {', '.join(_primary(kind.name))}, and their intervals' _low/_high)"
                )
        if not kind.labelled and self.data.labels is not None:
            raise ValueError(f"data.labels: task {kind.name!r} has no closed label set; remove labels")
        return self


RandomModelSpec.model_rebuild()


class ChainPlan(BaseModel):
    """A chain of passes with the search values of each of its parameters, for one target."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    passes: tuple[str, ...]
    values: dict[str, dict[str, SearchValues]]  # pass -> param -> values
