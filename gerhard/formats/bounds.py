"""Bounds on data a run controls: nesting depth, integer digits, duplicate keys; names shown cut short.

A notebook (or whoever edited a downloaded dossier) controls these bytes, so readers refuse what would make
gerhard slow, ambiguous or crash. The JSON reader (formats.parsing) and the YAML reader (formats.yamlio)
share these.
"""

from __future__ import annotations

from typing import Any

from gerhard.errors import BundleError


def shown(text: str) -> str:
    """A name as an error shows it: quoted, and cut short when a forged one is huge."""
    return repr(text) if len(text) <= 160 else repr(text[:160]) + "…"


MAX_DATA_DEPTH = 64  # lists and mappings in each other; deeper would overflow the stack of whoever walks it


MAX_INT_DIGITS = 300  # Python refuses to read an integer of over 4300 digits with a ValueError; no run needs 300


class Unreadable(Exception):
    """Raised inside a parser's hooks, which do not know the file's name; the parser adds it."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) == len(pairs):
        return doc
    seen: set[str] = set()  # readers disagree on which of two keys wins: the file would be ambiguous
    for key, _ in pairs:
        if key in seen:
            raise Unreadable(f"has the key {shown(key)} twice in one object: keep one of them")
        seen.add(key)
    raise AssertionError("unreachable: a dict shorter than its pairs has a repeated key")


def bounded_int(digits: str) -> int:
    check_int_digits(len(digits.lstrip("+-")))
    return int(digits)


def check_int_digits(count: int) -> None:
    if count > MAX_INT_DIGITS:
        raise Unreadable(
            f"holds an integer of {count} digits, over the {MAX_INT_DIGITS} a bundle file may hold: "
            "write it as a string"
        )


def too_deep() -> Unreadable:
    return Unreadable(f"nests lists and mappings deeper than {MAX_DATA_DEPTH} levels: flatten it")


def check_depth(data: Any, name: str) -> None:
    """Refuse data nested deeper than MAX_DATA_DEPTH (JSON shares nothing, so a plain walk is enough)."""
    if _deeper_than(data, MAX_DATA_DEPTH):
        raise BundleError(f"{name} {too_deep()}")


def _deeper_than(node: Any, levels: int) -> bool:
    if not isinstance(node, (dict, list)):
        return False
    if levels == 0:
        return True
    children = node.values() if isinstance(node, dict) else node
    return any(_deeper_than(child, levels - 1) for child in children if isinstance(child, (dict, list)))
