"""One family through autotune's own passes (LoRA, merge, the builds), then ONNX Runtime GenAI
against PyTorch on the merged model: the measurement behind the family matrix test and the
README's family table (benchmarks/families.py prints it)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autotune.cache import Cache
from autotune.inputs.data import load_task_data
from autotune.inputs.models import prepare_model
from autotune.passes import Artifact, PassContext, get_pass
from autotune.space.params import Scalar
from autotune.space.schema import Space
from autotune.targets import TARGETS
from evaluators import ModelArtifact
from evaluators._greedy import greedy_generate
from evaluators._runtime import DecodingRuntime, open_runtime
from evaluators._scoring import choose_labels
from tests.conftest import EMOTIONS, REPO, tiny_raw
from tests.inputs.family_configs import BASE

__all__ = ["Agreement", "Built", "agreement", "build_family"]

_EOS = "<|endoftext|>"
_BOS = "<bos>"
STEPS = 6  # greedy tokens after each prompt: with the prompts' ~15 tokens, past every test window
PROMPTS = 2


@dataclass
class Built:
    """A family's merged fine-tune and its ONNX builds (precision -> folder, or the builder's
    failure)."""

    merged: Path
    builds: dict[str, Path | str] = field(default_factory=dict)
    hf: DecodingRuntime | None = None  # PyTorch on the merged model, opened once
    prompts: list[str] = field(default_factory=list)
    labels: tuple[str, ...] = ()


@dataclass
class Agreement:
    """ORT GenAI against PyTorch on the same prompts, teacher-forced on PyTorch's greedy path."""

    max_abs: float  # largest |logit difference| over every position compared
    min_corr: float  # smallest correlation of the two logit vectors at a position
    same_ids: bool  # both tokenizers give the same ids (BOS and all)
    bos: bool  # the prompts' ids start with the tokenizer's BOS
    labels: list[tuple[str, str, float]]  # (PyTorch's label, ORT GenAI's, PyTorch's margin)
    one_pass: list[str]  # the labels of the CPU's label scorer (one pass where the graph takes it)
    answers: list[tuple[tuple[int, ...], tuple[int, ...]]]  # greedy token ids (PyTorch, ORT)
    margins: list[list[float]]  # PyTorch's top-2 logit margin at each greedy step, per prompt


def small_tokenizer(folder: Path, bos: bool = False) -> Path:
    """A byte-level BPE tokenizer of 1024 tokens (SmolLM2's kind, 48 times smaller) learned from
    the shipped phrases, saved in ``folder`` once: the matrix's models then load, build and run
    in a fraction of the time SmolLM2's 49k vocabulary takes. With ``bos``, its post-processor
    puts a BOS first, as Gemma's and Llama 3's do (ORT GenAI's tokenizer skips that step)."""
    if (folder / "tokenizer.json").is_file():
        return folder
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    rows = [json.loads(line) for line in EMOTIONS.read_text().splitlines() if line.strip()]
    texts = [f"### Text: {r['phrase']}\n### The tone is:\n{r['tone']}" for r in rows]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [_EOS, _BOS] if bos else [_EOS]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=specials, initial_alphabet=alphabet)
    tok.train_from_iterator(texts, trainer)
    if bos:
        bos_id = tok.token_to_id(_BOS)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{_BOS} $A", pair=f"{_BOS} $A $B", special_tokens=[(_BOS, bos_id)]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=_EOS, bos_token=_BOS if bos else _EOS, pad_token=_EOS
    )
    part = folder.with_name(f".{folder.name}.{os.getpid()}")
    fast.save_pretrained(part)
    part.replace(folder) if not folder.exists() else None
    return folder


def build_family(
    config: dict[str, Any], root: Path, precisions: tuple[str, ...], target: str, bos: bool = False
) -> Built:
    """A tiny random model of ``config`` (with ``small_tokenizer(bos=bos)``) fine-tuned (LoRA on
    ``target`` modules, 2 steps), merged and built at ``precisions``, each step autotune's own
    pass."""
    name = "family-tokenizer-bos" if bos else "family-tokenizer"
    tokenizer = small_tokenizer(Path(os.environ["XDG_CACHE_HOME"]) / name, bos)
    raw = tiny_raw(
        model__random__config={**BASE, **config}, model__random__tokenizer={"path": str(tokenizer)}
    )
    space = Space.model_validate(raw)
    model = prepare_model(space.model, Cache(root / "cache"), REPO)
    data = load_task_data(space.data, REPO, space.task)
    cpu = TARGETS["cpu"]

    def run(name: str, params: dict[str, Scalar], source: Artifact, upstream: dict[str, Any]) -> Artifact:
        p = get_pass(name)()
        full = {s.name: params.get(s.name, s.default) for s in p.params if s.when is None or s.when(params)}
        ctx = PassContext(model, data, cpu, 0, {**upstream, name: full})
        p.check(full, ctx)
        out = root / f"{name}-{full.get('precision', '')}"
        out.mkdir()
        p.run(source, full, ctx, out)
        return Artifact(p.output_kind, out, out.name)

    lora = {
        "rank": 4,
        "alpha": 8,
        "learning_rate": 1e-2,
        "target_modules": target,
        "steps": 2,
        "batch_size": 2,
        "max_length": 48,
        "dropout": 0.0,
    }
    adapter = run("lora", lora, Artifact("hf", Path(model.path), model.fingerprint), {})
    merged = run("merge", {}, adapter, {"lora": lora})
    built = Built(
        merged.path,
        prompts=[data.prompt.render(ex.text) for ex in data.eval[:PROMPTS]],
        labels=tuple(data.labels),
    )
    for precision in precisions:
        try:
            built.builds[precision] = run("build", {"precision": precision}, merged, {"lora": lora}).path
        except Exception as exc:  # the builder's refusal is a finding of the matrix
            built.builds[precision] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return built


def _walk(
    hf: DecodingRuntime, ort: DecodingRuntime, ids: list[int]
) -> tuple[float, float, list[float], list[int]]:
    """Both runtimes over the prompt, then PyTorch's greedy tokens fed to both."""
    a, b = hf.backend(STEPS), ort.backend(STEPS)
    la, lb = np.asarray(a.start(ids), np.float64), np.asarray(b.start(ids), np.float64)
    worst, corr, margins, path = 0.0, 1.0, [], []
    for step in range(STEPS):
        worst = max(worst, float(np.abs(la - lb).max()))
        corr = min(corr, float(np.corrcoef(la, lb)[0, 1]))
        top = np.sort(la)[-2:]
        margins.append(float(top[1] - top[0]))
        path.append(int(la.argmax()))
        if step < STEPS - 1:
            la = np.asarray(a.feed(path[-1]), np.float64)
            lb = np.asarray(b.feed(path[-1]), np.float64)
    return worst, corr, margins, path


def agreement(built: Built, precision: str) -> Agreement:
    """ORT GenAI on the ``precision`` build against PyTorch on the merged model."""
    folder = built.builds[precision]
    assert isinstance(folder, Path), folder
    if built.hf is None:
        built.hf = open_runtime(ModelArtifact(built.merged, "hf"))
    hf = built.hf
    ort = open_runtime(ModelArtifact(folder, "onnx-genai"))
    worst, corr, same = 0.0, 1.0, True
    margins: list[list[float]] = []
    answers = []
    with hf.context(), ort.context():
        for prompt in built.prompts:
            ids = hf.encode(prompt)
            same = same and ids == ort.encode(prompt)
            w, c, m, _ = _walk(hf, ort, ids)
            worst, corr = max(worst, w), min(corr, c)
            margins.append(m)
            greedy = [
                greedy_generate(
                    rt.stepper(),
                    rt.encode(prompt),
                    eos_ids=rt.eos_ids,
                    max_new_tokens=STEPS,
                    stop=(),
                    decode=rt.decode,
                ).token_ids
                for rt in (hf, ort)
            ]
            answers.append((greedy[0], greedy[1]))
        mine = choose_labels(hf, built.prompts, built.labels)
        theirs = choose_labels(ort, built.prompts, built.labels)
    cpu = open_runtime(ModelArtifact(folder, "onnx-genai"), one_pass=True)
    with cpu.context():
        one_pass = [c.label for c in choose_labels(cpu, built.prompts, built.labels)]
    labels = [(x.label, y.label, x.margin) for x, y in zip(mine, theirs, strict=True)]
    bos = hf.encode(built.prompts[0])[0] == _bos_id(built.merged)
    return Agreement(worst, corr, same, bos, labels, one_pass, answers, margins)


def _bos_id(folder: Path) -> int | None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    return None if tok.bos_token != _BOS else int(tok.bos_token_id)
