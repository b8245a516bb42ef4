"""gerhard check: every run whole, every archived file matching its hash, derived files up to date."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gerhard import checks, gitrepo, journal, state
from gerhard.errors import UserError
from gerhard.output import print_json
from gerhard.program import Program

PROGRESS_EVERY_S = 2.0


def check(repo: Path, as_json: bool = False) -> int:
    root = gitrepo.find_root(Path(repo))
    problems = leftovers(root)
    program = state.load_program(root)
    runs = run_ids(root)
    read = worktree_reader(root)
    shown = time.monotonic()
    records: list[dict] = []
    for n, run_id in enumerate(runs, 1):
        listing = [str(p.relative_to(root)) for p in sorted((root / "outputs" / run_id).rglob("*")) if p.is_file()]
        # Bundles were checked for their phase when they were registered (and by the hook): here the
        # bytes must still be the ones the MANIFEST lists.
        problems += checks.check_run(program, run_id, read, listing, root, bundles=False, seen=records)
        if time.monotonic() - shown > PROGRESS_EVERY_S and not as_json:
            print(f"checked {n}/{len(runs)} runs ...", file=sys.stderr, flush=True)
            shown = time.monotonic()
    problems += derived(
        root, read, program, records, complete=len(records) == len(list((root / state.RUNS_DIR).glob("*.yaml")))
    )
    if as_json:
        print_json({"runs": len(runs), "problems": problems, "ok": not problems})
    else:
        for line in problems:
            print(line)
        verdict = "derived files up to date" if not problems else f"{len(problems)} problem(s)"
        print(f"checked {len(runs)} runs: {verdict}", file=sys.stderr)
    return 1 if problems else 0


def leftovers(root: Path) -> list[str]:
    info = gitrepo.info(root)
    txn = journal.load(info)
    if txn is not None:
        return [f"an interrupted transaction ({txn.data.get('subject')}) is not settled: run 'gerhard doctor'"]
    return []


def run_ids(root: Path) -> list[str]:
    """Every run with a record or an archive folder."""
    records = {p.stem for p in (root / state.RUNS_DIR).glob("*.yaml")}
    folders = {p.name for p in (root / "outputs").iterdir() if p.is_dir()} if (root / "outputs").is_dir() else set()
    return sorted(records | folders)


def worktree_reader(root: Path) -> checks.Reader:
    def read(rel: str) -> bytes | None:
        path = root / rel
        return path.read_bytes() if path.is_file() else None

    return read


def derived(root: Path, read: checks.Reader, program: Program, records: list[dict], complete: bool) -> list[str]:
    """Derived files against the rebuild from the records just read (when they all read)."""
    from gerhard.derive import landing_order, rebuild_files

    if not complete:
        return []  # a broken record is already a problem; fix it first, then the rebuild can be compared
    try:
        expected = rebuild_files(program, sorted(records, key=landing_order), lambda rel: state.read_text(root, rel))
    except UserError as e:
        return [f"derived files cannot be rebuilt: {e}"]
    if not records:  # a registry without runs has derived files only once the first run is registered
        expected = {rel: text for rel, text in expected.items() if state.read_text(root, rel) is not None}
    return checks.derived_problems(root, expected, read)
