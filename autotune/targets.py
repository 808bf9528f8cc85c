"""Hardware targets: frozen descriptions of where a model will run, and the build precisions.

A target owns every word about its hardware: the ONNX Runtime execution provider, the ORT GenAI
provider, the model builder's ``-e`` value, the torch device, the dtype fine-tuning computes in,
the valid precisions, the builder options that only make sense there, and the words Olive
configs use for it. Evaluators get its device and GenAI provider as a ``Placement``. Every other
module asks the target; adding one is an entry here and its test.

A precision owns what it means to the build: its model builder ``-p`` value (which Olive's
ModelBuilder takes as its ``precision`` too) and its MatMul weight bits when the builder
quantizes. A target lists the precisions it runs; every other module asks ``PRECISIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from autotune.errors import SpaceError

if TYPE_CHECKING:
    from evaluators import Placement

__all__ = [
    "FLOAT_BUILD",
    "PRECISIONS",
    "TARGETS",
    "Precision",
    "Target",
    "get_precision",
    "get_target",
    "target_for_providers",
]


@dataclass(frozen=True)
class Precision:
    """A weight precision of the ONNX build."""

    name: str
    builder: str  # the model builder's ``-p`` value (Olive's ModelBuilder ``precision`` word too)
    bits: int | None = None  # MatMulNBits weight bits when the builder quantizes; None: float weights

    @property
    def quantized(self) -> bool:
        """Whether the builder quantizes the MatMul weights (MatMulNBits nodes, block size...)."""
        return self.bits is not None


# every precision the build pass knows, in the order error messages list them
PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("int4", "int4", bits=4),
        Precision("int8", "int8", bits=8),
        Precision("fp16", "fp16"),
        Precision("bf16", "bf16"),
        Precision("fp32", "fp32"),
    )
}
# the build an ONNX quantizer pass (ORT dynamic int8, GPTQ) takes: the builder's float32 model
FLOAT_BUILD: Final = "fp32"


def get_precision(name: object) -> Precision | None:
    """The precision named ``name``; None for anything else (another name, a number, None)."""
    return PRECISIONS.get(name) if isinstance(name, str) else None


@dataclass(frozen=True)
class Target:
    name: str
    execution_provider: str  # ONNX Runtime provider name
    builder_ep: str  # onnxruntime-genai model builder's ``-e`` value
    genai_provider: str  # provider name for ``og.Config.append_provider`` ("" = the config's own)
    device: Literal["cpu", "cuda"]  # torch device
    train_dtype: Literal["float32", "bfloat16"]  # what LoRA/QLoRA compute in
    precisions: tuple[str, ...]
    olive_device: str  # Olive's accelerator "device"
    olive_providers: tuple[str, ...]  # Olive execution providers that mean this target
    # build-pass parameters (model builder extra options) that only this target accepts
    builder_options: frozenset[str] = frozenset()
    install_hint: str = ""  # how to get the runtime packages the target needs

    def __post_init__(self) -> None:
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            raise ValueError(f"target {self.name!r} lists unknown precision(s) {', '.join(unknown)}")

    @property
    def runs_on_cpu(self) -> bool:
        """Whether its ONNX models run on ONNX Runtime's CPU execution provider (where it
        trains, ``device``, may differ)."""
        return self.execution_provider == "CPUExecutionProvider"

    def allows(self, precision: object) -> bool:
        """Whether a build of ``precision`` runs on this target."""
        return precision in self.precisions

    def placement(self) -> Placement:
        """Where evaluators run an artifact for this target (its torch device and GenAI provider)."""
        from evaluators import Placement

        return Placement(self.device, self.genai_provider)

    def available(self) -> bool:
        """Whether this machine can run the target now: its ORT provider and its torch device."""
        return not self.missing()

    def missing(self) -> str:
        """What this machine lacks to run the target ("" when nothing): its torch device, its
        ONNX Runtime provider."""
        import onnxruntime as ort
        import torch

        lacks = []
        backend = getattr(torch, self.device, None)
        if not (backend is not None and backend.is_available()):
            lacks.append(f"no {self.device} device visible to torch")
        if self.execution_provider not in ort.get_available_providers():
            hint = f" ({self.install_hint})" if self.install_hint else ""
            lacks.append(f"onnxruntime has no {self.execution_provider}{hint}")
        return "; ".join(lacks)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="cpu",
            execution_provider="CPUExecutionProvider",
            builder_ep="cpu",
            genai_provider="",
            device="cpu",
            train_dtype="float32",
            precisions=("int4", "int8", "fp32"),
            olive_device="cpu",
            olive_providers=("CPUExecutionProvider",),
        ),
        Target(
            name="cuda",
            execution_provider="CUDAExecutionProvider",
            builder_ep="cuda",
            genai_provider="cuda",
            device="cuda",
            train_dtype="bfloat16",
            precisions=("int4", "fp16", "bf16", "fp32"),
            olive_device="gpu",
            olive_providers=("CUDAExecutionProvider",),
            builder_options=frozenset({"enable_cuda_graph"}),
            install_hint="pip install onnxruntime-gpu onnxruntime-genai-cuda in place of onnxruntime "
            "and onnxruntime-genai",
        ),
    )
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise SpaceError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None


def target_for_providers(providers: list[str]) -> Target:
    """The target of an Olive config's execution providers: the first one's (Olive's priority
    order). Every provider must be one a target covers: an unknown one is an error, never a
    silent CPU run."""
    known = {ep: t for t in TARGETS.values() for ep in t.olive_providers}
    unknown = [ep for ep in providers if ep not in known]
    if unknown:
        raise ValueError(
            f"execution provider(s) {', '.join(unknown)} are not supported; autotune runs "
            f"{', '.join(sorted(known))}"
        )
    return known[providers[0]] if providers else TARGETS["cpu"]
