"""Bundle artifacts parsed strictly and within bounds: JSON and YAML from a run, seed.txt, numbers.

A notebook (or whoever edited a downloaded dossier) controls these bytes, so parsing refuses what
would make gerhard slow, ambiguous or crash: duplicate keys, nesting deeper than MAX_DATA_DEPTH,
integers longer than MAX_INT_DIGITS, YAML aliases that expand past a bound (gerhard.formats.yamlio).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from gerhard.errors import BundleError


def shown(text: str) -> str:
    """A name as an error shows it: quoted, and cut short when a forged one is huge."""
    return repr(text) if len(text) <= 160 else repr(text[:160]) + "…"


def parse_artifact(name: str, data: bytes, json_file: bool = False) -> Any:
    """Parse a JSON (or json_file) or YAML artifact, bounded; the error names the file and what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start}): re-export it as UTF-8") from None
    if json_file or name.endswith(".json"):
        return parse_json(text, name)
    if name.endswith((".yaml", ".yml")):
        from gerhard.formats.yamlio import load_plain_yaml

        return load_plain_yaml(text, name)
    return text


MAX_DATA_DEPTH = 64  # lists and mappings in each other; deeper would overflow the stack of whoever walks it
MAX_INT_DIGITS = 300  # Python refuses to read an integer of over 4300 digits with a ValueError; no run needs 300


class Unreadable(Exception):
    """Raised inside a parser's hooks, which do not know the file's name; the parser adds it."""


def parse_json(text: str, name: str) -> Any:
    """Strict, bounded JSON: each key once per object, at most MAX_DATA_DEPTH deep, integers of at most
    MAX_INT_DIGITS digits. NaN and Infinity stay accepted: a diverged run logs a NaN loss, the gates say so."""
    try:
        data = json.loads(text, object_pairs_hook=unique_keys, parse_int=bounded_int)
    except json.JSONDecodeError as e:
        raise BundleError(f"{name} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except Unreadable as e:
        raise BundleError(f"{name} {e}") from None
    except RecursionError:
        raise BundleError(f"{name} {too_deep()}") from None
    check_depth(data, name)
    return data


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


def parse_seed(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").strip()
    if not re.fullmatch(r"-?[0-9]{1,20}", text):
        raise BundleError(f"seed.txt must hold one integer, found {text[:40]!r}: write the seed the run used")
    return int(text)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
