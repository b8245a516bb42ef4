"""Bounds on data a run controls: nesting depth, integer digits, duplicate keys; names shown cut short.

A notebook (or whoever edited a downloaded dossier) controls these bytes, so readers refuse what would make
gerhard slow, ambiguous or crash. The JSON reader (formats.parsing) and the YAML reader (formats.yamlio)
share these.

Nesting is measured on the text, before any parser sees it: parsers recurse once a level, and the C ones
(libyaml's composer) crash the process on a deep enough text instead of raising. The measure is cheap
where the text cannot be deep (fewer brackets than levels allowed, for JSON) and exact where it could be.
"""

from __future__ import annotations

import re
from typing import Any


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


def check_int_digits(count: int, holder: str = "a bundle file") -> None:
    if count > MAX_INT_DIGITS:
        raise Unreadable(
            f"holds an integer of {count} digits, over the {MAX_INT_DIGITS} {holder} may hold: write it as a string"
        )


def too_deep() -> Unreadable:
    return Unreadable(f"nests lists and mappings deeper than {MAX_DATA_DEPTH} levels: flatten it")


_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_STRING = re.compile(rb'"[^"]*"')
_CURLY_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def check_json_depth(data: str | bytes) -> None:
    """Refuse (Unreadable) JSON nested deeper than MAX_DATA_DEPTH, before a parser sees it. With fewer
    opening brackets than that it cannot be. Else only the brackets outside strings are kept (escapes
    dropped, then all but quotes and brackets, then strings), and MAX_DATA_DEPTH rounds of removing
    innermost pairs leave nothing unless it is deeper (or unbalanced: then they are counted)."""
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= MAX_DATA_DEPTH:
            return
        raw = data.encode("utf-8", "surrogatepass")
    elif data.count(b"[") + data.count(b"{") <= MAX_DATA_DEPTH:
        return
    else:
        raw = data
    # Escaped backslashes, then escaped quotes, go (a backslash left before any other character starts an
    # escape without quotes or brackets in valid JSON; in invalid JSON it only keeps more brackets counted);
    # bytes.replace is 7x a regex's sub on a dossier's bundle block, whose embedded JSON texts escape every quote.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = unescaped.translate(None, _NOT_STRUCTURE).replace(b'""', b"")  # most strings go here
    nests = _STRING.sub(b"", kept).translate(_CURLY_AS_SQUARE)
    rest = nests
    for _ in range(MAX_DATA_DEPTH):
        rest = rest.replace(b"[]", b"")
        if not rest:
            return
    depth = 0
    for c in nests:
        depth += 1 if c == ord("[") else -1
        if depth > MAX_DATA_DEPTH:
            raise too_deep()
