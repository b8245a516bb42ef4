"""Read and write the registry's state/ files: program, status, gate results, run records, ledger.

Where each file lives is gerhard.layout; writes are atomic (gerhard.files). State YAML is written with
ruamel.yaml round trip: comments, key order and keys a human added survive, and only changed lines change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gerhard.core.program import Program, program_from_dict
from gerhard.errors import SchemaError, StateError
from gerhard.formats import schemas
from gerhard.formats.yamlemit import emit
from gerhard.formats.yamlio import dump_yaml, load_state_yaml, merge_into, merge_plain, read_state_yaml, to_plain
from gerhard.layout import (
    DECISIONS_DIR,
    DERIVED_HEADER,
    GATE_RESULTS,
    PROGRAM,
    RUNS_DIR,
    STATUS,
    decision_path,
    ledger_path,
    record_path,
)


def read_text(root: Path, rel: str) -> str | None:
    try:
        return (root / rel).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # NotADirectory: a file where a folder should be
        return None
    except IsADirectoryError:
        raise StateError(f"{rel} is a folder where gerhard writes a file: move it away, then try again") from None
    except UnicodeDecodeError:
        raise StateError(f"{rel} is not UTF-8 text: restore it with 'git checkout -- {rel}'") from None


def load_yaml_file(root: Path, rel: str, schema: str | None) -> Any:
    """Plain data of a state file (None when absent), schema-checked."""
    text = read_text(root, rel)
    return None if text is None else parse_state_text(text, rel, schema)


def parse_state_text(text: str, rel: str, schema: str | None) -> Any:
    """The data of a state file's text, schema-checked."""
    data = read_state_yaml(text, rel)
    if schema:
        try:
            schemas.validate(to_plain(data), schema, rel)
        except SchemaError as e:
            # Run records and decisions are the sources `gerhard rebuild` reads: rebuilding cannot repair them.
            hint = (
                f"restore it with 'git checkout -- {rel}' ('gerhard check' lists every problem)"
                if rel.startswith((f"{RUNS_DIR}/", f"{DECISIONS_DIR}/"))
                else "fix the file or run 'gerhard rebuild' ('gerhard check' lists every problem)"
            )
            raise StateError(f"{e}: {hint}") from None
    return data


def program_from_text(text: str) -> Program:
    data = read_state_yaml(text, PROGRAM)
    if not isinstance(data, dict):
        raise StateError(f"{PROGRAM} must be a mapping with 'program' and 'phases': see 'gerhard init'")
    try:
        schemas.validate(to_plain(data), "program", PROGRAM)
    except SchemaError as e:
        raise StateError(str(e)) from None
    return program_from_dict(to_plain(data))


def load_program(root: Path) -> Program:
    text = read_text(root, PROGRAM)
    if text is None:
        raise StateError(f"no {PROGRAM} in {root}: run 'gerhard init' there (or pass --repo) and describe your phases")
    return program_from_text(text)


def load_status(root: Path) -> dict[str, Any] | None:
    data = load_yaml_file(root, STATUS, "program_status")
    return to_plain(data) if data is not None else None


def load_gate_results(root: Path) -> dict[str, Any]:
    data = load_yaml_file(root, GATE_RESULTS, "gate_results")
    return to_plain(data) if data is not None else {"phases": {}}


def read_record(root: Path, run_id: str) -> dict[str, Any] | None:
    data = load_yaml_file(root, record_path(run_id), "run_record")
    return to_plain(data) if data is not None else None


def read_decision(root: Path, run_id: str) -> dict[str, Any] | None:
    data = load_yaml_file(root, decision_path(run_id), "decision")
    return to_plain(data) if data is not None else None


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


def read_ledger(root: Path, month: str) -> list[dict[str, Any]]:
    return ledger_rows(read_text(root, ledger_path(month)) or "", ledger_path(month))


def ledger_rows(text: str, rel: str) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise StateError(
                f"{rel} line {n} is corrupt: run 'gerhard rebuild' ('gerhard check' lists every problem)"
            ) from None
    return rows


def recent_rows(
    root: Path, months: list[str], limit: int, extra: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` ledger rows (plus `extra`, not yet on disk), newest first, reading only
    as many months as needed."""
    out = list(reversed(extra or []))
    for month in sorted(months, reverse=True):
        if len(out) >= limit:
            break
        out.extend(reversed(read_ledger(root, month)))
    return out[:limit]
