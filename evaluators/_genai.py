"""ONNX Runtime GenAI: loading a folder, the step-by-step backend of greedy labels and timed
label requests, og's own greedy search for free answers, and the teacher-forced scorer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime_genai as og  # type: ignore[import-untyped]

from ._base import EvaluatorError
from ._genai_config import provider_options, sliding_window, sliding_window_section
from ._scorer import Continuations, Scored, SequenceScorer, Stepwise, check, check_ids, log_softmax

# positions a sliding-window KV cache keeps beyond its window, so that scoring can rewind to the
# prompt after feeding a continuation of up to this many tokens (0, the builder's value, cannot)
REWIND_SLACK = 256


@dataclass(frozen=True)
class GenaiSession:
    """A loaded ORT GenAI model with its tokenizer."""

    model: Any
    tokenizer: Any
    min_length: int = 0  # the shortest generator the model takes (a sliding window's size)
    prefix: tuple[int, ...] = ()  # special tokens the model's tokenizer puts first (Gemma's BOS)

    def encode(self, text: str) -> list[int]:
        """``text``'s ids as the model's own tokenizer gives them: ORT GenAI's tokenizer skips
        tokenizer.json's post-processor, so the special tokens it puts first are added here."""
        ids = [*self.prefix, *(int(i) for i in self.tokenizer.encode(text))]
        if any(i < 0 for i in ids):  # a piece its tokenizer.json reading left without an id
            raise EvaluatorError(
                f"ORT GenAI's tokenizer gave no id to parts of {text[:40]!r}: it misreads this "
                "folder's tokenizer.json (seen with SmolLM2's GGUF converted by transformers 5.17; "
                "5.24 converts it right)"
            )
        return ids

    def eos_id(self) -> int:
        ids = self.eos_ids()
        if not ids:
            raise EvaluatorError("the ORT GenAI tokenizer has no EOS token")
        return ids[0]

    def eos_ids(self) -> tuple[int, ...]:
        """Every EOS id (genai_config.json's ``eos_token_id``, one id or a list)."""
        return tuple(int(i) for i in self.tokenizer.eos_token_ids)

    def decode(self, token_ids: Sequence[int]) -> str:
        """Text of ``token_ids``; ORT GenAI's tokenizer skips special tokens."""
        return str(self.tokenizer.decode(np.asarray(list(token_ids), dtype=np.int32)))

    def max_length(self, tokens: int) -> int:
        """A generator's ``max_length`` for ``tokens`` tokens: at least the model's minimum."""
        return max(tokens, self.min_length)

    def generator(self, max_length: int) -> Any:
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=self.max_length(max_length))
        return og.Generator(self.model, params)


def load_genai(path: Path, provider: str) -> GenaiSession:
    """Load an ORT GenAI folder to run on ``provider``, a name ``og.Config.append_provider``
    takes ("cuda", "dml", ...); "" keeps ONNX Runtime's default CPU provider.

    The providers in genai_config.json are replaced, so the folder runs where the caller says;
    the options the folder gives that provider (CUDA graphs, say) are kept.
    """
    if provider:
        # onnxruntime-gpu finds the CUDA libraries (cuBLAS, cuDNN) of the pip-installed toolkit
        # only once a process has loaded them; importing torch does, as it links them
        import torch  # noqa: F401
    try:
        config = og.Config(str(path))
        window = sliding_window_section(path)
        if window:  # overlay replaces the section whole: the file's keys and a slack to rewind in
            window = {**window, "cache_slack": max(int(window.get("cache_slack") or 0), REWIND_SLACK)}
            config.overlay(json.dumps({"model": {"decoder": {"sliding_window": window}}}))
        config.clear_providers()
        if provider:
            config.append_provider(provider)
            for key, value in provider_options(path, provider).items():
                config.set_provider_option(provider, key, value)
        model = og.Model(config)
        tokenizer = og.Tokenizer(model)
        return GenaiSession(model, tokenizer, sliding_window(path), special_prefix(path, tokenizer))
    except Exception as exc:  # og raises bare RuntimeError/OSError with long native messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = provider or "cpu"
        raise EvaluatorError(f"cannot load ORT GenAI model from {path} on {where}: {first}") from exc


def special_prefix(folder: Path, tokenizer: Any) -> tuple[int, ...]:
    """The special tokens the folder's tokenizer.json puts before a text (its post-processor's
    template: Gemma's and Llama 3's BOS), which ORT GenAI's tokenizer leaves out: the ids the
    ``tokenizers`` library gives a probe text beyond ORT GenAI's."""
    file = folder / "tokenizer.json"
    if not file.is_file():
        return ()
    from tokenizers import Tokenizer

    probe = "Hello"
    full = Tokenizer.from_file(str(file)).encode(probe).ids
    bare = [int(i) for i in tokenizer.encode(probe)]
    extra = len(full) - len(bare)
    if extra > 0 and full[extra:] == bare:
        return tuple(int(i) for i in full[:extra])
    return ()


def last_logits(generator: Any) -> npt.NDArray[np.float32]:
    """Logits of the last position as 1-D (0.18 returns shape (batch, 1, vocab))."""
    logits = np.asarray(generator.get_logits(), dtype=np.float32)
    row: npt.NDArray[np.float32] = logits.reshape(-1, logits.shape[-1])[-1]
    return row


class GenaiBackend:
    """``Decoder`` and step ``Scorer`` over ORT GenAI: one generator per prompt.

    The generator holds the prompt plus at most ``answer_tokens`` tokens. ``extend`` reads
    the raw logits of every fed position (``get_output("logits")``; ``get_logits`` gives the
    last one only) and ``rewind`` is ``rewind_to(len(prompt))``.
    """

    def __init__(self, session: GenaiSession, answer_tokens: int) -> None:
        self._session = session
        self._answer_tokens = answer_tokens
        self._generator: Any = None
        self._prompt_len = 0

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        self._generator = self._session.generator(len(prompt_ids) + self._answer_tokens)
        self._generator.append_tokens(np.asarray(prompt_ids, dtype=np.int32))
        self._prompt_len = len(prompt_ids)
        return last_logits(self._generator)

    def _append(self, token_ids: Sequence[int]) -> Any:
        if self._generator is None:
            raise RuntimeError("feed/extend before start()")
        self._generator.append_tokens(np.asarray(token_ids, dtype=np.int32))
        return self._generator

    def feed(self, token_id: int) -> npt.NDArray[np.float32]:
        return last_logits(self._append([token_id]))

    def extend(self, token_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        logits = np.asarray(self._append(token_ids).get_output("logits"), dtype=np.float32)
        rows: npt.NDArray[np.float32] = logits.reshape(-1, logits.shape[-1])[-len(token_ids) :]
        return rows

    def rewind(self) -> None:
        if self._generator is None:
            raise RuntimeError("rewind() before start()")
        self._generator.rewind_to(self._prompt_len)


class GenaiGreedy:
    """``Stepper`` (see ``_greedy``) running ORT GenAI's own greedy search, as an app does.

    ``first``: a new generator (greedy: no sampling, no repetition penalty, one beam),
    ``append_tokens(prompt)`` (the prefill), then ``generate_next_token`` (which only picks the
    argmax of the prefill's logits: no forward pass). Each ``next`` is ``generate_next_token``:
    one forward pass over the token picked last, then its argmax.
    """

    def __init__(self, session: GenaiSession) -> None:
        self._session = session
        self._generator: Any = None

    def _picked(self) -> int:
        self._generator.generate_next_token()
        return int(np.asarray(self._generator.get_next_tokens()).reshape(-1)[0])

    def first(self, prompt_ids: Sequence[int], max_new_tokens: int) -> int:
        params = og.GeneratorParams(self._session.model)
        params.set_search_options(
            max_length=self._session.max_length(len(prompt_ids) + max_new_tokens),
            do_sample=False,
            num_beams=1,
            repetition_penalty=1.0,
            min_length=0,
        )
        self._generator = og.Generator(self._session.model, params)
        self._generator.append_tokens(np.asarray(prompt_ids, dtype=np.int32))
        return self._picked()

    def next(self) -> int:
        if self._generator is None:
            raise RuntimeError("next() before first()")
        return self._picked()


class GenaiScorer(SequenceScorer):
    """``SequenceScorer`` over ORT GenAI, one prompt at a time. A prompt with one continuation
    is fed with it in one ``append_tokens`` (the prompt and the continuation but its last token),
    ``get_output("logits")`` holding every fed position; one with several runs ``Stepwise`` over
    a ``GenaiBackend``: the prompt's prefill, then a pass per continuation longer than one token
    and a ``rewind_to`` the prompt. A model whose state ORT GenAI cannot rewind (LFM2's
    convolution layers) feeds each continuation joined to the prompt instead: a pass each."""

    def __init__(self, session: GenaiSession) -> None:
        self.session = session
        self._rewinds = True  # until ORT GenAI says this model cannot rewind

    def score(self, prompts: Sequence[Sequence[int]], continuations: Sequence[Continuations]) -> list[Scored]:
        check(prompts, continuations)
        stepwise = Stepwise(GenaiBackend(self.session, max(len(s) for c in continuations for s in c)))
        out = []
        for p, c in zip(prompts, continuations, strict=True):
            if len(c) > 1 and self._rewinds:
                try:
                    out.append(stepwise.score([p], [c])[0])
                    continue
                except RuntimeError as exc:
                    if "RewindTo is currently not supported" not in str(exc):
                        raise
                    self._rewinds = False
            out.append(Scored(tuple(self._joined(p, s) for s in c), len(c)))
        return out

    def _joined(self, prompt_ids: Sequence[int], answer_ids: Sequence[int]) -> npt.NDArray[np.float64]:
        generator = self.session.generator(len(prompt_ids) + len(answer_ids))
        generator.append_tokens(np.asarray([*prompt_ids, *answer_ids[:-1]], dtype=np.int32))
        logits = np.asarray(generator.get_output("logits"), dtype=np.float32)
        rows = logits.reshape(-1, logits.shape[-1])[-len(answer_ids) :]
        if rows.shape[0] != len(answer_ids):
            raise EvaluatorError(
                f"ORT GenAI gave logits of {rows.shape[0]} positions, not of every fed token"
            )
        check_ids(answer_ids, rows.shape[-1])
        return log_softmax(rows)[np.arange(len(answer_ids)), list(answer_ids)]


def runtime_versions() -> dict[str, str]:
    """Versions of the onnxruntime and onnxruntime_genai modules that run (a GPU machine may hold
    onnxruntime-gpu ahead of a CPU onnxruntime: the module, not a distribution, says which)."""
    import onnxruntime

    return {
        "onnxruntime": str(getattr(onnxruntime, "__version__", "unknown")),
        "onnxruntime_genai": str(getattr(og, "__version__", "unknown")),
    }
