"""What HEAD holds of each run, verified from git's objects for `gerhard check`: its record and MANIFEST
valid, every archived file matching its MANIFEST (gerhard.registry.checks), the registration's trailers
agreeing with the record, and its gates evaluated again from the archived files under the program of
its registration commit giving the recorded results (gerhard.registry.regate).

Runs are read CHUNK at a time, one `git cat-file --batch` a chunk, in one process per CPU when there
are several chunks (parsing records and artifacts is CPU work); so are a run's gates evaluated again.
What needs more than one run, the baselines of relative gates, is evaluated here once the records are in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from gerhard import layout
from gerhard.core.program import Program, program_from_dict
from gerhard.core.records import RunRecord
from gerhard.errors import UserError
from gerhard.git import gitrepo
from gerhard.git import history as git_history
from gerhard.registry import checks, regate, store
from gerhard.team.history import Registration

CHUNK = 250  # runs a task; with more than one chunk, chunks run in parallel processes
Programs = dict[str, "Program | str"]  # program.yaml blob id -> the program, or why it does not read


class Task(NamedTuple):
    run_id: str
    files: dict[str, str]  # path -> blob id in HEAD (its record and archive files)
    program: str | None  # blob id of the program.yaml it was registered under (its gates evaluated again)


class Regated(NamedTuple):
    """A run's gates evaluated again as soon as it was read (the records they read were in): how its
    record differs from what they give (None: it does not)."""

    said: str | None


class Checked(NamedTuple):
    run_id: str
    problems: list[str]
    record: dict[str, Any] | None  # its record's data, when it is a valid one
    inputs: dict[str, regate.Input] | Regated | None  # what its gates read (or gave), when evaluated again
    files: int  # archived files read


class _OtherRun(Exception):
    """A gate reads another run's record (a relative gate's baseline): evaluated once the records are in."""


def programs_of(root: Path, blobs: set[str]) -> Programs:
    """Each program.yaml (by blob id) parsed, or the one line why it cannot be."""
    ids = sorted(blobs)
    found: Programs = {}
    for blob, obj in zip(ids, gitrepo.cat_objects(root, ids), strict=True):
        try:
            found[blob] = program_of(root, obj[1].decode("utf-8") if obj else "")
        except (UserError, UnicodeDecodeError) as e:
            found[blob] = str(e)
    return found


def program_of(root: Path, text: str) -> Program:
    """A program.yaml's text parsed and checked, through the parse cache by its blob id (store.parsed_cached:
    the same text, the same program; ruamel and jsonschema load only for a text not seen before)."""
    return program_from_dict(store.parsed_cached(root, "program", text, store.program_data))


def check_runs(root: Path, head_program: Program, tasks: list[Task], programs: Programs) -> Iterator[Checked]:
    """check_chunk over the tasks CHUNK at a time, in order; in parallel processes when there are several."""
    chunks = [tasks[i : i + CHUNK] for i in range(0, len(tasks), CHUNK)]
    workers = min(os.cpu_count() or 1, len(chunks), 8)
    pool = None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with contextlib.suppress(OSError, NotImplementedError):  # no process semaphores here: one process
            pool = ProcessPoolExecutor(max_workers=workers)
    if pool is None:
        for chunk in chunks:
            yield from check_chunk(root, head_program, programs, chunk)
        return
    with pool:
        n = len(chunks)
        for done in pool.map(check_chunk, [root] * n, [head_program] * n, [programs] * n, chunks):
            yield from done


def check_chunk(root: Path, head_program: Program, programs: Programs, tasks: list[Task]) -> list[Checked]:
    blobs = sorted({blob for task in tasks for blob in task.files.values()})
    content = {b: obj[1] for b, obj in zip(blobs, gitrepo.cat_objects(root, blobs), strict=True) if obj}
    return [check_one(root, head_program, programs, task, content) for task in tasks]


def check_one(root: Path, head_program: Program, programs: Programs, task: Task, content: dict[str, bytes]) -> Checked:
    def read(rel: str) -> bytes | None:
        blob = task.files.get(rel)
        return content.get(blob) if blob is not None else None

    run_dir = f"{layout.run_dir(task.run_id)}/"
    listing = sorted(p for p in task.files if p.startswith(run_dir))
    seen: list[dict[str, Any]] = []
    problems = checks.check_run(head_program, task.run_id, read, listing, root, bundles=False, seen=seen)
    record = seen[0] if seen else None
    inputs: dict[str, regate.Input] | Regated | None = None
    program = programs.get(task.program) if task.program else None
    if record is not None and not problems and isinstance(program, Program) and record["phase"] in program.phase_ids:
        archived = {p[len(run_dir) :]: read(p) or b"" for p in listing}
        inputs = regate.gate_inputs(program.phase(record["phase"]), archived)
        if not any(g.get("baseline_run") for g in record["gates"]):  # else it reads another run's record
            inputs = regated(program, RunRecord.from_dict(record), inputs) or inputs
    elif record is not None and not problems and isinstance(program, str):
        problems = [f"{layout.PROGRAM} of the run's registration commit does not read ({program})"]
    return Checked(task.run_id, problems, record, inputs, len(listing))


def trailer_problem(run_id: str, reg: Registration, record: RunRecord) -> str | None:
    """The registration's trailers against the record it wrote."""
    for key, value in record.trailers.items():
        if reg.block.get(key) != value:
            said = f"{key}: {reg.block[key]}" if key in reg.block else f"no {key}"
            return (
                f"{reg.commit.named()} registered run {run_id} with trailers that do not match the record it "
                f"wrote ({said}, the record: {value}): the commit was not written as gerhard wrote it; "
                f"{redo_hint(run_id)}"
            )
    return None


def regated(
    program: Program, record: RunRecord, inputs: Mapping[str, regate.Input], records: Mapping[str, RunRecord] = {}
) -> Regated | None:
    """The gates evaluated again as soon as the run is read (in the process that read it), unless one reads
    the record of a run not among `records` (None: regate_problem evaluates them once the records are in)."""

    def observed(run_id: str, gate_id: str) -> Any:
        if run_id not in records:
            raise _OtherRun
        return observed_in(records[run_id], gate_id)

    try:
        return Regated(regate_difference(program, record, inputs, observed))
    except _OtherRun:
        return None


def observed_in(record: RunRecord, gate_id: str) -> Any:
    """What a record observed for a gate (None: it has no such gate)."""
    found = [g.get("observed") for g in record.gates if g["id"] == gate_id]
    return found[0] if found else None


def regate_difference(
    program: Program, record: RunRecord, inputs: Mapping[str, regate.Input], observed: Callable[[str, str], Any]
) -> str | None:
    """How the record differs from what its gates give, evaluated again (None: it does not)."""
    report = regate.evaluate_again(program.phase(record.phase), record, inputs, observed)
    return report if isinstance(report, str) else regate.difference(record, report)


def regate_problem(
    run_id: str,
    reg: Registration,
    program: Program,
    record: RunRecord,
    inputs: Mapping[str, regate.Input] | Regated,
    observed: Callable[[str, str], Any],
) -> str | None:
    """The gates evaluated again against the record's results (`inputs`: what they read, or what they
    gave, evaluated already: `regated`)."""
    said = inputs.said if isinstance(inputs, Regated) else regate_difference(program, record, inputs, observed)
    if said is None:
        return None
    return (
        f"{layout.record_path(run_id)} is not what its gates give, evaluated again from {layout.run_dir(run_id)}/ "
        f"under {layout.PROGRAM} of commit {reg.commit.short} ({said}): {redo_hint(run_id)}"
    )


def shared_bundles(root: Path, head: str, records: Mapping[str, RunRecord]) -> set[str]:
    """The runs among these whose bundle another run in HEAD holds too (`gerhard register` refuses a
    duplicate bundle: a copy of a run is what a run added by hand most often is)."""
    lines = {run_id: f"bundle_sha256: {record.bundle_sha256}" for run_id, record in records.items()}
    holding = git_history.files_holding(root, head, layout.RUNS_DIR, sorted(set(lines.values())))
    return {r for r, line in lines.items() if set(holding.get(line, [])) - {layout.record_path(r)}}


def untold_note(run_id: str, reg: Registration) -> str:
    """What check says of a run taken as registered by a commit whose message names no run."""
    return (
        f"note: run {run_id} has no Gerhard-* trailers: {reg.commit.named()} added its record and archive "
        f"together (a squash merge that kept only its title), taken as its registration: its files match its "
        f"MANIFEST, no other run holds its bundle, and its gates, evaluated again under {layout.PROGRAM} of that "
        "commit, give the recorded results"
    )


def redo_hint(run_id: str) -> str:
    return f"withdraw the run (gerhard decide {run_id} withdraw --reason '...') and register it again under a new id"
