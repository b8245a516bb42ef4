"""A small JSON Schema subset that vouches for valid documents without importing jsonschema.

`certainly_valid(schema, data, reader)` is True only when the schema uses nothing but the keywords
below and the data satisfies them with exact types (an integer written 5.0, valid to jsonschema, is
left to it). False means "not known": the caller gives jsonschema the whole document, so what is
refused, and how the error reads, stays exactly what jsonschema says. Importing jsonschema cost a
registration about 40 ms, for the bundle files and state files every run has (issue 19).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default"})
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}
_MIGHT_BE = _TYPES | {"integer": (int, float)}  # 5.0 is an integer to jsonschema
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Reader:
    """How the validator reads what a schema names: `regex` compiles a `pattern` as it does
    (schemas.whole_text_regex); `refs` holds the documents a `$ref` may name, by the exact string."""

    regex: Callable[[str], re.Pattern[str]]
    refs: Mapping[str, Any] = field(default_factory=dict)


def certainly_valid(schema: Any, data: Any, reader: Reader) -> bool:
    """True only if `data` is valid against `schema` (False: not known)."""
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "additionalProperties":
            if not _additional(value, schema.get("properties", {}), data, reader):
                return False
            continue
        check = _KEYWORDS.get(keyword)
        if check is None or not check(value, data, reader):
            return False
    return True


def _type(value: Any, data: Any, reader: Reader) -> bool:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(name in _TYPES for name in names):
        return False
    return any(type(data) in _TYPES[name] for name in names)  # type(): a bool is no number here


def _properties(value: Any, data: Any, reader: Reader) -> bool:
    if not isinstance(value, dict):
        return False
    if not isinstance(data, dict):
        return True  # properties apply to objects only
    return all(certainly_valid(sub, data[name], reader) for name, sub in value.items() if name in data)


def _additional(value: Any, named: Any, data: Any, reader: Reader) -> bool:
    """additionalProperties: the keys "properties" does not name (patternProperties is not read here,
    so a schema with it is not known)."""
    if value is True or not isinstance(data, dict):
        return True
    if not isinstance(named, dict):
        return False
    if value is False:
        return all(k in named for k in data)
    return all(certainly_valid(value, v, reader) for k, v in data.items() if k not in named)


def _required(value: Any, data: Any, reader: Reader) -> bool:
    return isinstance(value, list) and (not isinstance(data, dict) or all(name in data for name in value))


def _items(value: Any, data: Any, reader: Reader) -> bool:
    if not isinstance(value, dict | bool):
        return False
    return not isinstance(data, list) or all(certainly_valid(value, item, reader) for item in data)


def _count(kind: type, of: Callable[[Any], int]) -> Callable[[Any, Any, Reader], bool]:
    def check(value: Any, data: Any, reader: Reader) -> bool:
        return type(value) is int and (type(data) is not kind or of(data) >= value)

    return check


def _minimum(value: Any, data: Any, reader: Reader) -> bool:
    if type(value) not in (int, float):
        return False
    return type(data) not in (int, float) or data >= value  # NaN: not known


def _pattern(value: Any, data: Any, reader: Reader) -> bool:
    return isinstance(value, str) and (type(data) is not str or reader.regex(value).search(data) is not None)


def _enum(value: Any, data: Any, reader: Reader) -> bool:
    return (
        isinstance(value, list) and type(data) in _SCALARS and any(type(e) is type(data) and e == data for e in value)
    )


def _const(value: Any, data: Any, reader: Reader) -> bool:
    return type(value) in _SCALARS and type(data) is type(value) and data == value


def _ref(value: Any, data: Any, reader: Reader) -> bool:
    return isinstance(value, str) and value in reader.refs and certainly_valid(reader.refs[value], data, reader)


def _one_of(value: Any, data: Any, reader: Reader) -> bool:
    """Exactly one branch holds: one is vouched for, and every other one's "type" rules the data out."""
    if not isinstance(value, list):
        return False
    held = [branch for branch in value if certainly_valid(branch, data, reader)]
    return len(held) == 1 and all(branch is held[0] or _rules_out(branch, data) for branch in value)


def _rules_out(schema: Any, data: Any) -> bool:
    names = schema.get("type") if isinstance(schema, dict) else None
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(name in _TYPES for name in names):
        return False
    return not any(type(data) in _MIGHT_BE[name] for name in names)


_KEYWORDS: dict[str, Callable[[Any, Any, Reader], bool]] = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "items": _items,
    "minProperties": _count(dict, len),
    "minItems": _count(list, len),
    "minLength": _count(str, len),
    "minimum": _minimum,
    "pattern": _pattern,
    "enum": _enum,
    "const": _const,
    "$ref": _ref,
    "oneOf": _one_of,
}
