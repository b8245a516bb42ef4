"""YAML in and out: plain loads for bundle files, round-trip loads and dumps for state files.

Every load is bounded before the parser composes anything (check_yaml_depth): libyaml's composer
recurses once a level and crashes the process on a deep enough text. Integers are measured before
Python reads them, and aliases are counted, in state files as in bundle files.
"""

from __future__ import annotations

import copy
import functools
import io
import math
import re
from collections.abc import Callable
from typing import Any

from gerhard.errors import BundleError, StateError
from gerhard.formats.bounds import MAX_DATA_DEPTH, Unreadable, check_int_digits, shown, too_deep
from gerhard.formats.yamlemit import emit, render, same
from gerhard.formats.yamlfast import plain_state


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


MAX_DATA_VALUES = 1_000_000  # values a bundle's YAML may stand for with its aliases expanded


def load_plain_yaml(text: str, name: str) -> Any:
    """A bundle file's YAML, bounded: integers of at most MAX_INT_DIGITS digits, at most MAX_DATA_DEPTH
    deep, and at most MAX_DATA_VALUES values with its aliases expanded (a billion laughs is refused
    after it is read, which costs what its text costs: ruamel builds each anchor once and shares it)."""
    from ruamel.yaml.error import YAMLError

    try:
        check_yaml_depth(text)
        data = _bounded_safe().load(text)
        check_aliases(data, MAX_DATA_VALUES)
    except YAMLError as e:
        raise BundleError(f"{name} is not valid YAML: {_first_line(e)}") from None
    except Unreadable as e:
        raise BundleError(f"{name} {e}") from None
    except RecursionError:
        raise BundleError(f"{name} {too_deep()}") from None
    except ValueError as e:  # a date that is not one (2026-02-30) and the like
        raise BundleError(f"{name} is not valid YAML: {_first_line(e)}") from None
    return data


def _bounded_safe() -> Any:
    yaml = _safe()
    yaml.Constructor = _bounded_constructor()
    return yaml


@functools.cache
def _bounded_constructor() -> type:
    """The safe constructor, but an integer literal is measured before Python reads it (one of over
    4300 digits would be a ValueError, and a long one is no run's number), and a duplicate key's
    error does not print its value."""
    from ruamel.yaml.constructor import SafeConstructor

    class BoundedConstructor(SafeConstructor):
        def construct_yaml_int(self, node: Any) -> int:
            check_int_literal(str(node.value))
            return super().construct_yaml_int(node)

        def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
            if key in mapping:  # ruamel's own message prints the value: a billion laughs, expanded
                line = key_node.start_mark.line + 1
                raise Unreadable(f"has the key {shown(str(key))} twice in one mapping (line {line}): keep one of them")
            return True

    BoundedConstructor.add_constructor("tag:yaml.org,2002:int", BoundedConstructor.construct_yaml_int)
    return BoundedConstructor


def check_int_literal(value: str, holder: str = "a bundle file") -> None:
    """A YAML integer's digits are counted before Python reads them (over 4300 is a ValueError)."""
    literal = value.replace("_", "").lstrip("+-")
    check_int_digits(len(literal) - 2 if literal[1:2] in ("x", "o", "b") else len(literal), holder)


@functools.cache
def _state_constructor(base: type) -> type:
    """A state file's constructor (safe or round trip) that measures an integer before reading it."""

    class StateConstructor(base):  # type: ignore[misc,unused-ignore]
        def construct_yaml_int(self, node: Any) -> Any:
            check_int_literal(str(node.value), "a state file")
            return super().construct_yaml_int(node)

    StateConstructor.add_constructor("tag:yaml.org,2002:int", StateConstructor.construct_yaml_int)
    return StateConstructor


# A block collection starts a line, after its indentation and indicators ('- ', '? ', ': '): so nesting
# in block style needs the line to begin with as many such characters (two levels a column at most).
_LINE_START = r"(?:\A|[\n\r\x85\u2028\u2029])"


@functools.cache
def _long_line_start(columns: int) -> re.Pattern[str]:
    return re.compile(_LINE_START + r"[ \t?:\-\ufeff]{" + str(columns) + "}")


def check_yaml_depth(text: str) -> None:
    """Refuse (Unreadable) YAML nested deeper than MAX_DATA_DEPTH before it is composed. Most texts are
    shown shallow by a cheap bound: a level in flow style needs a bracket (two levels with a one-pair
    mapping in it), and two levels in block style a column of indentation or indicators at a line's
    start. Where the bound does not show it, the parser's events (a loop, no recursion) are counted."""
    flow = text.count("[") + text.count("{")
    columns = MAX_DATA_DEPTH // 2 - 1 - flow  # depth <= 2 * (columns + 1) + 2 * flow
    if columns >= 0 and _long_line_start(columns + 1).search(text) is None:
        return
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    depth = 0
    for event in _safe().parse(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DATA_DEPTH:
                raise too_deep()
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def check_aliases(data: Any, limit: int) -> None:
    """Refuse data that holds itself, is nested deeper than MAX_DATA_DEPTH, or stands for more than
    `limit` values with its aliases expanded. Each shared part is measured once (a memo by id()),
    so a billion laughs is counted, never expanded."""
    _measure(data, 1, {}, set(), limit)


def _measure(node: Any, depth: int, memo: dict[int, tuple[int, int]], open_: set[int], limit: int) -> tuple[int, int]:
    """(values in node with aliases expanded, levels of lists and mappings in node)."""
    if not isinstance(node, (dict, list, tuple, set)):  # tuples and sets: !!omap, !!pairs, !!set
        return 1, 0
    if id(node) not in memo:
        if id(node) in open_:
            raise Unreadable("holds itself through an alias (its *alias inside its own &anchor): write it out plainly")
        open_.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        memo[id(node)] = _measure_children(children, depth, memo, open_, limit)
        open_.discard(id(node))
    count, height = memo[id(node)]
    if depth + height - 1 > MAX_DATA_DEPTH:
        raise too_deep()
    return count, height


def _measure_children(
    children: Any, depth: int, memo: dict[int, tuple[int, int]], open_: set[int], limit: int
) -> tuple[int, int]:
    if depth > MAX_DATA_DEPTH:
        raise too_deep()
    count, height = 1, 0
    for child in children:
        below, levels = _measure(child, depth + 1, memo, open_, limit)
        count, height = count + below, max(height, levels)
        if count > limit:
            raise Unreadable(f"stands for over {limit:,} values with its aliases expanded: write it without *aliases")
    return count, height + 1


def load_state_yaml(text: str, name: str) -> Any:
    """Round-trip load of a state file (keeps comments); corrupt YAML is a StateError.

    Parses are cached by text and every caller gets its own deep copy (a tenth of a parse's cost)."""
    return copy.deepcopy(_state_parse(_parse_round_trip, text, name))


def read_state_yaml(text: str, name: str) -> Any:
    """The plain data of a state file, for reading only: the C loader when it is installed (six times
    faster than the round trip; same YAML 1.2 rules), cached by text, a fresh copy for each caller."""
    return to_plain(_state_parse(_parse_safe, text, name))


def _state_parse(parse: Callable[[str], Any], text: str, name: str) -> Any:
    from ruamel.yaml.error import YAMLError

    try:
        return parse(text)
    except Unreadable as e:
        raise StateError(f"{name} {e}") from None
    except (YAMLError, ValueError) as e:  # ValueError: a date that is not one (2026-02-30) and the like
        raise StateError(
            f"{name} is not valid YAML ({_first_line(e)}): fix it by hand or restore it with git checkout"
        ) from None


@functools.lru_cache(maxsize=16)
def _parse_safe(text: str) -> Any:
    from ruamel.yaml.constructor import SafeConstructor

    check_yaml_depth(text)
    yaml = _safe()
    yaml.Constructor = _state_constructor(SafeConstructor)
    return _checked_aliases(yaml.load(text), text)  # shared: read_state_yaml hands out copies


@functools.lru_cache(maxsize=16)
def _parse_round_trip(text: str) -> Any:
    from ruamel.yaml.constructor import RoundTripConstructor

    check_yaml_depth(text)
    yaml = round_trip()
    yaml.Constructor = _state_constructor(RoundTripConstructor)
    return _checked_aliases(yaml.load(text), text)  # shared: load_state_yaml hands out deep copies


def _checked_aliases(data: Any, text: str) -> Any:
    """Aliases can nest a text's data deeper than its text, or expand it past all bounds: counted
    (state files gerhard writes have none; a human's program.yaml may)."""
    if "*" in text:
        check_aliases(data, MAX_DATA_VALUES)
    return data


def dump_yaml(data: Any) -> str:
    """Block-style YAML: the fast emitter for plain data, ruamel for the rest (comments included). The
    fast emitter's text is proven by yamlfast reading it back as the same data (ruamel reads it back
    only when yamlfast cannot: a string YAML would take for another type, an escape)."""
    text = render(data)
    if text is not None and same(plain_state(text), data):
        return text
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
