"""The fine-tuning loop shared by LoRA and QLoRA: loss on the answer tokens only."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from autotune.inputs.data import Example, PromptFormat

__all__ = ["TrainState", "batch_order", "encode_examples", "train"]

TrainState = dict[str, Any]  # optimizer, scheduler and torch RNG state after ``step`` steps


def encode_examples(
    examples: Sequence[Example], prompt: PromptFormat, tokenizer: Any, max_length: int
) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) per example: the label and EOS are learned, the prompt is masked."""
    eos = tokenizer.eos_token_id
    out = []
    for ex in examples:
        text = prompt.render(ex.text, tokenizer)
        p_ids = tokenizer(text)["input_ids"]
        full = tokenizer(text + ex.label)["input_ids"]
        if full[: len(p_ids)] != p_ids:  # the label merged with the prompt's last token
            full = p_ids + tokenizer(ex.label, add_special_tokens=False)["input_ids"]
        ids = [*full, eos][-max_length:]
        n_prompt = len(ids) - (len(full) + 1 - len(p_ids))
        labels = [-100] * n_prompt + ids[n_prompt:]
        out.append((ids, labels))
    return out


def answer_loss(model: Any, ids: Any, mask: Any, labels: Any) -> Any:
    """Cross-entropy on the answer tokens, projecting only their positions through the LM head.

    The head (vocabulary x hidden) is a large share of a small model's compute; the prompt's
    positions carry no loss, so their logits are never computed. Models with logit soft-capping
    take the plain path.
    """
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "final_logit_softcapping", None):
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    return F.cross_entropy(logits, targets[keep])


def batch_order(n_examples: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """The examples of each of ``steps`` batches: shuffled epochs, a short tail carried over.

    A function of its arguments only, so a run resumed at any step sees the same batches.
    """
    rng = random.Random(seed)
    order: list[int] = []
    out = []
    for _ in range(steps):
        if len(order) < batch_size:
            fresh = list(range(n_examples))
            rng.shuffle(fresh)
            order += fresh
        out.append(order[:batch_size])
        order = order[batch_size:]
    return out


def train(
    model: Any,
    batches: list[tuple[list[int], list[int]]],
    *,
    pad_id: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    warmup_ratio: float,
    max_grad_norm: float = 1.0,
    seed: int,
    device: str,
    on_step: Callable[[int, int, float], None] | None = None,
    stop: int | None = None,
    resume: TrainState | None = None,
) -> dict[str, Any]:
    """Train ``model`` (a peft model) on the schedule of ``steps`` optimizer steps; return the
    loss history and, under "state", what resuming needs.

    ``stop`` ends the run early, after that many steps of the same schedule (a rung of a
    multi-fidelity search); ``resume`` (a previous run's "state", the model holding its weights)
    continues it: the batches, learning rates, optimizer moments and dropout draws are those the
    uninterrupted run would have had.
    """
    import torch

    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    warmup = max(1, int(steps * warmup_ratio))

    def lr_at(step: int) -> float:  # linear warm-up, then cosine decay to 10%
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    first, end = 0, min(steps, stop or steps)
    losses: list[float] = []
    if resume is not None:
        first = int(resume["step"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        torch.set_rng_state(resume["rng"])
        if "cuda_rng" in resume:  # dropout on a GPU draws from the device's generator
            torch.cuda.set_rng_state(resume["cuda_rng"])
        losses = list(resume["losses"])
    if not 0 <= first <= end:
        raise ValueError(f"cannot resume at step {first} and stop at step {end}")
    order = batch_order(len(batches), end, batch_size, seed)
    model.train()
    start = time.perf_counter()
    for step in range(first, end):
        idx = order[step]
        width = max(len(batches[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            x, y = batches[i]
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            mask[row, : len(x)] = 1
        loss = answer_loss(model, ids.to(device), mask.to(device), labels.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step is not None:
            recent = losses[-5:]
            on_step(step + 1, steps, sum(recent) / len(recent))
    model.eval()
    return {
        "losses": [round(v, 4) for v in losses],
        "final_loss": round(sum(losses[-5:]) / len(losses[-5:]), 4) if losses else None,
        "train_seconds": round(time.perf_counter() - start, 2),
        "steps_done": end,
        "state": {
            "step": end,
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": torch.get_rng_state(),
            **({"cuda_rng": torch.cuda.get_rng_state()} if device.startswith("cuda") else {}),
            "losses": losses,
        },
    }
