"""The one place that opens a runtime for an artifact, and the typed runtimes it gives.

Every runtime tokenizes and scores continuations (``Runtime``). PyTorch eager (``HfRuntime``)
and ONNX Runtime GenAI (``GenaiRuntime``) also decode step by step (``DecodingRuntime``):
greedy labels and free answers. The one-pass ONNX Runtime graph of ``_tree``
(``OnePassRuntime``) only scores: it serves whole-label scoring on the CPU. Heavy back ends
are imported only when a runtime of theirs is opened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from ._base import EvaluatorError, ModelArtifact
from ._genai_config import intra_op_threads
from ._greedy import ArgmaxStepper, Stepper
from ._scorer import Backend, SequenceScorer

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from ._tree import TreeScorer


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """A loaded model: its tokenizer (``encode``), its EOS ids (``eos_id``: the one a label or
    an answer ends with; ``eos_ids``: every id that ends an answer, ``eos_id`` first), a scorer
    of continuations, the context its requests run in, and its name, versions and thread
    settings as reports carry them. ``no_eos`` is the error when an EOS is asked for and there
    is none."""

    encode: Callable[[str], list[int]]
    eos_id: int | None
    eos_ids: tuple[int, ...]
    no_eos: str
    scorer: SequenceScorer
    context: Callable[[], AbstractContextManager[Any]]
    name: str
    versions: dict[str, str]
    threads: dict[str, int]

    def eos_for(self, eos: bool) -> int | None:
        """The EOS id to end labels and answers with when ``eos`` (None otherwise)."""
        if not eos:
            return None
        if self.eos_id is None:
            raise EvaluatorError(self.no_eos)
        return self.eos_id


@dataclass(frozen=True, kw_only=True)
class DecodingRuntime(Runtime):
    """A runtime that also runs step by step: ``decode`` (token ids to text, special tokens
    skipped), ``backend(n)`` (a ``Decoder`` and step ``Scorer`` with room for n tokens after a
    prompt) and ``stepper()`` (a new greedy ``Stepper``)."""

    decode: Callable[[Sequence[int]], str]
    backend: Callable[[int], Backend]
    stepper: Callable[[], Stepper]


@dataclass(frozen=True, kw_only=True)
class HfRuntime(DecodingRuntime):
    """PyTorch eager over a transformers model in float32."""


@dataclass(frozen=True, kw_only=True)
class GenaiRuntime(DecodingRuntime):
    """ONNX Runtime GenAI over an ORT GenAI folder."""


@dataclass(frozen=True, kw_only=True)
class OnePassRuntime(Runtime):
    """A plain ONNX Runtime CPU session over ``_tree``'s one-pass graph: it scores every label
    of a prompt in one forward pass, and does nothing else."""


def decoding(runtime: Runtime) -> DecodingRuntime:
    """``runtime``, checked to decode step by step."""
    if not isinstance(runtime, DecodingRuntime):
        raise EvaluatorError("the one-pass scorer only scores labels")
    return runtime


@overload
def open_runtime(artifact: ModelArtifact, *, one_pass: Literal[False] = False) -> DecodingRuntime: ...
@overload
def open_runtime(artifact: ModelArtifact, *, one_pass: bool) -> Runtime: ...
def open_runtime(artifact: ModelArtifact, *, one_pass: bool = False) -> Runtime:
    """The runtime of ``artifact`` on its placement: PyTorch eager for kind "hf" (on
    ``placement.device``), ONNX Runtime GenAI otherwise (on ``placement.genai_provider``; torch
    is not imported then). With ``one_pass`` on the CPU, the one-pass runtime where the graph
    takes it (ORT GenAI is then not loaded: it would hold the weights a second time)."""
    placement = artifact.placement
    if artifact.kind == "hf":
        from ._hf import load_hf

        model, tokenizer = load_hf(artifact.path, placement.device)
        model.eval()
        return hf_runtime(model, tokenizer)
    if one_pass and not placement.genai_provider:
        from ._tree import load_tree

        tree = load_tree(artifact.path)
        if tree is not None:
            return _one_pass_runtime(tree)
    return _genai_runtime(artifact)


def hf_runtime(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> HfRuntime:
    """The runtime of an already-loaded model (its eval mode is the caller's to set)."""
    import torch
    import transformers

    from ._hf import HfBackend, encoder, hf_eos_ids
    from ._hf_scorer import HfScorer

    eos = tokenizer.eos_token_id
    return HfRuntime(
        encode=encoder(tokenizer),
        decode=lambda ids: str(tokenizer.decode(list(ids), skip_special_tokens=True)),
        eos_id=None if eos is None else int(eos),
        eos_ids=hf_eos_ids(model, tokenizer),
        no_eos="eos is set but the tokenizer has no EOS token",
        scorer=HfScorer(model),
        backend=lambda _answer_tokens: HfBackend(model),
        stepper=lambda: ArgmaxStepper(HfBackend(model)),
        context=torch.inference_mode,
        name="pytorch-eager",
        versions={"torch": torch.__version__, "transformers": transformers.__version__},
        threads={"torch_num_threads": torch.get_num_threads(), "cpu_count": os.cpu_count() or 0},
    )


def _genai_runtime(artifact: ModelArtifact) -> GenaiRuntime:
    from ._genai import GenaiBackend, GenaiGreedy, GenaiScorer, load_genai, runtime_versions

    session = load_genai(artifact.path, artifact.placement.genai_provider)
    eos = session.eos_ids()
    return GenaiRuntime(
        encode=session.encode,
        decode=session.decode,
        eos_id=eos[0] if eos else None,
        eos_ids=eos,
        no_eos="the ORT GenAI tokenizer has no EOS token",
        scorer=GenaiScorer(session),
        backend=lambda answer_tokens: GenaiBackend(session, answer_tokens),
        stepper=lambda: GenaiGreedy(session),
        context=contextlib.nullcontext,
        name="onnxruntime-genai",
        versions=runtime_versions(),
        threads={"intra_op_num_threads": intra_op_threads(artifact.path), "cpu_count": os.cpu_count() or 0},
    )


def _one_pass_runtime(tree: TreeScorer) -> OnePassRuntime:
    import onnxruntime

    return OnePassRuntime(
        encode=tree.encode,
        eos_id=tree.eos_ids[0] if tree.eos_ids else None,
        eos_ids=tree.eos_ids,
        no_eos="eos is set but genai_config.json names no EOS token",
        scorer=tree,
        context=contextlib.nullcontext,
        name="onnxruntime",
        versions={"onnxruntime": str(onnxruntime.__version__)},
        threads={"intra_op_num_threads": tree.threads, "cpu_count": os.cpu_count() or 0},
    )
