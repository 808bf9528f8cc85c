"""The task's data: phrases and labels read with ``datasets``, the prompt format, and the three
splits (train, search, confirm), which never share a phrase."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autotune.errors import DataError
from autotune.inputs.data_checks import check_labels, check_placeholders, check_utf8

if TYPE_CHECKING:
    from autotune.space.schema import DataSpec

__all__ = [
    "MIN_SPLIT_ROWS",
    "Example",
    "PromptFormat",
    "TaskData",
    "check_disjoint",
    "data_summary",
    "load_task_data",
    "normalize",
    "read_rows",
]

# A search or confirm split smaller than this measures too little for its accuracy to mean anything.
MIN_SPLIT_ROWS = 20
# A default fraction is raised to MIN_SPLIT_ROWS only while training keeps this share of the phrases.
_MIN_TRAIN_SHARE = 0.5
# Splits drawn from data.path keep one phrase of every label with at least this many phrases.
_STRATIFY_FROM = 3


@dataclass(frozen=True)
class PromptFormat:
    """How a text becomes a prompt: a plain template, or the tokenizer's chat template."""

    text_column: str
    label_column: str
    template: str | None  # "### Text: {phrase}\n### The tone is:\n{tone}"; the label comes last
    chat_user: str | None  # "Classify the tone of: {phrase}" for the chat template
    chat_system: str | None = None

    @classmethod
    def of(cls, spec: Any) -> PromptFormat:
        """The format a space's data spec, or an exported task, declares (its columns, template
        and chat)."""
        chat = spec.chat
        return cls(
            spec.text_column,
            spec.label_column,
            spec.template,
            chat.user if chat else None,
            chat.system if chat else None,
        )

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
    """The examples of a task, in three splits that share no normalised phrase.

    ``eval`` is the search split (``data.eval``): every trial is measured on it, and the sampler
    and the Pareto front see only it. ``confirm`` (``data.confirm``) is never seen by the search:
    the front is measured on it once, after the study.
    """

    train: tuple[Example, ...]
    eval: tuple[Example, ...]  # the search split
    labels: tuple[str, ...]
    prompt: PromptFormat
    fingerprint: str  # hash of the data content, of all three splits, and of the spec
    source: str
    confirm: tuple[Example, ...] = ()


def normalize(text: str) -> str:
    """A phrase as splits compare it: stripped, case-folded, runs of whitespace made one space."""
    return " ".join(text.split()).casefold()


def read_rows(path: Path, field: str) -> list[dict[str, Any]]:
    """The rows of a .json, .jsonl or .csv file; ``field`` names it in errors."""
    if not path.is_file():
        raise DataError(f"{field}: data file not found: {path} (paths are relative to the space file)")
    suffix = path.suffix.lower()
    builder = {".json": "json", ".jsonl": "json", ".csv": "csv"}.get(suffix)
    if builder is None:
        raise DataError(f"{field}: {path.name}: unsupported file type {suffix!r}; use .json, .jsonl or .csv")
    check_utf8(path)  # pyarrow would fail on the row itself, outside the parser
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its parser errors log tracebacks
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
        check_placeholders(spec, path, list(rows[0]))
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


def _quotas(n: int, counts: dict[str, int], room: dict[str, int], least: int) -> dict[str, int]:
    """``n`` items shared over labels in proportion to ``counts`` (largest remainder), at most
    ``room[label]`` each, and at least one of every label with ``least`` or more items."""
    total = sum(counts.values())
    share = {k: n * c / total for k, c in counts.items()} if total else dict.fromkeys(counts, 0.0)
    floor = {k: 1 if n and c >= least and room[k] > 0 else 0 for k, c in counts.items()}
    q = {k: max(floor[k], min(room[k], int(share[k]))) for k in counts}
    while sum(q.values()) < n:
        open_ = [k for k in sorted(counts) if q[k] < room[k]]
        if not open_:
            break
        q[min(open_, key=lambda k: q[k] - share[k])] += 1
    while sum(q.values()) > n:  # the floor of one took too many: give back from the most served
        over = [k for k in sorted(counts) if q[k] > floor[k]]
        if not over:
            break
        q[max(over, key=lambda k: q[k] - share[k])] -= 1
    return q


def _by_label(items: Sequence[list[Example]]) -> dict[str, list[list[Example]]]:
    out: dict[str, list[list[Example]]] = {}
    for group in items:
        out.setdefault(group[0].label, []).append(group)
    return out


def _stratified(examples: list[Example], n: int, seed: int, labelled: bool = True) -> list[Example]:
    """About ``n`` of ``examples`` with every label in proportion (and each label kept); a
    random ``n`` when the rows carry no label of a closed set."""
    by_label = _by_label([[ex] for ex in examples]) if labelled else {"": [[ex] for ex in examples]}
    counts = {k: len(v) for k, v in by_label.items()}
    q = _quotas(n, counts, counts, least=1)
    rng = random.Random(seed)
    taken: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        taken += [g[0] for g in group[: q[label]]]
    rng.shuffle(taken)
    return taken


def _phrases(examples: Sequence[Example]) -> list[list[Example]]:
    """The examples grouped by normalised phrase, in order of first appearance."""
    groups: dict[str, list[Example]] = {}
    for ex in examples:
        groups.setdefault(normalize(ex.text), []).append(ex)
    return list(groups.values())


def _split(
    examples: list[Example], sizes: tuple[int, int], seed: int, labelled: bool = True
) -> tuple[list[Example], list[Example], list[Example]]:
    """(search, confirm, train): ``sizes`` distinct phrases for the first two, stratified by label
    when ``labelled``, the rest for training. Rows of one phrase stay together; training keeps
    every label."""
    by_label = _by_label(_phrases(examples)) if labelled else {"": _phrases(examples)}
    counts = {k: len(v) for k, v in by_label.items()}
    room = {k: c - 1 for k, c in counts.items()}
    q_search = _quotas(sizes[0], counts, room, _STRATIFY_FROM)
    room = {k: room[k] - q_search[k] for k in room}
    q_confirm = _quotas(sizes[1], counts, room, _STRATIFY_FROM)
    rng = random.Random(seed)
    out: tuple[list[Example], list[Example], list[Example]] = ([], [], [])
    for label in sorted(by_label):
        groups = by_label[label][:]
        rng.shuffle(groups)
        a, b = q_search[label], q_search[label] + q_confirm[label]
        for part, chunk in zip(out, (groups[:a], groups[a:b], groups[b:]), strict=True):
            part.extend(ex for group in chunk for ex in group)
    for part in out:
        rng.shuffle(part)
    return out


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _overlap(
    texts: Sequence[str], path: Path, key: str, other: Sequence[str], other_path: Path, other_key: str
) -> None:
    """Raise when a phrase of ``texts`` (the rows of ``path``) is also in ``other``."""
    seen = {normalize(t) for t in other} - {""}
    rows = [i for i, t in enumerate(texts, start=1) if normalize(t) in seen]
    if rows:
        raise DataError(
            f"{key}: {path} row {rows[0]} ({_short(texts[rows[0] - 1])!r}) is also in {other_key} "
            f"({other_path.name}); {len(rows)} of its {len(texts)} rows overlap: remove them from one "
            "of the two files (a phrase in two splits makes the accuracy look better than it is)"
        )


def check_disjoint(path: Path, key: str, other_path: Path, other_key: str, text_column: str) -> None:
    """Raise DataError when a phrase of the file ``path`` is also in the file ``other_path``."""

    def texts(p: Path, k: str) -> list[str]:
        return [t.strip() if isinstance(t := r.get(text_column), str) else "" for r in read_rows(p, k)]

    _overlap(texts(path, key), path, key, texts(other_path, other_key), other_path, other_key)


def _sizes(spec: DataSpec, n: int) -> tuple[int, int]:
    """Phrases of data.path for the search and confirm splits (0 for a split read from a file).

    A fraction left at its default is raised to MIN_SPLIT_ROWS phrases while training keeps at
    least half of them.
    """
    splits = (spec.eval, spec.confirm)
    sizes = tuple(0 if s.path else round(n * s.fraction) for s in splits)
    raised = tuple(
        max(k, MIN_SPLIT_ROWS) if k and "fraction" not in s.model_fields_set else k
        for k, s in zip(sizes, splits, strict=True)
    )
    if n - sum(raised) >= n * _MIN_TRAIN_SHARE:
        return raised[0], raised[1]
    return sizes[0], sizes[1]


def _check_size(
    rows: Sequence[Example], key: str, name: str, path: Path | None, fraction: float, n: int, default: bool
) -> None:
    if len(rows) >= MIN_SPLIT_ROWS:
        return
    few = f"fewer than {MIN_SPLIT_ROWS} rows measure too little"
    if path is not None:
        raise DataError(
            f"{key}.path: {path} has {len(rows)} rows for the {name} split; {few}: add rows to it, "
            f"or draw the split from data.path with {key}.fraction"
        )
    raised = (
        f"; the default is raised to {MIN_SPLIT_ROWS} rows only while training keeps half" if default else ""
    )
    raise DataError(
        f"{key}: the {name} split would have {len(rows)} rows ({fraction:g} of data.path's {n} "
        f"distinct phrases{raised}); {few}: add rows to data.path, raise {key}.fraction, or give "
        f"a file of {MIN_SPLIT_ROWS} or more rows as {key}.path"
    )


def _held_out_files(
    spec: DataSpec, base_dir: Path, declared: set[str] | None, path: Path, examples: list[Example]
) -> dict[str, tuple[Path, list[Example]]]:
    """The search and confirm splits given as files, by key; neither shares a phrase with
    data.path (``path``, read as ``examples``) or with the other."""
    files: dict[str, tuple[Path, list[Example]]] = {}
    for key, split in (("data.eval", spec.eval), ("data.confirm", spec.confirm)):
        if split.path:
            p = (base_dir / split.path).resolve()
            rows = _examples(read_rows(p, f"{key}.path"), p, spec, declared)
            _overlap([e.text for e in rows], p, f"{key}.path", [e.text for e in examples], path, "data.path")
            files[key] = (p, rows)
    if len(files) == 2:
        (pe, search), (pc, confirm) = files["data.eval"], files["data.confirm"]
        texts = [e.text for e in confirm]
        _overlap(texts, pc, "data.confirm.path", [e.text for e in search], pe, "data.eval.path")
    return files


def load_task_data(spec: DataSpec, base_dir: Path, task: str = "classification") -> TaskData:
    """Read, check and split the data a space declares (paths relative to ``base_dir``) for the
    task kind ``task``.

    The search (``eval``) and confirm splits are each a file or a draw of data.path's distinct
    phrases (with data.eval.seed; stratified by label for a labelled kind); training takes the
    rest. No phrase is in two splits.
    """
    from autotune.task_kinds import get_task_kind

    labelled = get_task_kind(task).labelled
    path = (base_dir / spec.path).resolve()
    declared = set(spec.labels) if spec.labels else None
    examples = _examples(read_rows(path, "data.path"), path, spec, declared)
    if labelled:
        check_labels((e.label for e in examples), path, task)
    files = _held_out_files(spec, base_dir, declared, path, examples)
    digest = hashlib.sha256(path.read_bytes())
    for p, _ in files.values():
        digest.update(p.read_bytes())
    n = len(_phrases(examples))
    search, confirm, train = _split(examples, _sizes(spec, n), spec.eval.seed, labelled)
    search = files["data.eval"][1] if "data.eval" in files else search
    confirm = files["data.confirm"][1] if "data.confirm" in files else confirm
    for rows, key, name, split in (
        (search, "data.eval", "search", spec.eval),
        (confirm, "data.confirm", "confirm", spec.confirm),
    ):
        given = files[key][0] if key in files else None
        _check_size(rows, key, name, given, split.fraction, n, "fraction" not in split.model_fields_set)
    labels = tuple(spec.labels) if spec.labels else tuple(sorted({e.label for e in examples}))
    labels = labels if labelled else ()
    unseen = sorted({e.label for e in search + confirm} - {e.label for e in train}) if labelled else []
    if unseen:
        raise DataError(
            f"data: label(s) {unseen} appear only in the search or confirm split; add training rows"
        )
    if spec.max_train_rows and len(train) > spec.max_train_rows:
        train = _stratified(train, spec.max_train_rows, spec.eval.seed, labelled)
    if spec.max_eval_rows:
        if len(search) > spec.max_eval_rows:
            search = _stratified(search, spec.max_eval_rows, spec.eval.seed, labelled)
        if len(confirm) > spec.max_eval_rows:
            confirm = _stratified(confirm, spec.max_eval_rows, spec.eval.seed, labelled)
    prompt = PromptFormat.of(spec)
    shape = json.dumps(
        {
            "spec": spec.model_dump(mode="json", exclude={"path"}),
            "labels": labels,
            **({} if labelled else {"task": task}),
            "splits": [[[e.text, e.label] for e in part] for part in (train, search, confirm)],
        },
        sort_keys=True,
    )
    digest.update(shape.encode())
    return TaskData(
        tuple(train), tuple(search), labels, prompt, digest.hexdigest(), str(path), tuple(confirm)
    )


def data_summary(data: TaskData, task: str = "classification") -> str:
    """``781 train / 96 search / 96 confirm rows, labels a, b`` (without a label set, what the
    task kind's rows hold: ``..., generation: a free answer per row, ...``)."""
    from autotune.task_kinds import get_task_kind

    rows = f"{len(data.train)} train / {len(data.eval)} search / {len(data.confirm)} confirm rows"
    if data.labels:
        return f"{rows}, labels {', '.join(data.labels)}"
    return f"{rows}, {task}: {get_task_kind(task).description}"
