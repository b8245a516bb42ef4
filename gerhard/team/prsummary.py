"""A pull request's runs as markdown: what was registered and decided in BASE..HEAD, read from git.

With no range, BASE is the base branch the pull request goes into (--base, else the remote's default
branch: origin/HEAD), from where this branch left it (BASE...HEAD): never the branch's own upstream,
which after `git push -u` holds the very commits a reviewer wants to see.

The runs and decisions come from the trailers of the range's commits (gerhard.git.audit), each run's
gate table from the record its registration commit wrote, and metric deltas from the phase's
baseline run at BASE: the best GREEN run of a relative gate in BASE's program_status.yaml, else the
latest GREEN run of the phase in BASE's ledger. Everything from a run is made inert with
gerhard.core.reports' escaping, so the comment shows text, never markup a run brought.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gerhard.errors import UserError
from gerhard.formats.statefiles import parse_state_text
from gerhard.formats.yamlio import to_plain
from gerhard.git import audit, gitrepo, remote
from gerhard.layout import ledger_path
from gerhard.registry.bundle import RUN_ID_RE

NO_BASE = (
    "no base branch to compare with: origin/HEAD is not set and there is no origin/main or origin/master: "
    "pass the branch the pull request goes into (--base origin/main) or its range (origin/main..HEAD)"
)
_TRAILER_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*: ")


@dataclass(frozen=True)
class Range:
    spec: str  # as the user gave it (or the default)
    base: str  # commit ids
    head: str


@dataclass(frozen=True)
class Baseline:
    run_id: str
    why: str  # "the best GREEN run of phase B" / "the latest GREEN run of phase B"
    record: dict[str, Any] | None


@dataclass(frozen=True)
class RunSection:
    entry: audit.Entry
    record: dict[str, Any] | None  # as its registration commit wrote it
    baseline: Baseline | None


@dataclass(frozen=True)
class Decision:
    entry: audit.Entry
    reason: str


@dataclass(frozen=True)
class Summary:
    range: Range
    runs: list[RunSection]
    decisions: list[Decision]


def rev_commit(root: Path, rev: str) -> str | None:
    """The commit a revision names, or None (an option-like or empty revision names none)."""
    if not rev or rev.startswith("-") or rev != rev.strip():
        return None
    return gitrepo.ref_value(root, rev)


def base_range(root: Path, base: str | None) -> str:
    """BASE...HEAD for the base branch: --base, else the remote's default branch."""
    if base is not None and rev_commit(root, base) is None:
        raise UserError(
            f"--base {base!r} is not a commit here: fetch it first (git fetch origin) or name another branch, "
            "e.g. --base origin/main"
        )
    base = base or remote.default_branch(root)
    if base is None:
        raise UserError(NO_BASE)
    return f"{base}...HEAD"


def resolve_range(root: Path, spec: str | None, base: str | None = None) -> Range:
    """BASE..HEAD (an empty side is HEAD), BASE...HEAD (from their merge base), or BASE (to HEAD); with
    no spec, the base branch's BASE...HEAD."""
    if spec is None:
        spec = base_range(root, base)
    three = "..." in spec
    left, _, right = spec.partition("..." if three else "..")
    sides = [left or "HEAD", right or "HEAD"]
    shas = [rev_commit(root, rev) for rev in sides]
    for rev, sha in zip(sides, shas, strict=True):
        if sha is None:
            raise UserError(
                f"range {spec!r}: {rev!r} is not a commit here: fetch it first (git fetch origin) "
                "or pass another range, e.g. origin/main..HEAD"
            )
    base, head = str(shas[0]), str(shas[1])
    if three:
        base = gitrepo.merge_base(root, base, head) or base
    return Range(spec, base, head)


def reason_of(body: str) -> str:
    """A decision's reason: its commit body without the trailer block, 'Reason: ' dropped."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    if paragraphs and all(_TRAILER_LINE.match(line) for line in paragraphs[-1].splitlines()):
        paragraphs.pop()
    text = "\n\n".join(paragraphs)
    return text.removeprefix("Reason:").strip()


def parse_yaml(data: bytes | None, rel: str) -> dict[str, Any] | None:
    if data is None:
        return None

    plain = to_plain(parse_state_text(data.decode("utf-8", "replace"), rel, None))
    return plain if isinstance(plain, dict) else None


def latest_green(root: Path, base: str, status: dict[str, Any], phase: str) -> str | None:
    """The phase's latest GREEN run in BASE's ledger (newest month first, stops at the first)."""
    for month in sorted(status.get("months") or {}, reverse=True):
        (data,) = audit.read_blobs(root, [f"{base}:{ledger_path(month)}"])
        lines = (data or b"").decode("utf-8", "replace").splitlines()
        for row in map(ledger_row, reversed(lines)):
            if row.get("phase") == phase and row.get("verdict") == "GREEN" and row.get("run_id"):
                return str(row["run_id"])
    return None


def ledger_row(line: str) -> dict[str, Any]:
    """One ledger line's row ({} for a blank or damaged line: the summary goes on without it)."""
    try:
        row = json.loads(line) if line.strip() else {}
    except ValueError:
        return {}
    return row if isinstance(row, dict) else {}


def best_green(status: dict[str, Any], phase: str) -> str | None:
    """The best GREEN run of the phase's first relative gate that has one."""
    entry = (status.get("phases") or {}).get(phase) or (status.get("removed_phases") or {}).get(phase) or {}
    for slot in (entry.get("baselines") or {}).values():
        best = (slot or {}).get("best")
        if best:
            return str(best["run_id"])
    return None


def baseline_at(root: Path, base: str, status: dict[str, Any] | None, phase: str) -> Baseline | None:
    if status is None:
        return None
    run_id, why = best_green(status, phase), "the best GREEN run"
    if run_id is None:
        run_id, why = latest_green(root, base, status, phase), "the latest GREEN run"
    if run_id is None:
        return None
    rel = f"state/runs/{run_id}.yaml"
    (data,) = audit.read_blobs(root, [f"{base}:{rel}"])
    return Baseline(run_id, why, parse_yaml(data, rel))


def read_records(root: Path, registrations: list[audit.Entry]) -> list[dict[str, Any] | None]:
    """Each run's record as its registration commit wrote it (None for an id no record can have)."""
    specs = [f"{e.commit}:state/runs/{e.run_id}.yaml" if RUN_ID_RE.fullmatch(e.run_id) else "" for e in registrations]
    blobs = audit.read_blobs(root, [s for s in specs if s])
    found = dict(zip([s for s in specs if s], blobs, strict=True))
    return [parse_yaml(found.get(spec), spec) if spec else None for spec in specs]


def summarize(root: Path, spec: str | None, base: str | None = None) -> Summary:
    rng = resolve_range(root, spec, base)
    entries = list(audit.iter_entries(root, revs=[f"{rng.base}..{rng.head}"], extra=["--reverse"]))
    registrations = [e for e in entries if e.kind == audit.KIND_REGISTRATION]
    records = read_records(root, registrations)
    (status_data,) = audit.read_blobs(root, [f"{rng.base}:state/program_status.yaml"])
    status = parse_yaml(status_data, "state/program_status.yaml")
    baselines: dict[str, Baseline | None] = {}
    for e in registrations:
        if e.phase is not None and e.phase not in baselines:
            baselines[e.phase] = baseline_at(root, rng.base, status, e.phase)
    runs = [RunSection(e, r, baselines.get(e.phase or "")) for e, r in zip(registrations, records, strict=True)]
    decided = [e for e in entries if e.kind == audit.KIND_DECISION]
    bodies = audit.commit_bodies(root, [e.commit for e in decided])
    return Summary(rng, runs, [Decision(e, reason_of(bodies.get(e.commit, ""))) for e in decided])
