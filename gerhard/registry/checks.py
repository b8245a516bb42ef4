"""Is the registry whole? One set of checks for `gerhard check` (the work tree, every run), the
pre-commit hook (the index, only the runs and files a commit touches) and registration (a cheap look
at the latest run before building on it).

A run is whole when its record is schema-valid, its MANIFEST is schema-valid and lists exactly the
archived files with their sizes and sha256, and its bundle is complete and valid for its phase.
Derived files are whole when they equal what `rebuild` computes. Each problem is one line that says
what is wrong and how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.program import Program
from gerhard.errors import StateError, UserError
from gerhard.formats import schemas
from gerhard.formats.bounds import Unreadable, check_json_depth
from gerhard.formats.yamlfast import plain_state
from gerhard.formats.yamlio import read_state_yaml, to_plain
from gerhard.registry import store
from gerhard.registry.artifacts import load_artifacts
from gerhard.registry.bundle import (
    GITIGNORE_NAME,
    MANIFEST_NAME,
    Bundle,
    BundleFile,
    bundle_sha256,
    is_dossier_name,
    sha256_bytes,
)

Reader = Callable[[str], "bytes | None"]  # repository path -> content (work tree or index); None if absent
CHECK_HINT = "run 'gerhard check' to list every problem and fix them, then try again"


def restore(rel: str) -> str:
    return f"restore it with 'git checkout HEAD -- {rel}'"


def check_run(
    program: Program,
    run_id: str,
    read: Reader,
    listing: list[str],
    root: Path,
    bundles: bool = True,
    seen: list[dict[str, Any]] | None = None,
    stored: Reader | None = None,
    new: bool = False,
) -> list[str]:
    """Problems of one registered run: its record, its MANIFEST against the archived files, and (bundles)
    its bundle complete and valid for its phase (`new`: a run being added, whose phase the program must
    declare). `seen` collects the records that parsed; `stored` gives a second reading of a file that
    does not match (the blob git stores for a checked-out file)."""
    rel = layout.record_path(run_id)
    text = read(rel)
    if text is None:
        return [f"{layout.run_dir(run_id)}/ has no run record {rel}: register the run, or remove the folder"]
    record, problem = parse_record(text, rel, root)
    if record is None:
        return [problem]
    if seen is not None:
        seen.append(record)
    manifest, problems = read_manifest(run_id, read)
    if manifest is None:
        return problems
    if manifest["bundle_sha256"] != record["bundle_sha256"]:
        return [
            f"{rel} and outputs/{run_id}/{MANIFEST_NAME} name different bundles (sha256 "
            f"{record['bundle_sha256'][:12]}…, {manifest['bundle_sha256'][:12]}…): {restore(f'outputs/{run_id}/')}"
        ]
    files = archived_files(run_id, manifest, read, listing, problems, stored)
    if bundles and not problems:
        problems += check_bundle(program, record, run_id, files, root, new)
    return problems


def parse_record(text: bytes, rel: str, root: Path) -> tuple[dict[str, Any], str] | tuple[None, str]:
    """A run record's data, or the one line that says why it is not a valid one."""
    try:
        decoded = text.decode("utf-8")
        record = plain_state(decoded) or to_plain(read_state_yaml(decoded, rel))
        schemas.validate(record, "run_record", rel, root)
    except UnicodeDecodeError:
        return None, f"{rel} is not UTF-8 text: {restore(rel)}"
    except UserError as e:
        return None, f"{e}: {restore(rel)}"
    if record["run_id"] != rel.rsplit("/", 1)[-1].removesuffix(".yaml"):
        return None, f"{rel} is the record of run {record['run_id']}, not of this file's run: {restore(rel)}"
    return record, ""


def read_manifest(run_id: str, read: Reader) -> tuple[dict[str, Any] | None, list[str]]:
    rel = f"{layout.run_dir(run_id)}/{MANIFEST_NAME}"
    data = read(rel)
    if data is None:
        return None, [f"{rel} is missing: {restore(rel)} (or register the run again)"]
    try:
        check_json_depth(data)  # before the parser, which recurses once a level
        manifest = json.loads(data)
        schemas.validate(manifest, "manifest", rel)
    except (ValueError, UserError, Unreadable) as e:
        return None, [f"{rel} is not a valid MANIFEST ({e}): {restore(rel)}"]
    if manifest["run_id"] != run_id:
        return None, [f"{rel} is the MANIFEST of run {manifest['run_id']}, not of {run_id}: {restore(rel)}"]
    return manifest, []


def archived_files(
    run_id: str,
    manifest: dict[str, Any],
    read: Reader,
    listing: list[str],
    problems: list[str],
    stored: Reader | None = None,
) -> dict[str, bytes]:
    """The archived bytes of each MANIFEST entry, checked against its size and sha256; problems appended."""
    base = f"{layout.run_dir(run_id)}/"
    files = {}
    for entry in manifest["files"]:
        rel = base + entry["path"]
        if (
            entry.get("stored") == "remote"
        ):  # a heavy file: not in git (gerhard.registry.heavy); gerhard sync verifies it
            continue
        data = read(rel)
        if data is not None and stored is not None and not matches(data, entry):
            data = stored(rel) or data
        if data is None:
            problems.append(f"{rel} is listed in the MANIFEST but missing: {restore(rel)}")
        elif not matches(data, entry):
            problems.append(
                f"{rel} does not match its MANIFEST entry (size {entry['size']}, sha256 {entry['sha256'][:12]}…): "
                f"the archived file was changed; {restore(rel)}"
            )
        else:
            files[entry["path"]] = data
    listed = {base + e["path"] for e in manifest["files"]} | {base + MANIFEST_NAME}
    if any(e.get("stored") == "remote" for e in manifest["files"]):  # only then has a run a .gitignore of its own
        listed.add(base + GITIGNORE_NAME)
    for rel in listing:
        if rel not in listed and not is_dossier_name(rel[len(base) :]):
            problems.append(
                f"{rel} is in the archive but not in its MANIFEST: remove it "
                f"(git rm {rel}; rm {rel} if git does not track it)"
            )
    manifest_files = [BundleFile(e["path"], e["size"], e["sha256"]) for e in manifest["files"]]
    if not problems and bundle_sha256(manifest_files) != manifest["bundle_sha256"]:
        problems.append(f"{base}{MANIFEST_NAME} has a wrong bundle_sha256: {restore(base + MANIFEST_NAME)}")
    return files


def matches(data: bytes, entry: dict[str, Any]) -> bool:
    return len(data) == entry["size"] and sha256_bytes(data) == entry["sha256"]


def check_bundle(
    program: Program, record: dict[str, Any], run_id: str, files: dict[str, bytes], root: Path, new: bool = False
) -> list[str]:
    """The archived bundle complete and schema-valid for its phase (of an earlier run, a phase since
    removed is not judged)."""
    if record["phase"] not in program.phase_ids:
        if not new:
            return []
        return [
            f"{layout.record_path(run_id)} is a run of phase {record['phase']}, which {layout.PROGRAM} does not "
            f"declare: register the run with 'gerhard register --phase {'|'.join(program.phase_ids)}'"
        ]
    phase = program.phase(record["phase"])
    missing = [name for name in phase.required if name not in files]
    if missing:
        return [
            f"{layout.run_dir(run_id)}/ is missing {', '.join(missing)}, required by phase {phase.id} in "
            f"{layout.PROGRAM}: "
            "archive runs with 'gerhard register' from their complete bundle, not by hand"
        ]
    entries = tuple(BundleFile(p, len(d), sha256_bytes(d)) for p, d in sorted(files.items()))
    bundle = Bundle(root / layout.run_dir(run_id), entries, bundle_sha256(entries), contents=files)
    try:
        load_artifacts(program, phase, bundle, root)
    except UserError as e:
        return [f"{layout.run_dir(run_id)}/ is not a valid bundle for phase {phase.id}: {e}"]
    return []


def derived_problems(root: Path, expected: dict[str, str], read: Reader, only: set[str] | None = None) -> list[str]:
    """Derived files that differ from what rebuild computes (only those in `only`, when given)."""
    problems = []
    for rel, text in sorted(expected.items()):
        if only is not None and rel not in only:
            continue
        if (read(rel) or b"").decode("utf-8", "replace") != text:
            problems.append(differs(rel))
    return problems


def differs(rel: str) -> str:
    """What `gerhard check` says of a derived file that is not what rebuild computes."""
    return (
        f"{rel} differs from what 'gerhard rebuild' computes from the run records: a hand edit? "
        "run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')"
    )


def quick_check_for_registration(root: Path, status: dict[str, Any] | None = None) -> None:
    """Refuse to build on a registry that is visibly damaged, at the cost of a few small reads (about
    1 ms at 10 or 10,000 runs): the latest run's record and MANIFEST valid and naming one bundle, its
    archived files present, its month's last ledger row it, all as program_status.yaml says. `status`:
    the stored status if the caller has read it already."""
    status = status if status is not None else store.load_status(root)
    latest = (status or {}).get("latest_run")
    if not latest:
        return
    problem = latest_run_problem(root, status or {}, str(latest))
    if problem:
        raise StateError(f"the registry is damaged: {problem}; {CHECK_HINT}")


def latest_run_problem(root: Path, status: dict[str, Any], run_id: str) -> str | None:
    rel = layout.record_path(run_id)
    data = (root / rel).read_bytes() if (root / rel).is_file() else None
    if data is None:
        return f"{layout.STATUS} names {run_id} as the latest run, but {rel} is missing"
    record, problem = parse_record(data, rel, root)
    if record is None:
        return problem
    if (record["verdict"], record["registered_at"]) != (
        status.get("latest_verdict"),
        status.get("latest_registered_at"),
    ):
        return f"{rel} does not agree with {layout.STATUS} (verdict, registration time)"
    manifest, problems = read_manifest(run_id, lambda p: (root / p).read_bytes() if (root / p).is_file() else None)
    if manifest is None:
        return problems[0]
    if manifest["bundle_sha256"] != record["bundle_sha256"]:
        return f"{rel} and outputs/{run_id}/{MANIFEST_NAME} name different bundles"
    for entry in manifest["files"]:  # present (sizes differ in checkouts git converts, core.autocrlf)
        if entry.get("stored") != "remote" and not (root / layout.run_dir(run_id) / entry["path"]).is_file():
            return f"{layout.run_dir(run_id)}/{entry['path']} is missing (its MANIFEST lists it)"
    return ledger_problem(root, record)


def ledger_problem(root: Path, record: dict[str, Any]) -> str | None:
    """The run last folded is the last row of its month's ledger (rows are appended in landing order),
    but for runs withdrawn since, which stay in the ledger and are no one's latest run."""
    rel = layout.ledger_path(str(record["registered_at"])[:7])
    try:
        rows = [json.loads(line) for line in reversed(last_lines(root / rel))]
        row = next((r for r in rows if not (isinstance(r, dict) and r.get("withdrawn"))), None)
    except (OSError, ValueError):
        row = None
    if not isinstance(row, dict) or row.get("run_id") != record["run_id"]:
        return f"the last row of {rel} is not the latest run {record['run_id']}"
    return None


def last_lines(path: Path, tail: int = 8192) -> list[bytes]:
    """The whole lines of a file's end (at least its last line), reading only that end (a ledger month
    holds thousands of rows)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - tail))
        end = f.read().rstrip(b"\n")
        if b"\n" not in end and size > tail:  # a row longer than the tail: read it whole
            f.seek(0)
            end = f.read().rstrip(b"\n")
    lines = end.split(b"\n")
    return lines[1:] if size > tail and len(lines) > 1 else lines  # the first may be cut
