"""How a pass is named in a Microsoft Olive workflow config, declared next to the pass.

autotune.olive reads these declarations from the pass registry when it imports or exports a
config; a pass without one cannot be exported to Olive (the export says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["OliveMapping"]


@dataclass(frozen=True)
class OliveMapping:
    """A pass's Olive words.

    ``type`` is the Olive pass type written on export and accepted on import (with ``aliases``).
    ``params`` maps an autotune parameter to the Olive key written on export; import accepts those
    keys and ``also_read`` (Olive key -> autotune parameter). ``optional`` parameters are written
    only when the trial has them. ``fixed`` keys are written with their first value; import accepts
    any of the values (any case) and refuses others. ``training_args`` maps an autotune parameter
    to its key in Olive's ``training_args`` (fine-tuning passes only), both ways.
    """

    type: str
    aliases: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    also_read: Mapping[str, str] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    training_args: Mapping[str, str] = field(default_factory=dict)

    @property
    def types(self) -> tuple[str, ...]:
        """The Olive pass types accepted on import."""
        return (self.type, *self.aliases)

    @property
    def read(self) -> dict[str, str]:
        """Olive key -> autotune parameter, for import."""
        return {**{key: name for name, key in self.params.items()}, **self.also_read}

    @property
    def fine_tunes(self) -> bool:
        """Whether this pass trains on the task data (it has ``training_args``)."""
        return bool(self.training_args)
