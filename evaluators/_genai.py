"""ONNX Runtime GenAI session helpers shared by the accuracy and latency evaluators."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime_genai as og  # type: ignore[import-untyped]

from ._base import EvaluatorError
from ._constrained import Choice, candidate_sequences, choose_label


@dataclass(frozen=True)
class GenaiSession:
    """A loaded ORT GenAI model with its tokenizer."""

    model: Any
    tokenizer: Any

    def encode(self, text: str) -> list[int]:
        return [int(i) for i in self.tokenizer.encode(text)]

    def eos_id(self) -> int:
        ids = list(self.tokenizer.eos_token_ids)
        if not ids:
            raise EvaluatorError("the ORT GenAI tokenizer has no EOS token")
        return int(ids[0])

    def generator(self, max_length: int) -> Any:
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_length)
        return og.Generator(self.model, params)


def load_genai(path: Path, provider: str) -> GenaiSession:
    """Load an ORT GenAI folder to run on ``provider`` ("cpu" or "cuda").

    The providers in genai_config.json are replaced: none for "cpu" (ORT's default CPU
    provider), only ``provider`` otherwise.
    """
    try:
        config = og.Config(str(path))
        config.clear_providers()
        if provider != "cpu":
            config.append_provider(provider)
        model = og.Model(config)
        return GenaiSession(model, og.Tokenizer(model))
    except Exception as exc:  # og raises bare RuntimeError/OSError with long native messages
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EvaluatorError(f"cannot load ORT GenAI model from {path} on {provider}: {first}") from exc


def last_logits(generator: Any) -> npt.NDArray[np.float32]:
    """Logits of the last position as 1-D (0.18 returns shape (batch, 1, vocab))."""
    logits = np.asarray(generator.get_logits(), dtype=np.float32)
    row: npt.NDArray[np.float32] = logits.reshape(-1, logits.shape[-1])[-1]
    return row


class GenaiDecoder:
    """``Decoder`` over an ORT GenAI generator: a new generator per prompt."""

    def __init__(self, session: GenaiSession, answer_tokens: int) -> None:
        self._session = session
        self._answer_tokens = answer_tokens
        self._generator: Any = None

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        self._generator = self._session.generator(len(prompt_ids) + self._answer_tokens)
        self._generator.append_tokens(np.asarray(prompt_ids, dtype=np.int32))
        return last_logits(self._generator)

    def feed(self, token_id: int) -> npt.NDArray[np.float32]:
        if self._generator is None:
            raise RuntimeError("feed() before start()")
        self._generator.append_tokens(np.asarray([token_id], dtype=np.int32))
        return last_logits(self._generator)


def predict_genai(
    session: GenaiSession, prompts: Sequence[str], label_set: Sequence[str], eos: bool = True
) -> list[Choice]:
    """Constrained label choice for every prompt, tokenized by the session's own tokenizer."""
    eos_id = session.eos_id() if eos else None
    cands = [candidate_sequences(session.encode, p, label_set, eos_id) for p in prompts]
    decoder = GenaiDecoder(session, answer_tokens=max(len(s) for c in cands for s in c))
    return [
        choose_label(decoder, session.encode(p), c, label_set) for p, c in zip(prompts, cands, strict=True)
    ]


def runtime_versions() -> dict[str, str]:
    """Versions of onnxruntime (whichever distribution provides it) and onnxruntime_genai."""
    from importlib import metadata

    ort = "unknown"
    for dist in metadata.packages_distributions().get("onnxruntime", []):
        ort = metadata.version(dist)
        break
    return {"onnxruntime": ort, "onnxruntime_genai": str(getattr(og, "__version__", "unknown"))}
