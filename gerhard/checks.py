"""Is the registry whole? One set of checks for `gerhard check` (the work tree, every run) and the
pre-commit hook (the index, only the runs and files a commit touches).

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

from gerhard import state
from gerhard.bundle import (
    GITIGNORE_NAME,
    MANIFEST_NAME,
    Bundle,
    BundleFile,
    bundle_sha256,
    is_dossier_name,
    sha256_bytes,
)
from gerhard.errors import UserError
from gerhard.program import Program

Reader = Callable[[str], "bytes | None"]  # repository path -> content (work tree or index); None if absent
Lister = Callable[[str], list[str]]  # folder -> the paths below it


def check_run(
    program: Program,
    run_id: str,
    read: Reader,
    listing: list[str],
    root: Path,
    bundles: bool = True,
    seen: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Problems of one registered run: its record, its MANIFEST against the archived files, and (bundles)
    its bundle complete and valid for its phase. `seen` collects the records that parsed."""
    from gerhard.yamlio import read_state_yaml, to_plain

    rel = state.record_path(run_id)
    text = read(rel)
    if text is None:
        return [f"outputs/{run_id}/ has no run record {rel}: register the run, or remove the folder"]
    try:
        record = to_plain(read_state_yaml(text.decode("utf-8"), rel))
        from gerhard import schemas

        schemas.validate(record, "run_record", rel, root)
    except (UserError, UnicodeDecodeError) as e:
        return [f"{e}: restore it with 'git checkout -- {rel}'"]
    if seen is not None:
        seen.append(record)
    manifest, problems = read_manifest(run_id, read)
    if manifest is None:
        return problems
    files = archived_files(run_id, manifest, read, listing, problems)
    if bundles and not problems:
        problems += check_bundle(program, record, run_id, files, root)
    return problems


def read_manifest(run_id: str, read: Reader) -> tuple[dict[str, Any] | None, list[str]]:
    from gerhard import schemas

    rel = f"outputs/{run_id}/{MANIFEST_NAME}"
    data = read(rel)
    if data is None:
        return None, [f"{rel} is missing: restore it with 'git checkout -- {rel}' (or register the run again)"]
    try:
        manifest = json.loads(data)
        schemas.validate(manifest, "manifest", rel)
    except (ValueError, UserError) as e:
        return None, [f"{rel} is not a valid MANIFEST ({e}): restore it with 'git checkout -- {rel}'"]
    return manifest, []


def archived_files(
    run_id: str, manifest: dict[str, Any], read: Reader, listing: list[str], problems: list[str]
) -> dict[str, bytes]:
    """The archived bytes of each MANIFEST entry, checked against its size and sha256; problems appended."""
    base = f"outputs/{run_id}/"
    files = {}
    for entry in manifest["files"]:
        rel = base + entry["path"]
        if entry.get("stored") == "remote":  # a heavy file: not in git (gerhard.heavy); gerhard sync verifies it
            continue
        data = read(rel)
        if data is None:
            problems.append(f"{rel} is listed in the MANIFEST but missing: restore it with 'git checkout -- {rel}'")
        elif len(data) != entry["size"] or sha256_bytes(data) != entry["sha256"]:
            problems.append(
                f"{rel} does not match its MANIFEST entry (size {entry['size']}, sha256 {entry['sha256'][:12]}…): "
                f"the archived file was changed; restore it with 'git checkout -- {rel}'"
            )
        else:
            files[entry["path"]] = data
    listed = {base + e["path"] for e in manifest["files"]} | {base + MANIFEST_NAME, base + GITIGNORE_NAME}
    for rel in listing:
        if rel not in listed and not is_dossier_name(rel[len(base) :]):
            problems.append(f"{rel} is in the archive but not in its MANIFEST: remove it (git rm {rel})")
    manifest_files = [BundleFile(e["path"], e["size"], e["sha256"]) for e in manifest["files"]]
    if not problems and bundle_sha256(manifest_files) != manifest["bundle_sha256"]:
        problems.append(f"{base}{MANIFEST_NAME} has a wrong bundle_sha256: restore it with git checkout")
    return files


def check_bundle(program: Program, record: dict[str, Any], run_id: str, files: dict[str, bytes], root: Path) -> list:
    """The archived bundle complete and schema-valid for its phase (a phase since removed: not judged)."""
    from gerhard.artifacts import load_artifacts

    if record["phase"] not in program.phase_ids:
        return []
    entries = tuple(BundleFile(p, len(d), sha256_bytes(d)) for p, d in sorted(files.items()))
    bundle = Bundle(root / "outputs" / run_id, entries, bundle_sha256(entries), contents=files)
    try:
        load_artifacts(program, program.phase(record["phase"]), bundle, root)
    except UserError as e:
        return [f"run {run_id}: {e}"]
    return []


def derived_problems(root: Path, expected: dict[str, str], read: Reader, only: set[str] | None = None) -> list[str]:
    """Derived files that differ from what rebuild computes (only those in `only`, when given)."""
    problems = []
    for rel, text in sorted(expected.items()):
        if only is not None and rel not in only:
            continue
        if (read(rel) or b"").decode("utf-8", "replace") != text:
            problems.append(
                f"{rel} differs from what 'gerhard rebuild' computes from the run records: a hand edit? "
                "run 'gerhard rebuild' and commit the result (or 'gerhard rebuild --commit')"
            )
    return problems
