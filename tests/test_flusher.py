"""A live run's history on a timer (gerhard.capture.flusher): saved every flush_seconds by a daemon thread and at
exit, never per call; a process SIGKILLed after idling keeps every row up to the last tick and `gerhard finish`
registers it; a run that saved no row is refused in one line; log_metrics and the flusher never race."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_one_line_error, git_out, load_yaml, run
from conftest import snapshot

import gerhard
from gerhard.capture.run import Run

ROWS = [{"train_loss": 2.9 - step / 10, "val_loss": 2.8 - step / 10, "step": step} for step in range(10)]

# Ten rows, six idle seconds (the default timer ticks at 5 s), one more row, then the runtime is killed.
KILLED_AFTER_IDLING = """
import os, signal, sys, time
import gerhard

run = gerhard.start_run("idle", "A", {"lr": 0.1}, 7, run_id="r1", repo_root=sys.argv[1])
for step in range(10):
    run.log_metrics({"train_loss": 2.9 - step / 10, "val_loss": 2.8 - step / 10}, step=step)
time.sleep(6)
run.log_metrics({"train_loss": 0.1, "val_loss": 0.1}, step=10)  # after the last tick: lost with the process
print("killing", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

ENDS_WITHOUT_FINISH = """
import sys
import gerhard

run = gerhard.start_run("exit", "A", {"lr": 0.1}, 7, run_id="r1", repo_root=sys.argv[1], flush_seconds=3600)
for step in range(10):
    run.log_metrics({"train_loss": 2.9 - step / 10, "val_loss": 2.8 - step / 10}, step=step)
"""

KILLED_BEFORE_ANY_ROW = """
import os, signal, sys
import gerhard

run = gerhard.start_run("empty", "A", {"lr": 0.1}, 7, run_id="r1", repo_root=sys.argv[1])
run.log_metrics({"train_loss": 2.9, "val_loss": 2.8}, step=0)  # the first tick would be at 5 s
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.fixture(autouse=True)
def outside_any_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GERHARD_REPO", raising=False)
    monkeypatch.delenv("GERHARD_OUTPUT_ROOT", raising=False)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")


def script(source: str, registry: Path, rc: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-c", source, str(registry)], capture_output=True, text=True)
    assert proc.returncode == rc, proc.stderr
    return proc


def saved_rows(folder: Path) -> list[dict[str, Any]]:
    path = folder / ".gerhard-run" / "history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def flusher_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("gerhard-flush-")]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Run]:
    run = gerhard.start_run("live", "A", {"lr": 0.1}, 1, run_id="live1", output_root=tmp_path, flush_seconds=0.05)
    yield run
    if run.finished is None and run.failed is None:
        run.fail(RuntimeError("test over"))


def test_a_run_killed_after_idling_keeps_every_row_before_the_last_tick_and_finish_registers_it(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = script(KILLED_AFTER_IDLING, registry, -signal.SIGKILL)
    assert proc.stdout == "killing\n"
    folder = registry / "outputs" / "r1"
    assert saved_rows(folder) == ROWS

    result = run(capsys, "finish", folder, "--summary", "killed while idle")
    assert result.rc == 0, result.err
    assert "resuming run r1: 10 history rows, 0 eval tasks" in result.out
    record = load_yaml(registry / "state" / "runs" / "r1.yaml")
    assert (record["verdict"], record["summary"]) == ("GREEN", "killed while idle")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["history"] == ROWS
    assert metrics["final"] == {"train_loss": ROWS[-1]["train_loss"], "val_loss": ROWS[-1]["val_loss"]}
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_script_that_ends_without_finish_saves_its_history_at_exit(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script(ENDS_WITHOUT_FINISH, registry, 0)  # the timer never ticked (3600 s): the exit flush wrote the rows
    folder = registry / "outputs" / "r1"
    assert saved_rows(folder) == ROWS
    result = run(capsys, "finish", folder)
    assert result.rc == 0, result.err
    assert load_yaml(registry / "state" / "runs" / "r1.yaml")["verdict"] == "GREEN"


def test_a_run_that_saved_no_row_is_refused_in_one_line_naming_what_is_missing(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script(KILLED_BEFORE_ANY_ROW, registry, -signal.SIGKILL)
    folder = registry / "outputs" / "r1"
    assert saved_rows(folder) == []
    before = snapshot(registry)
    result = run(capsys, "finish", folder)
    assert_one_line_error(result)
    assert result.err == (
        "gerhard finish: error: finish(): phase A requires metrics.json, not made by this run "
        "(metrics.json: no history row was saved before the run stopped)\n"
    )
    assert snapshot(registry) == before


def test_log_metrics_writes_nothing_and_the_timer_writes_while_the_run_idles(live: Run) -> None:
    live.log_metrics({"loss": 1.0}, step=0)
    assert saved_rows(live.folder) == []
    deadline = time.monotonic() + 5
    while not saved_rows(live.folder) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert saved_rows(live.folder) == [{"loss": 1.0, "step": 0}]


def test_log_metrics_and_the_flusher_do_not_race(tmp_path: Path) -> None:
    """Rows merged into (two calls for one step) while a 0.5 ms timer writes: what is on disk, read back as a
    resumed run reads it, is exactly the history in memory."""
    run = gerhard.start_run("race", "A", {"lr": 0.1}, 1, run_id="race1", output_root=tmp_path, flush_seconds=0.0005)
    expected = []
    for step in range(5000):
        run.log_metrics({"loss": float(step), "pad": float(step % 7)}, step=step)
        run.log_metrics({f"extra{step % 5}": 1.0}, step=step)  # grows the row the flusher may be writing
        expected.append({"loss": float(step), "pad": float(step % 7), f"extra{step % 5}": 1.0, "step": step})
    run.flush()
    run.fail(RuntimeError("stop the timer"))
    assert run.history == expected
    resumed = gerhard.resume_run(run.folder)
    assert resumed.history == expected
    resumed.fail(RuntimeError("done"))


def test_the_timer_ends_with_finish_with_fail_and_with_a_dropped_run(tmp_path: Path) -> None:
    def started(run_id: str) -> Run:
        return gerhard.start_run("t", "A", {"lr": 0.1}, 1, run_id=run_id, output_root=tmp_path, flush_seconds=0.02)

    finished, failed, dropped = started("t1"), started("t2"), started("t3")
    assert {"gerhard-flush-t1", "gerhard-flush-t2", "gerhard-flush-t3"} <= set(flusher_threads())
    finished.log_metrics({"loss": 1.0})
    finished.finish()
    failed.fail(RuntimeError("gone"))
    del dropped
    gc.collect()
    deadline = time.monotonic() + 5
    while {"gerhard-flush-t1", "gerhard-flush-t2", "gerhard-flush-t3"} & set(flusher_threads()):
        assert time.monotonic() < deadline, flusher_threads()
        time.sleep(0.01)
    assert not (tmp_path / "t1" / ".gerhard-run").exists()  # no tick after finish() put it all in the bundle


def test_flush_seconds_zero_runs_no_thread(tmp_path: Path) -> None:
    run = gerhard.start_run("z", "A", {"lr": 0.1}, 1, run_id="z1", output_root=tmp_path, flush_seconds=0)
    assert "gerhard-flush-z1" not in flusher_threads()
    run.log_metrics({"loss": 1.0})
    assert saved_rows(run.folder) == [{"loss": 1.0, "step": 0}]


def test_a_flush_that_cannot_write_keeps_the_rows_for_the_next(tmp_path: Path) -> None:
    run = gerhard.start_run("w", "A", {"lr": 0.1}, 1, run_id="w1", output_root=tmp_path, flush_seconds=3600)
    run.log_metrics({"loss": 1.0}, step=0)
    work = run.folder / ".gerhard-run"
    (work / "history.jsonl").mkdir()  # in the way of the append
    with pytest.raises(OSError):
        run.flush()
    (work / "history.jsonl").rmdir()
    run.flush()
    assert saved_rows(run.folder) == [{"loss": 1.0, "step": 0}]
    run.fail(RuntimeError("done"))


FORKS = """
import os, signal, sys
import gerhard

run = gerhard.start_run("fork", "A", {"lr": 0.1}, 7, run_id="f1", output_root=sys.argv[1], flush_seconds=3600)
run.log_metrics({"loss": 1.0}, step=0)
child = os.fork()
if child == 0:
    sys.exit(0)  # a worker that ends through the interpreter's exit: atexit runs, and must not write
os.waitpid(child, 0)
os.kill(os.getpid(), signal.SIGKILL)  # the parent dies without its exit flush
"""


def test_a_forked_child_does_not_write_the_parents_rows_at_exit(tmp_path: Path) -> None:
    script(FORKS, tmp_path, -signal.SIGKILL)
    assert saved_rows(tmp_path / "f1") == []
