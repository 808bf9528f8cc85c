"""An exported folder's task.json, typed and checked before ``predict`` loads the model.

``autotune export`` writes it; an older export, an edit or a truncated copy may not match it, and
every field is checked the way the space checked the setting it came from. An error names the
file, the field and the fix (export again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autotune.errors import AutotuneError, read_json_file
from autotune.targets import TARGETS
from autotune.task_kinds import get_task_kind

__all__ = ["TASK_FIX", "ExportedTask", "read_exported_task"]

TASK_FIX = "export the trial again (autotune export)"

_Text = Annotated[str, Field(min_length=1)]


class _Json(BaseModel):
    # JSON a program wrote: no coercion ("x" is no number, true no count, 1.0 no int)
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class ExportedChat(_Json):
    user: str
    system: str | None = None


class ExportedTask(_Json):
    """What ``predict`` reads of task.json (fields of older exports default as they did); keys of
    a task kind's own (``TaskKind.export_fields``) are kept for its ``predict``."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    task: str = "classification"  # task.json of earlier versions: all classification
    text_column: _Text
    label_column: _Text
    template: str | None = None
    chat: ExportedChat | None = None
    provider: str | None = None
    labels: list[_Text] | None = None
    label_scoring: Literal["score", "greedy"] = "score"
    length_normalize: bool = False
    max_new_tokens: int = Field(32, ge=1, le=2048)  # the bounds of evaluation.max_new_tokens
    stop: list[_Text] = Field(default_factory=list)

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        get_task_kind(v)  # a ValueError listing the known kinds
        return v

    @field_validator("provider")
    @classmethod
    def _known_target(cls, v: str | None) -> str | None:
        if v is not None and v not in TARGETS:
            raise ValueError(f"unknown target {v!r}; known: {', '.join(TARGETS)}")
        return v

    @model_validator(mode="after")
    def _prompt_and_labels(self) -> ExportedTask:
        if get_task_kind(self.task).labelled and (self.labels is None or len(set(self.labels)) < 2):
            raise ValueError("labels: the task needs two labels or more")
        if (self.template is None) == (self.chat is None):
            raise ValueError("template: give exactly one of template or chat")
        text, label = "{" + self.text_column + "}", "{" + self.label_column + "}"
        if self.template is not None and (text not in self.template or not self.template.endswith(label)):
            raise ValueError(f"template: must contain {text} and end with {label}")
        if self.chat is not None and text not in self.chat.user:
            raise ValueError(f"chat.user: must contain {text}")
        return self


def read_exported_task(task_file: Path) -> ExportedTask:
    """task.json, checked; an AutotuneError naming its field and the fix otherwise."""
    raw = read_json_file(task_file, "the exported task", TASK_FIX)
    if not isinstance(raw, dict):
        raise AutotuneError(f"{task_file}: the exported task is not a JSON object; {TASK_FIX}")
    try:
        return ExportedTask.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg, shown = err["msg"].removeprefix("Value error, "), ""
        field = ".".join(str(p) for p in err["loc"])
        if not field:  # a check across fields names its field first
            field, _, msg = msg.partition(": ")
        elif err["type"] != "missing":
            shown = f" (got {json.dumps(err['input'])[:40]})"
        raise AutotuneError(f"{task_file}: {field}: {msg}{shown}; {TASK_FIX}") from None
