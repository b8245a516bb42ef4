"""register --push: many clones registering into one remote; replays recompute, never text-merge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import git_out, register, run
from conftest import git, snapshot

from gerhard.git import gitrepo
from gerhard.git.transaction import CRASH_ENV
from gerhard.registry.bundle import load_bundle


@pytest.fixture
def remote(registry: Path, tmp_path: Path) -> Path:
    """A bare repository holding the scaffolded registry, as a hosting service would."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(registry), str(bare))
    return bare


def clone(remote: Path, dest: Path) -> Path:
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    return dest


def python_m_gerhard(*argv: str | Path, crash: str) -> subprocess.CompletedProcess[str]:
    """`python -m gerhard ARGV` stopped at a crash point (gerhard.git.transaction.checkpoint)."""
    env = dict(os.environ, **{CRASH_ENV: crash})
    return subprocess.run([sys.executable, "-m", "gerhard", *map(str, argv)], env=env, capture_output=True, text=True)


def register_push(repo: Path, run_id: str, phase: str, bundle: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["register", "--repo", str(repo), "--run-id", run_id, "--phase", phase, "--source-dir", str(bundle), *extra]
    return subprocess.run(
        [sys.executable, "-m", "gerhard", *args, "--push", "--summary", f"{run_id} by {repo.name}"],
        capture_output=True,
        text=True,
    )


def landed_seqs(repo: Path) -> list[tuple[str, int]]:
    """(run id, seq) of each registration commit on the first-parent history, oldest first."""
    out = git_out(repo, "log", "--first-parent", "--reverse", "--format=%(trailers:key=Gerhard-Run-Id,valueonly)")
    seqs = []
    for run_id in filter(None, (line.strip() for line in out.splitlines())):
        record = git_out(repo, "show", f"HEAD:state/runs/{run_id}.yaml")
        seq = next(int(line.split()[1]) for line in record.splitlines() if line.startswith("seq:"))
        seqs.append((run_id, seq))
    return seqs


def test_push_lands_when_the_remote_did_not_move(remote: Path, tmp_path: Path, bundle_a: Path) -> None:
    work = clone(remote, tmp_path / "work")
    done = register_push(work, "r1", "A", bundle_a)
    assert done.returncode == 0, done.stderr
    assert "  pushed: review the registration commit in a pull request" in done.stdout
    assert git_out(remote, "rev-parse", "main") == git_out(work, "rev-parse", "HEAD")


def test_push_replays_on_a_moved_remote(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> None:
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    (second / "notes.txt").write_text("the user's own, untracked\n")
    assert register_push(first, "from_first", "A", bundle_a).returncode == 0
    done = register_push(second, "from_second", "A", bundle_a)
    assert done.returncode == 0, done.stderr
    fresh = clone(remote, tmp_path / "fresh")
    assert landed_seqs(fresh) == [("from_first", 1), ("from_second", 2)]
    assert run(capsys, "rebuild", "--check", "--repo", fresh).rc == 0
    assert git_out(second, "status", "--porcelain") == "?? notes.txt\n"
    assert git_out(second, "rev-parse", "HEAD") == git_out(fresh, "rev-parse", "HEAD")
    assert not (gitrepo.info(gitrepo.find_root(second)).git_dir / "gerhard-replay").exists() or not any(
        (second / ".git" / "gerhard-replay").iterdir()
    )


def test_replay_reevaluates_relative_gates(
    remote: Path, tmp_path: Path, bundle_a: Path, bundle_b_green: Path, capsys
) -> None:
    """Two clones each register a GREEN phase-B run that beats the phase's baseline; the second
    one lands after the first, so it is judged against the first's loss, as a replay."""
    setup = clone(remote, tmp_path / "setup")
    assert register_push(setup, "a_done", "A", bundle_a).returncode == 0
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    better = tmp_path / "better"
    shutil.copytree(bundle_b_green, better)
    metrics = json.loads((better / "metrics.json").read_text())
    metrics["final"]["val_loss"] = metrics["final"]["val_loss"] - 0.5
    (better / "metrics.json").write_text(json.dumps(metrics))
    assert register_push(first, "b_better", "B", better).returncode == 0
    done = register_push(second, "b_plain", "B", bundle_b_green)  # GREEN alone, worse than b_better
    assert done.returncode == 0, done.stderr
    record = git_out(second, "show", "HEAD:state/runs/b_plain.yaml")
    assert "seq: 3" in record
    assert run(capsys, "rebuild", "--check", "--repo", second).rc == 0


CHECKPOINT = bytes(range(256)) * 400


def with_checkpoints(bundle: Path, dest: Path) -> Path:
    """The bundle plus files that stay out of git: a checkpoint on top and one in a folder."""
    shutil.copytree(bundle, dest)
    (dest / "model.pt").write_bytes(CHECKPOINT)
    (dest / "ckpt").mkdir()
    (dest / "ckpt" / "last.ckpt").write_bytes(b"last epoch")
    return dest


def test_replay_keeps_heavy_files(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> None:
    """The git-ignored checkpoints stay in outputs/<run_id>/ when the branch moves to the fetched head:
    the replay sets them aside, registers the same bundle again and puts them back."""
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    assert register_push(first, "from_first", "A", bundle_a).returncode == 0
    heavy = with_checkpoints(bundle_a, tmp_path / "heavy")
    done = register_push(second, "from_second", "A", heavy)
    assert done.returncode == 0, done.stderr
    fresh = clone(remote, tmp_path / "fresh")
    assert landed_seqs(fresh) == [("from_first", 1), ("from_second", 2)]
    manifest = json.loads((second / "outputs" / "from_second" / "MANIFEST").read_text())
    assert manifest["bundle_sha256"] == load_bundle(heavy).sha256
    assert [f["path"] for f in manifest["files"] if f.get("stored") == "remote"] == ["ckpt/last.ckpt", "model.pt"]
    assert (fresh / "outputs" / "from_second" / "MANIFEST").read_text() == json.dumps(manifest, indent=2) + "\n"
    assert (second / "outputs" / "from_second" / "model.pt").read_bytes() == CHECKPOINT
    assert (second / "outputs" / "from_second" / "ckpt" / "last.ckpt").read_bytes() == b"last epoch"
    tree = git_out(fresh, "ls-tree", "-r", "--name-only", "HEAD", "outputs/from_second/").split()
    assert "outputs/from_second/model.pt" not in tree and "outputs/from_second/.gitignore" in tree
    assert git_out(second, "status", "--porcelain", "--ignored=no") == ""
    assert git_out(second, "rev-parse", "HEAD") == git_out(fresh, "rev-parse", "HEAD")
    assert not (second / ".git" / "gerhard-replay").exists()
    assert run(capsys, "rebuild", "--check", "--repo", fresh).rc == 0


def test_replay_keeps_the_manifest_when_the_heavy_rule_moved(
    remote: Path, tmp_path: Path, bundle_a: Path, capsys
) -> None:
    """The remote's program.yaml now keeps only *.npy out of git: the replayed run is still the bundle
    registered here, its checkpoints stored remote (never committed because the rule changed)."""
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    program = first / "state" / "program.yaml"
    program.write_text(program.read_text() + "heavy:\n  patterns: ['*.npy']\n")
    git(first, "commit", "-q", "-am", "only *.npy is heavy now")
    git(first, "push", "-q", "origin", "main")
    done = register_push(second, "from_second", "A", with_checkpoints(bundle_a, tmp_path / "heavy"))
    assert done.returncode == 0, done.stderr
    fresh = clone(remote, tmp_path / "fresh")
    manifest = json.loads((fresh / "outputs" / "from_second" / "MANIFEST").read_text())
    assert [f["path"] for f in manifest["files"] if f.get("stored") == "remote"] == ["ckpt/last.ckpt", "model.pt"]
    assert not (fresh / "outputs" / "from_second" / "model.pt").exists()
    assert (second / "outputs" / "from_second" / "model.pt").read_bytes() == CHECKPOINT


def test_a_refused_replay_leaves_the_clone_as_before(remote: Path, tmp_path: Path, bundle_a: Path) -> None:
    """The remote got the same run id with other content: the replay is refused and the command undone,
    exit 2 meaning nothing changed: the branch, index and work tree as before it, no checkpoint copied."""
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    assert register_push(first, "same_id", "A", bundle_a).returncode == 0
    before = snapshot(second)
    done = register_push(second, "same_id", "A", with_checkpoints(bundle_a, tmp_path / "heavy"))
    assert done.returncode == 2
    assert done.stderr == (
        "gerhard register: error: run same_id cannot be replayed on origin/main (run same_id is already registered "
        f"with different content (bundle sha256 {load_bundle(bundle_a).sha256[:12]}, this one "
        f"{load_bundle(tmp_path / 'heavy').sha256[:12]}): register it under a new --run-id); nothing was registered "
        "or pushed (the clone is as before the command)\n"
    )
    assert_as_before(second, before)
    assert (tmp_path / "heavy" / "model.pt").read_bytes() == CHECKPOINT  # the source is the user's, untouched


def assert_as_before(repo: Path, before: dict) -> None:
    """HEAD, every work-tree file and the index's content as before (only the fetched tracking ref moved)."""
    after = snapshot(repo)
    assert after["head"] == before["head"]
    assert {k: v for k, v in after["files"].items() if before["files"].get(k) != v} == {}
    assert [k for k in before["files"] if k not in after["files"]] == []
    assert git_out(repo, "status", "--porcelain", "--ignored") == ""
    assert not (repo / ".git" / "gerhard-rebase").exists()


def test_push_without_upstream_is_one_line(registry: Path, bundle_a: Path, capsys) -> None:
    before = snapshot(registry)
    result = register(capsys, registry, "r1", "A", bundle_a, "--push")
    assert result.rc == 2
    assert result.err == (
        "gerhard register: error: branch main has no upstream to push to: push it once with "
        "'git push -u origin main', then register with --push\n"
    )
    assert snapshot(registry) == before


def test_push_with_unpushed_commits_of_the_user_is_refused(
    remote: Path, tmp_path: Path, bundle_a: Path, capsys
) -> None:
    work = clone(remote, tmp_path / "work")
    (work / "mine.txt").write_text("mine\n")
    git(work, "add", "mine.txt")
    git(work, "commit", "-q", "-m", "mine")
    result = register(capsys, work, "r1", "A", bundle_a, "--push")
    assert result.rc == 2
    assert result.err == (
        "gerhard register: error: the branch has 1 commit(s) not on origin/main: push or drop them first "
        "(git push), then register with --push\n"
    )


RERUNS = 6
KEPT_MOVING = "were rejected; nothing was registered or pushed (the clone is as before the command)\n"


def test_four_clones_pushing_five_runs_each(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> None:
    clones = [clone(remote, tmp_path / f"clone{n}") for n in range(4)]
    failures: list[str] = []

    def work(repo: Path) -> None:
        for k in range(5):
            # On a slow, busy machine the others can win every one of the bounded retries: the command then
            # leaves the clone as before and says so, and running it again (as a person would) must land it.
            for _ in range(RERUNS):
                done = register_push(repo, f"{repo.name}_run{k}", "A", bundle_a, "--allow-duplicate")
                if done.returncode == 0 or not done.stderr.endswith(KEPT_MOVING):
                    break
            if done.returncode != 0:
                failures.append(done.stderr)

    threads = [threading.Thread(target=work, args=(c,)) for c in clones]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    fresh = clone(remote, tmp_path / "fresh")
    seqs = landed_seqs(fresh)
    assert len(seqs) == 20
    assert [seq for _, seq in seqs] == list(range(1, 21))  # sequence numbers follow the landing order
    assert run(capsys, "rebuild", "--check", "--repo", fresh).rc == 0
    grep = subprocess.run(["git", "grep", "-n", "^<<<<<<< "], cwd=fresh, capture_output=True)
    assert grep.returncode == 1  # no conflict markers anywhere


def test_eight_registrations_at_once_in_one_clone(registry: Path, bundle_a: Path, capsys) -> None:
    """They serialize on the registry lock: 8 commits, none lost, derived files consistent."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gerhard",
                "register",
                "--repo",
                str(registry),
                "--run-id",
                f"at_once_{n}",
                "--phase",
                "A",
                "--source-dir",
                str(bundle_a),
                "--allow-duplicate",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for n in range(8)
    ]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    assert sorted(s for _, s in landed_seqs(registry)) == list(range(1, 9))
    assert git_out(registry, "status", "--porcelain") == ""
    assert run(capsys, "rebuild", "--check", "--repo", registry).rc == 0


# -- stale stat data, and exit 2 meaning nothing changed ----------------------------------------------------


def teammate_pushes(remote: Path, tmp_path: Path, bundle_a: Path) -> None:
    """A teammate registers a run and edits a shared file of the repository (.gitignore), and pushes."""
    mate = clone(remote, tmp_path / "mate")
    (mate / ".gitignore").write_text((mate / ".gitignore").read_text() + "*.tmp\n")
    git(mate, "commit", "-q", "-am", "ignore *.tmp")
    git(mate, "push", "-q", "origin", "main")
    assert register_push(mate, "from_mate", "A", bundle_a).returncode == 0


@pytest.mark.parametrize("stale", ["cp -a", "touch"])
def test_push_from_a_clone_with_stale_stat_data(remote: Path, tmp_path: Path, bundle_a: Path, stale: str) -> None:
    """The same content with other stat data (a copied clone, a touched file) is no reason to refuse the
    replay: the run is registered and pushed."""
    mine = clone(remote, tmp_path / "mine")
    teammate_pushes(remote, tmp_path, bundle_a)
    if stale == "cp -a":
        subprocess.run(["cp", "-a", str(mine), str(tmp_path / "copied")], check=True)
        mine = tmp_path / "copied"
    else:
        later = time.time() + 5
        os.utime(mine / ".gitignore", (later, later))
    done = register_push(mine, "from_mine", "A", bundle_a)
    assert done.returncode == 0, done.stderr
    fresh = clone(remote, tmp_path / "fresh")
    assert landed_seqs(fresh) == [("from_mate", 1), ("from_mine", 2)]
    assert git_out(mine, "rev-parse", "HEAD") == git_out(fresh, "rev-parse", "HEAD")
    assert git_out(mine, "status", "--porcelain") == ""


def test_a_push_the_remote_declines_leaves_the_clone_as_before(remote: Path, tmp_path: Path, bundle_a: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    work = clone(remote, tmp_path / "work")
    before = snapshot(work)
    done = register_push(work, "r1", "A", with_checkpoints(bundle_a, tmp_path / "heavy"))
    assert done.returncode == 2
    assert done.stderr.startswith("gerhard register: error: the push to origin failed (failed to push some refs to ")
    assert done.stderr.endswith(
        "): check the remote and your network, then register again with --push; nothing was registered or pushed "
        "(the clone is as before the command)\n"
    )
    assert_as_before(work, before)


def test_a_refused_replay_of_a_run_registered_in_place_keeps_its_folder(
    remote: Path, tmp_path: Path, bundle_a: Path
) -> None:
    """The notebook wrote its run into outputs/<run_id>/ and registered it there with --push: undone,
    that folder is as the notebook left it (no MANIFEST, no .gitignore), its checkpoints included."""
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    assert register_push(first, "same_id", "A", bundle_a).returncode == 0
    in_place = with_checkpoints(bundle_a, second / "outputs" / "same_id")
    before = snapshot(second)
    done = register_push(second, "same_id", "A", in_place)
    assert done.returncode == 2
    assert done.stderr.endswith("; nothing was registered or pushed (the clone is as before the command)\n")
    after = snapshot(second)
    assert (after["head"], after["files"]) == (before["head"], before["files"])
    assert git_out(second, "status", "--porcelain") == "?? outputs/same_id/\n"


@pytest.mark.parametrize("point", ["push-registered", "replay-moved", "push-done"])
def test_a_killed_push_is_undone_or_finished_by_doctor(
    remote: Path, tmp_path: Path, bundle_a: Path, capsys, point: str
) -> None:
    """SIGKILL before the push landed: doctor leaves the clone as before the command (the checkpoints it
    copied gone too); after it: the run is registered and pushed."""
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    assert register_push(first, "from_first", "A", bundle_a).returncode == 0  # so that second replays
    before = snapshot(second)
    args = ["register", "--repo", second, "--run-id", "from_second", "--phase", "A", "--push"]
    killed = python_m_gerhard(*args, "--source-dir", with_checkpoints(bundle_a, tmp_path / "heavy"), crash=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    said = run(capsys, "doctor", "--repo", second)
    assert said.rc == 0, said
    if point == "push-done":
        assert said.out.startswith("finished an interrupted register --push of run from_second: the run is registered")
        fresh = clone(remote, tmp_path / "fresh")
        assert landed_seqs(fresh) == [("from_first", 1), ("from_second", 2)]
        assert git_out(second, "rev-parse", "HEAD") == git_out(fresh, "rev-parse", "HEAD")
        assert (second / "outputs" / "from_second" / "model.pt").read_bytes() == CHECKPOINT
        assert git_out(second, "status", "--porcelain") == ""
    else:
        assert "undid an interrupted register --push" in said.out and " as before" in said.out
        assert_as_before(second, before)
        assert git_out(remote, "log", "--format=%s", "main").count("register from_second") == 0


def test_a_run_registered_with_allow_missing_is_replayed_on_a_moved_remote(
    remote: Path, tmp_path: Path, bundle_a: Path
) -> None:
    """The replay registers again what was accepted: the typo guard (gerhard.core.metricnames) is not asked twice."""
    first, second = clone(remote, tmp_path / "first"), clone(remote, tmp_path / "second")
    assert register_push(first, "from_first", "A", bundle_a).returncode == 0
    metrics = bundle_a / "metrics.json"
    metrics.write_text(metrics.read_text().replace('"val_loss": 2.41', '"val_los": 2.41'))
    assert register_push(second, "typo", "A", bundle_a).returncode == 2
    done = register_push(second, "typo", "A", bundle_a, "--allow-missing")
    assert done.returncode == 0, done.stderr
    assert landed_seqs(clone(remote, tmp_path / "fresh")) == [("from_first", 1), ("typo", 2)]
