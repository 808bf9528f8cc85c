"""The family matrix: every family autotune carries goes through LoRA, merge and the fp32, int8
and int4 builds on a tiny random model of its layout, loads in ONNX Runtime GenAI and agrees with
PyTorch; every refused family is refused at load in one line, and its reason still holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from autotune.errors import ModelError
from autotune.inputs.families import (
    FAMILIES,
    check_config,
    check_precisions,
    check_targets,
    linear_modules,
    resolve_targets,
)
from tests.inputs.family_configs import BASE, BOS, CONFIGS, REFUSED_CONFIGS
from tests.inputs.family_matrix import Agreement, agreement, build_family

pytestmark = pytest.mark.slow

PRECISIONS = ("fp32", "int8", "int4")
# What agreement each precision must reach, measured over the matrix (benchmarks/families.py
# prints the figures; README "Model families"): the largest |logit difference| at fp32, and at
# every precision the smallest correlation of ORT GenAI's logits with PyTorch's at a position.
FP32_MAX_ABS = {"phi": 0.02}  # Phi-2's GELU: the builder's FastGelu approximates transformers' gelu_new
FP32_MAX_ABS_DEFAULT = 1e-4
MIN_CORR = {"fp32": 0.9999, "int8": 0.99, "int4": 0.9}
PHI_FP32_MIN_CORR = 0.999


def _config(name: str) -> dict[str, object]:
    return {**BASE, **CONFIGS[name]}


def _model_type(name: str) -> str:
    return str(CONFIGS[name]["model_type"])


def _check(name: str, precision: str, a: Agreement) -> None:
    assert a.same_ids, "PyTorch's and ORT GenAI's tokenizers give different ids"
    assert a.bos == (name in BOS), a.bos
    if precision == "fp32":
        assert a.max_abs <= FP32_MAX_ABS.get(name, FP32_MAX_ABS_DEFAULT), a.max_abs
    floor = PHI_FP32_MIN_CORR if (precision, name) == ("fp32", "phi") else MIN_CORR[precision]
    assert a.min_corr >= floor, a.min_corr
    # a choice the precision's measured error cannot flip must not flip
    for (mine, theirs, margin), one_pass in zip(a.labels, a.one_pass, strict=True):
        if margin > 4 * a.max_abs:
            assert mine == theirs == one_pass, (mine, theirs, one_pass, margin)
    # greedy answers agree until PyTorch's path has a step closer than the error
    for (mine, theirs), margins in zip(a.answers, a.margins, strict=True):
        sure = next((i for i, m in enumerate(margins) if m <= 2 * a.max_abs), len(margins))
        assert mine[:sure] == theirs[:sure], (mine, theirs, margins)  # both end at an EOS
        if precision == "fp32" and name not in FP32_MAX_ABS:
            assert mine == theirs


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_family_goes_from_lora_to_onnx_runtime_genai_and_agrees_with_pytorch(
    name: str, tmp_path: Path
) -> None:
    family = check_config(_config_object(name))
    wanted = family.precisions or PRECISIONS
    # the attention group and all-linear in turn: both resolve on every family
    target = "attention" if sorted(CONFIGS).index(name) % 2 else "all-linear"
    built = build_family(CONFIGS[name], tmp_path, PRECISIONS, target, bos=name in BOS)
    for precision in PRECISIONS:
        folder = built.builds[precision]
        if precision not in wanted:  # refused at load: the builder still refuses it
            assert isinstance(folder, str), f"{precision} now builds for {name}: allow it"
            continue
        assert isinstance(folder, Path), f"{name} {precision}: {folder}"
        _check(name, precision, agreement(built, precision))


def _config_object(name: str, config: dict[str, object] | None = None) -> object:
    from transformers import AutoConfig

    fields = dict(config or _config(name))
    return AutoConfig.for_model(str(fields.pop("model_type")), **fields)


@pytest.mark.parametrize("name", sorted(REFUSED_CONFIGS))
def test_a_refused_family_is_refused_in_one_line_and_its_reason_still_holds(
    name: str, tmp_path: Path
) -> None:
    fields = {**BASE, **REFUSED_CONFIGS[name]}
    with pytest.raises(ModelError) as err:
        check_config(_config_object(name, fields))
    message = str(err.value)
    assert "\n" not in message and FAMILIES[name].name in message and "refused" in message
    built = build_family(REFUSED_CONFIGS[name], tmp_path, ("fp32",), "all-linear")
    folder = built.builds["fp32"]
    if isinstance(folder, Path):  # it builds, but disagrees with PyTorch as the reason says
        # 1e-3: ten times the carried families' fp32 tolerance (measured: 0.0072 and up)
        assert agreement(built, "fp32").max_abs > 1e-3, f"{name} now agrees at fp32: carry it"


def test_families_are_those_both_transformers_and_the_model_builder_carry() -> None:
    import re

    import onnxruntime_genai.models.builder as builder
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    source = Path(builder.__file__).read_text()
    dispatched = set(re.findall(r'config\.architectures\[0\] == "(\w+)"', source))
    # text-only causal LMs (Gemma 3's and 4's ForConditionalGeneration take images)
    both = {
        t
        for t, cls in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.items()
        if cls in dispatched and cls.endswith("ForCausalLM")
    }
    assert set(FAMILIES) == both, sorted(set(FAMILIES) ^ both)
    assert {str(c["model_type"]) for c in (*CONFIGS.values(), *REFUSED_CONFIGS.values())} == both


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"model_type": "gpt2"}, "not a family autotune carries"),
        ({"model_type": "phi", "partial_rotary_factor": 0.5, "head_dim": 16}, "rotates 8 dims"),
        (
            {"model_type": "gemma2", "sliding_window": 4096},
            "sliding_window 4096 > max_position_embeddings 512",
        ),
    ],
    ids=["unknown family", "rotary width", "window over context"],
)
def test_a_model_the_runtime_cannot_run_is_refused_in_one_line(change: dict[str, object], words: str) -> None:
    fields = {**BASE, **change}
    with pytest.raises(ModelError) as err:
        check_config(_config_object("", fields))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_precision_the_builder_cannot_make_is_refused_naming_the_family() -> None:
    family = check_config(_config_object("gpt_oss"))
    check_precisions(family, ["fp32"], "build.precision")
    with pytest.raises(ModelError, match=r"build.precision: int4 cannot be built for gpt-oss: .*MXFP4"):
        check_precisions(family, ["int4", "fp32"], "build.precision")


@pytest.mark.parametrize(
    ("name", "attention", "mlp"),
    [
        ("llama", {"q_proj", "k_proj", "v_proj", "o_proj"}, {"gate_proj", "up_proj", "down_proj"}),
        ("phi3", {"qkv_proj", "o_proj"}, {"gate_up_proj", "down_proj"}),
        ("phi", {"q_proj", "k_proj", "v_proj", "dense"}, {"fc1", "fc2"}),
        ("lfm2", {"q_proj", "k_proj", "v_proj", "out_proj"}, {"w1", "w2", "w3"}),
    ],
)
def test_lora_groups_resolve_to_each_familys_own_layers(
    name: str, attention: set[str], mlp: set[str]
) -> None:
    modules = linear_modules(_config_object(name))
    for group, leaves in (("attention", attention), ("mlp", mlp)):
        paths = resolve_targets(group, modules)
        assert isinstance(paths, list)
        assert {p.rsplit(".", 1)[-1] for p in paths} == leaves
        assert len(paths) == len(leaves) * int(BASE["num_hidden_layers"]) or name == "lfm2"
    assert resolve_targets("all-linear", modules) == "all-linear"
    assert resolve_targets("q_proj,v_proj", modules) == ["q_proj", "v_proj"]


def test_a_lora_target_the_model_lacks_is_refused_naming_its_layers() -> None:
    config = _config_object("phi3")
    family = check_config(config)
    modules = linear_modules(config)
    check_targets(
        ["attention", "mlp", "qkv_proj,o_proj", "all-linear"], modules, family, "passes.lora.target_modules"
    )
    with pytest.raises(ModelError) as err:
        check_targets(["q_proj,v_proj"], modules, family, "passes.lora.target_modules")
    assert str(err.value).startswith("passes.lora.target_modules: q_proj is not a linear layer of Phi-3")
    assert "qkv_proj" in str(err.value) and "\n" not in str(err.value)
