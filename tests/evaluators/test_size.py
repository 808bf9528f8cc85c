"""Size on disk, against byte counts written by the test."""

from __future__ import annotations

from pathlib import Path

from evaluators import ModelArtifact, SizeEvaluator


def test_exact_sizes_of_a_hand_made_folder(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"x" * 1000)
    (tmp_path / "model.onnx.data").write_bytes(b"x" * 3000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tokenizer.json").write_bytes(b"x" * 500)
    result = SizeEvaluator().evaluate(ModelArtifact(tmp_path, "onnx-genai"))
    assert result == {
        "size_mb": 4500 / 2**20,
        "onnx_mb": 4000 / 2**20,
        "bytes": 4500,
        "onnx_bytes": 4000,
        "files": 3,
    }


def test_built_and_hf_folders(tiny_onnx: dict[str, Path], tiny_hf_dir: Path) -> None:
    for path, kind in ((tiny_onnx["int4"], "onnx-genai"), (tiny_hf_dir, "hf")):
        files = [p for p in path.rglob("*") if p.is_file()]
        result = SizeEvaluator().evaluate(ModelArtifact(path, kind))  # type: ignore[arg-type]
        assert result["bytes"] == sum(p.stat().st_size for p in files)
        assert result["files"] == len(files)
    onnx = SizeEvaluator().evaluate(ModelArtifact(tiny_onnx["int4"], "onnx-genai"))
    assert 0 < onnx["onnx_bytes"] < onnx["bytes"]
    assert SizeEvaluator().evaluate(ModelArtifact(tiny_hf_dir, "hf"))["onnx_bytes"] == 0
