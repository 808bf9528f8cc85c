"""Transformers backend for constrained label prediction (imports torch: load lazily)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from ._base import EvaluatorError, Method
from ._constrained import Choice, Encode, candidate_sequences
from ._hf_batch import HfForward, score_labels_batched, snapshot_unless_croppable
from ._scoring import choose

# from_pretrained(dtype=) exists from 4.56; transformers 5 deprecates torch_dtype=.
_DTYPE_KWARG = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"


class HfBackend:
    """``Decoder`` and ``Scorer`` over a causal LM, with the model's KV cache.

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


def _encoder(tokenizer: PreTrainedTokenizerBase) -> Encode:
    def encode(text: str) -> list[int]:
        ids: list[int] = tokenizer(text)["input_ids"]
        return ids

    return encode


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def predict_hf(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    label_set: Sequence[str],
    eos: bool = True,
    *,
    method: Method = "score",
    normalize: bool = False,
) -> list[Choice]:
    """The label (by ``method``, see ``_scoring.choose``) for every prompt with a loaded model.

    Whole-label scoring runs prompts in batches (``_hf_batch``); greedy decoding one prompt
    at a time, since each prompt's next pass depends on its own choice. The model is put in
    eval mode for the duration and restored afterwards; inputs go to the device of its
    parameters.
    """
    eos_id: int | None = None
    if eos:
        if tokenizer.eos_token_id is None:
            raise EvaluatorError("eos is set but the tokenizer has no EOS token")
        eos_id = int(tokenizer.eos_token_id)
    encode = _encoder(tokenizer)
    choices = []
    with _eval_mode(model):
        if method == "score":  # whole-label scoring batches prompts: same scores, ~6x faster on a CPU
            ids = [encode(p) for p in prompts]
            per_prompt = [candidate_sequences(encode, p, label_set, eos_id) for p in prompts]
            return score_labels_batched(model, ids, per_prompt, label_set, normalize=normalize)
        backend = HfBackend(model)
        for prompt in prompts:
            cands = candidate_sequences(encode, prompt, label_set, eos_id)
            choices.append(
                choose(backend, encode(prompt), cands, label_set, method=method, normalize=normalize)
            )
    return choices


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
