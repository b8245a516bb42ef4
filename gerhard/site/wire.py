"""What the page reads: plain values as strict JSON, wrapped in script files a `file://` page can load.

A page opened from `file://` may not fetch() its own files, but it may run `<script src>` from beside
it, so every data file is a script that hands one JSON document to `GERHARD.load(kind, key, ...)`.
JSON is a JavaScript literal: nothing in it is ever code, and the page puts every text in the DOM as text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

NONFINITE = "$nonfinite"  # {"$nonfinite": "nan" | "inf" | "-inf"}: JSON has no NaN, and "nan" is a string


def to_wire(value: Any) -> Any:
    """Plain JSON: non-finite floats tagged, tuples as lists, keys as strings, dates and the rest as text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {NONFINITE: str(value)}
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def dumps(data: Any, ascii: bool = False) -> str:
    """Strict JSON of plain data; to_wire tags values only when the fast path meets one it must tag."""
    try:
        return json.dumps(data, ensure_ascii=ascii, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError):  # a NaN, an infinity, a date
        return json.dumps(to_wire(data), ensure_ascii=ascii, allow_nan=False, separators=(",", ":"))


def _head(kind: str, key: str) -> str:
    return f"GERHARD.load({json.dumps(kind)},{json.dumps(key)},"


def script(kind: str, key: str, data: Any) -> str:
    """The text of a data file: one call of GERHARD.load with the document as a JSON literal (JSON is
    JavaScript; ASCII keeps U+2028 and U+2029 escaped for any engine)."""
    return f"{_head(kind, key)}{dumps(data, ascii=True)});\n"


def read_script(text: str, kind: str, key: str) -> Any:
    """The document of a data file `script` wrote (the build reads its own output back as its cache)."""
    head = _head(kind, key)
    if not text.startswith(head) or not text.endswith(");\n"):
        raise ValueError("not a data file of this build")
    return json.loads(text[len(head) : -3])


def members_script(kind: str, key: str, members: dict[str, str]) -> str:
    """A data file whose document is an object of JSON texts already encoded (as `dumps(..., ascii=True)`
    writes them), one member a line in key order: a build rewrites some members of it without decoding
    the others (read_members)."""
    body = ",\n".join(f"{json.dumps(k)}:{members[k]}" for k in sorted(members))
    return f"{_head(kind, key)}{{\n{body}\n}});\n"


def read_members(text: str, kind: str, key: str) -> dict[str, str]:
    """The members of a data file `members_script` wrote, their values left encoded."""
    head = f"{_head(kind, key)}{{\n"
    if not text.startswith(head) or not text.endswith("\n});\n"):
        raise ValueError("not a data file of this build")
    decoder, members = json.JSONDecoder(), {}
    for line in text[len(head) : -len("\n});\n")].split("\n"):
        name, end = decoder.raw_decode(line)
        if not isinstance(name, str) or line[end : end + 1] != ":":
            raise ValueError("not a data file of this build")
        members[name] = line[end + 1 :].removesuffix(",")
    return members
