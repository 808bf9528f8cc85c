"""ONNX Runtime dynamic int8 quantization of a built fp32 model: the alternative int8 chain."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from autotune.passes._base import Artifact, CpuQuantizer, OliveMapping, PassContext, copy_companions
from autotune.passes._registry import register_pass
from autotune.space.params import Choice, ParamSpec, Scalar

__all__ = ["OrtDynamicInt8"]


class OrtDynamicInt8(CpuQuantizer):
    """``onnxruntime.quantization.quantize_dynamic`` on the MatMul weights of the fp32 build."""

    name = "quantize"
    input_kind = "onnx"
    output_kind = "onnx"
    off_cpu = "quantize (ORT dynamic int8) is a CPU chain; use build int4/int8"
    params: ClassVar[tuple[ParamSpec, ...]] = (
        ParamSpec("per_channel", "bool", False, "one scale per output channel", Choice((False, True))),
        ParamSpec("reduce_range", "bool", False, "7-bit weights (for older CPUs without VNNI)"),
    )
    olive: ClassVar[OliveMapping | None] = OliveMapping(
        type="OnnxDynamicQuantization",
        params={"per_channel": "per_channel", "reduce_range": "reduce_range"},
        fixed={"weight_type": ("QInt8", "int8")},
    )

    def run(
        self, source: Artifact, params: Mapping[str, Scalar], ctx: PassContext, out: Path
    ) -> dict[str, Any]:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.getLogger().setLevel(logging.ERROR)  # it warns on the root logger about pre-processing

        copy_companions(source.path, out)
        quantize_dynamic(
            source.path / "model.onnx",
            out / "model.onnx",
            weight_type=QuantType.QInt8,
            per_channel=bool(params["per_channel"]),
            reduce_range=bool(params["reduce_range"]),
            op_types_to_quantize=["MatMul"],
            use_external_data_format=True,
            extra_options={"MatMulConstBOnly": True},
        )
        return {}


register_pass(OrtDynamicInt8)
