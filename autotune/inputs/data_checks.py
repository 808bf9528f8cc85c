"""Checks of a data file that its rows alone cannot fail: its encoding, the columns its prompt
format names, and the labels it gives. Each failure is a DataError naming the file and the fix."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from autotune.errors import DataError

if TYPE_CHECKING:
    from autotune.space.schema import DataSpec

__all__ = ["check_labels", "check_placeholders", "check_utf8"]

# A ``{column}`` of a template; other braces (a JSON example in the prompt) are left alone.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")


def check_utf8(path: Path) -> None:
    """Raise when ``path`` is not UTF-8, naming the line and the byte where it breaks."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path} line {line} (byte {exc.start}): not valid UTF-8 ({exc.reason}); save the file "
            "as UTF-8 or fix that line"
        ) from None


def check_placeholders(spec: DataSpec, path: Path, columns: Collection[str]) -> None:
    """Raise when the prompt format names a ``{column}`` other than the text and label columns:
    it would reach the model as written, braces and all."""
    filled = {spec.text_column, spec.label_column}
    texts = {
        "data.template": spec.template,
        "data.chat.user": spec.chat.user if spec.chat else None,
        "data.chat.system": spec.chat.system if spec.chat else None,
    }
    for key, text in texts.items():
        for name in _PLACEHOLDER.findall(text or ""):
            if name in filled:
                continue
            fill = f"only {{{spec.text_column}}} and {{{spec.label_column}}} are filled in"
            if name not in columns:
                raise DataError(
                    f"{key} names {{{name}}}, but {path} has no column {name!r} (columns: "
                    f"{', '.join(columns)}); fix the name or remove it ({fill})"
                )
            raise DataError(
                f"{key} names {{{name}}}, a column of {path} that prompts never take ({fill}); "
                "remove it from the template"
            )


def check_labels(given: Iterable[str], path: Path, task: str) -> None:
    """Raise when the rows of ``path`` give (``given``) one label only: nothing to tell apart."""
    labels = sorted(set(given))
    if len(labels) == 1:  # none at all: the row checks say so
        raise DataError(
            f"{path}: every row has the label {labels[0]!r}; {task} needs rows of at least two "
            "labels: add rows of another label"
        )
