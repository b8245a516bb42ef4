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
from gerhard.formats.bounds import MAX_INT_DIGITS, Unreadable, bounded_int, check_json_depth, too_deep, unique_keys
from gerhard.formats.yamlio import load_plain_yaml


def parse_artifact(name: str, data: bytes, json_file: bool = False) -> Any:
    """Parse a JSON (or json_file) or YAML artifact, bounded; the error names the file and what is wrong."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BundleError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start}): re-export it as UTF-8") from None
    if json_file or name.endswith(".json"):
        return parse_json(text, name)
    if name.endswith((".yaml", ".yml")):
        return load_plain_yaml(text, name)
    return text


def parse_json(text: str, name: str) -> Any:
    """Strict, bounded JSON: each key once per object, at most MAX_DATA_DEPTH deep, integers of at most
    MAX_INT_DIGITS digits. NaN and Infinity stay accepted: a diverged run logs a NaN loss, the gates say so."""
    try:
        check_json_depth(text)  # on the text: the parser recurses once a level
        # An integer over MAX_INT_DIGITS is a run of that many digits: without one, no hook (a call per integer).
        ints = bounded_int if may_hold_long_int(text) else None
        data = json.loads(text, object_pairs_hook=unique_keys, parse_int=ints)
    except json.JSONDecodeError as e:
        raise BundleError(f"{name} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except Unreadable as e:
        raise BundleError(f"{name} {e}") from None
    except RecursionError:  # not expected after check_json_depth; never a crash all the same
        raise BundleError(f"{name} {too_deep()}") from None
    return data


_DIGITS_AS_ZERO = bytes(ord("0") if c in b"0123456789" else ord(" ") for c in range(256))


def may_hold_long_int(text: str) -> bool:
    """Has the text a run of more than MAX_INT_DIGITS digits (in a number or not)? A millisecond a MB."""
    return b"0" * (MAX_INT_DIGITS + 1) in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


def parse_seed(data: bytes) -> int:
    text = data.decode("utf-8", errors="replace").strip()
    if not re.fullmatch(r"-?[0-9]{1,20}", text):
        raise BundleError(f"seed.txt must hold one integer, found {text[:40]!r}: write the seed the run used")
    return int(text)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
