"""examples/ci/github-workflow.yml, run here as GitHub Actions would (issue 16 item 5): its YAML parsed and
every command it runs known to exist; its `run:` steps in bash against a bare remote with two pull
requests, each checked out as GitHub checks out a pull request (its merge into the base, detached), then
the default branch's refresh after each merge. The comment step (it needs GitHub) is left aside."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import git_out, run
from conftest import git
from pr_helpers import assert_checks, bare_remote, clone, merge_commit, register_own
from ruamel.yaml import YAML

from gerhard.cli.parser import build_parser

WORKFLOW = Path(__file__).resolve().parent.parent / "examples" / "ci" / "github-workflow.yml"
# What a GitHub-hosted runner has besides the shell's own words (gh is preinstalled there).
RUNNER_TOOLS = {"git", "python", "pip", "gh", "mkdir", "cp", "printf", "xargs", "tr", "sed", "echo", "cat", "tail"}
SHELL_WORDS = {"if", "then", "fi", "!", "exit", "else", "||", "&&"}
ACTIONS = {
    "actions/checkout@v4",
    "actions/setup-python@v5",
    "actions/upload-pages-artifact@v3",
    "actions/deploy-pages@v4",
}
CONTEXT = {
    "github.base_ref": "main",
    "github.ref_name": "main",
    "github.event.repository.default_branch": "main",
    "github.event.pull_request.number": "7",
}


def jobs() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())["jobs"]


def scripts(job: str) -> list[str]:
    """The job's `run:` steps but installing and commenting (pip, gh), with GitHub's expressions filled in."""
    out = []
    for step in jobs()[job]["steps"]:
        command = step.get("run", "")
        if command and not command.startswith(("pip ", "gh ")):
            out.append(re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: CONTEXT[m.group(1)], command))
    return out


def test_the_workflow_parses_and_every_command_exists() -> None:
    found = jobs()
    assert set(found) == {"registry", "refresh", "site"}
    assert found["refresh"]["permissions"] == {"contents": "write"}
    assert found["refresh"]["if"] == "${{ github.event_name == 'push' }}"
    for job in found.values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert step["uses"] in ACTIONS
                continue
            for expression in re.findall(r"\$\{\{\s*([^}]*?)\s*\}\}", step["run"]):
                assert expression in CONTEXT, expression
            for line in step["run"].replace("\\\n", " ").splitlines():
                words = shlex.split(line.split(" # ")[0], comments=True)
                if not words:
                    continue
                assert words[0] in RUNNER_TOOLS | SHELL_WORDS or shutil.which(words[0]), line
                if words[:3] == ["python", "-m", "gerhard"]:
                    args = []
                    for word in words[3:]:
                        if word.startswith((">", "&", "|", ";")):
                            break  # the shell's from here
                        args.append(re.sub(r"\$\{\{.*?\}\}", "x", word))
                    build_parser().parse_args(args)  # exits on an unknown command or option


def bash(script: str, where: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-c", script], cwd=where, env=env, capture_output=True, text=True)


def checked_out_pull_request(remote: Path, dest: Path, branch: str) -> Path:
    """actions/checkout on a pull_request: all history, the pull request's merge into the base, detached."""
    git(remote.parent, "clone", "-q", "--no-checkout", str(remote), str(dest))
    git(dest, "remote", "set-head", "origin", "-d")  # the runner's checkout knows no origin/HEAD
    git(dest, "fetch", "-q", "origin", f"{branch}:refs/remotes/origin/{branch}")
    git(dest, "checkout", "-q", "--detach", "origin/main")
    git(dest, "merge", "-q", "--no-ff", "-m", f"Merge {branch} into main", f"origin/{branch}")
    return dest


def run_job(job: str, where: Path, env: dict[str, str]) -> None:
    for script in scripts(job):
        done = bash(script, where, env)
        assert done.returncode == 0, (script, done.stdout, done.stderr)


@pytest.fixture
def runner_env(tmp_path: Path) -> dict[str, str]:
    """`python` on PATH is this interpreter (with gerhard), as `pip install gerhard` makes it there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_the_workflow_on_two_pull_requests_and_the_default_branch(
    registry: Path, bundle_a: Path, bundle_b_red: Path, bundle_b_green: Path, tmp_path: Path, capsys, runner_env
) -> None:
    register_own(capsys, registry, "base_a", "A", bundle_a)
    remote = bare_remote(registry, tmp_path)
    pr1, pr2 = clone(remote, tmp_path / "pr1", "pr1"), clone(remote, tmp_path / "pr2", "pr2")
    register_own(capsys, pr1, "pr1_b", "B", bundle_b_red)
    assert run(capsys, "decide", "pr1_b", "rerun", "--reason", "fix the data", "--repo", pr1).rc == 0
    register_own(capsys, pr2, "pr2_a", "A", bundle_a)
    register_own(capsys, pr2, "pr2_b", "B", bundle_b_green)
    for author, branch in ((pr1, "pr1"), (pr2, "pr2")):
        git(author, "push", "-q", "origin", branch)

    for n, (branch, runs) in enumerate((("pr1", ["pr1_b"]), ("pr2", ["pr2_a", "pr2_b"]))):
        checkout = checked_out_pull_request(remote, tmp_path / f"ci-{branch}", branch)
        run_job("registry", checkout, runner_env)  # check, mergeable, pr-summary
        summary = (checkout / "pr-summary.md").read_text()
        assert all(f"`{run_id}`" in summary for run_id in runs), summary
        merge_commit(remote, tmp_path, branch)
        pushed = clone(remote, tmp_path / f"push-{n}")  # actions/checkout on a push: the branch itself
        run_job("refresh", pushed, runner_env)
        assert git_out(pushed, "log", "-1", "--format=%s").startswith("refresh ")
    main = clone(remote, tmp_path / "main")
    assert_checks(capsys, main)
    again = clone(remote, tmp_path / "again")
    run_job("refresh", again, runner_env)  # nothing left to fold: no commit, nothing pushed
    assert git_out(again, "rev-parse", "HEAD") == git_out(main, "rev-parse", "HEAD")


def test_the_mergeability_step_names_the_conflicting_files(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys, runner_env
) -> None:
    """A derived file edited by hand on a branch is what can still conflict: the step names it."""
    register_own(capsys, registry, "base_a", "A", bundle_a)
    remote = bare_remote(registry, tmp_path)
    author = clone(remote, tmp_path / "author", "by-hand")
    status = author / "state" / "program_status.yaml"
    status.write_text(status.read_text().replace("latest_run: base_a", "latest_run: base_a  # seen"))
    git(author, "commit", "-q", "-am", "a note in the status")
    git(author, "push", "-q", "origin", "by-hand")
    setup = clone(remote, tmp_path / "setup")
    register_own(capsys, setup, "main_a", "A", bundle_a)
    git(setup, "push", "-q", "origin", "main")
    checkout = clone(remote, tmp_path / "ci")
    git(checkout, "switch", "-q", "by-hand")
    mergeable = next(s for s in scripts("registry") if "merge-tree" in s)
    done = bash(mergeable, checkout, runner_env)
    assert done.returncode == 1
    assert done.stdout.startswith("::error::the branch conflicts with main in state/program_status.yaml ")
