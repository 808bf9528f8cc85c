"""``autotune cp SPACE DEST``: copy a shipped space with its data, to edit it."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["cmd_cp"]


def cmd_cp(argv: list[str]) -> int:
    from autotune.load.copy_space import copy_space, list_shipped

    p = argparse.ArgumentParser(
        prog="autotune cp",
        description="Copy a shipped space, with the data it refers to, to edit it: autotune cp phi3 "
        "spaces/phi3.yaml, then autotune --space spaces/phi3.yaml.",
    )
    p.add_argument("space", nargs="?", help="a shipped space's name (autotune cp --list)")
    p.add_argument("dest", nargs="?", type=Path, help="the copy: a .yaml file, or a folder")
    p.add_argument("--list", action="store_true", help="list the shipped spaces")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    args = p.parse_args(argv)
    if args.list:
        for name, description in list_shipped():
            print(f"{name:24} {description}")
        return 0
    if args.space is None or args.dest is None:
        p.error("give SPACE and DEST, or --list")
    written = copy_space(args.space, args.dest, force=args.force)
    also = f" with {', '.join(map(str, written[1:]))}" if written[1:] else ""
    print(f"copied {args.space} to {written[0]}{also}")
    print(f"  edit it, then: autotune validate {written[0]} && autotune --space {written[0]}")
    return 0
