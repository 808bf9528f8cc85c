"""PyTorch eager over a transformers model: loading, the forward pass with its KV cache, and the
step-by-step backend of greedy decoding and timed label requests (imports torch: load lazily).
Batched teacher-forced scoring is ``_hf_scorer``."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from ._base import EvaluatorError

# from_pretrained(dtype=) exists from 4.56; transformers 5 deprecates torch_dtype=.
_DTYPE_KWARG = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"


class HfForward:
    """A causal LM's forward with its cache under the name this transformers version uses,
    projecting only the last position onto the vocabulary where the model allows it."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        # Project only the last position onto the vocabulary (transformers >= 4.50).
        self.last_only: dict[str, Any] = {"logits_to_keep": 1}

    def __call__(
        self,
        ids: torch.Tensor,
        cache: dict[str, Any],
        last_only: bool,
        mask: torch.Tensor | None = None,
        pos: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """The logits and the cache after ``ids`` (``cache``: {} or what a call returned)."""
        kwargs: dict[str, Any] = dict(input_ids=ids, use_cache=True, **cache)
        if mask is not None:
            kwargs.update(attention_mask=mask, position_ids=pos)
        if last_only and self.last_only:
            try:
                out = self.model(**kwargs, **self.last_only)
            except TypeError as exc:
                if "logits_to_keep" not in str(exc):
                    raise
                self.last_only = {}
                out = self.model(**kwargs)
        else:
            out = self.model(**kwargs)
        # transformers >= 5.24 names the cache `cache`; earlier versions `past_key_values`.
        fields = getattr(type(out), "__dataclass_fields__", {})
        key = "cache" if "cache" in fields else "past_key_values"
        logits: torch.Tensor = out.logits
        return logits, {key: getattr(out, key)}


def snapshot_unless_croppable(cache: Any) -> Any:
    """None if ``cache`` can be cropped back to the prompt (``crop(-n)`` removes n tokens in
    transformers 4 and 5 alike), else a copy of it to restore from. Call it right after the
    prefill: a sliding-window layer past its window (Gemma 2 and 3, gpt-oss) drops the states
    a crop back to the prompt needs unless it records them from then on (transformers 5)."""
    if hasattr(cache, "activate_past_recording"):
        cache.activate_past_recording()
    croppable = hasattr(cache, "crop") and getattr(cache, "is_croppable", True)
    return None if croppable else copy.deepcopy(cache)


class HfBackend:
    """``Decoder`` and step ``Scorer`` over a causal LM, with the model's KV cache.

    ``rewind`` crops the cache back to the prompt (``Cache.crop(-n)``, which removes n
    tokens in transformers 4 and 5 alike); a cache that cannot be cropped is restored from
    a copy taken after the prefill.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self._forward = HfForward(model)
        self._cache: dict[str, Any] = {}
        self._prompt_len = 0
        self._snapshot: Any = None

    def _run(self, ids: Sequence[int], last_only: bool) -> npt.NDArray[np.float32]:
        ids_t = torch.tensor([list(ids)], dtype=torch.long, device=self._forward.device)
        out, self._cache = self._forward(ids_t, self._cache, last_only)
        logits: npt.NDArray[np.float32] = out[0, -len(ids) :].float().cpu().numpy()
        return logits

    def start(self, prompt_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        self._cache = {}
        row: npt.NDArray[np.float32] = self._run(prompt_ids, last_only=True)[-1]
        self._prompt_len = len(prompt_ids)
        cache = next(iter(self._cache.values()))
        self._snapshot = snapshot_unless_croppable(cache)
        return row

    def feed(self, token_id: int) -> npt.NDArray[np.float32]:
        row: npt.NDArray[np.float32] = self._run([token_id], last_only=True)[-1]
        return row

    def extend(self, token_ids: Sequence[int]) -> npt.NDArray[np.float32]:
        return self._run(token_ids, last_only=False)

    def rewind(self) -> None:
        if not self._cache:
            raise RuntimeError("rewind() before start()")
        key, cache = next(iter(self._cache.items()))
        if self._snapshot is not None:
            self._cache = {key: copy.deepcopy(self._snapshot)}
            return
        extra = int(cache.get_seq_length()) - self._prompt_len
        if extra > 0:
            cache.crop(-extra)


def encoder(tokenizer: PreTrainedTokenizerBase) -> Callable[[str], list[int]]:
    """The tokenizer's ids of a text, special tokens it adds included."""

    def encode(text: str) -> list[int]:
        return [int(i) for i in tokenizer(text)["input_ids"]]

    return encode


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Eval mode and inference mode for the block; the model's training flag is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def hf_eos_ids(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> tuple[int, ...]:
    """The tokenizer's EOS id and those of the model's generation config (one id or a list),
    as the ONNX builder writes them into genai_config.json; the tokenizer's first."""
    ids: list[int] = []
    config = getattr(model, "generation_config", None)
    for value in (tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return tuple(ids)


def load_hf(path: Path, device: str) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """Load an HF folder in float32 on the torch ``device``."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model: torch.nn.Module = AutoModelForCausalLM.from_pretrained(path, **{_DTYPE_KWARG: torch.float32})
    except (OSError, ValueError) as exc:
        raise EvaluatorError(f"cannot load HF model from {path}: {exc}".splitlines()[0]) from exc
    return model.to(torch.device(device)), tokenizer
