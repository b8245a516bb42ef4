"""State files gerhard wrote, read fast and exactly: a few lines here read the block YAML that
gerhard.formats.yamlemit writes, and the reading is proven by rendering the data again with yamlemit,
which must give back the very text. About five times faster than ruamel's safe loader, whose Python
constructor and resolver are most of what reading ten thousand run records costs (`gerhard check`).

Why the proof holds: yamlemit writes a value plainly only when YAML 1.2 reads that text as the same
value (it quotes every string a reader would take for a number, a boolean, null or a date), so a text
it renders unchanged reads, under YAML 1.2 and ruamel, as the data it was rendered from. The reading
here may be naive: where it differs (`007`, `1e5`, an escape, a key in quotes), the data renders as
another text and the proof fails; so does anything a human added (a comment past the header, another
style, a duplicate key, an anchor). `plain_state` then returns None, and the caller reads the text with
ruamel as always.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from gerhard.formats.bounds import MAX_DATA_DEPTH
from gerhard.formats.yamlemit import render

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_WORDS: dict[str, Any] = {"null": None, "true": True, "false": False, "{}": {}, "[]": []}
_WORDS.update({".nan": float("nan"), ".inf": float("inf"), "-.inf": float("-inf")})


class _NotMine(Exception):
    """Not the block YAML yamlemit writes."""


def plain_state(text: str) -> dict[str, Any] | None:
    """The plain data of a state file gerhard wrote (a header of `#` lines, then yamlemit's block YAML),
    or None when it cannot be proven here."""
    body = _body(text)
    if body is None:
        return None
    try:
        lines = body.split("\n")[:-1]  # the body ends with a line end
        data, end = _mapping(lines, 0, 0, 1)
    except (_NotMine, ValueError, RecursionError):  # ValueError: an int of 4,300 digits and more
        return None
    return data if end == len(lines) and render(data) == body else None


def _body(text: str) -> str | None:
    """The text after its leading comment lines (the header gerhard writes), if it ends a line."""
    start = 0
    while text.startswith("#", start):
        start = text.find("\n", start) + 1
        if not start:
            return None
    return text[start:] if text.endswith("\n") and len(text) > start else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _mapping(lines: list[str], pos: int, indent: int, depth: int) -> tuple[dict[str, Any], int]:
    """The mapping whose keys start at column `indent` from line `pos`; the line after it. Deeper than
    MAX_DATA_DEPTH is not for this reader (ruamel's path measures it and says so)."""
    if depth > MAX_DATA_DEPTH:
        raise _NotMine
    out: dict[str, Any] = {}
    while pos < len(lines):
        line = lines[pos]
        at = len(line) - len(line.lstrip(" "))  # _indent, once a line
        if at < indent:
            break
        if at > indent:
            raise _NotMine
        key, sep, rest = line[indent:].partition(": ")
        pos += 1
        if sep:
            value = _scalar(rest)
        elif key.endswith(":") and pos < len(lines) and _indent(lines[pos]) > indent:
            key = key[:-1]
            nested = lines[pos][indent + 2 : indent + 4] == "- "
            if nested:
                value, pos = _sequence(lines, pos, indent + 2, depth + 1)
            else:
                value, pos = _mapping(lines, pos, indent + 2, depth + 1)
        else:
            raise _NotMine
        out[_scalar(key)] = value
    return out, pos


def _sequence(lines: list[str], pos: int, indent: int, depth: int) -> tuple[list[Any], int]:
    """The items of a sequence whose dashes are at column `indent`, from line `pos`."""
    if depth > MAX_DATA_DEPTH:
        raise _NotMine
    out: list[Any] = []
    while pos < len(lines) and _indent(lines[pos]) == indent and lines[pos][indent : indent + 2] == "- ":
        item = lines[pos][indent + 2 :]
        if item[:1] in "'\"" or (": " not in item and not item.endswith(":")):
            out.append(_scalar(item))
            pos += 1
            continue
        lines[pos] = " " * (indent + 2) + item  # a mapping item: its first key where the next ones start
        value, pos = _mapping(lines, pos, indent + 2, depth + 1)
        out.append(value)
    return out, pos


def _scalar(text: str) -> Any:
    if text == "{}" or text == "[]":
        return {} if text == "{}" else []  # a new container each time
    return _atom(text) if len(text) <= 100 else _atom.__wrapped__(text)


@functools.lru_cache(maxsize=4096)  # keys and many values recur in every record: each text read once
def _atom(text: str) -> Any:
    if text[:1] in "'\"":
        return text[1:-1]  # yamlemit quotes without escapes; anything else fails the proof
    if text in _WORDS:
        return _WORDS[text]
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text
