"""Hardware targets: frozen descriptions of where a model will run."""

from __future__ import annotations

from dataclasses import dataclass

from autotune.errors import SpaceError

__all__ = ["TARGETS", "Target", "get_target"]


@dataclass(frozen=True)
class Target:
    """A hardware target: its ONNX Runtime execution provider and the precisions valid on it."""

    name: str
    execution_provider: str  # ONNX Runtime provider name
    builder_ep: str  # onnxruntime-genai model builder's ``-e`` value
    genai_provider: str  # provider name for ``og.Config.append_provider`` ("" = the config's own)
    torch_device: str
    precisions: tuple[str, ...]

    def available(self) -> bool:
        """Whether this machine can run the target now."""
        if self.name == "cpu":
            return True
        import onnxruntime as ort
        import torch

        return torch.cuda.is_available() and self.execution_provider in ort.get_available_providers()


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("cpu", "CPUExecutionProvider", "cpu", "", "cpu", ("int4", "int8", "fp32")),
        Target(
            "cuda",
            "CUDAExecutionProvider",
            "cuda",
            "cuda",
            "cuda",
            ("int4", "fp16", "bf16", "fp32"),
        ),
    )
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise SpaceError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None
