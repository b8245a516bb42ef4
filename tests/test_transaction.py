"""The transaction under crashes: killed (SIGKILL, SIGINT, SIGTERM) at every step and at random moments.

After a crash the repository is exactly as before, or, once the next gerhard command or
`gerhard doctor` has run, exactly "fully registered"; a plain `git commit` in between never
reverts a registration; the user's own staged, unstaged and untracked work is intact.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import USERS_STATUS, add_users_work, assert_users_work, git_out, register_ok, run
from conftest import RUN_A, RUN_B, git, leftovers, snapshot
from ruamel.yaml import YAML

from gerhard.git import gitrepo, journal, transaction

STEPS = ["locked", "planned", "worktree", "prepared", "swapped", "committed"]
AFTER_COMMIT_POINT = {"committed"}


@pytest.fixture
def busy(registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A registry with one run, and the user's own work: an unstaged edit, a staged file, an untracked file."""
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    add_users_work(registry)
    return registry


def register_process(repo: Path, run_id: str, bundle: Path, crash: str | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop(transaction.CRASH_ENV, None)
    if crash:
        env[transaction.CRASH_ENV] = crash
    args = ["register", "--repo", str(repo), "--run-id", run_id, "--phase", "B", "--source-dir", str(bundle)]
    return subprocess.Popen(
        [sys.executable, "-m", "gerhard", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Ctrl-C as in a terminal, also when the tests themselves run in the background (nohup, CI), where
        # SIGINT is ignored and Python would not turn it into KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def landed(repo: Path, run_id: str) -> bool:
    return f"register {run_id} " in git_out(repo, "log", "--format=%s")


def assert_user_work_intact(repo: Path) -> None:
    assert_users_work(repo)
    expected = USERS_STATUS if not user_committed_staged(repo) else USERS_STATUS[1:]
    assert git_out(repo, "status", "--porcelain").splitlines() == expected


def user_committed_staged(repo: Path) -> bool:
    """The random-kill loop's own `git commit`s take the user's staged file along."""
    return subprocess.run(["git", "cat-file", "-e", "HEAD:staged.txt"], cwd=repo, capture_output=True).returncode == 0


def assert_fully_registered(repo: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert leftovers(repo) == []
    assert landed(repo, run_id)
    git(repo, "cat-file", "-e", f"HEAD:state/runs/{run_id}.yaml")
    git(repo, "cat-file", "-e", f"HEAD:outputs/{run_id}/MANIFEST")
    # index and work tree hold exactly the commit, apart from the user's own changes
    assert git_out(repo, "diff", "--cached", "--name-only").splitlines() == ["staged.txt"]
    assert git_out(repo, "diff", "--name-only").splitlines() == ["user.txt"]
    assert_user_work_intact(repo)
    assert run(capsys, "rebuild", "--check", "--repo", repo).rc == 0


def assert_as_before(repo: Path, run_id: str, before: dict[str, object]) -> None:
    assert leftovers(repo) == []
    assert not landed(repo, run_id)
    assert snapshot(repo) == before
    assert_user_work_intact(repo)


def doctor(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    result = run(capsys, "doctor", "--repo", repo)
    assert result.rc == 0, result
    return result.out


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_doctor(busy: Path, bundle_b_red: Path, capsys, step: str) -> None:
    before = snapshot(busy)
    proc = register_process(busy, RUN_B, bundle_b_red, crash=step)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    # git itself refuses to commit over the registration's lock: nothing can revert it meanwhile
    refused = subprocess.run(["git", "commit", "-q", "-m", "user"], cwd=busy, capture_output=True, text=True)
    assert refused.returncode != 0 and "index.lock" in refused.stderr
    said = doctor(busy, capsys)
    if step in AFTER_COMMIT_POINT:
        assert said.startswith(f"finished an interrupted transaction (register {RUN_B} (phase B)")
        assert_fully_registered(busy, RUN_B, capsys)
    else:
        assert said.startswith(f"undid an interrupted transaction (register {RUN_B} (phase B)") or step == "locked"
        assert_as_before(busy, RUN_B, before)
    assert doctor(busy, capsys).startswith("all is well")


@pytest.mark.parametrize("step", STEPS)
def test_ctrl_c_at_each_step_settles_at_once(busy: Path, bundle_b_red: Path, capsys, step: str) -> None:
    before = snapshot(busy)
    proc = register_process(busy, RUN_B, bundle_b_red, crash=f"{step}:INT")
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    said = err.decode().splitlines()
    assert said[-1] == "gerhard: interrupted"
    what = "finished" if step in AFTER_COMMIT_POINT else "undid"
    assert said[0].startswith(f"gerhard: {what} an interrupted transaction (register {RUN_B} (phase B)")
    if step in AFTER_COMMIT_POINT:
        assert_fully_registered(busy, RUN_B, capsys)
    else:
        assert_as_before(busy, RUN_B, before)


def test_sigterm_during_the_transaction_undoes_it(busy: Path, bundle_b_red: Path) -> None:
    before = snapshot(busy)
    hook = busy / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {busy / '.git' / 'in-hook'}\nsleep 30\n")
    hook.chmod(0o755)
    proc = register_process(busy, RUN_B, bundle_b_red)
    deadline = time.monotonic() + 20
    while not (busy / ".git" / "in-hook").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    hook.unlink()
    (busy / ".git" / "in-hook").unlink()
    assert_as_before(busy, RUN_B, before)


def test_the_next_gerhard_command_settles_a_crash(busy: Path, bundle_b_red: Path, capsys) -> None:
    proc = register_process(busy, RUN_B, bundle_b_red, crash="committed")
    proc.communicate()
    status = run(capsys, "status", "--repo", busy)
    assert status.rc == 0
    assert status.err.startswith(f"gerhard: finished an interrupted transaction (register {RUN_B} (phase B)")
    assert_fully_registered(busy, RUN_B, capsys)


def test_pre_commit_hook_refuses_a_commit_while_a_crash_is_unsettled(busy: Path, bundle_b_red: Path, capsys) -> None:
    """Someone removes the stale index.lock by hand (as git's message suggests): gerhard's own hook
    stops the `git commit` that would revert the registration."""
    hooks = busy / ".git" / "hooks"
    (hooks / "pre-commit").write_text(f"#!/bin/sh\nexec {sys.executable} -m gerhard hook pre-commit\n")
    (hooks / "pre-commit").chmod(0o755)
    proc = register_process(busy, RUN_B, bundle_b_red, crash="committed")
    proc.communicate()
    (busy / ".git" / "index.lock").unlink()
    user = subprocess.run(["git", "commit", "-q", "-m", "user"], cwd=busy, capture_output=True, text=True)
    assert user.returncode == 1
    assert user.stderr.strip() == (
        f"gerhard: an interrupted transaction (register {RUN_B} (phase B): RED 2/6 gates passed) is not settled, "
        "and this commit could undo it: run 'gerhard doctor', then commit again"
    )
    said = doctor(busy, capsys)
    assert said.startswith("finished an interrupted transaction")
    assert_fully_registered(busy, RUN_B, capsys)


def test_random_kills_never_half_register(busy: Path, bundle_b_red: Path, capsys) -> None:
    """SIGKILL at a random moment, 100 times (GERHARD_CRASH_LOOP to change): every registration is
    whole or absent after doctor, and a user's `git commit` in between never reverts one."""
    rounds = int(os.environ.get("GERHARD_CRASH_LOOP", "100"))
    started = time.monotonic()
    register_process(busy, "probe_run", bundle_b_red).communicate()
    span = time.monotonic() - started
    rng = random.Random(7)
    outcomes = {"landed": 0, "absent": 0}
    for n in range(rounds):
        run_id = f"kill_{n:03d}"
        proc = register_process(busy, run_id, bundle_b_red)
        time.sleep(rng.uniform(0.45, 1.05) * span)
        proc.kill()
        proc.communicate()
        if n % 3 == 0:  # the user commits at once, before any gerhard command ran
            subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", f"user {n}"], cwd=busy, capture_output=True)
        doctor(busy, capsys)
        assert leftovers(busy) == [], n
        if landed(busy, run_id):
            outcomes["landed"] += 1
            git(busy, "cat-file", "-e", f"HEAD:state/runs/{run_id}.yaml")  # not reverted by the user's commit
            staged = [] if user_committed_staged(busy) else ["staged.txt"]
            assert git_out(busy, "diff", "--cached", "--name-only").splitlines() == staged, n
        else:
            outcomes["absent"] += 1
            assert not (busy / "outputs" / run_id).exists(), n
            assert not (busy / "state" / "runs" / f"{run_id}.yaml").exists(), n
        assert_user_work_intact(busy)
    assert run(capsys, "rebuild", "--check", "--repo", busy).rc == 0
    assert git_out(busy, "fsck", "--no-dangling").strip() == ""
    print(f"{rounds} random kills: {outcomes}")


def test_git_commands_running_alongside_never_revert_a_registration(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's `git add` + `git commit` loop runs during 20 registrations: each registration lands
    whole or is refused in one line; none is reverted by a commit made meanwhile."""
    import threading

    stop = threading.Event()

    def user_loop() -> None:
        n = 0
        while not stop.is_set():
            (registry / f"user_{n}.txt").write_text(f"{n}\n")
            for args in (["add", f"user_{n}.txt"], ["commit", "-q", "-m", f"user {n}"]):
                subprocess.run(["git", *args], cwd=registry, capture_output=True)
            n += 1

    user = threading.Thread(target=user_loop)
    user.start()
    outcomes: dict[str, str] = {}
    try:
        for n in range(20):
            run_id = f"busy_{n:02d}"
            proc = subprocess.run(
                [sys.executable, "-m", "gerhard", "register", "--repo", str(registry), "--run-id", run_id,
                 "--phase", "A", "--source-dir", str(bundle_a), "--allow-duplicate"],
                capture_output=True, text=True,
            )  # fmt: skip
            if proc.returncode == 0:
                outcomes[run_id] = "landed"
            else:
                assert proc.returncode == 2, proc.stderr
                assert len(proc.stderr.splitlines()) == 1, proc.stderr
                assert "index.lock exists" in proc.stderr or "moved while registering" in proc.stderr, proc.stderr
                outcomes[run_id] = "refused"
    finally:
        stop.set()
        user.join()
    assert leftovers(registry) == []
    for run_id, outcome in outcomes.items():
        in_head = subprocess.run(["git", "cat-file", "-e", f"HEAD:state/runs/{run_id}.yaml"], cwd=registry)
        assert (in_head.returncode == 0) == (outcome == "landed"), run_id
        if outcome == "refused":
            assert not (registry / "outputs" / run_id).exists()
    assert "landed" in outcomes.values()
    tracked = [line for line in git_out(registry, "status", "--porcelain").splitlines() if not line.startswith("??")]
    assert all(line[3:].startswith("user_") for line in tracked), tracked  # only the user's own files
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_a_bundle_rewritten_during_registration_gives_one_consistent_record(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """metrics.json rewritten in place in a loop while registering: the record's metrics, the
    archived file and its MANIFEST entry always come from the same bytes (or the run is refused)."""
    import hashlib
    import json
    import threading

    from cli_helpers import register

    metrics = bundle_a / "metrics.json"
    versions = [json.dumps({"final": {"val_loss": v, "train_loss": v}}).encode() for v in (1.5, 2.5)]
    stop = threading.Event()

    def rewrite() -> None:
        n = 0
        while not stop.is_set():
            with open(metrics, "wb") as f:  # in place: a reader can also see it empty or half-written
                f.write(versions[n % 2])
            n += 1
            time.sleep(0.0005)  # mostly whole files, sometimes a half-written one

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        results = [register(capsys, registry, f"rewrite_{n:02d}", "A", bundle_a) for n in range(10)]
    finally:
        stop.set()
        writer.join()
    landed = 0
    for n, result in enumerate(results):
        run_id = f"rewrite_{n:02d}"
        if result.rc != 0:
            assert result.rc == 2 and len(result.err.splitlines()) == 1, result.err
            continue
        landed += 1
        archived = (registry / "outputs" / run_id / "metrics.json").read_bytes()
        manifest = json.loads((registry / "outputs" / run_id / "MANIFEST").read_text())
        entry = next(f for f in manifest["files"] if f["path"] == "metrics.json")
        assert entry["sha256"] == hashlib.sha256(archived).hexdigest()
        assert entry["size"] == len(archived)
        record = YAML(typ="safe").load((registry / "state" / "runs" / f"{run_id}.yaml").read_text())
        assert record["metrics"]["val_loss"] == json.loads(archived)["final"]["val_loss"]
    assert landed > 0, [r.err for r in results]
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


def test_a_finished_journal_leaves_at_once_and_its_trash_is_emptied(tmp_path: Path) -> None:
    """finish() renames the journal folder away (no journal is left to settle) and a thread deletes it;
    what a process ending first leaves, the next one's thread deletes (here called directly)."""
    git(tmp_path, "init", "-q")
    repo = gitrepo.info(tmp_path)
    folder = journal.txn_dir(repo)
    (folder / "backup").mkdir(parents=True)
    (folder / "backup" / "0").write_text("old\n")
    journal.discard(repo, folder)
    assert not folder.exists() and journal.load(repo) is None
    trash = repo.git_dir / journal.TRASH_DIR
    (trash / "left-by-a-killed-process" / "backup").mkdir(parents=True)
    journal._empty(trash)
    assert list(trash.iterdir()) == []


def test_the_trash_of_finished_commands_does_not_grow(registry: Path, bundle_a: Path) -> None:
    """Each command ends milliseconds after its commit; its finished journal (an index copy included when
    a hook ran) is deleted by an `rm` that outlives it, with what earlier ones left: the trash is emptied,
    not one folder a registration. (Polled: the rm is not waited for by design.)"""
    trash = registry / ".git" / journal.TRASH_DIR
    for n in range(3):
        proc = subprocess.run(
            [sys.executable, "-m", "gerhard", "register", "--repo", str(registry), "--run-id", f"t{n}",
             "--phase", "A", "--source-dir", str(bundle_a), "--allow-duplicate"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    (trash / "left-by-a-killed-process" / "backup").mkdir(parents=True)  # emptied by the next command's rm
    proc = subprocess.run(
        [sys.executable, "-m", "gerhard", "register", "--repo", str(registry), "--run-id", "t3",
         "--phase", "A", "--source-dir", str(bundle_a), "--allow-duplicate"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for _ in range(600):  # up to a minute on a loaded machine; a few milliseconds on an idle one
        if not trash.exists() or not any(trash.iterdir()):
            break
        time.sleep(0.1)
    assert list(trash.iterdir()) == []
