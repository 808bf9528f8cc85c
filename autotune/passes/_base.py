"""The Pass extension point: a step of a trial's chain with its own parameters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from autotune.errors import InvalidCombination
from autotune.passes._olive import OliveMapping
from autotune.space.params import ParamSpec, Scalar
from autotune.targets import FLOAT_BUILD

if TYPE_CHECKING:
    from autotune.inputs.data import TaskData
    from autotune.inputs.models import PreparedModel
    from autotune.targets import Target

ArtifactKind = Literal["hf", "adapter", "onnx"]

__all__ = [
    "Artifact",
    "ArtifactKind",
    "CpuQuantizer",
    "OliveMapping",
    "Pass",
    "PassContext",
    "Rung",
    "copy_companions",
]


@dataclass(frozen=True)
class Artifact:
    """What a step produced: a folder in the cache and the kind of model it holds."""

    kind: ArtifactKind
    path: Path
    key: str


def copy_companions(build: Path, out: Path) -> None:
    """Copy an ONNX build's files besides the model itself (genai_config.json, tokenizer...)
    into ``out``, for a pass that rewrites only ``model.onnx``."""
    import shutil

    for item in build.iterdir():
        if item.is_file() and not item.name.startswith(("model.onnx", "autotune-", "build.log")):
            shutil.copy2(item, out / item.name)


@dataclass(frozen=True)
class Rung:
    """Run a resumable pass only to ``stop`` (in its budget parameter's unit), resuming from the
    ``resume`` folder of an earlier rung of the same run, if any."""

    stop: int
    resume: Path | None = None


@dataclass(frozen=True)
class PassContext:
    """Everything a pass may read besides its own parameters (never an Optuna object)."""

    model: PreparedModel
    data: TaskData
    target: Target
    seed: int
    upstream: Mapping[str, Mapping[str, Scalar]] = field(default_factory=dict)
    on_step: Any = None  # callable(step, steps, loss) while fine-tuning, or None
    rung: Rung | None = None  # a resumable pass's partial run (multi-fidelity), or None: the whole


class Pass(ABC):
    """A step that turns one artifact into another.

    Subclasses declare ``name``, the artifact kinds they take and give, and ``params``; they
    reject invalid combinations in :meth:`check` before any work is done.
    """

    name: ClassVar[str]
    input_kind: ClassVar[ArtifactKind]
    output_kind: ClassVar[ArtifactKind]
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    # Parameters this pass forces on an upstream pass of the same chain, e.g. the ORT int8
    # quantizer needs the builder's fp32 model: {"build": {"precision": "fp32"}}.
    upstream_fixed: ClassVar[Mapping[str, Mapping[str, Scalar]]] = {}
    # The pass's Olive type and parameter names; None: `export --format olive` refuses the pass.
    olive: ClassVar[OliveMapping | None] = None
    # The parameter that is this pass's budget when it can stop at a rung and resume from it
    # (``ctx.rung``), e.g. a fine-tune's "steps"; None: it always runs whole.
    budget: ClassVar[str | None] = None

    def check(self, params: Mapping[str, Scalar], ctx: PassContext) -> None:  # noqa: B027
        """Raise InvalidCombination if these parameters cannot run on ``ctx``."""

    def key_parts(self, params: Mapping[str, Scalar], ctx: PassContext) -> dict[str, Any]:
        """What besides the input and the parameters changes this pass's output."""
        return {}

    @abstractmethod
    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        """Write the output artifact into ``out``; return facts worth recording (JSON-able)."""


class CpuQuantizer(Pass):
    """A pass that quantizes the builder's float32 model with ONNX Runtime into a model for its
    CPU execution provider (ORT's dynamic int8, GPTQ): it forces that build upstream and refuses
    a target whose ONNX model runs on another provider, whatever device it trains on."""

    upstream_fixed: ClassVar[Mapping[str, Mapping[str, Scalar]]] = {"build": {"precision": FLOAT_BUILD}}
    # why a target whose model runs on another execution provider is refused
    off_cpu: ClassVar[str]

    def check(self, params: Mapping[str, Scalar], ctx: PassContext) -> None:
        if not ctx.target.runs_on_cpu:
            raise InvalidCombination(self.off_cpu)
        if ctx.upstream.get("build", {}).get("precision", FLOAT_BUILD) != FLOAT_BUILD:
            raise InvalidCombination(
                f"{self.name} needs the {FLOAT_BUILD} build; set build.precision: {FLOAT_BUILD}"
            )
