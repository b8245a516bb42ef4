"""gerhard rebase and register --push as transactions (gerhard.git.rewrite): interrupted anywhere, by
SIGKILL or Ctrl-C at each crash point and by kills of the process group at random moments, and then
`gerhard doctor`, the branch holds every registration and user commit it had (exactly as before:
commits, index, work tree, heavy files) or the full replay; and stale stat data (a `cp -a` copy, a
`touch`) is never an error.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from cli_helpers import git_out, run
from conftest import EXAMPLES, git, walk

from gerhard import cli
from gerhard.cli.commands.init import scaffold
from gerhard.git.transaction import CRASH_ENV

CHECKPOINT = bytes(range(256)) * 400
HEAVY = {"outputs/run_heavy/model.pt": CHECKPOINT, "outputs/run_heavy/ckpt/last.ckpt": b"last epoch"}
STEPS = 3  # run_heavy registered, the user's notes committed, run_two registered
REBASE_POINTS = ["replay-aside", "replay-moved", *(f"replay-step-{n}" for n in range(1, STEPS + 1)), "rebase-done"]
REGISTRATION_POINTS = ["locked", "planned", "worktree", "prepared", "swapped", "committed"]  # in the first replay
AFTER_COMMIT_POINT = {"rebase-done"}
IDENTITY = {
    "GIT_CONFIG_NOSYSTEM": "1",
    **{f"GIT_{who}_{what}": value for who in ("AUTHOR", "COMMITTER") for what, value in
       (("NAME", "Test Researcher"), ("EMAIL", "researcher@example.com"))},
}  # fmt: skip


class Branch(NamedTuple):
    """A pull-request branch behind its base, as a copy of the template: what it must keep."""

    repo: Path
    head: str  # the branch's commit before the rebase
    base: str  # origin/main
    files: dict[str, bytes]  # every work-tree file (the user's own changes and the heavy files included)
    index: str  # `git ls-files -s`: the index's content (its stat data is not the point)


def cli_ok(*argv: str | Path) -> None:
    assert cli.main([str(a) for a in argv]) == 0


def register_here(repo: Path, run_id: str, source: Path) -> None:
    cli_ok("register", "--repo", repo, "--run-id", run_id, "--phase", "A", "--source-dir", source, "--summary", run_id)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """pr1 edited shared.txt, registered run_pr1 and was merged into main; pr2 (behind it) registered
    run_heavy (with two heavy files), committed notes, registered run_two, and has an unstaged edit and an
    untracked file."""
    top = tmp_path_factory.mktemp("rewrite")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        for key, value in IDENTITY.items():
            mp.setenv(key, value)
        seed = top / "seed"
        seed.mkdir()
        git(seed, "init", "-q", "-b", "main")
        scaffold(seed, example=True)
        (seed / "user.txt").write_text("committed\n")
        (seed / "shared.txt").write_text("as it was\n")
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "gerhard init")
        git(top, "clone", "-q", "--bare", str(seed), str(top / "remote.git"))
        pr1, pr2 = top / "pr1", top / "pr2"
        for clone in (pr1, pr2):
            git(top, "clone", "-q", str(top / "remote.git"), str(clone))
        (pr1 / "shared.txt").write_text("the teammate's\n")
        git(pr1, "commit", "-q", "-am", "the teammate's edit")
        register_here(pr1, "run_pr1", EXAMPLES / "phase_a_green")
        git(pr1, "push", "-q", "origin", "main")
        git(pr2, "switch", "-q", "-c", "pr2")
        heavy = top / "heavy_bundle"
        shutil.copytree(EXAMPLES / "phase_a_green", heavy)
        for rel, data in HEAVY.items():
            (heavy / rel.removeprefix("outputs/run_heavy/")).parent.mkdir(parents=True, exist_ok=True)
            (heavy / rel.removeprefix("outputs/run_heavy/")).write_bytes(data)
        register_here(pr2, "run_heavy", heavy)
        (pr2 / "notes.md").write_text("a note of the author\n")
        git(pr2, "add", "notes.md")
        git(pr2, "commit", "-q", "-m", "notes")
        register_here(pr2, "run_two", EXAMPLES / "phase_a_green")
        git(pr2, "fetch", "-q", "origin")
        (pr2 / "user.txt").write_text("edited, not staged\n")
        (pr2 / "scratch.txt").write_text("untracked\n")
        yield pr2


def branch_copy(template: Path, dest: Path, with_heavy: bool = True) -> Branch:
    shutil.copytree(template, dest, symlinks=True)
    if not with_heavy:  # a clone that never ran `gerhard sync pull`: the run is replayed as its MANIFEST lists
        shutil.rmtree(dest / "outputs" / "run_heavy" / "ckpt")
        (dest / "outputs" / "run_heavy" / "model.pt").unlink()
    git(dest, "update-index", "-q", "--refresh")  # a fresh copy: its stat data is stale (the point of another test)
    return Branch(dest, head_of(dest), git_out(dest, "rev-parse", "origin/main").strip(), files(dest), index(dest))


def head_of(repo: Path) -> str:
    return git_out(repo, "rev-parse", "HEAD").strip()


def files(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in walk(repo) if p.is_file()}


def index(repo: Path) -> str:
    return git_out(repo, "ls-files", "-s")


def rebase_process(repo: Path, crash: str | None = None, new_session: bool = False) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop(CRASH_ENV, None)
    if crash:
        env[CRASH_ENV] = crash
    return subprocess.Popen(
        [sys.executable, "-m", "gerhard", "rebase", "--repo", str(repo), "origin/main"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
        # Ctrl-C as in a terminal, also when the tests run in the background (where SIGINT is ignored).
        preexec_fn=None if new_session else lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def outcome(branch: Branch, capsys: pytest.CaptureFixture[str]) -> str:
    """'as before' or 'replayed', after `gerhard doctor`; fails when it is neither."""
    said = run(capsys, "doctor", "--repo", branch.repo)
    assert said.rc == 0, said
    repo = branch.repo
    assert not (repo / ".git" / "gerhard-rebase").exists() and not (repo / ".git" / "gerhard-txn").exists()
    assert not (repo / ".git" / "index.lock").exists()
    for rel, data in HEAVY.items():  # heavy files always in place (when the clone had them)
        if rel in branch.files:
            assert (repo / rel).read_bytes() == data, rel
    if head_of(repo) == branch.head:
        assert files(repo) == branch.files
        assert index(repo) == branch.index
        assert git_out(repo, "status", "--porcelain") == " M user.txt\n?? scratch.txt\n"
        return "as before"
    assert_replayed(branch)
    return "replayed"


def assert_replayed(branch: Branch) -> None:
    repo = branch.repo
    log = git_out(repo, "log", "--first-parent", "--format=%s", f"{branch.base}..HEAD").splitlines()
    assert [s.split(" (")[0] for s in reversed(log)] == ["register run_heavy", "notes", "register run_two"]
    assert git_out(repo, "merge-base", "--is-ancestor", branch.base, "HEAD") == ""
    assert git_out(repo, "status", "--porcelain") == " M user.txt\n?? scratch.txt\n"
    assert (repo / "notes.md").read_text() == "a note of the author\n"
    assert (repo / "user.txt").read_text() == "edited, not staged\n"
    assert (repo / "scratch.txt").read_text() == "untracked\n"
    for run_id in ("run_pr1", "run_heavy", "run_two"):
        git(repo, "cat-file", "-e", f"HEAD:state/runs/{run_id}.yaml")
    assert cli.main(["rebuild", "--check", "--repo", str(repo)]) == 0


@pytest.mark.parametrize("point", REBASE_POINTS + REGISTRATION_POINTS)
def test_sigkill_at_each_point_then_doctor(template: Path, tmp_path: Path, capsys, point: str) -> None:
    branch = branch_copy(template, tmp_path / "pr2")
    proc = rebase_process(branch.repo, point)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert (branch.repo / ".git" / "gerhard-rebase" / "journal.json").exists()
    said = run(capsys, "doctor", "--repo", branch.repo).out
    if point in AFTER_COMMIT_POINT:
        assert said.startswith(f"finished an interrupted rebase of pr2 on {branch.base[:12]}: branch pr2 holds")
    else:
        assert f"undid an interrupted rebase of pr2 on {branch.base[:12]}: branch pr2 is back at " in said
        assert f"{branch.head[:12]} as before" in said
    expected = "replayed" if point in AFTER_COMMIT_POINT else "as before"
    assert outcome(branch, capsys) == expected


@pytest.mark.parametrize("point", REBASE_POINTS + ["committed"])
def test_ctrl_c_at_each_point_settles_at_once(template: Path, tmp_path: Path, capsys, point: str) -> None:
    branch = branch_copy(template, tmp_path / "pr2")
    proc = rebase_process(branch.repo, f"{point}:INT")
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    lines = err.splitlines()
    assert lines[-1] == "gerhard: interrupted"
    if point in AFTER_COMMIT_POINT:
        assert lines[-2].startswith(f"gerhard: finished an interrupted rebase of pr2 on {branch.base[:12]}")
    else:
        assert lines[-2] == (
            f"gerhard: undid an interrupted rebase of pr2 on {branch.base[:12]}: branch pr2 is back at "
            f"{branch.head[:12]} as before"
        )
    assert not (branch.repo / ".git" / "gerhard-rebase").exists()
    assert outcome(branch, capsys) == ("replayed" if point in AFTER_COMMIT_POINT else "as before")


@pytest.mark.parametrize("point", ["replay-aside", "replay-moved", "replay-step-2", "committed"])
def test_without_heavy_files_here(template: Path, tmp_path: Path, capsys, point: str) -> None:
    branch = branch_copy(template, tmp_path / "pr2", with_heavy=False)
    proc = rebase_process(branch.repo, point)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert outcome(branch, capsys) == "as before"
    assert not (branch.repo / "outputs" / "run_heavy" / "model.pt").exists()


def test_the_next_command_settles_a_killed_rebase(template: Path, tmp_path: Path, capsys) -> None:
    branch = branch_copy(template, tmp_path / "pr2")
    rebase_process(branch.repo, "replay-step-2").communicate()
    status = run(capsys, "status", "--repo", branch.repo)
    assert status.rc == 0
    assert status.err == (
        f"gerhard: undid an interrupted rebase of pr2 on {branch.base[:12]}: branch pr2 is back at "
        f"{branch.head[:12]} as before\n"
    )
    assert outcome(branch, capsys) == "as before"
    done = run(capsys, "rebase", "--repo", branch.repo, "origin/main")  # and the rebase can run again
    assert done.rc == 0, done.err
    assert outcome(branch, capsys) == "replayed"


def test_random_kills_of_the_process_group(template: Path, tmp_path: Path, capsys) -> None:
    """SIGKILL to the rebase and its git processes at random moments (GERHARD_REBASE_KILLS rounds, 20
    by default; a fixed seed picks the same moments each time). Each time, after doctor: as before, or
    the full replay."""
    rounds = int(os.environ.get("GERHARD_REBASE_KILLS", "20"))
    probe = branch_copy(template, tmp_path / "probe")
    started = time.monotonic()
    proc = rebase_process(probe.repo)
    assert proc.wait() == 0, proc.communicate()
    span = time.monotonic() - started
    rng = random.Random(15)
    seen = {"as before": 0, "replayed": 0}
    for n in range(rounds):
        branch = branch_copy(template, tmp_path / f"kill{n}", with_heavy=n % 4 != 3)
        proc = rebase_process(branch.repo, new_session=True)
        time.sleep(rng.uniform(0.2, 1.05) * span)
        with contextlib.suppress(ProcessLookupError):  # it had finished: fine
            os.killpg(proc.pid, signal.SIGKILL)  # the rebase and the git it runs (its own session)
        proc.communicate()
        seen[outcome(branch, capsys)] += 1
        shutil.rmtree(branch.repo)
    print(f"{rounds} random kills: {seen}")


# -- stale stat data ------------------------------------------------------------------------------------


def stale_copy(template: Path, dest: Path) -> Path:
    """The branch copied with `cp -a`: the same content, other stat data (inode, device, ctime) in every file."""
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
    return dest


def test_rebase_in_a_copied_clone(template: Path, tmp_path: Path, capsys) -> None:
    repo = stale_copy(template, tmp_path / "copied")
    before = head_of(repo)
    done = run(capsys, "rebase", "--repo", repo, "origin/main")
    assert done.rc == 0, done.err
    assert head_of(repo) != before
    assert_replayed(Branch(repo, before, git_out(repo, "rev-parse", "origin/main").strip(), {}, ""))


def test_rebase_after_touch_of_a_file_the_base_changed(template: Path, tmp_path: Path, capsys) -> None:
    branch = branch_copy(template, tmp_path / "pr2")
    assert "shared.txt" in git_out(branch.repo, "diff", "--name-only", "HEAD", "origin/main").split()
    later = time.time() + 5
    os.utime(branch.repo / "shared.txt", (later, later))  # the same content, newer stat data
    done = run(capsys, "rebase", "--repo", branch.repo, "origin/main")
    assert done.rc == 0, done.err
    assert_replayed(branch)


# -- locks a killed git left -------------------------------------------------------------------------------


def killed_with_git_locks(template: Path, tmp_path: Path) -> Branch:
    """Killed in the middle of a replay, with the locks a git process killed along with it leaves."""
    branch = branch_copy(template, tmp_path / "pr2")
    rebase_process(branch.repo, "replay-step-2").communicate()
    (branch.repo / ".git" / "index.lock").write_bytes(b"DIRC\0\0\0\2")
    (branch.repo / ".git" / "refs" / "heads" / "pr2.lock").write_text("0" * 40 + "\n")
    return branch


def test_locks_of_a_killed_git_do_not_stop_the_undo(template: Path, tmp_path: Path, capsys) -> None:
    branch = killed_with_git_locks(template, tmp_path)
    assert outcome(branch, capsys) == "as before"
    assert not (branch.repo / ".git" / "refs" / "heads" / "pr2.lock").exists()


def test_while_git_runs_here_its_locks_are_left_and_doctor_says_so(template: Path, tmp_path: Path, capsys) -> None:
    branch = killed_with_git_locks(template, tmp_path)
    git_running = subprocess.Popen(["git", "cat-file", "--batch"], cwd=branch.repo, stdin=subprocess.PIPE)
    try:
        said = run(capsys, "doctor", "--repo", branch.repo)
    finally:
        git_running.communicate(b"")
    assert said.rc == 1
    lock = branch.repo / ".git" / "index.lock"
    assert said.out.splitlines() == [
        f"problem: {lock} is in the way of undoing the interrupted rebase of pr2 on {branch.base[:12]}: wait for "
        "the git command running here to finish (if none is, remove that file), then run 'gerhard doctor'",
        f"problem: {lock} was created 0s ago: a git command is probably running; run doctor again",
    ]
    assert (branch.repo / ".git" / "gerhard-rebase" / "journal.json").exists()
    assert outcome(branch, capsys) == "as before"  # git is done now: doctor undoes it
