"""Loading a model for the latency children and for generation: one backend per runtime, a
greedy stepper, and the facts reported."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from ._base import Placement
from ._greedy import ArgmaxStepper, Stepper
from ._rss import MB
from ._scoring import Backend
from ._tree import TreeScorer, load_tree


@dataclass(frozen=True)
class Runtime:
    """A loaded model: how to tokenize and decode, a backend for answers of up to n tokens, a
    new greedy stepper (``_greedy``), the context requests run in, and the runtime's name,
    versions and thread settings. ``eos_ids``: every EOS id; ``eos_id``: the first."""

    encode: Callable[[str], list[int]]
    decode: Callable[[Sequence[int]], str]
    eos_id: int | None
    eos_ids: tuple[int, ...]
    backend: Callable[[int], Backend]
    stepper: Callable[[], Stepper]
    context: Callable[[], AbstractContextManager[Any]]
    name: str
    versions: dict[str, str]
    threads: dict[str, int]
    tree: TreeScorer | None = None


T = TypeVar("T")


def timed_cycle(
    runtime: Runtime, one: Callable[[int], T], request: dict[str, Any], prompt_ids: Sequence[Sequence[int]]
) -> tuple[list[T], dict[str, Any]]:
    """``warmup`` untimed then ``repeats`` timed requests ``one(i)`` in the runtime's context, and
    the prompt lengths: per timed request (``lens``) and their spread (``prompt_len``)."""
    with runtime.context():
        for i in range(request["warmup"]):
            one(i)
        timed = [one(i) for i in range(request["repeats"])]
    lens = [len(ids) for ids in prompt_ids]
    spread = {"min": min(lens), "median": statistics.median(lens), "max": max(lens)}
    return timed, {"lens": [lens[i % len(lens)] for i in range(len(timed))], "prompt_len": spread}


def load_for_request(request: dict[str, Any]) -> tuple[Runtime, dict[str, Any]]:
    """The runtime a timing child's ``request`` names, and the facts every timing record carries:
    provider, threads, versions, load time and the RSS right after loading."""
    placement = Placement(**request["placement"])
    t_load = time.perf_counter()
    one_pass = bool(request.get("one_pass")) and request.get("method") == "score"
    runtime = load_runtime(request["kind"], Path(request["path"]), placement, one_pass=one_pass)
    load_s = time.perf_counter() - t_load
    return runtime, {
        "provider": placement.label,
        "threads": runtime.threads,
        "versions": runtime.versions,
        "runtime": runtime.name,
        "load_s": load_s,
        "rss_after_load_mb": psutil.Process().memory_info().rss / MB,
    }


def load_runtime(kind: str, path: Path, placement: Placement, *, one_pass: bool = False) -> Runtime:
    """PyTorch eager for kind "hf", ONNX Runtime GenAI otherwise (torch is not imported then);
    with ``one_pass`` on the CPU, the one-pass label scorer of ``_tree`` where the graph takes it
    (ORT GenAI is then not loaded: it would hold the weights a second time)."""
    if kind == "hf":
        return _load_hf(path, placement.device)
    if one_pass and not placement.genai_provider and (tree := load_tree(path)) is not None:
        return _tree_runtime(path, tree)
    return _load_genai(path, placement.genai_provider)


def _tree_runtime(path: Path, tree: TreeScorer) -> Runtime:
    import onnxruntime

    def none(*_: Any) -> Any:
        raise RuntimeError("the one-pass scorer only scores labels")

    return Runtime(
        encode=tree.encode,
        decode=none,
        eos_id=tree.eos_ids[0] if tree.eos_ids else None,
        eos_ids=tree.eos_ids,
        backend=none,
        stepper=none,
        context=contextlib.nullcontext,
        name="onnxruntime",
        versions={"onnxruntime": str(onnxruntime.__version__)},
        threads={"intra_op_num_threads": tree.threads, "cpu_count": os.cpu_count() or 0},
        tree=tree,
    )


def _load_hf(path: Path, device: str) -> Runtime:
    import torch
    import transformers

    from ._hf import HfBackend, hf_eos_ids, load_hf

    model, tokenizer = load_hf(path, device)
    model.eval()
    eos = tokenizer.eos_token_id
    return Runtime(
        encode=lambda text: [int(i) for i in tokenizer(text)["input_ids"]],
        decode=lambda ids: str(tokenizer.decode(list(ids), skip_special_tokens=True)),
        eos_id=None if eos is None else int(eos),
        eos_ids=hf_eos_ids(model, tokenizer),
        backend=lambda _answer_tokens: HfBackend(model),
        stepper=lambda: ArgmaxStepper(HfBackend(model)),
        context=torch.inference_mode,
        name="pytorch-eager",
        versions={"torch": torch.__version__, "transformers": transformers.__version__},
        threads={"torch_num_threads": torch.get_num_threads(), "cpu_count": os.cpu_count() or 0},
    )


def _load_genai(path: Path, provider: str) -> Runtime:
    from ._genai import GenaiBackend, GenaiGreedy, load_genai, runtime_versions

    session = load_genai(path, provider)
    eos = session.eos_ids()
    return Runtime(
        encode=session.encode,
        decode=session.decode,
        eos_id=eos[0] if eos else None,
        eos_ids=eos,
        backend=lambda answer_tokens: GenaiBackend(session, answer_tokens),
        stepper=lambda: GenaiGreedy(session),
        context=contextlib.nullcontext,
        name="onnxruntime-genai",
        versions=runtime_versions(),
        threads={"intra_op_num_threads": ort_threads(path), "cpu_count": os.cpu_count() or 0},
    )


def ort_threads(path: Path) -> int:
    """intra_op_num_threads in genai_config.json's decoder session options (0: ORT's default)."""
    try:
        config = json.loads((path / "genai_config.json").read_text(encoding="utf-8"))
        return int(config["model"]["decoder"].get("session_options", {}).get("intra_op_num_threads", 0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0
