"""genai_config.json, the file ONNX Runtime GenAI's model builder writes: the one module that
knows its layout, read and written without loading a runtime.

The parts read here::

    {"model": {"context_length": int, "eos_token_id": int | [int, ...],
               "decoder": {"filename": "model.onnx", "num_hidden_layers": int,
                           "num_key_value_heads": int, "head_size": int,
                           "sliding_window": {"window_size": int, ...},
                           "inputs": {"input_ids": ..., "past_key_names": "past_key_values.%d.key", ...},
                           "session_options": {"intra_op_num_threads": int,
                                               "provider_options": [{"cuda": {"key": "value"}}, ...]}}}}

Readers of a setting (``provider_options``, ``intra_op_threads``, ``context_length``) give the
default when the file or the key is missing; readers of the graph's layout (``read_decoder``,
``eos_token_ids``) raise: OSError for an unreadable file, ``GenaiConfigError`` (a ValueError)
for a missing or mistyped key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "genai_config.json"


class GenaiConfigError(ValueError):
    """genai_config.json lacks a section or a key its reader needs; the message names both."""


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder graph's file (``filename``, relative to the folder), its input names by role
    (``inputs``: "input_ids", "attention_mask", "past_key_names" (a %d pattern over layers), ...)
    and the shape of its KV cache."""

    filename: str
    inputs: dict[str, str]
    num_hidden_layers: int
    num_key_value_heads: int
    head_size: int

    @property
    def past_names(self) -> tuple[str, str]:
        """The %d patterns of the past keys' and values' input names."""
        return self.inputs["past_key_names"], self.inputs["past_value_names"]


def _path(folder: Path) -> Path:
    return Path(folder) / CONFIG_FILE


def is_genai_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a model the builder wrote (its genai_config.json)."""
    return _path(folder).is_file()


def read_config(folder: Path) -> dict[str, Any]:
    """The whole of ``folder``'s genai_config.json (OSError, or ValueError for bad JSON)."""
    config = json.loads(_path(folder).read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise GenaiConfigError(f"{_path(folder)}: not a JSON object")
    return config


def _section(config: Mapping[str, Any], folder: Path, *keys: str) -> dict[str, Any]:
    node: Any = config
    for depth, key in enumerate(keys):
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise GenaiConfigError(f"{_path(folder)}: no {'.'.join(keys[: depth + 1])} section")
    out: dict[str, Any] = node
    return out


def _decoder(config: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    return _section(config, folder, "model", "decoder")


def read_decoder(folder: Path) -> DecoderConfig:
    """The decoder section of ``folder``'s genai_config.json, typed."""
    decoder = _decoder(read_config(folder), folder)
    where = f"{_path(folder)}: model.decoder"
    sizes: dict[str, int] = {}
    for key in ("num_hidden_layers", "num_key_value_heads", "head_size"):
        value = decoder.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise GenaiConfigError(f"{where}.{key} is missing or not an integer")
        sizes[key] = value
    filename, inputs = decoder.get("filename"), decoder.get("inputs")
    if not isinstance(filename, str) or not filename:
        raise GenaiConfigError(f"{where}.filename is missing")
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        raise GenaiConfigError(f"{where}.inputs is missing or not a mapping of names")
    missing = [k for k in ("past_key_names", "past_value_names") if k not in inputs]
    if missing:
        raise GenaiConfigError(f"{where}.inputs has no {missing[0]}")
    return DecoderConfig(filename, {str(k): v for k, v in inputs.items()}, **sizes)


def eos_token_ids(folder: Path) -> tuple[int, ...]:
    """Every EOS id of ``model.eos_token_id`` (one id or a list; none when absent)."""
    eos = _section(read_config(folder), folder, "model").get("eos_token_id")
    ids = eos if isinstance(eos, list) else [] if eos is None else [eos]
    return tuple(int(i) for i in ids)


def context_length(folder: Path) -> int | None:
    """``model.context_length`` in tokens (None if the file or a positive integer is missing)."""
    try:
        value: Any = read_config(folder)["model"]["context_length"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def sliding_window_section(folder: Path) -> dict[str, Any]:
    """``model.decoder.sliding_window`` as written ({} when the model has none)."""
    try:
        value: Any = read_config(folder)["model"]["decoder"]["sliding_window"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return dict(value) if isinstance(value, dict) else {}


def sliding_window(folder: Path) -> int:
    """``model.decoder.sliding_window.window_size`` in tokens (0 when the model has none).

    ONNX Runtime's attention keeps a local layer's KV cache as one buffer of the generator's
    ``max_length``, and refuses a buffer shorter than the window (Gemma 2 and 3, gpt-oss,
    Mistral with a window): a generator must be at least this long."""
    value = sliding_window_section(folder).get("window_size")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _session_options(folder: Path) -> dict[str, Any]:
    """The decoder's session options ({} where the file or a section is missing)."""
    try:
        options = _decoder(read_config(folder), folder).get("session_options", {})
    except (OSError, ValueError):
        return {}
    return options if isinstance(options, dict) else {}


def provider_options(folder: Path, provider: str) -> dict[str, str]:
    """The options genai_config.json gives ``provider`` in the decoder's session options."""
    entries = _session_options(folder).get("provider_options", [])
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get(provider), dict):
            return {str(k): str(v) for k, v in entry[provider].items()}
    return {}


def intra_op_threads(folder: Path) -> int:
    """intra_op_num_threads in the decoder's session options (0: ORT's default, also where the
    file or the key is missing or not a number)."""
    try:
        return int(_session_options(folder).get("intra_op_num_threads", 0))
    except (TypeError, ValueError):
        return 0


def _write_session_options(folder: Path, change: dict[str, Any]) -> dict[str, Any]:
    """Update the decoder's session options with ``change``, write the file back, and return
    the session options as written. GenaiConfigError when there is no model.decoder section."""
    config = read_config(folder)
    options = _decoder(config, folder).setdefault("session_options", {})
    if not isinstance(options, dict):
        raise GenaiConfigError(f"{_path(folder)}: model.decoder.session_options is not an object")
    options.update(change)
    _path(folder).write_text(json.dumps(config, indent=4) + "\n")
    return dict(options)


def set_intra_op_threads(folder: Path, threads: int) -> dict[str, Any]:
    """Write ``intra_op_num_threads`` into the decoder's session options; return the session
    options as written."""
    return _write_session_options(folder, {"intra_op_num_threads": threads})


def set_provider_options(folder: Path, provider: str, options: Mapping[str, str]) -> dict[str, str]:
    """Merge ``options`` into the entry of ``provider`` in the decoder's provider options (the
    entry is appended where there is none); return that provider's options as written."""
    entries = _session_options(folder).get("provider_options", [])
    entries = [dict(e) for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    entry = next((e for e in entries if isinstance(e.get(provider), dict)), None)
    if entry is None:
        entry = {provider: {}}
        entries.append(entry)
    entry[provider] = {**entry[provider], **{str(k): str(v) for k, v in options.items()}}
    _write_session_options(folder, {"provider_options": entries})
    return dict(entry[provider])
