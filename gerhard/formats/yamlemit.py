"""A small, fast YAML emitter for the plain data gerhard writes (run records, state files).

ruamel's pure-Python emitter is most of what a registration costs. The data gerhard writes is
plain (dicts with string keys, lists, strings, numbers, booleans, None), so it is emitted here in
ruamel's block style. Every text is checked by loading it back with ruamel (C loader where
installed); whatever does not read back as exactly the same data returns None, and the caller
falls back to ruamel. Correctness never depends on this module's quoting rules being complete.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

_INDICATORS = set("#,[]{}&*!|>'\"%@` ")  # '-', '?', ':' lead a plain scalar unless a space follows
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
# Plain scalars YAML would read as something other than a string: numbers, bools, null, dates.
_IMPLICIT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|0[oxb][0-9a-fA-F_]+|true|True|TRUE|false|False|FALSE"  # YAML 1.2: 'yes' and 'on' are text
    r"|(?:null|Null|NULL|~)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?|=|<<"
)


class _Unsure(Exception):
    """The data holds something this emitter does not write; ruamel will."""


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text or "inf" in text:
            raise _Unsure
        return text
    if type(value) is str:
        written = _string(value) if len(value) <= 100 else _string.__wrapped__(value)
        if written is not None:
            return written
    raise _Unsure


@functools.lru_cache(maxsize=4096)  # keys and many values recur in every record: each string judged once
def _string(value: str) -> str | None:
    if _plain_ok(value):
        return value
    if value.isprintable() and "'" not in value:
        return f"'{value}'"
    if value.isprintable() and not any(c in value for c in '"\\'):
        return f'"{value}"'  # ruamel's choice when the text has an apostrophe
    return None


def _plain_ok(text: str) -> bool:
    """May this string be written without quotes in block context (YAML's own rules, simplified
    to the safe side: ASCII, no leading indicator, no ': ' or ' #', not read as another type)?"""
    return bool(
        _PRINTABLE_ASCII.fullmatch(text)
        and text[0] not in _INDICATORS
        and not (text[0] in "-?:" and text[1:2] in ("", " "))
        and text[-1] not in " :"
        and not text.startswith(("---", "..."))  # document markers: ruamel quotes them at any depth
        and ": " not in text
        and " #" not in text
        and not _IMPLICIT.fullmatch(text)
    )


def _lines(data: Any, indent: int, out: list[str]) -> None:
    """Append the block lines of a mapping at `indent` spaces (sequences: dash at indent + 2)."""
    pad = " " * indent
    for key, value in data.items():
        if type(key) is not str:
            raise _Unsure
        head = f"{pad}{_scalar(key)}:"
        if type(value) is dict and value:
            out.append(head)
            _lines(value, indent + 2, out)
        elif type(value) is list and value:
            out.append(head)
            _sequence(value, indent + 2, out)
        elif type(value) in (dict, list):
            out.append(f"{head} {'{}' if type(value) is dict else '[]'}")
        else:
            out.append(f"{head} {_scalar(value)}")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if type(item) is dict and item:
            start = len(out)
            _lines(item, indent + 2, out)
            out[start] = f"{pad}- {out[start][indent + 2 :]}"
        elif type(item) in (dict, list):
            if item:  # a list directly in a list
                raise _Unsure
            out.append(f"{pad}- {'{}' if type(item) is dict else '[]'}")
        else:
            out.append(f"{pad}- {_scalar(item)}")


def emit(data: Any, loaded_from: str | None = None) -> str | None:
    """YAML text for a plain mapping, or None when this emitter is not sure of it (ruamel's
    commented containers included: their comments are ruamel's to keep). `loaded_from`: the text
    `data` was read from; emitting exactly that text needs no reading back."""
    text = render(data)
    if text is None:
        return None
    return text if text == loaded_from or _reads_back(text, data) else None


def render(data: Any) -> str | None:
    """The block YAML of a plain mapping, not read back (None when this emitter is not sure of it):
    gerhard.formats.yamlfast compares it with a text to prove how that text reads."""
    if type(data) is not dict or not data:
        return None
    out: list[str] = []
    try:
        _lines(data, 0, out)
    except _Unsure:
        return None
    return "\n".join(out) + "\n"


def _reads_back(text: str, data: Any) -> bool:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        loaded = YAML(typ="safe").load(text)
    except (YAMLError, ValueError):  # ValueError: a key YAML reads as a number it cannot build ('-_')
        return False
    return same(loaded, data)


def same(a: Any, b: Any) -> bool:
    """Equal as data and as types (1 is not 1.0 nor True), with NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)
