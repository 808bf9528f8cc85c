"""How a pass is named in a Microsoft Olive workflow config, declared next to the pass.

autotune.olive reads these declarations from the pass registry when it imports or exports a
config; a pass without one cannot be exported to Olive (the export says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OliveMapping"]


@dataclass(frozen=True)
class OliveMapping:
    """A pass's Olive words.

    ``type`` is the Olive pass type written on export and accepted on import (with ``aliases``).
    ``params`` maps an autotune parameter to the Olive key written on export; import accepts those
    keys and ``also_read`` (Olive key -> autotune parameter). ``optional`` parameters are written
    only when the trial has them. ``fixed`` keys are written with their first value; import accepts
    any of the values (any case) and refuses others. ``training_args`` maps an autotune parameter
    to its key in Olive's ``training_args`` (fine-tuning passes only), both ways. ``extra_options``
    maps an autotune parameter to its key in the pass's ``extra_options`` dict (handed verbatim to
    the tool Olive wraps), written only when it differs from the parameter's default; ``values``
    translates a parameter's values into the tool's words, both ways. ``dropped`` names the
    parameters Olive has no word for that may be left out, with why it is harmless; any other
    parameter Olive cannot express makes the export refuse a trial that moves it off its default.
    ``olive_defaults`` are the values Olive's pass takes for keys a config omits (an import uses
    them, so that a config runs as Olive would run it); ``differences`` say what autotune does
    otherwise whatever the config says, printed as warnings on import.
    """

    type: str
    aliases: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    also_read: Mapping[str, str] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    training_args: Mapping[str, str] = field(default_factory=dict)
    extra_options: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    dropped: Mapping[str, str] = field(default_factory=dict)
    # what Olive's pass uses for a parameter its config leaves out (imports take these, not ours)
    olive_defaults: Mapping[str, Any] = field(default_factory=dict)
    # what autotune does differently from Olive's pass, whatever the config says (import warns)
    differences: tuple[str, ...] = ()

    @property
    def written(self) -> frozenset[str]:
        """The autotune parameters an exported config carries."""
        extra = {"max_length"} if self.fine_tunes else set()  # the data config's max_seq_len
        return frozenset({*self.params, *self.extra_options, *self.training_args, *extra})

    @property
    def types(self) -> tuple[str, ...]:
        """The Olive pass types accepted on import."""
        return (self.type, *self.aliases)

    @property
    def read(self) -> dict[str, str]:
        """Olive key -> autotune parameter, for import."""
        return {
            **{key: name for name, key in self.params.items()},
            **{key: name for name, key in self.extra_options.items()},
            **self.also_read,
        }

    def to_olive(self, param: str, value: object) -> object:
        """``value`` of ``param`` in the wrapped tool's words."""
        return self.values.get(param, {}).get(str(value), value)

    def from_olive(self, param: str, value: object) -> object:
        """An Olive value of ``param`` back in autotune's words."""
        back = {v: k for k, v in self.values.get(param, {}).items()}
        return back.get(str(value), value) if not isinstance(value, (list, dict)) else value

    @property
    def fine_tunes(self) -> bool:
        """Whether this pass trains on the task data (it has ``training_args``)."""
        return bool(self.training_args)
