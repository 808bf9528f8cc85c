"""Decode speed of a Phi-3-mini-shaped model in ONNX Runtime GenAI, build by build, against the
memory-bandwidth bound.

What it measures
    1. A random-weight Hugging Face folder shaped like Phi-3-mini-4k-instruct (hidden 3072, 32 layers,
       32 query and 32 KV heads of 96, MLP 8192, 4096 positions, untied LM head; about 3.8 B
       parameters with SmolLM2's 49152-token vocabulary and tokenizer), saved in bfloat16. Made on
       the GPU when ``--ep cuda`` (then saved), or reused: ``--model DIR`` or ``WORK/hf-phi3-mini``.
       ``--tiny``: hidden 64, 2 layers, 4 heads, MLP 128, made on the CPU, for dry runs.
    2. ONNX builds by onnxruntime-genai's model builder (``python -m onnxruntime_genai.models.builder
       -i HF -o OUT -p PRECISION -e EP --extra_options ...``), one per ``--precisions`` entry with the
       builder's own defaults, and one "tuned" build (``--tuned JSON``, int4 unless it says
       otherwise) whose options mean what they mean in an autotune search space: autotune's build
       defaults overridden by the JSON, turned into builder words by autotune's
       ``builder_extra_options``; keys autotune does not know are passed to the builder as they are.
       Each build's wall-clock seconds are reported. A folder under ``--work`` with a
       genai_config.json and the same options is reused (its recorded build seconds are reported).
    3. Per build, batch (``--batches``) and prompt length (``--prompts``), in ORT GenAI: one whole
       warm-up generation, then one timed generation: prefill = ``append_tokens`` of random ids (the
       same ids for every build) until the first token is read back (prefill tokens/s = batch x
       prompt / that time); then ``--warmup-steps`` discarded and ``--decode-steps`` timed calls of
       ``generate_next_token()`` + ``get_next_tokens()``, each one forward pass over one token per
       sequence (the read-back synchronizes the device). Greedy search, ``min_length = max_length``
       so that no sequence stops at EOS. Reported: decode passes/s (timed steps / their summed time),
       tokens/s (= passes/s x batch), p50 and p90 ms per pass. Each build is measured in a process
       of its own (``decode.py --child``), so a crash in native code costs that build's rows only.
    4. The bandwidth bound of every (build, batch, prompt):

           bytes_per_step = W + KV
           W  = the ONNX model's weight bytes: every initializer of model.onnx, most of them stored
                in model.onnx.data (so about the files' size)
           KV = 2 x layers x kv_heads x head_dim x context x batch x bytes per KV element
                (K and V of every layer read once; context = the mean context of the timed steps;
                the element type is the graph's past_key_values input: fp16 on CUDA except bf16
                builds, fp32 on the CPU)
           bound (passes/s) = B / bytes_per_step
           B  = copy bandwidth measured in this run: (bytes read + bytes written) / time of one
                torch copy of a 2 GiB tensor on the GPU (256 MiB on the CPU), best of 10 after 3
                discarded warm-ups. A copy reads and writes equal halves, so B is what the memory
                moves in total and is taken as the rate a decode pass can read at.
           share of bound = measured passes/s / bound

       ``bound_no_embedding`` is the same with the untied input embedding left out of W: a pass
       gathers one row per token from it, not the whole table.

Everything is written to ``--out`` (JSON) after each build and each measurement, so a run stopped
at a time limit keeps what it measured; a failed build or measurement is recorded with its one-line
reason and the run goes on. Builds and their records stay under ``--work`` for the next run.

How to run (from the repository root)
    # on the GPU machine: model, 4 builds (int4, int4-tuned, fp16, bf16), 16 measurements
    python benchmarks/gpu/decode.py --out results.json --work /tmp/decode \\
        --tuned '{"block_size": 128, "accuracy_level": 4, "enable_cuda_graph": true}'
    # split across short commands: build first, then measure what was built
    python benchmarks/gpu/decode.py --out build.json --work /tmp/decode --build-only
    python benchmarks/gpu/decode.py --out results.json --work /tmp/decode --skip-build
    # dry run on a CPU
    python benchmarks/gpu/decode.py --tiny --ep cpu --precisions int4,fp32 \\
        --tuned '{"block_size": 32}' --out /tmp/decode_tiny.json --work /tmp/decode_tiny \\
        --batches 1,2 --prompts 16,64 --decode-steps 8
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a file: the repository's packages may not be installed
    sys.path.insert(0, str(ROOT))

from autotune.inputs.models import _packaged_gguf  # noqa: E402
from autotune.passes.build import (  # noqa: E402
    Build,
    builder_extra_options,
    matmul_nodes,
    set_session_threads,
    verify_recipe,
)

PHI3_MINI: dict[str, Any] = {
    "vocab_size": 49152,
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}
TINY: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}
TOKENIZER = "smollm2-135m-instruct"
BUILD_RECORD = "decode_build.json"  # what this script built into a folder, kept with it
SEED = 0
# bytes per element of the graph's KV-cache input, by ONNX TensorProto element type
_KV_BYTES = {1: 4, 10: 2, 16: 2, 3: 1, 2: 1, 17: 1, 18: 1, 19: 1, 20: 1}
_GATHER_OPS = {"Gather", "GatherBlockQuantized"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def str_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


# ---------------------------------------------------------------- the report, written as it grows


class Report:
    """The JSON result, rewritten whole (atomically) after every change."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        tmp.replace(self.path)


def versions() -> dict[str, str]:
    """Versions of the modules that run (a GPU machine may hold onnxruntime-gpu beside onnxruntime:
    the imported module says which one runs)."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in ("onnxruntime", "onnxruntime_genai", "torch", "transformers", "onnx"):
        try:
            module = __import__(name)
            out[name] = str(getattr(module, "__version__", "unknown"))
        except Exception as exc:
            out[name] = f"unavailable ({one_line(exc)})"
    return out


def device_info(ep: str) -> dict[str, Any]:
    info: dict[str, Any] = {"ep": ep, "cpu_count": os.cpu_count(), "machine": platform.machine()}
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info.update(
                gpu=torch.cuda.get_device_name(0),
                gpu_memory_gib=round(props.total_memory / 2**30, 1),
                gpu_capability=f"{props.major}.{props.minor}",
                torch_cuda=torch.version.cuda,
            )
        else:
            info["gpu"] = None
    except Exception as exc:
        info["gpu"] = f"unknown ({one_line(exc)})"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    try:
        import onnxruntime as ort

        info["ort_providers"] = ort.get_available_providers()
    except Exception as exc:
        info["ort_providers"] = f"unknown ({one_line(exc)})"
    return info


# ---------------------------------------------------------------- copy bandwidth


def copy_bandwidth(ep: str, warmups: int = 3, repeats: int = 10) -> dict[str, Any]:
    """(bytes read + bytes written) / time of a torch copy: 2 GiB on the GPU, 256 MiB on the CPU."""
    import torch

    on_gpu = ep == "cuda"
    if on_gpu and not torch.cuda.is_available():
        raise RuntimeError("--ep cuda, but torch sees no CUDA device to measure the bandwidth on")
    size = (2 << 30) if on_gpu else (256 << 20)
    device = "cuda" if on_gpu else "cpu"
    src = torch.ones(size, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    seconds: list[float] = []
    for i in range(warmups + repeats):
        if on_gpu:
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record()
            dst.copy_(src)
            end.record()
            end.synchronize()
            elapsed = start.elapsed_time(end) / 1e3
        else:
            t0 = time.perf_counter()
            dst.copy_(src)
            elapsed = time.perf_counter() - t0
        if i >= warmups:
            seconds.append(elapsed)
    del src, dst
    if on_gpu:
        torch.cuda.empty_cache()
    rates = [2 * size / s / 1e9 for s in seconds]
    return {
        "method": f"torch {device} copy_ of {size / 2**20:.0f} MiB; (bytes read + bytes written) / time",
        "bytes_copied": size,
        "warmups_discarded": warmups,
        "repeats": repeats,
        "torch_threads": None if on_gpu else torch.get_num_threads(),
        "best_gb_s": round(max(rates), 1),
        "median_gb_s": round(statistics.median(rates), 1),
        "used_for_bound": "best_gb_s",
    }


# ---------------------------------------------------------------- the random HF model


def _tokenizer(source: Path | None) -> tuple[Any, str]:
    from transformers import AutoTokenizer

    if source is not None:
        return AutoTokenizer.from_pretrained(str(source)), str(source)
    gguf = _packaged_gguf(TOKENIZER)  # says how to install the package if it is missing
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name), str(gguf)


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def make_model(folder: Path, tiny: bool, ep: str, tokenizer_dir: Path | None) -> dict[str, Any]:
    """A random-weight Phi-3 folder in bf16 with SmolLM2's tokenizer (made on the GPU for cuda)."""
    if _has_weights(folder):
        cfg = json.loads((folder / "config.json").read_text())
        return {"dir": str(folder), "reused": True, "config": cfg}
    if folder.exists() and any(folder.iterdir()):
        raise RuntimeError(f"{folder} is not empty and holds no config.json + *.safetensors to reuse")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    t0 = time.perf_counter()
    tok, tok_source = _tokenizer(tokenizer_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    fields = dict(TINY if tiny else PHI3_MINI)
    fields.setdefault("vocab_size", len(tok))
    cfg = transformers.Phi3Config(
        **fields,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    device = "cuda" if ep == "cuda" and not tiny and torch.cuda.is_available() else "cpu"
    tmp = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    t1 = time.perf_counter()
    torch.manual_seed(SEED)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    made = time.perf_counter() - t1
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(folder)
    return {
        "dir": str(folder),
        "reused": False,
        "made_on": device,
        "dtype": "bfloat16",
        "parameters": params,
        "tokenizer": tok_source,
        "init_s": round(made, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "config": json.loads((folder / "config.json").read_text()),
    }


# ---------------------------------------------------------------- builds


@dataclass(frozen=True)
class Variant:
    """One ONNX build: a precision with the builder's defaults, or the tuned one."""

    name: str
    precision: str
    extra: tuple[str, ...]  # the builder's --extra_options words
    params: Mapping[str, Any] | None = None  # autotune's build parameters (tuned only)
    threads: int = 0  # intra_op_threads written to genai_config.json (tuned only)
    options: Mapping[str, Any] = field(default_factory=dict)  # as given on the command line
    given: Path | None = None  # an ONNX folder built elsewhere (--measure), measured as it is


def tuned_variant(text: str, index: int = 0) -> Variant:
    """A tuned build: autotune's build defaults, the JSON over them, its builder words. The
    optional key "label" names it (``int4-LABEL``); else ``int4-tuned`` (``-tuned-2``... after the first)."""
    given = json.loads(text)
    if not isinstance(given, dict):
        raise SystemExit(f"--tuned: expected a JSON object, got {text!r}")
    label = str(given.pop("label", "tuned" if index == 0 else f"tuned-{index + 1}"))
    specs = {spec.name: spec for spec in Build.params}
    params: dict[str, Any] = {name: spec.default for name, spec in specs.items()}
    params["precision"] = "int4"
    unknown: dict[str, Any] = {}
    for key, value in given.items():
        if key in specs:
            try:
                params[key] = specs[key].check(value)
            except ValueError as exc:
                raise SystemExit(f"--tuned: {key}: {exc}") from None
        else:
            unknown[key] = value
    if params.get("kv_cache_quant", "none") != "none":
        raise SystemExit("--tuned: kv_cache_quant needs calibrated scales, which this script does not make")
    extra = builder_extra_options(params, trust_remote_code=False)
    for key, value in unknown.items():  # a builder option autotune does not search: passed as is
        word = str(value).lower() if isinstance(value, bool) else str(value)
        extra.append(f"{key}={word}")
    return Variant(
        name=f"{params['precision']}-{label}",
        precision=str(params["precision"]),
        extra=tuple(extra),
        params=params,
        threads=int(params.get("intra_op_threads", 0)),
        options=given,
    )


def variants(precisions: Sequence[str], tuned: Sequence[str] | None) -> list[Variant]:
    """Each precision with the builder's defaults; the tuned builds right after their precision's."""
    # the builder's own defaults: no option but hf_remote, which autotune always passes
    plan = [Variant(p, p, ("hf_remote=false",)) for p in precisions]
    for i, text in enumerate(tuned or ()):
        extra = tuned_variant(text, i)
        if extra.name in [v.name for v in plan]:
            raise SystemExit(f"--tuned: two builds named {extra.name}; give each a different label")
        precisions = [v.precision for v in plan]
        at = (
            len(plan) - precisions[::-1].index(extra.precision)
            if extra.precision in precisions
            else len(plan)
        )
        plan.insert(at, extra)
    return plan


def _record(folder: Path) -> dict[str, Any] | None:
    path = folder / BUILD_RECORD
    if not (folder / "genai_config.json").is_file() or not path.is_file():
        return None
    try:
        record: dict[str, Any] = json.loads(path.read_text())
        return record
    except ValueError:
        return None


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""


def build(variant: Variant, hf_dir: Path, work: Path, ep: str, skip: bool) -> dict[str, Any]:
    """Run the builder into WORK/onnx-NAME-EP, or reuse that folder if it was built the same way
    (same input folder, precision, provider and options); the builder's output is in WORK/logs."""
    out = work / f"onnx-{variant.name}-{ep}"
    wanted = {
        "input": str(hf_dir),
        "precision": variant.precision,
        "ep": ep,
        "extra_options": list(variant.extra),
    }
    record = _record(out)
    if record is not None and all(record.get(k) == v for k, v in wanted.items()):
        return {**record, "dir": str(out), "reused": True}
    if skip:
        if record is None and (out / "genai_config.json").is_file():  # built by other means
            return {**wanted, "dir": str(out), "reused": True, "build_s": None, "note": "no build record"}
        why = "no build" if not (out / "genai_config.json").is_file() else "a build with other options"
        raise RuntimeError(f"--skip-build, and {out} holds {why}")
    if not _has_weights(hf_dir):
        raise RuntimeError(f"no model to build from: {hf_dir} holds no config.json + *.safetensors")
    tmp = work / f".onnx-{variant.name}-{ep}.partial"
    cache = work / f".cache-{variant.name}-{ep}"
    logs = work / "logs"
    for path in (tmp, cache):
        shutil.rmtree(path, ignore_errors=True)
    logs.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir), "-o", str(tmp)]
    cmd += ["-p", variant.precision, "-e", ep, "-c", str(cache), "--extra_options", *variant.extra]
    log_out, log_err = logs / f"{variant.name}-{ep}.stdout.log", logs / f"{variant.name}-{ep}.stderr.log"
    log(f"build {variant.name}: {' '.join(cmd[2:])}")
    t0 = time.perf_counter()
    with log_out.open("w") as so, log_err.open("w") as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se)
        try:
            code = proc.wait()
        except BaseException:  # stopped (SIGTERM at a time limit): leave no builder running
            proc.kill()
            proc.wait()
            raise
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    seconds = time.perf_counter() - t0
    if code != 0 or not (tmp / "genai_config.json").is_file():
        reason = _last_line(log_err.read_text(errors="replace"))
        raise RuntimeError(f"model builder failed after {seconds:.0f} s (exit code {code}): {reason}")
    command = [str(out) if word == str(tmp) else word for word in cmd[2:]]  # as if built in place
    facts: dict[str, Any] = {**wanted, "command": command, "build_s": round(seconds, 1)}
    if variant.threads:
        facts["session_options"] = set_session_threads(tmp, variant.threads)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    (out / BUILD_RECORD).write_text(json.dumps(facts, indent=1) + "\n")
    return {**facts, "dir": str(out), "reused": False}


def genai_config(folder: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((folder / "genai_config.json").read_text())
    return config


def provider_options(config: Mapping[str, Any], provider: str) -> dict[str, str]:
    """The options genai_config.json gives ``provider`` (the decoder's session options)."""
    entries = config["model"]["decoder"].get("session_options", {}).get("provider_options", [])
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get(provider), dict):
            return {str(k): str(v) for k, v in entry[provider].items()}
    return {}


def model_facts(folder: Path, variant: Variant, ep: str) -> dict[str, Any]:
    """Weight bytes, KV-cache shape and element size, files, quantized nodes, provider options."""
    import onnx

    config = genai_config(folder)
    decoder = config["model"]["decoder"]
    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    consumers: dict[str, set[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    weight = gathered = 0
    for init in graph.initializer:
        size = len(init.raw_data)
        for entry in init.external_data:
            if entry.key == "length":
                size = int(entry.value)
        if not size and not init.external_data:  # values in typed fields, not raw bytes
            size = len(init.SerializeToString())
        weight += size
        if consumers.get(init.name) and consumers[init.name] <= _GATHER_OPS:
            gathered += size
    key_name = decoder["inputs"]["past_key_names"] % 0
    kv_types = {i.name: i.type.tensor_type.elem_type for i in graph.input}
    elem = kv_types.get(key_name)
    kv_bytes = _KV_BYTES.get(elem) if elem is not None else None
    if kv_bytes is None:  # the default this script assumes when the graph does not say
        kv_bytes = 4 if ep == "cpu" else 2
    files = {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.name.startswith("model.onnx")}
    facts: dict[str, Any] = {
        "weight_bytes": weight,
        "embedding_bytes": gathered,
        "files": files,
        "files_bytes": sum(files.values()),
        "kv": {
            "layers": int(decoder["num_hidden_layers"]),
            "kv_heads": int(decoder["num_key_value_heads"]),
            "head_dim": int(decoder["head_size"]),
            "elem_type": onnx.TensorProto.DataType.Name(elem) if elem is not None else "not in graph",
            "bytes_per_elem": kv_bytes,
        },
        "past_present_share_buffer": config.get("search", {}).get("past_present_share_buffer"),
        "provider_options": provider_options(config, ep) if ep != "cpu" else {},
    }
    nodes = matmul_nodes(folder)
    quantized = [n for n in nodes.values() if n["op"] == "MatMulNBits"]
    facts["matmul"] = {
        "MatMul": sum(1 for n in nodes.values() if n["op"] == "MatMul"),
        "MatMulNBits": len(quantized),
        **{
            attr: sorted({n[attr] for n in quantized if attr in n})
            for attr in ("bits", "block_size", "accuracy_level")
        },
    }
    if variant.params is not None:
        check: dict[str, Any] = {}
        if variant.precision in ("int4", "int8"):
            try:
                check["recipe"] = verify_recipe(nodes, variant.params)
            except Exception as exc:
                check["recipe_error"] = one_line(exc)
        if "enable_cuda_graph" in variant.options and ep == "cuda":
            asked = "1" if variant.params.get("enable_cuda_graph") else "0"
            written = facts["provider_options"].get("enable_cuda_graph")
            check["enable_cuda_graph"] = {"asked": asked, "written": written, "ok": asked == written}
        facts["verify"] = check
    return facts


# ---------------------------------------------------------------- measurement


def load_model(folder: Path, ep: str) -> tuple[Any, dict[str, str]]:
    """og.Model on ``ep``: the folder's providers replaced by ``ep`` with the options the folder
    gives it (CUDA graphs, say), so the build runs as it was built."""
    import onnxruntime_genai as og  # type: ignore[import-untyped]

    config = og.Config(str(folder))
    config.clear_providers()
    options: dict[str, str] = {}
    if ep != "cpu":
        config.append_provider(ep)
        options = provider_options(genai_config(folder), ep)
        for key, value in options.items():
            config.set_provider_option(ep, key, value)
    return og.Model(config), options


def prompt_ids(config: Mapping[str, Any], batch: int, length: int) -> np.ndarray:
    """Random ids above every special id the config names (pad ids would read as padding); the
    same for every build of one model."""
    model = config["model"]
    special = [model.get(k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")]
    flat = [int(x) for s in special for x in (s if isinstance(s, list) else [s]) if x is not None]
    low = max(flat, default=0) + 1
    rng = np.random.default_rng([SEED, batch, length])
    ids: np.ndarray = rng.integers(low, int(model["vocab_size"]), size=(batch, length), dtype=np.int32)
    return ids


def generate(model: Any, ids: np.ndarray, max_length: int) -> tuple[float, list[float]]:
    """One generation: (seconds to prefill and read the first token, seconds of each later step)."""
    import onnxruntime_genai as og

    params = og.GeneratorParams(model)
    params.set_search_options(
        max_length=max_length, min_length=max_length, do_sample=False, batch_size=int(ids.shape[0])
    )
    generator = og.Generator(model, params)
    t0 = time.perf_counter()
    generator.append_tokens(ids)  # the prompt's forward pass
    generator.generate_next_token()  # picks the first token from the prompt's logits: no pass
    generator.get_next_tokens()  # read back: the device has finished
    prefill = time.perf_counter() - t0
    steps: list[float] = []
    while not generator.is_done() and len(steps) < max_length:
        t = time.perf_counter()
        generator.generate_next_token()  # one forward pass over the last token, then the pick
        generator.get_next_tokens()
        steps.append(time.perf_counter() - t)
    del generator
    return prefill, steps


def measure(
    model: Any,
    config: Mapping[str, Any],
    facts: Mapping[str, Any],
    batch: int,
    prompt: int,
    steps: int,
    warmup: int,
    bandwidth_gb_s: float | None,
) -> dict[str, Any]:
    ids = prompt_ids(config, batch, prompt)
    max_length = prompt + 1 + warmup + steps  # the first token, warm-up passes, timed passes
    generate(model, ids, max_length)  # whole warm-up generation, discarded
    prefill, times = generate(model, ids, max_length)
    if len(times) != warmup + steps:
        raise RuntimeError(f"the generator ran {len(times)} steps, expected {warmup + steps}")
    timed = times[warmup:]
    passes_s = len(timed) / sum(timed)
    # the j-th generate_next_token (j >= 2) runs a pass over prompt + j - 1 positions
    contexts = [prompt + j - 1 for j in range(2 + warmup, 2 + warmup + steps)]
    context = statistics.fmean(contexts)
    kv = facts["kv"]
    kv_bytes = 2 * kv["layers"] * kv["kv_heads"] * kv["head_dim"] * context * batch * kv["bytes_per_elem"]
    step_bytes = facts["weight_bytes"] + kv_bytes
    ms = sorted(t * 1e3 for t in timed)
    row: dict[str, Any] = {
        "batch": batch,
        "prompt": prompt,
        "max_length": max_length,
        "prefill_ms": round(prefill * 1e3, 2),
        "prefill_tok_s": round(batch * prompt / prefill, 1),
        "decode_steps_timed": len(timed),
        "warmup_steps_discarded": warmup,
        "decode_passes_s": round(passes_s, 2),
        "decode_tok_s": round(passes_s * batch, 1),
        "p50_ms": round(statistics.median(ms), 3),
        "p90_ms": round(ms[min(len(ms) - 1, int(0.9 * len(ms)))], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "context_mean": round(context, 1),
        "kv_bytes_per_step": int(kv_bytes),
        "bytes_per_step": int(step_bytes),
    }
    if bandwidth_gb_s:
        bound = bandwidth_gb_s * 1e9 / step_bytes
        bound_no_emb = bandwidth_gb_s * 1e9 / (step_bytes - facts["embedding_bytes"])
        row.update(
            bound_passes_s=round(bound, 2),
            share_of_bound=round(passes_s / bound, 3),
            bound_no_embedding_passes_s=round(bound_no_emb, 2),
            share_of_bound_no_embedding=round(passes_s / bound_no_emb, 3),
        )
    return row


_MARK = "@@decode "  # a line the measuring process sends its parent


def _emit(obj: Mapping[str, Any]) -> None:
    print(_MARK + json.dumps(obj), flush=True)


def child(spec_json: str) -> int:
    """The measuring process of one build (``decode.py --child SPEC``): loads it, measures every
    batch and prompt, and sends each result to its parent as one line."""
    spec = json.loads(spec_json)
    folder, ep = Path(spec["dir"]), spec["ep"]
    if ep == "cuda":  # torch loads the CUDA libraries of its wheels, which ORT can then find
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401
    try:
        t0 = time.perf_counter()
        model, applied = load_model(folder, ep)
        _emit({"load_s": round(time.perf_counter() - t0, 2), "provider_options_applied": applied})
    except Exception as exc:
        _emit({"load_error": one_line(exc)})
        return 1
    config = genai_config(folder)
    for batch in spec["batches"]:
        for prompt in spec["prompts"]:
            row: dict[str, Any] = {"batch": batch, "prompt": prompt}
            try:
                steps = (spec["decode_steps"], spec["warmup_steps"])
                row.update(measure(model, config, spec["facts"], batch, prompt, *steps, spec["bandwidth"]))
            except Exception as exc:
                row["error"] = one_line(exc)
            _emit({"row": row})
    return 0


def measure_build(
    name: str, entry: dict[str, Any], args: argparse.Namespace, bandwidth: float | None, report: Report
) -> None:
    """Measure one build in a child process (a native crash there loses that build's remaining
    rows, not the run); each row goes into the report as it arrives."""
    facts = {k: entry[k] for k in ("weight_bytes", "embedding_bytes", "kv")}
    spec = {
        "dir": entry["dir"],
        "ep": args.ep,
        "facts": facts,
        "batches": args.batches,
        "prompts": args.prompts,
        "decode_steps": args.decode_steps,
        "warmup_steps": args.warmup_steps,
        "bandwidth": bandwidth,
    }
    err_path = args.work.resolve() / "logs" / f"measure-{name}-{args.ep}.stderr.log"
    err_path.parent.mkdir(parents=True, exist_ok=True)
    pending = [(b, p) for b in args.batches for p in args.prompts]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    with err_path.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if not line.startswith(_MARK):
                    print(line, end="", flush=True)
                    continue
                msg = json.loads(line[len(_MARK) :])
                if "row" not in msg:
                    entry.update(msg)
                    if "load_error" in msg:
                        log(f"load {name} failed: {msg['load_error']}")
                    report.save()
                    continue
                row = {"variant": name, **msg["row"]}
                pending.remove((row["batch"], row["prompt"]))
                report.data["measurements"].append(row)
                report.save()
                if "error" in row:
                    log(f"{name} b{row['batch']} p{row['prompt']} failed: {row['error']}")
                else:
                    log(
                        f"{name} b{row['batch']} p{row['prompt']}: prefill {row['prefill_tok_s']} tok/s, "
                        f"decode {row['decode_passes_s']} passes/s ({row['decode_tok_s']} tok/s), "
                        f"p50 {row['p50_ms']} ms, share of bound {row.get('share_of_bound')}"
                    )
            code = proc.wait()
        except BaseException:  # stopped: leave no measuring process behind
            proc.kill()
            proc.wait()
            raise
    if not pending:
        return
    if "load_error" in entry:
        reason = f"model not loaded: {entry['load_error']}"
    else:
        last = _last_line(err_path.read_text(errors="replace"))
        reason = f"the measuring process died (exit code {code}){': ' + last if last else ''}"
        log(f"{name}: {reason}")
    for batch, prompt in pending:
        report.data["measurements"].append(
            {"variant": name, "batch": batch, "prompt": prompt, "error": reason}
        )
    report.save()


# ---------------------------------------------------------------- the run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", type=Path, required=True, help="JSON result, rewritten after every step")
    ap.add_argument("--work", type=Path, required=True, help="folder for the HF model, builds and logs")
    ap.add_argument("--model", type=Path, help="HF folder to use (made there if it holds no weights)")
    ap.add_argument("--tokenizer", type=Path, help="HF tokenizer folder (default: SmolLM2's packaged GGUF)")
    ap.add_argument("--tiny", action="store_true", help="a tiny Phi-3 (hidden 64, 2 layers) made on the CPU")
    ap.add_argument("--ep", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--precisions", type=str_list, help="default: int4,fp16,bf16 (cuda), int4,fp32 (cpu)")
    ap.add_argument(
        "--tuned",
        action="append",
        help='build options as JSON, e.g. \'{"block_size": 128, "label": "b128"}\' (repeatable)',
    )
    ap.add_argument(
        "--measure",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure an ONNX folder built elsewhere (e.g. a study's exported trial), as it is",
    )
    ap.add_argument("--batches", type=int_list, default=[1, 8])
    ap.add_argument("--prompts", type=int_list, default=[16, 1024])
    ap.add_argument("--decode-steps", type=int, help="timed decode passes (default 128; 8 with --tiny)")
    ap.add_argument("--warmup-steps", type=int, help="decode passes discarded (default 5; 2 with --tiny)")
    ap.add_argument("--skip-build", action="store_true", help="measure only builds already in --work")
    ap.add_argument("--build-only", action="store_true", help="build (and record) without measuring")
    args = ap.parse_args(argv)
    if args.precisions is None:
        args.precisions = ["int4", "fp16", "bf16"] if args.ep == "cuda" else ["int4", "fp32"]
    bad = [p for p in args.precisions if p not in ("int4", "int8", "fp16", "bf16", "fp32")]
    if bad:
        ap.error(f"--precisions: unknown {', '.join(bad)}")
    if args.decode_steps is None:
        args.decode_steps = 8 if args.tiny else 128
    if args.warmup_steps is None:
        args.warmup_steps = 2 if args.tiny else 5
    if args.decode_steps < 1 or args.warmup_steps < 0:
        ap.error("--decode-steps must be >= 1 and --warmup-steps >= 0")
    return args


def print_table(report: Mapping[str, Any]) -> None:
    bw = report.get("bandwidth", {})
    if "best_gb_s" in bw:
        print(f"\ncopy bandwidth: best {bw['best_gb_s']} GB/s, median {bw['median_gb_s']} GB/s")
    else:
        print(f"\ncopy bandwidth: not measured {bw.get('error', '')}")
    print(f"{'build':12} {'build s':>8} {'weights MB':>11} {'files MB':>9}  note")
    for name, v in report["variants"].items():
        note = v.get("error", "")
        mb = f"{v['weight_bytes'] / 1e6:.1f}" if "weight_bytes" in v else "-"
        files = f"{v['files_bytes'] / 1e6:.1f}" if "files_bytes" in v else "-"
        secs = f"{v['build_s']:.1f}" if isinstance(v.get("build_s"), (int, float)) else "-"
        reused = " (reused)" if v.get("reused") else ""
        print(f"{name:12} {secs:>8} {mb:>11} {files:>9}  {note}{reused}")
    cols = ["build", "batch", "prompt", "prefill t/s", "passes/s", "tok/s"]
    cols += ["p50 ms", "MB/step", "bound/s", "share"]
    print(f"\n{cols[0]:12} " + " ".join(f"{c:>11}" for c in cols[1:]))
    for m in report["measurements"]:
        if "error" in m:
            print(f"{m['variant']:12} {m['batch']:>11} {m['prompt']:>11}  failed: {m['error']}")
            continue
        cells = (
            m["batch"],
            m["prompt"],
            f"{m['prefill_tok_s']:.0f}",
            f"{m['decode_passes_s']:.1f}",
            f"{m['decode_tok_s']:.1f}",
            f"{m['p50_ms']:.2f}",
            f"{m['bytes_per_step'] / 1e6:.1f}",
            f"{m.get('bound_passes_s', float('nan')):.1f}",
            f"{m.get('share_of_bound', float('nan')):.3f}",
        )
        print(f"{m['variant']:12} " + " ".join(f"{c:>11}" for c in cells))
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    plan = variants(args.precisions, args.tuned)
    for item in args.measure:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "genai_config.json").is_file():
            raise SystemExit(f"--measure {item}: expected NAME=DIR, DIR an ONNX GenAI folder")
        plan.append(Variant(name, "given", (), given=Path(folder).resolve()))
    report = Report(
        args.out,
        {
            "script": "benchmarks/gpu/decode.py",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv[1:] if argv is None else list(argv),
            "versions": versions(),
            "device": device_info(args.ep),
            "settings": {
                "ep": args.ep,
                "tiny": args.tiny,
                "precisions": args.precisions,
                "tuned": [json.loads(t) for t in args.tuned] if args.tuned else None,
                "batches": args.batches,
                "prompts": args.prompts,
                "decode_steps": args.decode_steps,
                "warmup_steps": args.warmup_steps,
                "search": "greedy, min_length = max_length = prompt + 1 + warmup + decode steps",
            },
            "bound_formula": (
                "bound passes/s = B / (W + KV); B = (bytes read + written) / time of a torch copy "
                "(best of repeats); W = bytes of every initializer of the ONNX model; KV = 2 x layers "
                "x kv_heads x head_dim x mean context of the timed steps x batch x bytes per KV "
                "element; share = measured passes/s / bound; *_no_embedding: W without the "
                "gathered input embedding"
            ),
            "model": {},
            "bandwidth": {},
            "variants": {
                v.name: {
                    "precision": v.precision,
                    "extra_options": list(v.extra),
                    "given": str(v.given or ""),
                }
                for v in plan
            },
            "measurements": [],
        },
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        return _run(args, report, plan, work)
    except (KeyboardInterrupt, SystemExit) as exc:  # a time limit: keep what was measured
        report.data["stopped"] = f"{type(exc).__name__} {exc}".strip()
        report.save()
        print_table(report.data)
        log(f"stopped ({report.data['stopped']}); wrote {args.out}")
        return 130


def _stop(signum: int, _frame: Any) -> None:
    raise SystemExit(f"signal {signal.Signals(signum).name}")


def _run(args: argparse.Namespace, report: Report, plan: Sequence[Variant], work: Path) -> int:
    data = report.data
    log(f"versions {data['versions']}; device {data['device'].get('gpu') or data['device'].get('cpu')}")

    bandwidth: float | None = None
    if not args.build_only:
        try:
            data["bandwidth"] = copy_bandwidth(args.ep)
            bandwidth = float(data["bandwidth"]["best_gb_s"])
            log(f"copy bandwidth {bandwidth} GB/s (median {data['bandwidth']['median_gb_s']})")
        except Exception as exc:
            data["bandwidth"] = {"error": one_line(exc)}
            log(f"bandwidth not measured: {one_line(exc)}")
        report.save()

    hf_dir = (args.model or work / ("hf-tiny" if args.tiny else "hf-phi3-mini")).resolve()
    if not args.skip_build:
        try:
            log(f"model {hf_dir}")
            data["model"] = make_model(hf_dir, args.tiny, args.ep, args.tokenizer)
            what = "reused" if data["model"]["reused"] else f"made in {data['model']['total_s']} s"
            log(f"model {what}")
        except Exception as exc:  # builds already in --work can still be measured
            data["model"] = {"dir": str(hf_dir), "error": one_line(exc)}
            log(f"cannot make the model: {one_line(exc)}")
        report.save()
    else:
        data["model"] = {"dir": str(hf_dir), "skipped": "--skip-build"}

    for variant in plan:
        entry: dict[str, Any] = data["variants"][variant.name]
        if variant.params is not None:
            entry["tuned_options"] = dict(variant.options)
            entry["autotune_params"] = dict(variant.params)
        try:
            built = (
                {"dir": str(variant.given), "reused": True, "build_s": None, "given": True}
                if variant.given is not None
                else build(variant, hf_dir, work, args.ep, args.skip_build)
            )
            entry.update(built)
            entry.update(model_facts(Path(built["dir"]), variant, args.ep))
            log(
                f"build {variant.name}: {'reused' if built['reused'] else 'built'} "
                f"({built.get('build_s')} s), weights {entry['weight_bytes'] / 1e6:.1f} MB"
            )
        except Exception as exc:
            entry["error"] = one_line(exc)
            log(f"build {variant.name} failed: {entry['error']}")
        report.save()
        if args.build_only or "error" in entry:
            continue
        try:
            measure_build(variant.name, entry, args, bandwidth, report)
        except Exception as exc:
            entry["measure_error"] = one_line(exc)
            log(f"measuring {variant.name} failed: {entry['measure_error']}")
            report.save()

    data["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    report.save()
    print_table(data)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        raise SystemExit(child(sys.argv[2]))
    raise SystemExit(main())
