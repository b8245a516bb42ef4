"""A registry with a history for `gerhard log`, `diff` and `pr-summary`: runs registered with the CLI
at fixed commit dates, bundles varied from the examples, and decision commits made by hand."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cli_helpers import git_out, head_sha, register_ok
from conftest import EXAMPLES, copy_registry
from ruamel.yaml import YAML

RUN_A = "20250105T090000Z_dense"
RUN_RED = "20250310T090000Z_v15"
RUN_GREEN = "20250320T090000Z_v15_fix"
RUN_TUNED = "20250325T090000Z_v15_lr"
RUN_A2 = "20250401T090000Z_dense2"
TUNED_SHA = "0123456789abcdef0123456789abcdef01234567"
LAST_DATE = "2025-04-01T09:00:00+02:00"  # build_history's last commit date, still set when it returns


def unsafe_id(run_id: str) -> str:
    """What every command says of a run id that is not safe."""
    return (
        f"run id {run_id!r} is not safe: use 1-100 letters, digits, '_', '.', '-', starting with a letter or "
        "digit and without '..' (e.g. 20260223T190000Z_v15)"
    )


class History(NamedTuple):
    repo: Path
    commits: dict[str, str]  # run id or "decide <run id>" -> commit sha


def at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """Commits made from now on carry this date (author and committer)."""
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, when)


def edit_json(path: Path, edit: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=1))


def edit_yaml(path: Path, edit: Callable[[Any], None]) -> None:
    yaml = YAML(typ="safe")
    data = yaml.load(path.read_text())
    edit(data)
    with path.open("w") as f:
        yaml.dump(data, f)


def tuned_bundle(dest: Path) -> Path:
    """phase_b_green with another config and code, other metrics, one eval task failing and an
    energy ratio over the advisory gate: AMBER."""
    shutil.copytree(EXAMPLES / "phase_b_green", dest)

    def config(c: dict[str, Any]) -> None:
        c["optim"]["lr"] = 0.0005
        c["optim"]["schedule"] = "cosine"
        del c["data"]["seq_len"]

    def metrics(m: dict[str, Any]) -> None:
        m["final"] = {"val_loss": 2.65, "train_loss": 2.6525, "val_acc": 0.61}

    def suite(s: dict[str, Any]) -> None:
        s["tasks"][3].update(score=0.45, passed=False)
        s["pass_rate"] = 0.8

    edit_yaml(dest / "config.yaml", config)
    edit_json(dest / "metrics.json", metrics)
    edit_json(dest / "eval_suite.json", suite)
    edit_json(dest / "v15_spikingbrain.json", lambda s: s.update(energy_ratio=0.55))
    edit_json(dest / "provenance.json", lambda p: p.update(code_sha=TUNED_SHA, dirty=True))
    return dest


def dense2_bundle(dest: Path) -> Path:
    shutil.copytree(EXAMPLES / "phase_a_green", dest)
    edit_json(dest / "metrics.json", lambda m: m["final"].update(val_loss=2.38, val_ppl=10.8))
    return dest


def decide(repo: Path, run_id: str, decision: str, reason: str, *trailers: str) -> str:
    """A decision commit as `gerhard decide` makes it, by hand."""
    lines = [f"Gerhard-Decision: {decision}", f"Gerhard-Run-Id: {run_id}", *trailers]
    git_out(
        repo,
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        f"decide {run_id}: {decision}",
        "-m",
        reason,
        "-m",
        "\n".join(lines),
    )
    return head_sha(repo)


def build_history(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, repo: Path, tmp: Path
) -> History:
    commits: dict[str, str] = {}
    steps = [
        (RUN_A, "A", EXAMPLES / "phase_a_green", "2025-01-05T09:00:00Z"),
        (RUN_RED, "B", EXAMPLES / "phase_b_red", "2025-03-10T09:00:00Z"),
        (RUN_GREEN, "B", EXAMPLES / "phase_b_green", "2025-03-20T09:00:00Z"),
        (RUN_TUNED, "B", tuned_bundle(tmp / "tuned"), "2025-03-25T09:00:00Z"),
        (RUN_A2, "A", dense2_bundle(tmp / "dense2"), LAST_DATE),
    ]
    for run_id, phase, source, when in steps:
        at(monkeypatch, when)
        register_ok(capsys, repo, run_id, phase, source)
        commits[run_id] = head_sha(repo)
        if run_id == RUN_RED:
            at(monkeypatch, "2025-03-11T10:30:00Z")
            commits[f"decide {RUN_RED}"] = decide(
                repo, RUN_RED, "rerun", "Reason: spike rate collapsed; rerun with warmup"
            )
        if run_id == RUN_TUNED:
            at(monkeypatch, "2025-03-26T12:00:00Z")
            monkeypatch.setenv("GIT_AUTHOR_NAME", "Lead Reviewer")
            commits[f"decide {RUN_TUNED}"] = decide(
                repo, RUN_TUNED, "advance", "Reason: energy kernel lands in phase C\nsee the board", "Gerhard-Phase: B"
            )
            monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Researcher")
    return History(repo, commits)


def copy_history(made: History, repo: Path, monkeypatch: pytest.MonkeyPatch, tmp: Path) -> History:
    """What build_history(capsys, monkeypatch, repo, tmp) leaves, from a history built once (conftest's
    history_template): the registry copied to repo, the varied bundles in tmp, the last date still set."""
    copy_registry(made.repo, repo)
    tuned_bundle(tmp / "tuned")
    dense2_bundle(tmp / "dense2")
    at(monkeypatch, LAST_DATE)
    return History(repo, dict(made.commits))
