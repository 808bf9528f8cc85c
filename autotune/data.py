"""The task's data: phrases and labels read with ``datasets``, the prompt format, the eval split."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotune.errors import DataError

if TYPE_CHECKING:
    from autotune.space import DataSpec

__all__ = ["Example", "PromptFormat", "TaskData", "load_task_data"]


@dataclass(frozen=True)
class PromptFormat:
    """How a text becomes a prompt: a plain template, or the tokenizer's chat template."""

    text_column: str
    label_column: str
    template: str | None  # "### Text: {phrase}\n### The tone is:\n{tone}"; the label comes last
    chat_user: str | None  # "Classify the tone of: {phrase}" for the chat template
    chat_system: str | None = None

    def render(self, text: str, tokenizer: Any = None) -> str:
        """The prompt for ``text``, ending exactly where the label starts."""
        if self.template is not None:
            head = self.template[: self.template.index("{" + self.label_column + "}")]
            return head.replace("{" + self.text_column + "}", text)
        assert self.chat_user is not None
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise DataError("data.chat: the model's tokenizer has no chat template; use template")
        messages = []
        if self.chat_system:
            messages.append({"role": "system", "content": self.chat_system})
        messages.append(
            {"role": "user", "content": self.chat_user.replace("{" + self.text_column + "}", text)}
        )
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "text_column": self.text_column,
            "label_column": self.label_column,
            "template": self.template,
            "chat_user": self.chat_user,
            "chat_system": self.chat_system,
        }


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class TaskData:
    train: tuple[Example, ...]
    eval: tuple[Example, ...]
    labels: tuple[str, ...]
    prompt: PromptFormat
    fingerprint: str  # hash of the data content and of everything that shapes the examples
    source: str


def _read_rows(path: Path, field: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"{field}: data file not found: {path} (paths are relative to the space file)")
    suffix = path.suffix.lower()
    builder = {".json": "json", ".jsonl": "json", ".csv": "csv"}.get(suffix)
    if builder is None:
        raise DataError(f"{field}: {path.name}: unsupported file type {suffix!r}; use .json, .jsonl or .csv")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        ds = datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as exc:  # datasets wraps parser errors in several exception types
        cause = exc.__cause__ or exc
        msg = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise DataError(f"{path}: cannot be read as {builder}: {msg}") from None
    return list(ds)


def _examples(
    rows: Sequence[dict[str, Any]], path: Path, spec: DataSpec, labels: set[str] | None
) -> list[Example]:
    if rows:
        missing = [c for c in (spec.text_column, spec.label_column) if c not in rows[0]]
        if missing:
            raise DataError(
                f"{path}: no column {missing[0]!r} (columns: {', '.join(rows[0])}); "
                "set data.text_column / data.label_column"
            )
    out = []
    for i, row in enumerate(rows, start=1):
        text, label = row.get(spec.text_column), row.get(spec.label_column)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path} row {i}: empty or missing {spec.text_column!r}")
        if not isinstance(label, str) or not label.strip():
            raise DataError(f"{path} row {i}: empty or missing {spec.label_column!r}")
        label = label.strip()
        if labels is not None and label not in labels:
            raise DataError(
                f"{path} row {i}: label {label!r} is not in data.labels "
                f"[{', '.join(sorted(labels))}]; add it there or fix the row"
            )
        out.append(Example(text.strip(), label))
    if not out:
        raise DataError(f"{path}: no rows")
    return out


def _stratified(examples: list[Example], n: int, seed: int) -> tuple[list[Example], list[Example]]:
    """Take about ``n`` examples with every label in proportion; return (taken, rest)."""
    rng = random.Random(seed)
    by_label: dict[str, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    taken: list[Example] = []
    rest: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        k = max(1, round(n * len(group) / len(examples))) if n else 0
        taken += group[:k]
        rest += group[k:]
    rng.shuffle(taken)
    rng.shuffle(rest)
    return taken, rest


def load_task_data(spec: DataSpec, base_dir: Path) -> TaskData:
    """Read, check and split the data a space declares (paths relative to ``base_dir``)."""
    path = (base_dir / spec.path).resolve()
    declared = set(spec.labels) if spec.labels else None
    examples = _examples(_read_rows(path, "data.path"), path, spec, declared)
    digest = hashlib.sha256(path.read_bytes())
    if spec.eval.path:
        eval_path = (base_dir / spec.eval.path).resolve()
        eval_ex = _examples(_read_rows(eval_path, "data.eval.path"), eval_path, spec, declared)
        digest.update(eval_path.read_bytes())
        train = examples
    else:
        n_eval = round(len(examples) * spec.eval.fraction)
        eval_ex, train = _stratified(examples, n_eval, spec.eval.seed)
    labels = tuple(spec.labels) if spec.labels else tuple(sorted({e.label for e in examples}))
    unseen = sorted({e.label for e in eval_ex} - {e.label for e in train})
    if unseen:
        raise DataError(f"data: label(s) {unseen} appear only in the eval split; add training rows")
    if spec.max_train_rows and len(train) > spec.max_train_rows:
        train, _ = _stratified(train, spec.max_train_rows, spec.eval.seed)
    if spec.max_eval_rows and len(eval_ex) > spec.max_eval_rows:
        eval_ex, _ = _stratified(eval_ex, spec.max_eval_rows, spec.eval.seed)
    prompt = PromptFormat(
        spec.text_column,
        spec.label_column,
        spec.template,
        spec.chat.user if spec.chat else None,
        spec.chat.system if spec.chat else None,
    )
    shape = json.dumps(
        {"spec": spec.model_dump(mode="json", exclude={"path"}), "labels": labels}, sort_keys=True
    )
    digest.update(shape.encode())
    return TaskData(tuple(train), tuple(eval_ex), labels, prompt, digest.hexdigest(), str(path))
