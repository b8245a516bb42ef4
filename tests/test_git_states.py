"""End-to-end: registration in whatever state a researcher's git repository is in.

Each state is built for real with git in a temporary repository: an operation stopped on a
conflict, a detached HEAD, a SHA-256 object format, signing and hooks like `git commit`, clean
filters and autocrlf, a reference-transaction hook, a read-only repository, a folder where a file
goes, a full disk. A refusal is one line that says what to do, exit 2, and the repository exactly
as before; where registering is allowed it behaves as `git commit` would.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_helpers import (
    TRAILER_KEYS,
    Result,
    assert_one_line_error,
    git_out,
    head_sha,
    python_m_gerhard,
    register,
    register_ok,
    run,
    trailer,
)
from conftest import EXAMPLES, RUN_A, RUN_B, git, leftovers, snapshot

import gerhard.files

HOOK_REJECTED = (
    "the repository's {name} hook rejected the registration (exit 1; its output is above): fix what it "
    "reports and register again, or pass --no-verify to skip the pre-commit and commit-msg hooks"
)


# --- helpers ----------------------------------------------------------------------------------


def error_line(message: str) -> str:
    return f"gerhard register: error: {message}\n"


def assert_refused(
    capsys: pytest.CaptureFixture[str], repo: Path, run_id: str, phase: str, bundle: Path, message: str
) -> Result:
    """Registering is refused with exactly this one line, and nothing in the repository changed."""
    before = snapshot(repo)
    result = register(capsys, repo, run_id, phase, bundle)
    assert_one_line_error(result)
    assert result.err == error_line(message)
    assert snapshot(repo) == before
    assert leftovers(repo) == []
    return result


def commit_file(repo: Path, rel: str, text: str, message: str) -> None:
    (repo / rel).write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", message)


def git_fails(repo: Path, *args: str) -> None:
    """A git command that stops (on a conflict): it must exit non-zero."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    assert proc.returncode != 0, (args, proc.stdout, proc.stderr)


def install_hook(hooks: Path, name: str, body: str, executable: bool = True) -> Path:
    hooks.mkdir(parents=True, exist_ok=True)
    path = hooks / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755 if executable else 0o644)
    return path


def committed_paths(repo: Path, rev: str = "HEAD") -> list[str]:
    return sorted(git_out(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", rev).split())


def assert_trailers_intact(repo: Path, run_id: str) -> None:
    message = git_out(repo, "log", "-1", "--format=%(trailers:only,unfold)")
    keys = [line.split(":")[0] for line in message.splitlines() if line.startswith("Gerhard-")]
    assert keys == TRAILER_KEYS
    assert trailer(repo, "Gerhard-Run-Id") == run_id


# --- 1. operations in progress and a detached HEAD --------------------------------------------


@pytest.fixture
def diverged(registry: Path) -> Path:
    """main and topic both edit notes.txt: a rebase, merge, cherry-pick or patch between them conflicts."""
    commit_file(registry, "notes.txt", "base\n", "notes")
    git(registry, "switch", "-q", "-c", "topic")
    commit_file(registry, "notes.txt", "topic\n", "topic edit")
    git(registry, "switch", "-q", "main")
    commit_file(registry, "notes.txt", "main\n", "main edit")
    return registry


def stop_rebase(repo: Path) -> None:
    git(repo, "switch", "-q", "topic")
    git_fails(repo, "rebase", "main")


def stop_rebase_apply(repo: Path) -> None:
    git(repo, "switch", "-q", "topic")
    git_fails(repo, "rebase", "--apply", "main")


def stop_merge(repo: Path) -> None:
    git_fails(repo, "merge", "topic")


def stop_cherry_pick(repo: Path) -> None:
    git_fails(repo, "cherry-pick", "topic")


def stop_revert(repo: Path) -> None:
    git_fails(repo, "revert", "--no-edit", "HEAD~1")  # notes.txt was added there and edited since


def stop_am(repo: Path) -> None:
    patch = repo.parent / "topic.patch"
    patch.write_text(git_out(repo, "format-patch", "-1", "--stdout", "topic"))
    git_fails(repo, "am", str(patch))


def start_bisect(repo: Path) -> None:
    git(repo, "bisect", "start", "main", "main~2", "--")  # bad, good: checks out the commit in between
    assert git_out(repo, "rev-parse", "HEAD") == git_out(repo, "rev-parse", "main~1")


def stop_rebase_at_edit(repo: Path) -> None:
    """An interactive rebase paused (not on a conflict) to edit a commit: HEAD is detached meanwhile."""
    git(repo, "switch", "-q", "topic")
    env = dict(os.environ, GIT_SEQUENCE_EDITOR="sed -i s/^pick/edit/")
    subprocess.run(["git", "rebase", "-q", "-i", "HEAD~1"], cwd=repo, env=env, check=True, capture_output=True)
    assert (repo / ".git" / "rebase-merge").is_dir()
    assert git_out(repo, "status", "--porcelain") == ""  # stopped to edit, not on a conflict


def pause_cherry_pick_sequence(repo: Path) -> None:
    """Two commits picked, the first conflicted and committed by hand: the sequence waits for --continue."""
    git(repo, "switch", "-q", "-c", "more", "topic")
    commit_file(repo, "other.txt", "other\n", "another topic commit")
    git(repo, "switch", "-q", "main")
    git_fails(repo, "cherry-pick", "main..more")
    commit_file(repo, "notes.txt", "resolved\n", "resolved by hand")
    assert not (repo / ".git" / "CHERRY_PICK_HEAD").exists()
    assert (repo / ".git" / "sequencer" / "todo").is_file()


def detach_head(repo: Path) -> None:
    git(repo, "switch", "-q", "--detach")


REBASE_TODO = "finish it (git rebase --continue) or abort it (git rebase --abort)"
DETACHED = (
    "HEAD is detached (not on a branch), so the registration commit would be lost at the next checkout: "
    "switch to a branch (git switch main) or make one (git switch -c runs), then register again"
)
STATES = {
    # name: (build it, what gerhard says (ROOT: the repository), how the user ends it, the branch then)
    "rebase": (stop_rebase, f"a rebase is in progress in ROOT: {REBASE_TODO}", ["rebase", "--abort"], "topic"),
    "rebase-apply": (
        stop_rebase_apply,
        f"a rebase is in progress in ROOT: {REBASE_TODO}",
        ["rebase", "--abort"],
        "topic",
    ),
    "merge": (
        stop_merge,
        "a merge is in progress in ROOT: finish it (git commit) or abort it (git merge --abort)",
        ["merge", "--abort"],
        "main",
    ),
    "cherry-pick": (
        stop_cherry_pick,
        "a cherry-pick is in progress in ROOT: finish it (git cherry-pick --continue) or --abort it",
        ["cherry-pick", "--abort"],
        "main",
    ),
    "revert": (
        stop_revert,
        "a revert is in progress in ROOT: finish it (git revert --continue) or abort it (git revert --abort)",
        ["revert", "--abort"],
        "main",
    ),
    "am": (
        stop_am,
        "'git am' is in progress in ROOT: finish it (git am --continue) or abort it (git am --abort)",
        ["am", "--abort"],
        "main",
    ),
    "bisect": (
        start_bisect,
        "a bisect is in progress in ROOT: end it with 'git bisect reset'",
        ["bisect", "reset"],
        "main",
    ),
    "rebase-edit": (
        stop_rebase_at_edit,
        f"a rebase is in progress in ROOT: {REBASE_TODO}",
        ["rebase", "--abort"],
        "topic",
    ),
    "cherry-pick-sequence": (
        pause_cherry_pick_sequence,
        "a cherry-pick or revert sequence is in progress in ROOT: finish it (--continue) or --abort it",
        ["cherry-pick", "--abort"],
        "main",
    ),
    "detached": (detach_head, DETACHED, ["switch", "-q", "main"], "main"),
}


@pytest.mark.parametrize("name", list(STATES))
def test_refused_in_the_middle_of_a_git_operation_then_registers_once_it_ended(
    diverged: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    build, message, end, branch = STATES[name]
    build(diverged)
    then = "" if name == "detached" else ", then register again"
    assert_refused(capsys, diverged, RUN_A, "A", bundle_a, message.replace("ROOT", str(diverged)) + then)
    git(diverged, *end)

    register_ok(capsys, diverged, RUN_A, "A", bundle_a)
    # on the branch the user is back on, where the aborted operation can no longer drop it
    assert git_out(diverged, "symbolic-ref", "--short", "HEAD").strip() == branch
    assert git_out(diverged, "log", "-1", "--format=%s", branch).startswith(f"register {RUN_A} (phase A)")
    assert git_out(diverged, "status", "--porcelain", "--untracked-files=all") == ""
    assert run(capsys, "rebuild", "--check", "--repo", diverged).rc == 0


# --- 2. a SHA-256 repository ------------------------------------------------------------------


def test_sha256_repository(tmp_path: Path, bundle_a: Path, bundle_b_red: Path, capsys) -> None:
    from gerhard.cli.commands.init import scaffold

    repo = tmp_path / "sha256"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    scaffold(repo, example=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "gerhard init")

    register_ok(capsys, repo, RUN_A, "A", bundle_a)
    register_ok(capsys, repo, RUN_B, "B", bundle_b_red)

    assert git_out(repo, "rev-parse", "--show-object-format").strip() == "sha256"
    assert len(head_sha(repo)) == 64
    assert git_out(repo, "log", "--format=%s").splitlines() == [
        f"register {RUN_B} (phase B): RED 2/6 gates passed",
        f"register {RUN_A} (phase A): GREEN 1/1 gates passed",
        "gerhard init",
    ]
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, text=True)
    assert (fsck.returncode, fsck.stdout, fsck.stderr) == (0, "", "")
    assert git_out(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert_trailers_intact(repo, RUN_B)
    assert trailer(repo, "Gerhard-Verdict") == "RED"
    assert trailer(repo, "Gerhard-Verdict", "HEAD~1") == "GREEN"
    # the committed archive is the bundle, byte for byte
    assert git_out(repo, "show", f"HEAD:outputs/{RUN_B}/metrics.json") == (bundle_b_red / "metrics.json").read_text()
    assert run(capsys, "rebuild", "--check", "--repo", repo).rc == 0

    before = snapshot(repo)
    again = register(capsys, repo, RUN_B, "B", bundle_b_red)
    assert (again.rc, again.err) == (0, "")
    assert "already registered (no change)" in again.out
    assert snapshot(repo) == before


# --- 3. signing, as `git commit` signs --------------------------------------------------------


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed: cannot make a throw-away signing key")
    return path


def sign_with_ssh(repo: Path, key_dir: Path) -> None:
    need("ssh-keygen")
    key = key_dir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "researcher@example.com", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    public = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    allowed = key_dir / "allowed_signers"
    allowed.write_text(f"researcher@example.com {public}\n")
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingKey", str(key.with_suffix(".pub")))
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    git(repo, "config", "commit.gpgSign", "true")


@pytest.fixture
def gnupg_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throw-away GnuPG home (short path: gpg-agent's socket lives in it), its agent stopped after."""
    need("gpg")
    home = Path(tempfile.mkdtemp(prefix="gnupg-"))
    home.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    try:
        yield home
    finally:
        if shutil.which("gpgconf"):
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def sign_with_gpg(repo: Path) -> None:
    gpg = ["gpg", "--batch", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", "Test <researcher@example.com>", "ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"], check=True, capture_output=True, text=True
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    git(repo, "config", "user.signingKey", fingerprint)
    git(repo, "config", "commit.gpgSign", "true")


def assert_signed_registration(repo: Path, run_id: str) -> None:
    verified = subprocess.run(["git", "verify-commit", "HEAD"], cwd=repo, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    assert git_out(repo, "log", "-1", "--format=%G?").strip() == "G"
    assert git_out(repo, "log", "-1", "--format=%s").startswith(f"register {run_id} ")
    assert_trailers_intact(repo, run_id)
    assert git_out(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_signed_with_an_ssh_key_when_commit_gpgsign_is_set(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys
) -> None:
    sign_with_ssh(registry, tmp_path)
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert_signed_registration(registry, RUN_A)


def test_signed_with_a_gpg_key_when_commit_gpgsign_is_set(
    registry: Path, bundle_a: Path, gnupg_home: Path, capsys
) -> None:
    sign_with_gpg(registry)
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert_signed_registration(registry, RUN_A)


def test_not_signed_without_commit_gpgsign(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> None:
    sign_with_ssh(registry, tmp_path)
    git(registry, "config", "commit.gpgSign", "false")
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert git_out(registry, "log", "-1", "--format=%G?").strip() == "N"


def test_a_signing_failure_is_one_line_and_changes_nothing(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys
) -> None:
    sign_with_ssh(registry, tmp_path)
    missing = tmp_path / "gone" / "id_ed25519.pub"
    git(registry, "config", "user.signingKey", str(missing))
    assert_refused(
        capsys,
        registry,
        RUN_A,
        "A",
        bundle_a,
        f"git commit-tree failed: Couldn't load public key {missing}: No such file or directory?: git could not "
        "sign the commit (commit.gpgSign is set): check your signing key (git config user.signingKey) works with "
        "'git commit -S', then register again",
    )
    assert git_out(registry, "log", "--format=%s").splitlines() == ["gerhard init"]
    git(registry, "config", "user.signingKey", str(tmp_path / "id_ed25519.pub"))
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert_signed_registration(registry, RUN_A)


# --- 4. hooks, as `git commit` runs them ------------------------------------------------------


@pytest.mark.parametrize("name", ["pre-commit", "commit-msg"])
def test_a_failing_commit_hook_blocks_until_no_verify(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    install_hook(registry / ".git" / "hooks", name, "echo 'secret found in config.yaml'\nexit 1\n")
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert result.rc == 2
    assert result.out == ""
    # the hook's own output first (on stderr, as git shows it), then gerhard's one line
    assert result.err == "secret found in config.yaml\n" + error_line(HOOK_REJECTED.format(name=name))
    assert snapshot(registry) == before
    assert leftovers(registry) == []

    result = register(capsys, registry, RUN_A, "A", bundle_a, "--no-verify")
    assert (result.rc, result.err) == (0, "")
    assert_trailers_intact(registry, RUN_A)
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.parametrize("name", ["pre-commit", "prepare-commit-msg", "commit-msg"])
def test_commit_hooks_see_exactly_the_registration(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys, name: str
) -> None:
    """As with `git commit`, GIT_INDEX_FILE holds what is being committed, not the user's staged work."""
    seen = tmp_path / "seen.txt"
    install_hook(registry / ".git" / "hooks", name, f"git diff --cached --name-only > '{seen}'\n")
    (registry / "mine.txt").write_text("the user's own work, staged\n")
    git(registry, "add", "mine.txt")

    register_ok(capsys, registry, RUN_A, "A", bundle_a)

    assert sorted(seen.read_text().split()) == committed_paths(registry)
    assert f"outputs/{RUN_A}/MANIFEST" in seen.read_text().split()
    assert "mine.txt" not in seen.read_text()
    # and the user's staged file is still staged, not committed
    assert git_out(registry, "status", "--porcelain").splitlines() == ["A  mine.txt"]


def test_commit_msg_hook_may_add_a_trailer(registry: Path, bundle_a: Path, capsys) -> None:
    install_hook(registry / ".git" / "hooks", "commit-msg", "echo 'Reviewed-by: hook' >> \"$1\"\n")
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert trailer(registry, "Reviewed-by") == "hook"
    assert_trailers_intact(registry, RUN_A)
    assert git_out(registry, "log", "-1", "--format=%B").rstrip("\n").endswith("\nReviewed-by: hook")


def test_prepare_commit_msg_gets_the_message_file_and_its_source(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys
) -> None:
    args = tmp_path / "args.txt"
    install_hook(
        registry / ".git" / "hooks", "prepare-commit-msg", f"echo \"$2\" > '{args}'\nhead -1 \"$1\" >> '{args}'\n"
    )
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert args.read_text().splitlines() == ["message", git_out(registry, "log", "-1", "--format=%s").strip()]


def test_core_hooks_path_is_honoured(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> None:
    ran = tmp_path / "ran.txt"
    install_hook(registry / ".git" / "hooks", "pre-commit", "echo 'not the configured hooks' >&2\nexit 1\n")
    install_hook(tmp_path / "team-hooks", "pre-commit", f"echo ran > '{ran}'\n")
    git(registry, "config", "core.hooksPath", str(tmp_path / "team-hooks"))
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert ran.read_text() == "ran\n"


def test_relative_core_hooks_path_from_a_subfolder(registry: Path, bundle_a: Path, capsys) -> None:
    """git runs hooks from the top of the work tree; a relative core.hooksPath is relative to it."""
    install_hook(registry / "githooks", "pre-commit", "echo 'from githooks/' >&2\nexit 1\n")
    git(registry, "add", "githooks")
    git(registry, "commit", "-q", "-m", "team hooks")
    git(registry, "config", "core.hooksPath", "githooks")
    before = snapshot(registry)
    result = register(capsys, registry / "state" / "runs", RUN_A, "A", bundle_a)
    assert result.err == "from githooks/\n" + error_line(HOOK_REJECTED.format(name="pre-commit"))
    assert snapshot(registry) == before


def test_a_hook_that_is_not_executable_is_ignored(registry: Path, bundle_a: Path, capsys) -> None:
    install_hook(registry / ".git" / "hooks", "pre-commit", "exit 1\n", executable=False)
    install_hook(registry / ".git" / "hooks", "commit-msg", "exit 1\n", executable=False)
    result = register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert result.err == ""


def test_post_commit_runs_after_the_commit(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> None:
    seen = tmp_path / "post.txt"
    body = f"git log -1 --format=%s > '{seen}'\ngit status --porcelain >> '{seen}'\necho done\nexit 1\n"
    install_hook(registry / ".git" / "hooks", "post-commit", body)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    # it cannot undo the commit: its exit code is ignored, as git ignores it
    assert (result.rc, result.err) == (0, "done\n")
    assert seen.read_text().splitlines() == [git_out(registry, "log", "-1", "--format=%s").strip()]
    assert git_out(registry, "log", "-1", "--format=%s").startswith(f"register {RUN_A} ")


def test_json_stays_valid_when_hooks_print_to_stdout(registry: Path, bundle_a: Path) -> None:
    for name in ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"):
        install_hook(registry / ".git" / "hooks", name, f"echo 'hello from {name}'\n")
    args = ["register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", bundle_a, "--json"]
    done = python_m_gerhard(*args)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["run_id"], data["commit"]) == (RUN_A, head_sha(registry))
    assert done.stderr.splitlines() == [
        "hello from pre-commit",
        "hello from prepare-commit-msg",
        "hello from commit-msg",
        "hello from post-commit",
    ]


def test_a_failing_hook_that_edited_a_new_file_leaves_nothing_behind(registry: Path, bundle_a: Path, capsys) -> None:
    """Formatters in hooks (end-of-file-fixer, prettier) fix the files they check, then fail."""
    body = "printf 'x\\n' >> reports/index.md\necho 'fixed reports/index.md'\nexit 1\n"
    install_hook(registry / ".git" / "hooks", "pre-commit", body)
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert result.err == "fixed reports/index.md\n" + error_line(HOOK_REJECTED.format(name="pre-commit"))
    assert snapshot(registry) == before
    assert register(capsys, registry, RUN_A, "A", bundle_a, "--no-verify").rc == 0


# --- 5. clean filters, attributes and autocrlf ------------------------------------------------


def assert_blobs_are_what_git_add_stores(repo: Path, rev: str = "HEAD") -> None:
    for rel in committed_paths(repo, rev):
        stored = git_out(repo, "rev-parse", f"{rev}:{rel}").strip()
        assert git_out(repo, "hash-object", f"--path={rel}", "--", rel).strip() == stored, rel


def test_clean_filters_and_autocrlf_apply_as_with_git_add(
    registry: Path, bundle_a: Path, bundle_b_red: Path, capsys
) -> None:
    git(registry, "config", "filter.upper.clean", "tr a-z A-Z")
    git(registry, "config", "filter.upper.smudge", "cat")
    git(registry, "config", "core.autocrlf", "input")
    (registry / ".gitattributes").write_text("*.md filter=upper\n")
    git(registry, "add", ".gitattributes")
    git(registry, "add", "--renormalize", ".")  # schemas/README.md was committed before the filter
    git(registry, "commit", "-q", "-m", "attributes")
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""
    (bundle_a / "notes.txt").write_bytes(b"written on Windows\r\nwith CRLF\r\n")

    register_ok(capsys, registry, RUN_A, "A", bundle_a)

    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""
    assert_blobs_are_what_git_add_stores(registry)
    # the conversions did happen: the work tree holds what was written, the blobs what git stores
    notes = registry / "outputs" / RUN_A / "notes.txt"
    assert notes.read_bytes() == b"written on Windows\r\nwith CRLF\r\n"
    assert git_out(registry, "cat-file", "blob", f"HEAD:outputs/{RUN_A}/notes.txt") == "written on Windows\nwith CRLF\n"
    index = (registry / "reports" / "index.md").read_text()
    assert index != index.upper()
    assert git_out(registry, "cat-file", "blob", "HEAD:reports/index.md") == index.upper()

    # the next registration replaces files whose blobs differ from their work-tree bytes
    register_ok(capsys, registry, RUN_B, "B", bundle_b_red)
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""
    assert_blobs_are_what_git_add_stores(registry)
    assert git_out(registry, "diff", "HEAD") == ""
    checked = run(capsys, "rebuild", "--check", "--repo", registry)
    assert checked.rc == 0, checked


# --- 6. a reference-transaction hook that refuses ---------------------------------------------


def test_a_rejecting_reference_transaction_hook(registry: Path, bundle_a: Path, capsys) -> None:
    body = 'if [ "$1" = prepared ]; then echo "refs are frozen during the audit" >&2; exit 1; fi\n'
    install_hook(registry / ".git" / "hooks", "reference-transaction", body)
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert result.rc == 2
    assert result.err == "refs are frozen during the audit\n" + error_line(  # the hook's words, then ours
        "git refused to move refs/heads/main: ref updates aborted by hook (a reference-transaction hook of this "
        "repository?): see what the hook reports, or ask who installed it"
    )
    assert snapshot(registry) == before
    assert leftovers(registry) == []
    assert git_out(registry, "log", "--format=%s").splitlines() == ["gerhard init"]
    (registry / ".git" / "hooks" / "reference-transaction").unlink()
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


# --- 7. a read-only repository ----------------------------------------------------------------

NOBODY = 65534


def as_user(uid: int | None, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """args run as uid (None: as this process's user)."""
    ids = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    return subprocess.run(list(args), env=env, cwd="/", capture_output=True, text=True, **ids)  # type: ignore[call-overload]


def interpreter_for(uid: int | None, env: dict[str, str]) -> list[str]:
    """A Python that uid can run with gerhard importable: this one, or (when it lives in a folder
    only root may enter, like ~root/.pyenv) the system's Python of the same version on this
    checkout and the venv's site-packages."""
    import sysconfig

    import gerhard

    def runs(python: str | None) -> bool:
        try:
            return python is not None and as_user(uid, python, "-c", "import gerhard.cli", env=env).returncode == 0
        except PermissionError:  # it may not even start it
            return False

    if runs(sys.executable):
        return [sys.executable]
    system = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/local/bin:/usr/bin")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(gerhard.__file__).parent.parent), sysconfig.get_paths()["purelib"]])
    if runs(system):
        return [str(system)]
    pytest.skip(f"no Python that uid {uid} may run can import gerhard ({sys.executable} is not readable for it)")


class Unprivileged(SimpleNamespace):
    repo: Path
    bundle: Path
    run: Callable[..., Result]


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    """A registry and a bundle in a folder others may enter, and `run(*argv)`: `python -m gerhard`
    as a user file permissions apply to: uid 65534 when the tests run as root (root ignores them),
    else this process's own user."""
    from gerhard.cli.commands.init import scaffold

    top = Path(tempfile.mkdtemp(prefix="gerhard-ro-"))
    top.chmod(0o755)  # pytest's tmp_path is not traversable by others
    try:
        repo = top / "registry"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        scaffold(repo, example=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "gerhard init")
        bundle = shutil.copytree(EXAMPLES / "phase_a_green", top / "bundle")
        home = top / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home))
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*")
        uid = NOBODY if os.geteuid() == 0 else None
        if uid is not None:
            os.chown(home, uid, uid)
        python = interpreter_for(uid, env)

        def run_as(*argv: str | Path) -> Result:
            done = as_user(uid, *python, "-m", "gerhard", *map(str, argv), env=env)
            return Result(done.returncode, done.stdout, done.stderr)

        yield Unprivileged(repo=repo, bundle=bundle, run=run_as)
    finally:
        chmod_tree(top, add=0o200)  # so a non-root user can remove what the tests made read-only
        shutil.rmtree(top, ignore_errors=True)


def register_as(who: Unprivileged, run_id: str = RUN_A) -> Result:
    return who.run("register", "--repo", who.repo, "--run-id", run_id, "--phase", "A", "--source-dir", who.bundle)


def chmod_tree(top: Path, add: int = 0, remove: int = 0) -> None:
    for path in [top, *top.rglob("*")]:
        if not path.is_symlink():
            path.chmod((path.stat().st_mode | add) & ~remove)


def test_a_repository_the_user_cannot_write_is_refused(unprivileged: Unprivileged) -> None:
    repo = unprivileged.repo
    chmod_tree(repo, remove=0o222)  # as made by root: the others cannot write it (nor, unless root, its owner)
    before = snapshot(repo)
    result = register_as(unprivileged)
    assert_one_line_error(result)
    assert result.err == error_line(
        f"cannot create the registry lock {repo}/.git/gerhard.lock (Permission denied): is the repository "
        "read-only? register from a writable clone"
    )
    assert snapshot(repo) == before
    assert leftovers(repo) == []


def test_a_folder_the_user_cannot_write_is_named_and_nothing_changes(unprivileged: Unprivileged) -> None:
    repo = unprivileged.repo
    chmod_tree(repo, add=0o222)  # .git and the work tree writable for everyone ...
    chmod_tree(repo / "reports", remove=0o222)  # ... but reports/
    before = snapshot(repo)
    result = register_as(unprivileged)
    assert_one_line_error(result)
    year = dt.datetime.now(dt.timezone.utc).strftime("%Y")  # where reports/<YYYY>/<MM>/ goes
    assert result.err == error_line(
        f"cannot write reports/{year} (Permission denied): make the repository's folders writable (chmod u+w) "
        "or register from a writable clone, then register again"
    )
    assert snapshot(repo) == before  # work tree, index, HEAD and refs
    assert leftovers(repo) == []
    assert not (repo / "outputs" / RUN_A).exists()

    chmod_tree(repo / "reports", add=0o222)
    done = register_as(unprivileged)
    assert (done.rc, done.err) == (0, "")
    assert git_out(repo, "log", "-1", "--format=%s").startswith(f"register {RUN_A} (phase A)")
    assert git_out(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_an_object_database_the_user_cannot_write(unprivileged: Unprivileged) -> None:
    repo = unprivileged.repo
    chmod_tree(repo, add=0o222)
    chmod_tree(repo / ".git" / "objects", remove=0o222)  # a shared repository's objects, say
    before = snapshot(repo)
    result = register_as(unprivileged)
    assert_one_line_error(result)
    assert result.err == error_line(f"git hash-object failed: Unable to add outputs/{RUN_A}/config.yaml to database")
    assert snapshot(repo) == before
    assert leftovers(repo) == []


# --- 8. a folder where a file goes, a file where a folder goes ---------------------------------


@pytest.fixture
def phase_a_done(registry: Path, bundle_a: Path, capsys) -> Path:
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    return registry


MONTH = dt.datetime.now(dt.timezone.utc).strftime("%Y/%m")
LEDGER = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")


READ_FIRST = "then try again"  # read before anything is written: the message of every command


@pytest.mark.parametrize(
    "rel",
    [
        "reports/index.md",
        f"reports/{MONTH}/{RUN_B}.md",
        f"state/needs_input/{RUN_B}.yaml",
        "docs/ops/STATUS_BOARD.md",
        pytest.param(f"reports/{MONTH}/index.md", id="read-" + f"reports/{MONTH}/index.md"),
        pytest.param(f"state/runs/{RUN_B}.yaml", id="read-" + f"state/runs/{RUN_B}.yaml"),
        pytest.param("state/program_status.yaml", id="read-" + "state/program_status.yaml"),
        pytest.param("state/gate_results.yaml", id="read-" + "state/gate_results.yaml"),
        pytest.param(f"state/ledger/{LEDGER}.jsonl", id="read-" + f"state/ledger/{LEDGER}.jsonl"),
    ],
)
def test_a_folder_where_gerhard_writes_a_file(phase_a_done: Path, bundle_b_red: Path, capsys, rel: str) -> None:
    repo = phase_a_done
    if (repo / rel).exists():
        (repo / rel).unlink()  # a tracked file replaced by a folder: the deletion is not staged
    (repo / rel).mkdir()
    (repo / rel / "mine.txt").write_text("the user's\n")
    read_first = rel.endswith(("/index.md", ".jsonl")) and rel != "reports/index.md" or rel.startswith("state/")
    read_first = read_first and not rel.startswith("state/needs_input")
    then = READ_FIRST if read_first else "then register again"
    message = f"{rel} is a folder where gerhard writes a file: move it away, {then}"
    assert_refused(capsys, repo, RUN_B, "B", bundle_b_red, message)
    shutil.rmtree(repo / rel)
    git(repo, "checkout", "--", ".")
    register_ok(capsys, repo, RUN_B, "B", bundle_b_red)


def test_a_file_where_gerhard_writes_a_folder(registry: Path, bundle_a: Path, capsys) -> None:
    shutil.rmtree(registry / "outputs")
    (registry / "outputs").write_text("not a folder\n")
    message = "outputs is a file where gerhard writes a folder: move it away, then register again"
    assert_refused(capsys, registry, RUN_A, "A", bundle_a, message)


def test_a_file_where_the_run_archive_goes(registry: Path, bundle_a: Path, capsys) -> None:
    (registry / "outputs" / RUN_A).write_text("notes about the run, in the wrong place\n")
    message = f"outputs/{RUN_A} is a file where gerhard writes a folder: move it away, then register again"
    assert_refused(capsys, registry, RUN_A, "A", bundle_a, message)


# --- 9. a full disk ---------------------------------------------------------------------------

NO_SPACE = os.strerror(errno.ENOSPC)


def test_too_little_free_space_is_refused_up_front(
    registry: Path, bundle_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 40, (1 << 40) - 4096, 4096))
    message = (
        f"not enough disk space in {registry}: the registration needs about 1 MiB, 0 MiB are free; "
        "free some space, then register again"
    )
    assert_refused(capsys, registry, RUN_A, "A", bundle_a, message)
    monkeypatch.undo()
    register_ok(capsys, registry, RUN_A, "A", bundle_a)


class FullFile:
    """A file on a disk that has just filled up: writing fails (with no file name, as os.write's does)."""

    def __init__(self, f: object) -> None:
        self.f = f

    def __enter__(self) -> FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()  # type: ignore[attr-defined]

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, NO_SPACE)


def state_os_with_a_full_disk(monkeypatch: pytest.MonkeyPatch, at: int, step: str) -> list[str]:
    """gerhard.registry.store's `os`, but the at-th file it writes fails with ENOSPC at `step` (replace or
    write); returns the files it was asked to write (destinations of os.replace / of os.fdopen)."""
    seen: list[str] = []

    def replace(src: str, dst: str | Path) -> None:
        if "/.git/" in str(dst):  # gerhard's caches in the git dir (the parsed program): not the work tree
            return os.replace(src, dst)
        seen.append(dst)
        if step == "replace" and len(seen) == at:
            raise OSError(errno.ENOSPC, NO_SPACE, src, None, dst)
        os.replace(src, dst)

    def fdopen(fd: int, *args: object, **kwargs: object) -> object:
        f = os.fdopen(fd, *args, **kwargs)  # type: ignore[call-overload]
        if "/.git/" in str(f.name):
            return f
        seen.append(f.name)
        return FullFile(f) if step == "write" and len(seen) == at else f

    fake = SimpleNamespace(**vars(os))
    setattr(fake, step if step == "replace" else "fdopen", replace if step == "replace" else fdopen)
    monkeypatch.setattr(gerhard.files, "os", fake)
    return seen


def test_disk_full_while_writing_the_work_tree(
    registry: Path, bundle_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = state_os_with_a_full_disk(monkeypatch, at=5, step="replace")
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert len(written) == 5
    assert Path(written[4]) == registry / "outputs" / RUN_A / "MANIFEST"
    assert_one_line_error(result)
    assert result.err == error_line(
        f"cannot write outputs/{RUN_A}/MANIFEST ({NO_SPACE}): free some disk space, then register again"
    )
    assert snapshot(registry) == before
    assert leftovers(registry) == []

    monkeypatch.undo()
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


def test_disk_full_while_writing_a_file_s_bytes(
    registry: Path, bundle_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_os_with_a_full_disk(monkeypatch, at=3, step="write")
    before = snapshot(registry)
    result = register(capsys, registry, RUN_A, "A", bundle_a)
    assert_one_line_error(result)
    assert result.err.startswith("gerhard register: error: cannot write ")
    assert result.err.endswith(f" ({NO_SPACE}): free some disk space, then register again\n")
    assert snapshot(registry) == before
    assert leftovers(registry) == []
    monkeypatch.undo()
    register_ok(capsys, registry, RUN_A, "A", bundle_a)
