"""metrics.json's per-step history: vouch for rows that certainly satisfy the schema, without jsonschema.

jsonschema takes about 25 ms per 1,000 history rows, and 10,000-step histories are common, so
`schemas.validate` checks the rows here and leaves the rest of the document to jsonschema. This
check only ever says "certainly valid"; anything else (an error, or a valid but unusual row such as
`"step": 5.0`) goes to jsonschema with the whole document, which alone judges and words errors.
"""

from __future__ import annotations

from typing import Any

# The history row schema `rows_certainly_valid` stands in for. `covers` turns the fast path off for
# any schema whose history differs, and tests/test_metrics_history.py fails if the shipped one does.
ROW_SCHEMA = {
    "type": "object",
    "required": ["step"],
    "properties": {"step": {"type": "integer", "minimum": 0}},
    "additionalProperties": {"type": ["number", "null"]},
}

# Top-level keywords that look at `history` only through properties.history (or not at all), so
# the rest of a document can be validated with `history` emptied.
_KEYWORDS_BLIND_TO_HISTORY = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "type", "required", "properties", "additionalProperties"}
)
_ANNOTATIONS = frozenset({"title", "description", "$comment"})
_NUMBER_OR_NULL = frozenset({int, float, type(None)})  # exact types: bool and other subclasses go to jsonschema


def covers(schema: Any) -> bool:
    """Whether `schema` requires of `history` exactly an array of ROW_SCHEMA rows, and nothing more."""
    if not isinstance(schema, dict) or not set(schema) <= _KEYWORDS_BLIND_TO_HISTORY:
        return False
    properties = schema.get("properties")
    history = properties.get("history") if isinstance(properties, dict) else None
    if not isinstance(history, dict):
        return False
    return {k: v for k, v in history.items() if k not in _ANNOTATIONS} == {"type": "array", "items": ROW_SCHEMA}


def rows_certainly_valid(history: Any) -> bool:
    """True only if `history` is a list of rows that satisfy ROW_SCHEMA: a dict of string keys, a
    non-negative int `step`, every value an int, a float (NaN and infinities too) or None."""
    if type(history) is not list:
        return False
    for row in history:
        if type(row) is not dict:
            return False
        step = row.get("step")
        if type(step) is not int or step < 0:
            return False
        for key, value in row.items():
            if type(key) is not str or type(value) not in _NUMBER_OR_NULL:
                return False
    return True
