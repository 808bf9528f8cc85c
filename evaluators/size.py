"""Size on disk of an artifact folder."""

from __future__ import annotations

from typing import Any, ClassVar

from ._base import EvalTask, Evaluator, ModelArtifact, require_kind

_ONNX_SUFFIXES = (".onnx", ".onnx.data")
_MB = 1024 * 1024


class SizeEvaluator(Evaluator):
    """size_mb of all files under the artifact folder, onnx_mb of the ONNX graphs and their
    external data, and the file count. MB = 2**20 bytes; symlinks count as their targets.
    The task is not used."""

    name: ClassVar[str] = "size"

    def evaluate(self, artifact: ModelArtifact, task: EvalTask | None = None) -> dict[str, Any]:
        require_kind(self.name, artifact, "hf", "onnx-genai")
        files = [p for p in artifact.path.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        onnx = sum(p.stat().st_size for p in files if p.name.endswith(_ONNX_SUFFIXES))
        return {
            "size_mb": total / _MB,
            "onnx_mb": onnx / _MB,
            "bytes": total,
            "onnx_bytes": onnx,
            "files": len(files),
        }
