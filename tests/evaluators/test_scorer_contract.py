"""The contract every ``SequenceScorer`` keeps, checked the same way on the three runtimes.

Each runtime is opened by ``open_runtime`` on the tiny random Phi-3 (PyTorch on its HF folder,
ORT GenAI and the one-pass graph on its fp32 build) and must give, for every continuation, the
log-probability of each token after the prompt as PyTorch computes it with the whole sequence
in one plain forward pass (no cache, no batch, no padding): whatever its layout, a continuation
sees neither the other continuations nor the other prompts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from evaluators import (
    EvalTask,
    GenaiRuntime,
    HfRuntime,
    ModelArtifact,
    OnePassRuntime,
    Runtime,
    Scored,
    candidate_sequences,
    open_runtime,
)

# fp32 ONNX Runtime against fp32 PyTorch: measured up to 1e-5 per token here; a continuation
# that saw another one moves by far more (test_tree: 14 for a stale token).
ACROSS_RUNTIMES = 1e-3
# the same runtime, another layout (batch, order, company): float32 rounding of other shapes
WITHIN_RUNTIME = 1e-4

Case = tuple[list[list[int]], list[list[tuple[int, ...]]]]


@pytest.fixture(scope="module")
def case(tiny_hf_dir: Path, tone_task: EvalTask) -> Case:
    """Five prompts of different lengths, the tone labels (with EOS) after each, and the last
    prompt with one long continuation only (its phrase, as an answer)."""
    from transformers import AutoTokenizer

    from evaluators._hf import encoder

    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_dir)
    encode = encoder(tokenizer)
    prompts = [*tone_task.prompts[:4], "Hi\n"]
    conts = [candidate_sequences(encode, p, tone_task.label_set, tokenizer.eos_token_id) for p in prompts]
    phrase = tone_task.prompts[0].split("\n")[0]
    conts[-1] = candidate_sequences(encode, prompts[-1], [phrase], tokenizer.eos_token_id)
    assert len(conts[-1][0]) > 8 and len({len(c) for c in conts[0]}) > 1
    return [encode(p) for p in prompts], conts


@pytest.fixture(scope="module")
def reference(tiny_hf_dir: Path, case: Case) -> list[list[npt.NDArray[np.float64]]]:
    """Per prompt and continuation, PyTorch's log-probabilities of its tokens from one plain
    forward pass over the prompt and the continuation."""
    import torch

    from evaluators._hf import load_hf

    model = load_hf(tiny_hf_dir, "cpu")[0].eval()
    out = []
    with torch.inference_mode():
        for prompt, conts in zip(*case, strict=True):
            per = []
            for c in conts:
                logp = model(torch.tensor([[*prompt, *c]])).logits[0].double().log_softmax(-1).numpy()
                per.append(np.array([logp[len(prompt) - 1 + j, t] for j, t in enumerate(c)]))
            out.append(per)
    return out


class ScorerContract:
    """The checks; a subclass says which runtime (``artifact``, ``one_pass``, ``kind``) and how
    many passes it runs for a prompt of several continuations (``shares_one_pass``)."""

    kind: ClassVar[type[Runtime]]
    one_pass: ClassVar[bool] = False
    shares_one_pass: ClassVar[bool] = False

    @pytest.fixture(scope="class")
    def artifact(self, tiny_hf_dir: Path, tiny_onnx: dict[str, Path]) -> ModelArtifact:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def runtime(self, artifact: ModelArtifact) -> Runtime:
        runtime = open_runtime(artifact, one_pass=self.one_pass)
        assert type(runtime) is self.kind
        return runtime

    @pytest.fixture
    def score(self, runtime: Runtime) -> Iterator[Any]:
        def score(prompts: Sequence[Sequence[int]], conts: Sequence[Sequence[Sequence[int]]]) -> list[Scored]:
            return runtime.scorer.score(prompts, conts)

        with runtime.context():
            yield score

    def test_each_token_has_the_log_probability_of_one_plain_pass(
        self, score: Any, case: Case, reference: list[list[npt.NDArray[np.float64]]]
    ) -> None:
        prompts, conts = case
        scored = score(prompts, conts)
        assert len(scored) == len(prompts)
        for got, want, cands in zip(scored, reference, conts, strict=True):
            assert [lp.shape for lp in got.logprobs] == [(len(c),) for c in cands]
            for lp, ref in zip(got.logprobs, want, strict=True):
                assert lp.dtype == np.float64 and np.all(lp <= 0)
                np.testing.assert_allclose(lp, ref, atol=ACROSS_RUNTIMES, rtol=0)
            np.testing.assert_allclose(got.totals, [r.sum() for r in want], atol=ACROSS_RUNTIMES * 4, rtol=0)

    def test_neither_company_nor_order_nor_batch_changes_a_score(self, score: Any, case: Case) -> None:
        prompts, conts = case
        together = score(prompts, conts)
        for i, (prompt, cands) in enumerate(zip(prompts, conts, strict=True)):
            alone = score([prompt], [cands])[0]
            backwards = score([prompt], [cands[::-1]])[0]
            for j, c in enumerate(cands):
                single = score([prompt], [[c]])[0].logprobs[0]
                for other in (together[i].logprobs[j], alone.logprobs[j], backwards.logprobs[-1 - j]):
                    np.testing.assert_allclose(other, single, atol=WITHIN_RUNTIME, rtol=0)

    def test_passes_are_counted_per_prompt(self, score: Any, case: Case) -> None:
        prompts, conts = case
        for cands, got in zip(conts, score(prompts, conts), strict=True):
            longer = sum(len(c) > 1 for c in cands)
            want = 1 if self.shares_one_pass or len(cands) == 1 else 1 + longer
            assert got.passes == want
        assert [s.passes for s in score(prompts, [[c[0]] for c in conts])] == [1] * len(prompts)

    def test_what_cannot_be_scored_is_refused(self, score: Any, case: Case) -> None:
        prompts, conts = case
        with pytest.raises(ValueError, match="outside the logits"):
            score(prompts[:1], [[conts[0][0], (10**6,)]])
        with pytest.raises(ValueError, match="outside the logits"):
            score(prompts[:1], [[(5, 10**6)]])
        with pytest.raises(ValueError, match="non-empty"):
            score(prompts[:1], [[conts[0][0], ()]])
        with pytest.raises(ValueError, match="non-empty"):
            score(prompts[:1], [[]])
        with pytest.raises(ValueError, match="2 prompts but 1 lists"):
            score(prompts[:2], conts[:1])


class TestPyTorch(ScorerContract):
    kind = HfRuntime

    @pytest.fixture(scope="class")
    def artifact(self, tiny_hf_dir: Path, tiny_onnx: dict[str, Path]) -> ModelArtifact:
        return ModelArtifact(tiny_hf_dir, "hf")


class TestOrtGenai(ScorerContract):
    kind = GenaiRuntime

    @pytest.fixture(scope="class")
    def artifact(self, tiny_hf_dir: Path, tiny_onnx: dict[str, Path]) -> ModelArtifact:
        return ModelArtifact(tiny_onnx["fp32"], "onnx-genai")


class TestOnePass(ScorerContract):
    kind = OnePassRuntime
    one_pass = True
    shares_one_pass = True

    @pytest.fixture(scope="class")
    def artifact(self, tiny_hf_dir: Path, tiny_onnx: dict[str, Path]) -> ModelArtifact:
        return ModelArtifact(tiny_onnx["fp32"], "onnx-genai")
