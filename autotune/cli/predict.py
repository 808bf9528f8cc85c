"""``autotune predict --model DIR PHRASE...``: answer with an exported model."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["cmd_predict"]


def cmd_predict(argv: list[str]) -> int:
    from autotune.export.predict import predict

    p = argparse.ArgumentParser(
        prog="autotune predict", description="Classify phrases with an exported model."
    )
    p.add_argument("--model", type=Path, required=True, help="an exported folder (autotune export)")
    p.add_argument("phrases", nargs="+", help="phrase(s) to classify")
    args = p.parse_args(argv)
    for phrase, label in zip(args.phrases, predict(args.model, args.phrases), strict=True):
        print(label if len(args.phrases) == 1 else f"{label}\t{phrase}")
    return 0
