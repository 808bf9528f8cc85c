"""Build an ONNX Runtime GenAI model with onnxruntime-genai's model builder: HF folder -> ONNX."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from autotune.errors import InvalidCombination, StepFailed
from autotune.params import Choice, ParamSpec, Scalar
from autotune.passes._base import Artifact, OliveMapping, Pass, PassContext
from autotune.passes._registry import register_pass

__all__ = ["Build", "builder_extra_options", "matmulnbits_attributes", "set_session_threads"]

_QUANTIZED = ("int4", "int8")
# builder options a target must declare in ``Target.builder_options`` to accept them
_TARGET_ONLY = ("enable_cuda_graph",)


def _quantized(p: Mapping[str, Scalar]) -> bool:
    return p.get("precision") in _QUANTIZED


def matmulnbits_attributes(model_dir: Path) -> list[dict[str, int]]:
    """The quantization attributes of every MatMulNBits node in the built graph."""
    import onnx

    graph = onnx.load(str(model_dir / "model.onnx"), load_external_data=False).graph
    return [
        {
            a.name: int(onnx.helper.get_attribute_value(a))
            for a in node.attribute
            if a.name in ("bits", "block_size", "accuracy_level")
        }
        for node in graph.node
        if node.op_type == "MatMulNBits"
    ]


def set_session_threads(model_dir: Path, threads: int) -> dict[str, Any]:
    """Write ``intra_op_num_threads`` into the decoder's session options of genai_config.json.

    The runtime's own default on a CPU is one thread per operator here (measured: 2 threads
    take the int4 SmolLM2 request from 73 to 42 ms on 2 cores), so the deployed folder carries
    the value the study measured. Returns the session options as written.
    """
    path = model_dir / "genai_config.json"
    config = json.loads(path.read_text())
    try:
        options = config["model"]["decoder"].setdefault("session_options", {})
    except (KeyError, AttributeError) as exc:
        raise StepFailed(f"{path}: no model.decoder section to put the thread count in") from exc
    options["intra_op_num_threads"] = threads
    path.write_text(json.dumps(config, indent=4) + "\n")
    return dict(options)


def builder_extra_options(params: Mapping[str, Scalar], trust_remote_code: bool) -> list[str]:
    """The builder's ``--extra_options`` for a build's parameters (``name=value`` words)."""
    extra = [f"hf_remote={str(trust_remote_code).lower()}"]
    if params["precision"] in _QUANTIZED:
        extra += [
            f"block_size={params['block_size']}",
            f"accuracy_level={params['accuracy_level']}",
            f"is_symmetric={str(params['is_symmetric']).lower()}",
        ]
        if params["algo_config"] != "default":
            extra.append(f"algo_config={params['algo_config']}")
    extra += [f"{name}=true" for name in _TARGET_ONLY if params.get(name)]
    return extra


class Build(Pass):
    """Run the model builder for the target's execution provider and check what it wrote."""

    name = "build"
    input_kind = "hf"
    output_kind = "onnx"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec(
            "precision",
            "str",
            "int4",
            "weight precision of the ONNX model",
            Choice(("int4", "int8", "fp32")),
            allowed=("int4", "int8", "fp16", "bf16", "fp32"),
        ),
        ParamSpec(
            "block_size",
            "int",
            32,
            "MatMulNBits quantization block size",
            Choice((32, 64, 128)),
            allowed=(16, 32, 64, 128, 256),
            when=_quantized,
        ),
        ParamSpec(
            "accuracy_level",
            "int",
            4,
            "MatMulNBits compute precision (1 fp32, 2 fp16, 3 bf16, 4 int8)",
            allowed=(1, 2, 3, 4),
            when=_quantized,
        ),
        ParamSpec("is_symmetric", "bool", True, "symmetric weight quantization", when=_quantized),
        ParamSpec(
            "algo_config",
            "str",
            "default",
            "weight quantization method",
            allowed=("default", "rtn", "k_quant"),
            when=_quantized,
        ),
        ParamSpec(
            "enable_cuda_graph",
            "bool",
            False,
            "capture the decoder in a CUDA graph (only on targets that declare it)",
        ),
        ParamSpec(
            "intra_op_threads",
            "int",
            0,
            "ONNX Runtime threads per operator, written to genai_config.json (0: the runtime's default)",
            minimum=0,
            maximum=1024,
        ),
    )
    olive: ClassVar[OliveMapping | None] = OliveMapping(
        type="ModelBuilder",
        params={
            "precision": "precision",
            "block_size": "int4_block_size",
            "accuracy_level": "int4_accuracy_level",
        },
        also_read={
            "block_size": "block_size",
            "accuracy_level": "accuracy_level",
            "int4_is_symmetric": "is_symmetric",
            "is_symmetric": "is_symmetric",
            "int4_algo_config": "algo_config",
            "algo_config": "algo_config",
        },
        optional=frozenset({"block_size", "accuracy_level"}),
    )

    def check(self, params: Mapping[str, Scalar], ctx: PassContext) -> None:
        precision = params["precision"]
        if precision not in ctx.target.precisions:
            raise InvalidCombination(
                f"build.precision {precision} is not valid on target {ctx.target.name} "
                f"(valid: {', '.join(ctx.target.precisions)})"
            )
        for name in _TARGET_ONLY:
            if params.get(name) and name not in ctx.target.builder_options:
                raise InvalidCombination(
                    f"build.{name} applies only on targets that declare it, not {ctx.target.name}"
                )

    def key_parts(self, params: Mapping[str, Scalar], ctx: PassContext) -> dict[str, Any]:
        return {"ep": ctx.target.builder_ep}

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        precision = str(params["precision"])
        hf_cache = out.parent / f".{out.name}-hf"
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source.path)]
        cmd += ["-o", str(out), "-p", precision, "-e", ctx.target.builder_ep, "-c", str(hf_cache)]
        cmd += ["--extra_options", *builder_extra_options(params, ctx.model.trust_remote_code)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        finally:
            shutil.rmtree(hf_cache, ignore_errors=True)
        (out / "build.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0 or not (out / "genai_config.json").is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
            raise StepFailed(f"model builder failed: {lines[-1] if lines else proc.returncode}")
        facts: dict[str, Any] = {"command": cmd[2:]}
        threads = int(params.get("intra_op_threads", 0))
        if threads:
            facts["session_options"] = set_session_threads(out, threads)
        if precision in _QUANTIZED:
            facts["matmulnbits"] = self._verify(out, params)
        return facts

    @staticmethod
    def _verify(out: Path, params: Mapping[str, Scalar]) -> dict[str, Any]:
        """The builder accepts some options and ignores them: check the graph carries ours."""
        nodes = matmulnbits_attributes(out)
        if not nodes:
            raise StepFailed("model builder wrote no MatMulNBits node for a quantized precision")
        for attr in ("block_size", "accuracy_level"):
            seen = {n.get(attr) for n in nodes}
            if seen != {params[attr]}:
                raise StepFailed(
                    f"model builder ignored {attr}={params[attr]} (graph has {sorted(map(str, seen))})"
                )
        return {"nodes": len(nodes), "bits": sorted({n.get("bits", 0) for n in nodes})}


register_pass(Build)
