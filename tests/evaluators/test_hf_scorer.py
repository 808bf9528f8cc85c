"""PyTorch's batched scorer (``_hf_scorer``) gives what one prompt at a time gives, on the tiny
random Phi-3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evaluators import EvalTask, candidate_sequences, score_labels


@pytest.mark.parametrize("eos", [True, False])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("croppable", [True, False])
def test_batches_score_like_one_prompt_at_a_time(
    tiny_hf_dir: Path,
    tone_task: EvalTask,
    near_task: EvalTask,
    eos: bool,
    normalize: bool,
    croppable: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Prompts of different lengths (left padding) and labels of different lengths (padded fed
    tokens), over several batches, with a cache that crops and one restored from a copy."""
    import torch
    from transformers import DynamicCache

    from evaluators._hf import HfBackend, encoder, load_hf
    from evaluators._hf_scorer import HfScorer
    from evaluators._scoring import choice_of

    if not croppable:
        monkeypatch.setattr(DynamicCache, "is_croppable", property(lambda self: False))
    model, tokenizer = load_hf(tiny_hf_dir, "cpu")
    model.eval()
    encode = encoder(tokenizer)
    eos_id = tokenizer.eos_token_id if eos else None
    prompts = [*tone_task.prompts[:7], "Hi\n", *near_task.prompts[7:]]
    lengths = {len(encode(p)) for p in prompts}
    # near_task's labels are prefixes of each other without EOS
    for task in (tone_task, near_task) if eos else (tone_task,):
        labels = task.label_set
        cands = [candidate_sequences(encode, p, labels, eos_id) for p in prompts]
        assert len({len(c) for cs in cands for c in cs}) > 1 or task is tone_task  # fed tokens padded
        with torch.inference_mode():
            one = [
                score_labels(HfBackend(model), encode(p), c, labels, normalize=normalize)
                for p, c in zip(prompts, cands, strict=True)
            ]
            scored = HfScorer(model, batch_size=5).score([encode(p) for p in prompts], cands)
            batched = [
                choice_of(s, c, labels, normalize=normalize) for s, c in zip(scored, cands, strict=True)
            ]
        for a, b in zip(one, batched, strict=True):
            np.testing.assert_allclose(b.scores, a.scores, rtol=1e-6, atol=1e-5)  # float32 rounding
            assert (b.passes, b.steps) == (a.passes, a.steps)
            if a.margin > 1e-4:
                assert b.label == a.label
    assert len(lengths) > 3  # the batches really were padded


def test_a_label_token_outside_the_vocabulary_is_an_error(tiny_hf_dir: Path) -> None:
    from evaluators._hf import load_hf
    from evaluators._hf_scorer import HfScorer

    model, _ = load_hf(tiny_hf_dir, "cpu")
    with pytest.raises(ValueError, match="outside the logits"):
        HfScorer(model).score([[1, 2, 3]], [[(5,), (10**6,)]])
    with pytest.raises(ValueError, match="outside the logits"):
        HfScorer(model).score([[1, 2, 3]], [[(10**6,)]])  # one continuation: fed with its prompt
