"""YAML in and out: plain loads for bundle files, round-trip loads and dumps for state files."""

from __future__ import annotations

import copy
import functools
import io
import math
from collections.abc import Callable
from typing import Any

from gerhard.errors import BundleError, StateError


def _safe() -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe")


def round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments and key order survive
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.representer.ignore_aliases = lambda *args: True  # state files stay plain: no &anchors
    from ruamel.yaml.scalarfloat import ScalarFloat

    yaml.representer.yaml_representers = {**yaml.representer.yaml_representers, ScalarFloat: _represent_read_float}
    return yaml


def _represent_read_float(representer: Any, data: Any) -> Any:
    """A float read back from a state file. ruamel re-formats it from the width it remembers and can
    change its last digit (5.960464477539063e-08 → ...062e-08): write Python's exact repr instead when
    the text is not exact, or has the repr's notation and width (so gerhard wrote it). A human's own
    formatting (3.0e-4, 1.50) that reads back exactly is kept."""
    node = type(representer).represent_scalar_float(representer, data)
    if not math.isfinite(data):
        return node
    plain = representer.represent_data(float(data))
    same_form = len(node.value) == len(plain.value) and ("e" in node.value.lower()) == ("e" in plain.value.lower())
    return plain if same_form or float(node.value) != float(data) else node


def load_plain_yaml(text: str, name: str) -> Any:
    from ruamel.yaml import YAMLError

    try:
        return _safe().load(text)
    except YAMLError as e:
        raise BundleError(f"{name} is not valid YAML: {_first_line(e)}") from None


def load_state_yaml(text: str, name: str) -> Any:
    """Round-trip load of a state file (keeps comments); corrupt YAML is a StateError.

    Parses are cached by text and every caller gets its own deep copy (a tenth of a parse's cost)."""
    return copy.deepcopy(_state_parse(_parse_round_trip, text, name))


def read_state_yaml(text: str, name: str) -> Any:
    """The plain data of a state file, for reading only: the C loader when it is installed (six times
    faster than the round trip; same YAML 1.2 rules), cached by text, a fresh copy for each caller."""
    return to_plain(_state_parse(_parse_safe, text, name))


def _state_parse(parse: Callable[[str], Any], text: str, name: str) -> Any:
    from ruamel.yaml import YAMLError

    try:
        return parse(text)
    except YAMLError as e:
        raise StateError(
            f"{name} is not valid YAML ({_first_line(e)}): fix it by hand or restore it with git checkout"
        ) from None


@functools.lru_cache(maxsize=16)
def _parse_safe(text: str) -> Any:
    return _safe().load(text)  # shared: read_state_yaml hands out copies


@functools.lru_cache(maxsize=16)
def _parse_round_trip(text: str) -> Any:
    return round_trip().load(text)  # shared: load_state_yaml hands out deep copies


def dump_yaml(data: Any) -> str:
    """Block-style YAML: the fast emitter for plain data, ruamel for the rest (comments included)."""
    from gerhard.yamlemit import emit

    fast = emit(data)
    if fast is not None:
        return fast
    buf = io.StringIO()
    round_trip().dump(data, buf)
    return buf.getvalue()


def merge_plain(old: Any, new: Any) -> Any:
    """merge_into for plain data: new values win, keys only `old` has stay, in old's order."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    merged = dict(old)
    for key, value in new.items():
        merged[key] = merge_plain(old[key], value) if key in old and isinstance(old[key], dict) else value
    return merged


def merge_into(target: Any, new: Any) -> Any:
    """Update a round-trip mapping in place with new values, keeping keys and comments a human added."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(target, CommentedMap) or not isinstance(new, dict):
        return new
    for key, value in new.items():
        if key in target and isinstance(target[key], CommentedMap) and isinstance(value, dict):
            merge_into(target[key], value)
        elif key not in target or target[key] != value:
            target[key] = value
    return target


def to_plain(data: Any) -> Any:
    """ruamel's commented containers → plain dicts and lists (for JSON output and comparisons)."""
    if isinstance(data, dict):
        return {str(k): to_plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_plain(v) for v in data]
    return data


def _first_line(e: Exception) -> str:
    return " ".join(str(e).split())[:200]
