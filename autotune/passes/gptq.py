"""Calibrated int4 (GPTQ) of the fp32 build with ONNX Runtime's MatMulNBits quantizer.

The builder's int4 rounds each weight block to its nearest level (RTN) or k-quant. GPTQ instead
quantizes one weight column at a time and corrects the columns not yet quantized for the error,
using the activations of calibration text: here the task's training rows (prompt, label, EOS),
so no data the search selects on or reports is seen. ONNX Runtime ships the algorithm
(``GPTQWeightOnlyQuantConfig``); this pass feeds it prefill inputs of the builder's decoder and
keeps the embedding tied to the quantized LM head as the builder's own int4 does.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from autotune.errors import StepFailed
from autotune.passes._base import Artifact, CpuQuantizer, OliveMapping, PassContext, copy_companions
from autotune.passes._calibration import calibration_texts
from autotune.passes._registry import register_pass
from autotune.space.params import ParamSpec, Scalar

__all__ = ["Gptq"]


class _Feeds:
    """ONNX Runtime's calibration reader protocol over a list of input feeds (the quantizer
    iterates it and deep-copies it)."""

    def __init__(self, feeds: list[dict[str, Any]]) -> None:
        self.feeds = feeds
        self._it = iter(feeds)

    def get_next(self) -> dict[str, Any] | None:
        return next(self._it, None)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.feeds)

    def __deepcopy__(self, memo: dict[int, Any]) -> _Feeds:
        return _Feeds(self.feeds)


def prefill_feeds(build: Path, texts: list[str], max_tokens: int) -> list[dict[str, Any]]:
    """One prefill per text for the builder's decoder: its tokens, a full attention mask and an
    empty KV cache (batch 1)."""
    import numpy as np
    import onnx
    from tokenizers import Tokenizer

    from evaluators import read_decoder

    decoder = read_decoder(build)
    graph = onnx.load(str(build / decoder.filename), load_external_data=False).graph
    tokenizer = Tokenizer.from_file(str(build / "tokenizer.json"))
    kv = (decoder.num_key_value_heads, decoder.head_size)
    feeds = []
    for text in texts:
        ids = tokenizer.encode(text).ids[:max_tokens]
        feed: dict[str, Any] = {}
        for vi in graph.input:
            if vi.name == "input_ids":
                feed[vi.name] = np.array([ids], dtype=np.int64)
            elif vi.name == "attention_mask":
                feed[vi.name] = np.ones((1, len(ids)), dtype=np.int64)
            elif vi.name == "position_ids":
                feed[vi.name] = np.arange(len(ids), dtype=np.int64)[None]
            elif vi.name.startswith("past_key_values"):
                dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
                feed[vi.name] = np.zeros((1, kv[0], 0, kv[1]), dtype=dtype)
            else:
                raise StepFailed(f"gptq: cannot feed the decoder input {vi.name!r} for calibration")
        feeds.append(feed)
    return feeds


@contextlib.contextmanager
def _one_run_per_feed() -> Iterator[None]:
    """ONNX Runtime's GPTQ runs the whole model once per MatMul input per feed (121 times per
    feed for SmolLM2); serve every activation of a feed from one run instead (same numbers)."""
    import onnxruntime as ort
    from onnxruntime.quantization.neural_compressor import weight_only

    real: Any = ort.InferenceSession
    if getattr(weight_only, "ort", None) is not ort:
        yield  # a layout this pass does not know: the quantizer's own (slow) path
        return

    class Session:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._session = real(*args, **kwargs)
            self._names = [o.name for o in self._session.get_outputs()]
            self._runs: dict[int, dict[str, Any]] = {}

        def __getattr__(self, name: str) -> Any:
            return getattr(self._session, name)

        def run(self, names: list[str], feed: dict[str, Any], *args: Any, **kwargs: Any) -> list[Any]:
            if id(feed) not in self._runs:
                self._runs[id(feed)] = dict(
                    zip(self._names, self._session.run(self._names, feed), strict=True)
                )
            return [self._runs[id(feed)][n] for n in names]

    class Module:
        InferenceSession = Session

        def __getattr__(self, name: str) -> Any:
            return getattr(ort, name)

    weight_only.ort = Module()
    try:
        yield
    finally:
        weight_only.ort = ort


def tie_embedding(model: Any) -> bool:
    """Replace the fp32 embedding table (``Transpose(LM head weight) -> Gather``) by a
    GatherBlockQuantized over the quantized LM head's weight, as the builder's int4 does.

    Returns whether the graph had such a tied embedding (models with their own table do not)."""
    import numpy as np
    from onnx import helper, numpy_helper

    g = model.graph
    made_by = {out: n for n in g.node for out in n.output}
    gather = next(
        (
            n
            for n in g.node
            if n.op_type == "Gather" and getattr(made_by.get(n.input[0]), "op_type", "") == "Transpose"
        ),
        None,
    )
    head = next((n for n in g.node if n.op_type == "MatMulNBits" and n.name.startswith("/lm_head/")), None)
    if gather is None or head is None:
        return False
    transpose = made_by[gather.input[0]]
    attrs = {a.name: helper.get_attribute_value(a) for a in head.attribute}
    weight = next(i for i in g.initializer if i.name == head.input[1])
    rows, blocks, blob = weight.dims
    shape = "/model/embed_tokens/Reshape/shape"
    g.initializer.append(numpy_helper.from_array(np.array([rows, blocks * blob], dtype=np.int64), shape))
    packed = "/model/embed_tokens/Reshape/output_0"
    nodes = [
        helper.make_node("Reshape", [head.input[1], shape], [packed], name="/model/embed_tokens/Reshape")
    ]
    padded = blocks * attrs["block_size"] != attrs["K"]
    out = gather.output[0] + ("_padded" if padded else "")
    nodes.append(
        helper.make_node(
            "GatherBlockQuantized",
            [packed, gather.input[1], *[x for x in head.input[2:4] if x]],
            [out],
            name="/model/embed_tokens/GatherBlockQuantized",
            domain="com.microsoft",
            bits=attrs["bits"],
            block_size=attrs["block_size"],
            gather_axis=0,
            quantize_axis=1,
        )
    )
    if padded:  # the last block was padded: cut the hidden size back
        for name, value in (("starts", 0), ("ends", attrs["K"]), ("axes", -1)):
            g.initializer.append(
                numpy_helper.from_array(np.array([value], dtype=np.int64), f"/model/embed_tokens/{name}")
            )
        names = [out, *(f"/model/embed_tokens/{n}" for n in ("starts", "ends", "axes"))]
        nodes.append(helper.make_node("Slice", names, [gather.output[0]], name="/model/embed_tokens/Slice"))
    first = min(i for i, n in enumerate(g.node) if n is gather or n is transpose)
    kept = [n for n in g.node if n is not gather and n is not transpose]
    kept[first:first] = nodes
    g.ClearField("node")
    g.node.extend(kept)
    if not any(transpose.input[0] in n.input for n in g.node):  # the fp32 table is gone
        rest = [i for i in g.initializer if i.name != transpose.input[0]]
        g.ClearField("initializer")
        g.initializer.extend(rest)
    return True


class Gptq(CpuQuantizer):
    """GPTQ int4 weight-only quantization of the builder's fp32 model, calibrated on training rows."""

    name = "gptq"
    input_kind = "onnx"
    output_kind = "onnx"
    off_cpu = "gptq calibrates with ONNX Runtime on the CPU; use a cpu target"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("block_size", "int", 32, "weights per quantization block", allowed=(16, 32, 64, 128)),
        ParamSpec(
            "is_symmetric",
            "bool",
            False,
            "symmetric levels (ONNX Runtime re-rounds GPTQ's symmetric grid: asymmetric loses less)",
        ),
        ParamSpec(
            "accuracy_level", "int", 4, "MatMulNBits compute precision (4: int8)", allowed=(1, 2, 3, 4)
        ),
        ParamSpec("samples", "int", 64, "training rows used for calibration", minimum=1, maximum=4096),
        ParamSpec(
            "percdamp", "float", 0.01, "damping of the Hessian, as a share of its mean diagonal", minimum=0
        ),
    )
    olive: ClassVar[OliveMapping | None] = OliveMapping(
        type="OnnxMatMul4Quantizer",
        params={
            "block_size": "block_size",
            "is_symmetric": "is_symmetric",
            "accuracy_level": "accuracy_level",
        },
        fixed={"algorithm": ("GPTQ",)},
    )

    def key_parts(self, params: Mapping[str, Scalar], ctx: PassContext) -> dict[str, Any]:
        return {"data": ctx.data.fingerprint, "seed": ctx.seed}

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        import onnx

        root = logging.getLogger()
        level, handlers = root.level, list(root.handlers)
        from onnxruntime.quantization.matmul_nbits_quantizer import (
            GPTQWeightOnlyQuantConfig,
            MatMulNBitsQuantizer,
        )

        # importing it calls logging.basicConfig(level=INFO): undo that for the whole process
        root.setLevel(level)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)

        from autotune.inputs.models import load_tokenizer

        tokenizer = load_tokenizer(ctx.model.path, ctx.model.trust_remote_code)
        texts = calibration_texts(ctx, tokenizer, int(params["samples"]))
        feeds = prefill_feeds(source.path, texts, max_tokens=256)
        model = onnx.load(str(source.path / "model.onnx"))
        quantizer = MatMulNBitsQuantizer(
            model,
            block_size=int(params["block_size"]),
            is_symmetric=bool(params["is_symmetric"]),
            accuracy_level=int(params["accuracy_level"]),
            algo_config=GPTQWeightOnlyQuantConfig(
                calibration_data_reader=_Feeds(feeds), percdamp=float(params["percdamp"])
            ),
        )
        # the quantizer prints a progress bar: keep the study's console clean
        with _one_run_per_feed(), contextlib.redirect_stdout(io.StringIO()):
            quantizer.process()
        quantized = quantizer.model.model
        tied = tie_embedding(quantized)
        copy_companions(source.path, out)
        onnx.save_model(
            quantized,
            str(out / "model.onnx"),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx.data",
            size_threshold=1024,
        )
        return {
            "calibration_rows": len(texts),
            "calibration_tokens": sum(f["input_ids"].shape[1] for f in feeds),
            "tied_embedding": tied,
        }


register_pass(Gptq)
