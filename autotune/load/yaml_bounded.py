"""YAML read with a bound on what its aliases expand to.

A "billion laughs" file (``b: &b [*a, *a, ...]`` nested a few levels) composes to a few hundred
nodes but expands to billions once anything walks it: the space's line index, the override
merge, the schema. Its expanded size is counted on the composed nodes, each counted once, and
refused above ``MAX_NODES`` before anything is built from it; an alias inside its own anchor
(a cycle) is refused too.
"""

from __future__ import annotations

from typing import Any

import yaml

from autotune.errors import SpaceError

__all__ = ["MAX_NODES", "load_yaml"]

# Far above any space (the shipped ones have a few hundred nodes), far below what hurts.
MAX_NODES = 100_000


class _Unbounded(Exception):
    """The document expands past MAX_NODES, or an alias is inside its own anchor."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many nodes ``node`` is once its aliases are written out (each shared node counted
    once into ``sizes``); _Unbounded past MAX_NODES or on a cycle."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise _Unbounded("an alias refers to a node that contains it")
    open_.add(key)
    total = 1 + sum(_expanded(child, sizes, open_) for child in _children(node))
    open_.discard(key)
    if total > MAX_NODES:
        raise _Unbounded(f"its aliases expand it to more than {MAX_NODES} values")
    sizes[key] = total
    return total


def load_yaml(text: str, where: str) -> tuple[yaml.Node | None, Any]:
    """The composed node (for line numbers) and the value of the YAML document ``text``.

    A malformed document raises yaml.YAMLError; one whose aliases expand past MAX_NODES, or
    refer to themselves, or nested too deeply to read, a SpaceError led by ``where``.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _expanded(node, {}, set())
        return node, loader.construct_document(node)
    except _Unbounded as exc:
        raise SpaceError(f"{where}: {exc}; write the values out instead of repeating aliases") from None
    except RecursionError:
        raise SpaceError(f"{where}: nested too deeply to read; flatten the document") from None
    finally:
        loader.dispose()
