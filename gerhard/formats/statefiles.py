"""State files as text and back (pure): a state file's text parsed and schema-checked, data rendered as
YAML that keeps what a human added (comments, key order, extra keys), ledger lines.

Where each file lives is gerhard.layout; reading and writing them on disk is gerhard.registry.store.
"""

from __future__ import annotations

import json
from typing import Any

from gerhard.errors import SchemaError, StateError
from gerhard.formats import schemas
from gerhard.formats.bounds import Unreadable, check_json_depth
from gerhard.formats.yamlemit import emit
from gerhard.formats.yamlio import dump_yaml, load_state_yaml, merge_into, merge_plain, read_state_yaml, to_plain
from gerhard.layout import (
    DECISIONS_DIR,
    DERIVED_HEADER,
    RUNS_DIR,
)


def parse_state_text(text: str, rel: str, schema: str | None) -> Any:
    """The data of a state file's text, schema-checked."""
    data = read_state_yaml(text, rel)
    if schema:
        check_state_data(to_plain(data), rel, schema)
    return data


def check_state_data(data: Any, rel: str, schema: str) -> None:
    """Plain data of the state file `rel` against its schema: a StateError that says how to repair it."""
    try:
        schemas.validate(data, schema, rel)
    except SchemaError as e:
        # Run records and decisions are the sources `gerhard rebuild` reads: rebuilding cannot repair them.
        hint = (
            f"restore it with 'git checkout -- {rel}' ('gerhard check' lists every problem)"
            if rel.startswith((f"{RUNS_DIR}/", f"{DECISIONS_DIR}/"))
            else "fix the file or run 'gerhard rebuild' ('gerhard check' lists every problem)"
        )
        raise StateError(f"{e}: {hint}") from None


Owned = dict[str, "Owned"]  # mappings whose keys gerhard owns, with the same for their entries' keys


def follow_owned(target: Any, data: Any, owned: Owned) -> None:
    """In place: the keys gerhard owns in a merged mapping follow `data`: those it no longer has go, and
    they come in its order (merging keeps every old key in its old place, so a human's stay; a phase
    gone from program.yaml must go too, and the phases follow its order)."""
    if not isinstance(target, dict) or not isinstance(data, dict):
        return
    for key, inner in owned.items():
        if key not in data:
            target.pop(key, None)
        elif isinstance(target.get(key), dict) and isinstance(data[key], dict):
            mapping = target[key]
            for stale in [k for k in mapping if k not in data[key]]:
                del mapping[stale]
            for k in data[key] if list(mapping) != list(data[key]) else ():
                if hasattr(mapping, "move_to_end"):  # a round-trip map: the key moves with its comments
                    mapping.move_to_end(k)
                else:
                    mapping[k] = mapping.pop(k)
            for k in mapping:
                follow_owned(mapping[k], data[key][k], inner)


def _as_gerhard_writes(data: dict[str, Any], text: str) -> bool:
    """Is text what gerhard writes for data? Its fast emitter's text, or (data it is unsure of, such
    as 1e-05) ruamel's. Either way no human's comment is in it, and it is rewritten as a rebuild
    writes it: a round trip would keep ruamel's style of a value after the value that needed it
    is gone, and the file would differ from the rebuild."""
    fast = emit(data, text)
    return fast == text if fast is not None else dump_yaml(data) == text


def render_state_yaml(
    existing: str | None, data: dict[str, Any], rel: str, header: str = DERIVED_HEADER, owned: Owned | None = None
) -> str:
    """New text of a state file: data merged into the existing file so human comments and keys stay
    (but the `owned` keys `data` no longer has)."""
    if existing is None:
        return header + dump_yaml(data)
    old = read_state_yaml(existing, rel)
    if isinstance(old, dict) and existing.startswith(header) and _as_gerhard_writes(old, existing[len(header) :]):
        # Exactly what gerhard wrote (no comment or edit of a human's): merge the plain data, and
        # skip the round-trip parse, the slowest step of a registration.
        merged_plain = merge_plain(old, data)
        follow_owned(merged_plain, data, owned or {})
        return header + dump_yaml(merged_plain)
    current = load_state_yaml(existing, rel)
    if not isinstance(current, dict):
        return header + dump_yaml(data)
    current = merge_into(current, data)
    follow_owned(current, data, owned or {})
    merged = dump_yaml(current)
    return merged if merged != existing else existing


def ledger_line(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n"


def ledger_rows(text: str, rel: str, first: int = 1) -> list[dict[str, Any]]:
    """The rows of a ledger's text (`first`: the number of its first line in the file, for errors)."""
    rows = []
    for n, line in enumerate(text.splitlines(), first):
        try:
            check_json_depth(line)
            rows.append(json.loads(line))
        except (ValueError, Unreadable):  # not JSON, an integer Python will not read, too deep
            raise StateError(
                f"{rel} line {n} is corrupt: run 'gerhard rebuild' ('gerhard check' lists every problem)"
            ) from None
    return rows
