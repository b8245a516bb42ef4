"""gerhard sync push|pull|verify: run folders to and from the artifact remote (gerhard.sync.transfer does the work).

Start-up is half of a no-op `push --all` of a thousand runs, so this module imports what every sync
needs and no more: the registry's read side (gerhard.registry.queries: the fold, the phases) only to find a
run by name or as the latest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gerhard import layout
from gerhard.errors import UserError
from gerhard.output import print_json
from gerhard.registry import store
from gerhard.registry.bundle import check_run_id
from gerhard.registry.heavy import PROGRAM_REMOTE, remote_source
from gerhard.registry.root import registry_root
from gerhard.sync.committed import CommittedManifests, local_problems
from gerhard.sync.stores import Side, check_writable, local_side, open_side, remote_errors
from gerhard.sync.transfer import NOT_LISTED, SyncResult, check_local_files, execute, plan, plan_pull, verify_run

NO_REMOTE = (
    "no artifact remote configured: pass --remote URL, set GERHARD_REMOTE, "
    "or add 'artifact_remote: PATH_OR_URL' to state/program.yaml"
)


def run_name_of(run_id: str) -> str:
    """Run ids are <timestamp>_<name>: the name is what follows the first '_'."""
    return run_id.split("_", 1)[1] if "_" in run_id else run_id


def resolve_runs(root: Path, run_id: str | None, run_name: str | None, latest: bool, all_runs: bool) -> list[str]:
    """--run-id, else --run-name (the latest registered run with that name), else --latest, else --all;
    all through the registry."""
    if run_id and (root / layout.record_path(check_run_id(run_id))).is_file():  # registered: its record is there
        return [run_id]
    if all_runs and not (run_id or run_name or latest):
        return all_registered(root)
    from gerhard.registry import queries  # the read side (the fold, the phases): only to look a run up

    if run_id:
        return [queries.resolve_run(root, run_id)["run_id"]]  # says why not
    if run_name:
        for row in queries.list_rows(root, limit=0):  # newest first
            if run_name_of(row["run_id"]) == run_name:
                return [row["run_id"]]
        raise UserError(
            f"no run named {run_name!r} is registered (run ids are <timestamp>_<name>): see 'gerhard list' for the ids"
        )
    if latest:
        return [queries.resolve_run(root, "latest")["run_id"]]
    raise UserError("say which runs: --run-id ID, --run-name NAME, --latest or --all")


def all_registered(root: Path) -> list[str]:
    """Every registered run, oldest first, from the ledger months: JSON lines, read without parsing
    the YAML status, which costs more than a no-op push of a thousand runs."""
    ledger = root / layout.LEDGER_DIR
    months = sorted(p.stem for p in ledger.glob("*.jsonl")) if ledger.is_dir() else []
    return [row["run_id"] for month in months for row in store.read_ledger(root, month)]


def remote_side(root: Path, remote: str | None) -> tuple[Side, str]:
    """The remote's side and where it was set (--remote, GERHARD_REMOTE or state/program.yaml)."""
    found = remote_source(None, remote) or remote_source(store.load_program(root))  # program.yaml only if needed
    if not found:
        raise UserError(NO_REMOTE)
    return open_side(found[0]), found[1]


def unrecorded_note(root: Path, result: SyncResult, where: str) -> str | None:
    """After a push to a remote that state/program.yaml does not name: how to make the registry say
    where the files are. Run records are never rewritten (they name a remote only when one was
    configured at registration), so the registry's word for every clone is artifact_remote in
    state/program.yaml, committed and versioned, which 'gerhard show' reads for a run whose record
    names none."""
    if result.dry_run or where == PROGRAM_REMOTE or not result.count("copy"):
        return None
    named = store.load_program(root).artifact_remote
    if named and named.rstrip("/") == result.remote.rstrip("/"):
        return None
    return (
        f"note: {result.remote} (from {where}) is not the artifact_remote of state/program.yaml: add "
        f"'artifact_remote: {result.remote}' there and commit it, so every clone knows where run files are"
    )


def sync(
    repo: Path,
    direction: str,
    run_id: str | None = None,
    run_name: str | None = None,
    latest: bool = False,
    all_runs: bool = False,
    remote: str | None = None,
    dry_run: bool = False,
    checksum: bool = False,
    as_json: bool = False,
) -> int:
    """push: outputs/<run_id>/ → <remote>/<run_id>/; pull: the other way. Exit 1 if any file was refused."""
    root = registry_root(repo)
    runs = resolve_runs(root, run_id, run_name, latest, all_runs)
    (far, where), here = remote_side(root, remote), local_side(root)
    manifests = CommittedManifests(root)
    with remote_errors(far):
        result = transfer(direction, runs, here, far, manifests, dry_run, checksum)
    note = unrecorded_note(root, result, where)
    print_result(result, as_json, note)
    return 1 if result.count("refuse") else 0


def transfer(
    direction: str,
    runs: list[str],
    here: Side,
    far: Side,
    manifests: CommittedManifests,
    dry_run: bool,
    checksum: bool,
) -> SyncResult:
    """Plan every run (refusing before anything is written), then copy. Every MANIFEST is the one in
    git (HEAD), read for many runs at once. A push needs a run's only when something of it is to be
    copied (its files are checked against it first), or with --checksum; a pull compares with them
    throughout."""
    src, dst = (here, far) if direction == "push" else (far, here)
    if direction == "pull" and not far.exists(far.base):
        raise UserError(f"remote {far.label} does not exist or cannot be reached: check the path or URL")
    result = SyncResult(direction, far.label, dry_run)
    if direction == "pull" or checksum:
        manifests.load(runs)
    if direction == "pull":
        for r in runs:
            result.steps += plan_pull(manifests[r], src, dst, checksum, src.listing(r))
    else:
        listings = {r: src.listing(r) for r in runs}
        for r in runs:
            result.steps += plan(r, src, dst, manifests[r].files if checksum else {}, checksum, listings[r])
        pushed = list(dict.fromkeys(s.run_id for s in result.steps if s.action != "skip"))
        manifests.load(pushed)
        for r in pushed:
            check_local_files(here, manifests[r], listings[r], checksum)
    if not dry_run and direction == "push" and result.count("copy"):
        check_writable(far)
    if not dry_run:
        execute(result, src, dst, manifests, checksum)
    return result


def print_result(result: SyncResult, as_json: bool, note: str | None = None) -> None:
    if as_json:
        print_json({**result.as_dict(), "note": note})
        return
    if note:
        print(f"gerhard: {note}", file=sys.stderr)
    verb = "would copy" if result.dry_run else "copied"
    for s in result.steps:
        if s.action == "copy":
            print(f"{verb} {s.run_id}/{s.path} ({s.reason})")
        elif s.action == "refuse":
            print(f"refused {s.run_id}/{s.path}: {s.reason}")
        elif s.reason == NOT_LISTED:
            print(f"left {s.run_id}/{s.path}: {s.reason}")
    print(result.summary())


def verify(repo: Path, run: str | None, all_runs: bool, remote: str | None = None, as_json: bool = False) -> int:
    """Check the runs here and at the remote against their MANIFESTs in git: the copies of the
    MANIFEST are git's, and every file is there (a heavy one here only once pulled) with the right
    size and sha256."""
    root = registry_root(repo)
    runs = (
        resolve_runs(root, run, None, False, all_runs)
        if (run or all_runs)
        else resolve_runs(root, None, None, True, False)
    )
    far, _ = remote_side(root, remote)
    manifests = CommittedManifests(root)
    manifests.load(runs)
    checked, problems = 0, list[str]()
    for r in runs:
        with remote_errors(far):
            n, found = verify_run(manifests[r], far)
        checked, problems = checked + n, problems + local_problems(root, manifests[r]) + found
    if as_json:
        print_json({"remote": far.label, "runs": len(runs), "files": checked, "problems": problems})
    else:
        for p in problems:
            print(p)
        print(f"verified {checked} files of {len(runs)} runs at {far.label}: {len(problems)} problems")
    return 1 if problems else 0
