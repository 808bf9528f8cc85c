"""What an ORT GenAI folder's genai_config.json says, read without loading the runtime."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["provider_options"]


def provider_options(path: Path, provider: str) -> dict[str, str]:
    """The options genai_config.json gives ``provider`` in the decoder's session options."""
    try:
        decoder = json.loads((path / "genai_config.json").read_text())["model"]["decoder"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    entries = decoder.get("session_options", {}).get("provider_options", [])
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get(provider), dict):
            return {str(k): str(v) for k, v in entry[provider].items()}
    return {}
