"""Size on disk, against byte counts written by the test."""

from __future__ import annotations

import subprocess
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


def _find(path: Path) -> tuple[int, int]:
    """(bytes, files) under ``path`` as GNU find counts them (apparent size, links followed)."""
    out = subprocess.run(
        ["find", "-L", str(path), "-type", "f", "-printf", "%s\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sum(map(int, out)), len(out)


def test_built_and_hf_folders(tiny_onnx: dict[str, Path], tiny_hf_dir: Path) -> None:
    import onnx

    for path, kind in ((tiny_onnx["int4"], "onnx-genai"), (tiny_hf_dir, "hf")):
        result = SizeEvaluator().evaluate(ModelArtifact(path, kind))  # type: ignore[arg-type]
        assert (result["bytes"], result["files"]) == _find(path)
        assert result["size_mb"] == result["bytes"] / 2**20
    # The ONNX part is the graph and the external data file its initializers point into.
    folder = tiny_onnx["int4"]
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    external = [{e.key: e.value for e in t.external_data} for t in graph.initializer if t.external_data]
    assert {e["location"] for e in external} == {"model.onnx.data"}
    data = (folder / "model.onnx.data").stat().st_size
    end = max(int(e["offset"]) + int(e["length"]) for e in external)
    assert end <= data < end + 4096  # the last tensor ends the file (but for alignment)
    result = SizeEvaluator().evaluate(ModelArtifact(folder, "onnx-genai"))
    assert result["onnx_bytes"] == (folder / "model.onnx").stat().st_size + data < result["bytes"]
    assert result["onnx_mb"] == result["onnx_bytes"] / 2**20
    assert SizeEvaluator().evaluate(ModelArtifact(tiny_hf_dir, "hf"))["onnx_bytes"] == 0
