"""Build an ONNX Runtime GenAI model with onnxruntime-genai's model builder: HF folder -> ONNX."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from autotune.errors import InvalidCombination, StepFailed
from autotune.passes._base import Artifact, OliveMapping, Pass, PassContext
from autotune.passes._builder_proc import MODULE, run_builder
from autotune.passes._registry import register_pass
from autotune.space.params import Choice, ParamSpec, Scalar
from autotune.targets import PRECISIONS, get_precision
from evaluators import is_genai_folder

__all__ = [
    "EXCLUDABLE",
    "MIXED_PRECISION",
    "Build",
    "builder_extra_options",
    "matmul_nodes",
    "matmulnbits_attributes",
    "set_session_threads",
    "verify_provider_options",
    "verify_recipe",
]

# builder options a target must declare in ``Target.builder_options`` to accept them
_TARGET_ONLY = ("enable_cuda_graph",)


# named groups of nodes a recipe may leave in float, and their names in the builder's graphs
EXCLUDABLE = {"none": (), "lm_head": ("/lm_head/MatMul",)}
# MatMul groups the builder can quantize to int8 inside an int4 body (its spelling)
MIXED_PRECISION = (
    "none",
    "last_matmul:int8",
    "mixed_layers:int8",
    "last_matmul:int8,mixed_layers:int8",
)


# the builder's static KV-cache schemes autotune calibrates (int4 ones break the KV-cache rewind
# that label scoring uses in ONNX Runtime GenAI 0.18; fp8 is not measured here)
KV_CACHE_SCHEMES = ("none", "int8_per_tensor", "int8_per_channel")


def _bits(p: Mapping[str, Scalar]) -> int | None:
    """The weight bits the builder quantizes ``p``'s precision to (None: float weights)."""
    precision = get_precision(p.get("precision"))
    return None if precision is None else precision.bits


def _quantized(p: Mapping[str, Scalar]) -> bool:
    return _bits(p) is not None


def _int4(p: Mapping[str, Scalar]) -> bool:
    return _bits(p) == 4


def matmul_nodes(model_dir: Path) -> dict[str, dict[str, Any]]:
    """Every MatMul and MatMulNBits node of the built graph: its op type and quantization
    attributes (bits, block_size, accuracy_level), by node name."""
    import onnx

    graph = onnx.load(str(model_dir / "model.onnx"), load_external_data=False).graph
    return {
        node.name: {
            "op": node.op_type,
            **{
                a.name: int(onnx.helper.get_attribute_value(a))
                for a in node.attribute
                if a.name in ("bits", "block_size", "accuracy_level")
            },
        }
        for node in graph.node
        if node.op_type in ("MatMul", "MatMulNBits")
    }


def matmulnbits_attributes(model_dir: Path) -> list[dict[str, int]]:
    """The quantization attributes of every MatMulNBits node in the built graph."""
    return [
        {k: v for k, v in node.items() if k != "op"}
        for node in matmul_nodes(model_dir).values()
        if node["op"] == "MatMulNBits"
    ]


def set_session_threads(model_dir: Path, threads: int) -> dict[str, Any]:
    """Write ``intra_op_num_threads`` into the decoder's session options of genai_config.json.

    The runtime's own default on a CPU is one thread per operator here (measured: 2 threads
    take the int4 SmolLM2 request from 73 to 42 ms on 2 cores), so the deployed folder carries
    the value the study measured. Returns the session options as written.
    """
    from evaluators import GenaiConfigError, set_intra_op_threads

    try:
        return set_intra_op_threads(model_dir, threads)
    except GenaiConfigError as exc:
        raise StepFailed(f"{exc} to put the thread count in") from exc


def builder_extra_options(
    params: Mapping[str, Scalar], trust_remote_code: bool, kv_scales: Path | None = None
) -> list[str]:
    """The builder's ``--extra_options`` for a build's parameters (``name=value`` words);
    ``kv_scales`` is the calibrated scale file a quantized KV cache needs."""
    extra = [f"hf_remote={str(trust_remote_code).lower()}"]
    kv = str(params.get("kv_cache_quant", "none"))
    if kv != "none":
        if kv_scales is None:
            raise ValueError(f"kv_cache_quant={kv} needs its calibrated scale file")
        extra += [f"kv_cache_quant_scheme={kv}", f"kv_cache_scale_file={kv_scales}"]
    if _quantized(params):
        extra += [
            f"block_size={params['block_size']}",
            f"accuracy_level={params['accuracy_level']}",
            f"is_symmetric={str(params['is_symmetric']).lower()}",
        ]
        if params["algo_config"] != "default":
            extra.append(f"algo_config={params['algo_config']}")
        if params.get("matmul_mixed_precision", "none") != "none":
            extra.append(f"matmul_mixed_precision={params['matmul_mixed_precision']}")
        excluded = EXCLUDABLE[str(params.get("nodes_to_exclude", "none"))]
        if excluded:
            extra.append(f"nodes_to_exclude={','.join(excluded)}")
    extra += [f"{name}=true" for name in _TARGET_ONLY if params.get(name)]
    return extra


def verify_kv_cache(model_dir: Path, scheme: str) -> dict[str, Any]:
    """Check every attention node of the built graph caches keys and values in the scheme's
    bits (the builder names it in a ``kv_cache_bit_width`` attribute); return what was found."""
    import onnx

    graph = onnx.load(str(model_dir / "model.onnx"), load_external_data=False).graph
    attention = [n for n in graph.node if n.op_type in ("GroupQueryAttention", "PagedAttention")]
    bits = {
        int(onnx.helper.get_attribute_value(a))
        for n in attention
        for a in n.attribute
        if a.name == "kv_cache_bit_width"
    }
    want = int(scheme.split("_")[0].removeprefix("int"))
    if not attention or bits != {want}:
        raise StepFailed(
            f"model builder ignored kv_cache_quant={scheme} (attention cache bits {sorted(bits)})"
        )
    return {"scheme": scheme, "attention_nodes": len(attention), "bits": want}


def verify_provider_options(model_dir: Path, params: Mapping[str, Scalar], provider: str) -> dict[str, str]:
    """The provider options the built genai_config.json carries; a target-only option the
    builder did not write as asked fails the build."""
    from evaluators import provider_options

    written = provider_options(model_dir, provider)
    for name in _TARGET_ONLY:
        if name in params and written.get(name, "0") != ("1" if params[name] else "0"):
            raise StepFailed(
                f"the builder wrote {name}={written.get(name)!r} for {provider}, asked {params[name]}"
            )
    return written


def _lm_head(nodes: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    heads = [node for name, node in nodes.items() if name.startswith("/lm_head/")]
    return heads[0] if heads else None


def verify_recipe(nodes: Mapping[str, Mapping[str, Any]], params: Mapping[str, Scalar]) -> dict[str, Any]:
    """Check a quantized graph's MatMul nodes carry the recipe in ``params``; return its facts.

    Every quantized node has the block size and accuracy level asked for; the body has the
    precision's bits; ``matmul_mixed_precision`` shows as 8-bit nodes where it says (the LM head
    for last_matmul, some layers for mixed_layers); an excluded node stays a float MatMul.
    """
    quantized = {name: n for name, n in nodes.items() if n["op"] == "MatMulNBits"}
    if not quantized:
        raise StepFailed("model builder wrote no MatMulNBits node for a quantized precision")
    for attr in ("block_size", "accuracy_level"):
        seen = {n.get(attr) for n in quantized.values()}
        if seen != {params[attr]}:
            raise StepFailed(
                f"model builder ignored {attr}={params[attr]} (graph has {sorted(map(str, seen))})"
            )
    body = _bits(params) or 8  # the precision's bits (only quantized builds come here)
    bits = {name: n.get("bits") for name, n in quantized.items()}
    head = _lm_head(nodes)
    mixed = str(params.get("matmul_mixed_precision", "none"))
    want_head = "float" if params.get("nodes_to_exclude") == "lm_head" else None
    if want_head is None and "last_matmul:int8" in mixed:
        want_head = "8-bit"
    layers8 = [n for n, b in bits.items() if b == 8 and not n.startswith("/lm_head/")]
    if "mixed_layers:int8" in mixed and not layers8:
        raise StepFailed("model builder ignored matmul_mixed_precision=mixed_layers:int8 (no 8-bit layer)")
    if "mixed_layers" not in mixed and any(
        b != body for n, b in bits.items() if not n.startswith("/lm_head/")
    ):
        raise StepFailed(f"graph has layers outside {body}-bit that no recipe asked for")
    head_word = "none" if head is None else "float" if head["op"] == "MatMul" else f"{head.get('bits')}-bit"
    if head is not None and head_word != (want_head or f"{body}-bit"):
        raise StepFailed(f"LM head is {head_word}, the recipe asked for {want_head or f'{body}-bit'}")
    return {
        "nodes": len(quantized),
        "bits": dict(
            sorted({str(b): sum(1 for x in bits.values() if x == b) for b in set(bits.values())}.items())
        ),
        "lm_head": head_word,
    }


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
            allowed=tuple(PRECISIONS),
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
            "weight quantization method (default: the quantizer's RTN; rtn; k_quant)",
            allowed=("default", "rtn", "k_quant"),
            when=_quantized,
        ),
        ParamSpec(
            "matmul_mixed_precision",
            "str",
            "none",
            "MatMul groups kept in int8 inside the int4 body (last_matmul: the LM head; "
            "mixed_layers: the most sensitive projections)",
            allowed=MIXED_PRECISION,
            when=_int4,
        ),
        ParamSpec(
            "nodes_to_exclude",
            "str",
            "none",
            "nodes left in float: none, or lm_head (the LM head's MatMul)",
            allowed=tuple(EXCLUDABLE),
            when=_quantized,
        ),
        ParamSpec(
            "kv_cache_quant",
            "str",
            "none",
            "KV cache in int8, scaled per layer (per_tensor) or per channel from training text",
            allowed=KV_CACHE_SCHEMES,
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
            "int4_algo_config": "algo_config",
        },
        optional=frozenset({"block_size", "accuracy_level"}),
        # the builder's own option names, passed through Olive's ModelBuilder extra_options
        extra_options={
            "is_symmetric": "is_symmetric",
            "algo_config": "algo_config",
            "matmul_mixed_precision": "matmul_mixed_precision",
            "nodes_to_exclude": "nodes_to_exclude",
            "enable_cuda_graph": "enable_cuda_graph",
        },
        values={"nodes_to_exclude": {name: ",".join(nodes) for name, nodes in EXCLUDABLE.items()}},
        dropped={"intra_op_threads": "a runtime setting of genai_config.json, not of the model"},
    )

    def check(self, params: Mapping[str, Scalar], ctx: PassContext) -> None:
        precision = params["precision"]
        if not ctx.target.allows(precision):
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
        calibrated = params.get("kv_cache_quant", "none") != "none"
        return {
            "ep": ctx.target.builder_ep,
            **({"data": ctx.data.fingerprint, "seed": ctx.seed} if calibrated else {}),
        }

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        precision = PRECISIONS[str(params["precision"])]
        hf_cache = out.parent / f".{out.name}-hf"
        args = ["-i", str(source.path), "-o", str(out), "-p", precision.builder, "-e", ctx.target.builder_ep]
        args += ["-c", str(hf_cache)]
        kv_scales = self._kv_scales(source, params, ctx, out)
        args += ["--extra_options", *builder_extra_options(params, ctx.model.trust_remote_code, kv_scales)]
        log = out.parent / f".{out.name}-build.log"
        try:
            code = run_builder(args, log)
        finally:
            shutil.rmtree(hf_cache, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        text = log.read_text(errors="replace") if log.is_file() else ""
        (out / "build.log").write_text(text)
        log.unlink(missing_ok=True)
        if code != 0 or not is_genai_folder(out):
            lines = [ln for ln in text.splitlines() if ln.strip()]
            why = lines[-1].strip() if lines else f"exit status {code}"
            raise StepFailed(f"model builder failed: {why}")
        facts: dict[str, Any] = {"command": [MODULE, *args]}
        threads = int(params.get("intra_op_threads", 0))
        if threads:
            facts["session_options"] = set_session_threads(out, threads)
        if precision.quantized:
            facts["matmulnbits"] = self._verify(out, params)
        if ctx.target.builder_options:
            facts["provider_options"] = verify_provider_options(out, params, ctx.target.genai_provider)
        if kv_scales is not None:
            facts["kv_cache"] = verify_kv_cache(out, str(params["kv_cache_quant"]))
        return facts

    @staticmethod
    def _kv_scales(
        source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> Path | None:
        """Calibrate the KV-cache scales on the model being built, if its KV cache is quantized."""
        scheme = str(params.get("kv_cache_quant", "none"))
        if scheme == "none":
            return None
        from transformers import AutoModelForCausalLM

        from autotune.inputs.models import load_tokenizer
        from autotune.passes._calibration import calibration_texts, kv_cache_scales

        tokenizer = load_tokenizer(str(source.path), ctx.model.trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(source.path).eval()
        path = out / "kv_cache_scales.json"
        kv_cache_scales(model, tokenizer, calibration_texts(ctx, tokenizer, 64), scheme, path)
        return path

    @staticmethod
    def _verify(out: Path, params: Mapping[str, Scalar]) -> dict[str, Any]:
        """The builder accepts some options and ignores them: check the graph carries ours."""
        return verify_recipe(matmul_nodes(out), params)


register_pass(Build)
