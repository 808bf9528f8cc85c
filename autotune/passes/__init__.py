"""Passes: the steps of a trial's chain. Importing this package registers the built-in ones."""

from autotune.passes import build, gptq, lora, merge, quantize  # noqa: F401  (registration)
from autotune.passes._base import Artifact, ArtifactKind, OliveMapping, Pass, PassContext, Rung
from autotune.passes._registry import get_pass, pass_names, register_pass

__all__ = [
    "Artifact",
    "ArtifactKind",
    "OliveMapping",
    "Pass",
    "PassContext",
    "Rung",
    "get_pass",
    "pass_names",
    "register_pass",
]
