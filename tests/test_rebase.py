"""gerhard rebase: two pull requests that each register a run both merge, as a hosting service merges."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, git_out, register_ok, run
from conftest import git, snapshot
from pr_helpers import bare_remote, clone, host, plain

from gerhard.git.transaction import CRASH_ENV


@pytest.fixture
def remote(registry: Path, tmp_path: Path) -> Path:
    return bare_remote(registry, tmp_path)


def host_merge(remote: Path, tmp_path: Path, branch: str) -> subprocess.CompletedProcess[str]:
    """What a hosting service does: a plain merge of the pull-request branch into main, no custom driver."""
    where = host(remote, tmp_path)
    git(where, "fetch", "-q", "origin", branch)
    merged = plain(where, "merge", "--no-ff", "-m", f"Merge {branch}", f"origin/{branch}")
    if merged.returncode == 0:
        git(where, "push", "-q", "origin", "main")
    return merged


def test_second_pull_request_merges_after_gerhard_rebase(
    remote: Path, tmp_path: Path, bundle_a: Path, bundle_b_red: Path, capsys
) -> None:
    pr1, pr2 = clone(remote, tmp_path / "pr1", "pr1"), clone(remote, tmp_path / "pr2", "pr2")
    register_ok(capsys, pr1, "run_pr1", "A", bundle_a)
    git(pr1, "push", "-q", "origin", "pr1")
    register_ok(capsys, pr2, "run_pr2", "A", bundle_a)
    (pr2 / "notes.md").write_text("a note of the author\n")
    git(pr2, "add", "notes.md")
    git(pr2, "commit", "-q", "-m", "notes")
    git(pr2, "push", "-q", "origin", "pr2")
    assert host_merge(remote, tmp_path, "pr1").returncode == 0
    # Off the default branch a registration writes only its run's own files (issue 16), so pr2 would merge as
    # it is; the rebase registers its run on top of pr1's (gates against the baselines there, the next seq).
    git(pr2, "fetch", "-q", "origin")
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert done.rc == 0, done.err
    assert done.out.splitlines()[0].startswith("replayed run run_pr2: GREEN (unchanged), commit ")
    assert done.out.splitlines()[1:] == [
        "cherry-picked: notes",
        "next: git push --force-with-lease (the branch was rewritten on its base)",
    ]
    assert run(capsys, "rebuild", "--check", "--repo", pr2).rc == 0
    git(pr2, "push", "-q", "--force-with-lease", "origin", "pr2")
    assert host_merge(remote, tmp_path, "pr2").returncode == 0
    merged = clone(remote, tmp_path / "merged")
    record = git_out(merged, "show", "HEAD:state/runs/run_pr2.yaml")
    assert "seq: 2" in record
    assert (merged / "notes.md").read_text() == "a note of the author\n"


def test_rebase_reevaluates_gates_and_says_so(
    remote: Path, tmp_path: Path, bundle_a: Path, bundle_b_green: Path, capsys
) -> None:
    setup = clone(remote, tmp_path / "setup")
    register_ok(capsys, setup, "a_done", "A", bundle_a)
    git(setup, "push", "-q", "origin", "main")
    pr1, pr2 = clone(remote, tmp_path / "pr1", "pr1"), clone(remote, tmp_path / "pr2", "pr2")
    better = tmp_path / "better"
    shutil.copytree(bundle_b_green, better)
    metrics = json.loads((better / "metrics.json").read_text())
    metrics["final"]["val_loss"] -= 0.5
    (better / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, pr1, "b_better", "B", better)
    git(pr1, "push", "-q", "origin", "pr1")
    register_ok(capsys, pr2, "b_plain", "B", bundle_b_green)
    assert host_merge(remote, tmp_path, "pr1").returncode == 0
    git(pr2, "fetch", "-q", "origin")
    done = run(capsys, "rebase", "--repo", pr2, "origin/main", "--json")
    assert done.rc == 0, done.err
    (replayed,) = json.loads(done.out)["replayed"]
    assert (replayed["run_id"], replayed["before"]) == ("b_plain", "GREEN")
    assert replayed["after"] in ("GREEN", "AMBER", "RED")
    assert run(capsys, "rebuild", "--check", "--repo", pr2).rc == 0


def test_rebase_with_nothing_to_replay(remote: Path, tmp_path: Path, capsys) -> None:
    work = clone(remote, tmp_path / "work")
    done = run(capsys, "rebase", "--repo", work)
    assert (done.rc, done.out) == (0, "nothing to replay: the branch has no commits of its own on top of its base\n")


def test_rebase_on_an_unknown_base_is_one_line(registry: Path, capsys) -> None:
    done = run(capsys, "rebase", "--repo", registry, "origin/nowhere")
    assert done.rc == 2
    assert done.err == (
        "gerhard rebase: error: origin/nowhere is not a commit here: fetch it first (git fetch origin), "
        "then pass it again\n"
    )


def pull_requests_with_a_checkpoint(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> tuple[Path, bytes]:
    """pr1 lands first; pr2 registered a run whose checkpoint stays out of git (stored remote)."""
    pr1, pr2 = clone(remote, tmp_path / "pr1", "pr1"), clone(remote, tmp_path / "pr2", "pr2")
    register_ok(capsys, pr1, "run_pr1", "A", bundle_a)
    git(pr1, "push", "-q", "origin", "pr1")
    checkpoint = bytes(range(256)) * 400
    heavy = tmp_path / "heavy_bundle"
    shutil.copytree(bundle_a, heavy)
    (heavy / "model.pt").write_bytes(checkpoint)
    (heavy / "ckpt").mkdir()
    (heavy / "ckpt" / "last.ckpt").write_bytes(b"last epoch")
    register_ok(capsys, pr2, "run_heavy", "A", heavy)
    git(pr2, "push", "-q", "origin", "pr2")
    assert host_merge(remote, tmp_path, "pr1").returncode == 0
    git(pr2, "fetch", "-q", "origin")
    return pr2, checkpoint


def test_rebase_keeps_heavy_files(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> None:
    pr2, checkpoint = pull_requests_with_a_checkpoint(remote, tmp_path, bundle_a, capsys)
    before = load_json(pr2 / "outputs" / "run_heavy" / "MANIFEST")
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert done.rc == 0, done.err
    assert done.out.splitlines()[0].startswith("replayed run run_heavy: GREEN (unchanged), commit ")
    # The same bundle, the same MANIFEST (the heavy files still stored remote), the local copies kept.
    assert load_json(pr2 / "outputs" / "run_heavy" / "MANIFEST") == before
    assert "stored remote" not in done.err
    assert (pr2 / "outputs" / "run_heavy" / "model.pt").read_bytes() == checkpoint
    assert (pr2 / "outputs" / "run_heavy" / "ckpt" / "last.ckpt").read_bytes() == b"last epoch"
    tree = git_out(pr2, "ls-tree", "-r", "--name-only", "HEAD", "outputs/run_heavy/").split()
    assert "outputs/run_heavy/model.pt" not in tree and "outputs/run_heavy/.gitignore" in tree
    record = git_out(pr2, "show", "HEAD:state/runs/run_heavy.yaml")
    assert f"bundle_sha256: {before['bundle_sha256']}" in record
    assert "remote_files:\n  - ckpt/last.ckpt\n  - model.pt\n" in record
    assert git_out(pr2, "status", "--porcelain", "--ignored=no") == ""
    assert not (pr2 / ".git" / "gerhard-rebase").exists()
    assert run(capsys, "rebuild", "--check", "--repo", pr2).rc == 0


def assert_replayed_as_registered(repo: Path, before: dict, done) -> None:
    """The same bundle and MANIFEST (heavy files still stored remote) on the new base."""
    assert done.rc == 0, done.err
    assert done.out.splitlines()[0].startswith("replayed run run_heavy: GREEN (unchanged), commit ")
    assert load_json(repo / "outputs" / "run_heavy" / "MANIFEST") == before
    record = git_out(repo, "show", "HEAD:state/runs/run_heavy.yaml")
    assert f"bundle_sha256: {before['bundle_sha256']}" in record
    assert "remote_files:\n  - ckpt/last.ckpt\n  - model.pt\n" in record
    assert git_out(repo, "status", "--porcelain", "--ignored=no") == ""
    assert not (repo / ".git" / "gerhard-rebase").exists()


def test_rebase_without_the_heavy_files_replays_them_as_listed(
    remote: Path, tmp_path: Path, bundle_a: Path, capsys
) -> None:
    """Another machine checked the branch out and never ran 'gerhard sync pull': its rebase replays the
    run from the MANIFEST, the checkpoints' bytes stay where they are (the remote store, the first clone)."""
    pr2, _ = pull_requests_with_a_checkpoint(remote, tmp_path, bundle_a, capsys)
    before = load_json(pr2 / "outputs" / "run_heavy" / "MANIFEST")
    elsewhere = clone(remote, tmp_path / "elsewhere")
    git(elsewhere, "switch", "-q", "pr2")
    assert not (elsewhere / "outputs" / "run_heavy" / "model.pt").exists()
    done = run(capsys, "rebase", "--repo", elsewhere, "origin/main")
    assert_replayed_as_registered(elsewhere, before, done)
    assert not (elsewhere / "outputs" / "run_heavy" / "model.pt").exists()
    assert not (elsewhere / "outputs" / "run_heavy" / "ckpt").exists()
    assert run(capsys, "rebuild", "--check", "--repo", elsewhere).rc == 0


def test_rebase_with_some_heavy_files_here_keeps_those(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> None:
    pr2, _ = pull_requests_with_a_checkpoint(remote, tmp_path, bundle_a, capsys)
    before = load_json(pr2 / "outputs" / "run_heavy" / "MANIFEST")
    (pr2 / "outputs" / "run_heavy" / "model.pt").unlink()
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert_replayed_as_registered(pr2, before, done)
    assert not (pr2 / "outputs" / "run_heavy" / "model.pt").exists()
    assert (pr2 / "outputs" / "run_heavy" / "ckpt" / "last.ckpt").read_bytes() == b"last epoch"


def test_rebase_refuses_a_heavy_file_changed_since_it_was_registered(
    remote: Path, tmp_path: Path, bundle_a: Path, capsys
) -> None:
    pr2, _ = pull_requests_with_a_checkpoint(remote, tmp_path, bundle_a, capsys)
    (pr2 / "outputs" / "run_heavy" / "ckpt" / "last.ckpt").write_bytes(b"next epoch")  # same size, other bytes
    before = snapshot(pr2)
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert_one_line_error(done)
    assert done.err == (
        "gerhard rebase: error: outputs/run_heavy/ckpt/last.ckpt changed since run run_heavy was registered (its "
        "MANIFEST lists 10 bytes, sha256 abc01da90e4d…): the replayed run must carry the same bytes; move yours "
        "away and fetch the registered one with 'gerhard sync pull --run-id run_heavy', then rebase again\n"
    )
    assert snapshot(pr2) == before  # refused before anything moved
    assert not (pr2 / ".git" / "gerhard-rebase").exists()


def test_a_failed_replay_puts_the_heavy_files_back(
    remote: Path, tmp_path: Path, bundle_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gerhard.flows.registration
    from gerhard.errors import UserError

    pr2, checkpoint = pull_requests_with_a_checkpoint(remote, tmp_path, bundle_a, capsys)
    before = snapshot(pr2)
    seen = []
    aside = pr2 / ".git" / "gerhard-rebase" / "heavy" / "run_heavy"

    def refused(run_id: str, phase: str, folder: Path, *args, **kwargs):
        heavy = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.*") if p.suffix in (".pt", ".ckpt"))
        seen.append((heavy, (aside / "model.pt").read_bytes() == checkpoint, (pr2 / "outputs" / "run_heavy").exists()))
        raise UserError("the base refuses it")

    monkeypatch.setattr(gerhard.flows.registration, "register", refused)
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert_one_line_error(done)
    assert done.err.startswith("gerhard rebase: error: cannot replay the branch on ")
    assert done.err.endswith(f" (the base refuses it); the branch is back at {before['head'][:12]}\n")
    # The replay registers the bundle as its MANIFEST lists it (no heavy bytes copied); they wait in the git dir.
    assert seen == [([], True, False)]
    after = snapshot(pr2)  # the branch went to the base and back: the index was rewritten, same content
    assert {k: v for k, v in after.items() if k != "index"} == {k: v for k, v in before.items() if k != "index"}
    assert git_out(pr2, "status", "--porcelain") == ""
    assert (pr2 / "outputs" / "run_heavy" / "model.pt").read_bytes() == checkpoint
    assert not (pr2 / ".git" / "gerhard-rebase").exists()


def test_a_killed_rebase_gives_the_heavy_files_back(remote: Path, tmp_path: Path, bundle_a: Path, capsys) -> None:
    """Killed while the heavy files are set aside and the branch is at the base: the next rebase first
    undoes the interrupted one (the files go home), then replays."""
    pr2, checkpoint = pull_requests_with_a_checkpoint(remote, tmp_path, bundle_a, capsys)
    before = snapshot(pr2)
    killed = rebase_process(pr2, "replay-moved")
    assert killed.returncode == -signal.SIGKILL
    assert not (pr2 / "outputs" / "run_heavy" / "model.pt").exists()
    assert (pr2 / ".git" / "gerhard-rebase" / "heavy" / "run_heavy" / "model.pt").read_bytes() == checkpoint
    done = run(capsys, "rebase", "--repo", pr2, "origin/main")
    assert done.rc == 0, done.err
    assert done.err.startswith(
        f"gerhard: undid an interrupted rebase of pr2 on {git_out(pr2, 'rev-parse', 'origin/main')[:12]}"
    )
    assert (pr2 / "outputs" / "run_heavy" / "model.pt").read_bytes() == checkpoint
    assert before["head"] != snapshot(pr2)["head"]
    assert not (pr2 / ".git" / "gerhard-rebase").exists()


def rebase_process(repo: Path, crash: str, base: str = "origin/main") -> subprocess.CompletedProcess[str]:
    """`gerhard rebase` in its own process, stopped at a crash point (SIGKILL, or SIGINT with ':INT')."""
    env = dict(os.environ, **{CRASH_ENV: crash})
    return subprocess.run(
        [sys.executable, "-m", "gerhard", "rebase", "--repo", str(repo), base],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C also when tests run in the background
    )


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
