"""Read and write the registry's state/ files: program, status, gate results, run records, ledger.

Where each file lives is gerhard.layout; writes are atomic (gerhard.files). State YAML is written with
ruamel.yaml round trip: comments, key order and keys a human added survive, and only changed lines change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gerhard.core.program import Program, program_from_dict
from gerhard.core.records import Decision, RunRecord
from gerhard.errors import SchemaError, StateError
from gerhard.files import atomic_write
from gerhard.formats import schemas
from gerhard.formats.statefiles import check_state_data, ledger_rows, parse_state_text
from gerhard.formats.yamlfast import plain_state
from gerhard.formats.yamlio import read_state_yaml, to_plain
from gerhard.layout import (
    GATE_RESULTS,
    PROGRAM,
    STATUS,
    decision_path,
    ledger_path,
    record_path,
)
from gerhard.version import __version__

CACHE_DIR = "gerhard-cache"  # in the git dir: parsed state files by content (parsed_cached)


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


def program_from_text(text: str) -> Program:
    return program_from_dict(program_data(text))


def program_data(text: str) -> dict[str, Any]:
    """program.yaml's plain data, schema-checked."""
    data = read_state_yaml(text, PROGRAM)
    if not isinstance(data, dict):
        raise StateError(f"{PROGRAM} must be a mapping with 'program' and 'phases': see 'gerhard init'")
    plain: dict[str, Any] = to_plain(data)
    try:
        schemas.validate(plain, "program", PROGRAM)
    except SchemaError as e:
        raise StateError(str(e)) from None
    return plain


def load_program(root: Path) -> Program:
    text = read_text(root, PROGRAM)
    if text is None:
        raise StateError(f"no {PROGRAM} in {root}: run 'gerhard init' there (or pass --repo) and describe your phases")
    # program_from_dict refuses what the schema cannot see (duplicate ids, NaN marks), cached or not.
    return program_from_dict(parsed_cached(root, "program", text, program_data))


def parsed_cached(
    root: Path, kind: str, text: str, parse: Callable[[str], Any], quick: Callable[[str], Any] | None = None
) -> Any:
    """parse(text), the validated plain data of a state file, cached in the git dir (never committed) by
    the text's git blob id and gerhard's version: ruamel and jsonschema load only for text not seen
    before. Outside a plain git work tree (a linked work tree, a bare folder) nothing is cached.

    `quick`, when given, is tried before `parse` on text not cached: a reader that costs about what a
    cache file does and returns None when it cannot read the text; what it reads is not cached."""
    entry = cache_entry(root, kind, text)
    if entry is not None:
        try:
            return json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # not cached yet, or a damaged entry: parse and validate it again
    if quick is not None and (data := quick(text)) is not None:
        return data
    data = parse(text)
    if entry is not None:
        with contextlib.suppress(OSError, ValueError, TypeError):  # unwritable, or not JSON (a date): not cached
            dumped = json.dumps(data, ensure_ascii=False)
            if json.loads(dumped) == data:  # JSON gives back exactly this (not int keys, not NaN)
                atomic_write(entry, dumped.encode())
    return data


def cache_entry(root: Path, kind: str, text: str) -> Path | None:
    git_dir = root / ".git"
    if not git_dir.is_dir():
        return None
    data = text.encode("utf-8")
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    return git_dir / CACHE_DIR / kind / f"{__version__}-{blob}.json"


def load_status(root: Path) -> dict[str, Any] | None:
    return load_state_cached(root, STATUS, "program_status")


def load_gate_results(root: Path) -> dict[str, Any]:
    return load_state_cached(root, GATE_RESULTS, "gate_results") or {"phases": {}}


def load_state_cached(root: Path, rel: str, schema: str) -> Any:
    """A derived state file's plain data, schema-checked (None when absent), parsed once per content."""
    text = read_text(root, rel)
    if text is None:
        return None
    return parsed_cached(root, schema, text, lambda t: to_plain(parse_state_text(t, rel, schema)))


def read_record(root: Path, run_id: str) -> RunRecord | None:
    rel = record_path(run_id)
    text = read_text(root, rel)
    if text is None:
        return None
    return RunRecord.from_dict(
        parsed_cached(root, "records", text, lambda t: to_plain(parse_state_text(t, rel, "run_record")))
    )


def record_data(root: Path, text: str, rel: str) -> dict[str, Any]:
    """A run record's plain data from its text, schema-checked, for reading many (`gerhard site`): from
    the parse cache when it holds the text; else, when it is the text gerhard writes, read by yamlfast
    (proven exact, a fifth of a ruamel parse: no cache file is written for it); else parsed and cached
    as read_record does. `root` is the work tree whose git dir holds the cache (the text may come from
    any revision: the cache is keyed by content)."""
    data: dict[str, Any] = parsed_cached(
        root,
        "records",
        text,
        lambda t: to_plain(parse_state_text(t, rel, "run_record")),
        quick=lambda t: _checked(plain_state(t), rel, "run_record"),
    )
    return data


def _checked(data: dict[str, Any] | None, rel: str, schema: str) -> dict[str, Any] | None:
    if data is not None:
        check_state_data(data, rel, schema)
    return data


def read_decision(root: Path, run_id: str) -> Decision | None:
    data = load_yaml_file(root, decision_path(run_id), "decision")
    return Decision.from_dict(to_plain(data)) if data is not None else None


def read_ledger(root: Path, month: str) -> list[dict[str, Any]]:
    return ledger_rows(read_text(root, ledger_path(month)) or "", ledger_path(month))


def recent_rows(
    root: Path, months: list[str], limit: int, extra: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The newest `limit` ledger rows (plus `extra`, not yet on disk), newest first, reading only
    as many months as needed."""
    out = list(reversed(extra or []))
    for month in sorted(months, reverse=True):
        if len(out) >= limit:
            break
        out.extend(reversed(ledger_tail(root, month, limit - len(out))))
    return out[:limit]


def ledger_tail(root: Path, month: str, count: int) -> list[dict[str, Any]]:
    """The last `count` rows of a month's ledger, parsing no other line (a month of 100,000 runs holds
    thousands: every registration asks for the newest 50)."""
    rel = ledger_path(month)
    lines = (read_text(root, rel) or "").splitlines()
    first = max(len(lines) - count, 0)
    return ledger_rows("\n".join(lines[first:]), rel, first + 1)
