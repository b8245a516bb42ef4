"""Every user error: exit code 2, exactly one line on stderr naming the problem, no traceback,
and the repository byte-identical afterwards (HEAD, index, refs, every work-tree file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import (
    assert_one_line_error,
    load_yaml,
    python_m_gerhard,
    register,
    register_ok,
    run,
    snapshot_tree,
)
from conftest import git, snapshot

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN = "20261101T100000Z_run"


@dataclass
class Ctx:
    registry: Path
    tmp: Path
    capsys: pytest.CaptureFixture[str]

    def bundle(self, example: str = "phase_a_green", name: str = "bundle") -> Path:
        return shutil.copytree(EXAMPLES / example, self.tmp / name)

    def register_a(self) -> None:
        register_ok(self.capsys, self.registry, "run_a", "A", self.bundle(name="bundle_for_a"))

    def reg(self, run_id: str, phase: str, source: Path, *extra: str) -> list[str | Path]:
        return [
            "register",
            "--repo",
            self.registry,
            "--run-id",
            run_id,
            "--phase",
            phase,
            "--source-dir",
            source,
            *extra,
        ]

    def commit(self, *paths: str, message: str = "hand edit") -> None:
        git(self.registry, "add", *paths)
        git(self.registry, "commit", "-q", "-m", message)


Setup = Callable[[Ctx], list]
CASES: dict[str, tuple[Setup, tuple[str, ...]]] = {}


def case(name: str, *words: str) -> Callable[[Setup], Setup]:
    def add(fn: Setup) -> Setup:
        assert name not in CASES
        CASES[name] = (fn, words)
        return fn

    return add


def edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1))


# --- the bundle -----------------------------------------------------------------------------


@case("missing-required-file", "is missing seed.txt", "required by phase A", "state/program.yaml")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "seed.txt").unlink()
    return c.reg(RUN, "A", b)


@case("metrics-not-json", "metrics.json is not valid JSON", "line 1 column")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "metrics.json").write_text("{final: oops")
    return c.reg(RUN, "A", b)


@case("metrics-not-utf8", "metrics.json is not UTF-8", "re-export it as UTF-8")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "metrics.json").write_bytes(b'{"final": {"val_loss": 1.0}, "note": "\xff"}')
    return c.reg(RUN, "A", b)


@case("metrics-string-metric", "metrics.json: $.final.val_loss:", "'low' is not of type", "(schema metrics)")
def _(c: Ctx) -> list:
    b = c.bundle()
    edit_json(b / "metrics.json", lambda d: d["final"].update(val_loss="low"))
    return c.reg(RUN, "A", b)


@case("metrics-missing-final", "metrics.json: $:", "'final' is a required property")
def _(c: Ctx) -> list:
    b = c.bundle()
    edit_json(b / "metrics.json", lambda d: d.pop("final"))
    return c.reg(RUN, "A", b)


@case("eval-suite-missing-tasks", "eval_suite.json: $:", "'tasks' is a required property", "(schema eval_suite)")
def _(c: Ctx) -> list:
    c.register_a()
    b = c.bundle("phase_b_red")
    edit_json(b / "eval_suite.json", lambda d: d.pop("tasks"))
    return c.reg(RUN, "B", b)


@case("v15-wrong-type", "v15_spikingbrain.json: $.spike_rate:", "is not of type 'object'", "(schema v15_spikingbrain)")
def _(c: Ctx) -> list:
    c.register_a()
    b = c.bundle("phase_b_red")
    edit_json(b / "v15_spikingbrain.json", lambda d: d.update(spike_rate="high"))
    return c.reg(RUN, "B", b)


@case("seed-not-integer", "seed.txt must hold one integer", "'forty-two'")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "seed.txt").write_text("forty-two\n")
    return c.reg(RUN, "A", b)


@case("config-invalid-yaml", "config.yaml is not valid YAML")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "config.yaml").write_text("model: [unclosed\n  name: x\n")
    return c.reg(RUN, "A", b)


@case("config-not-a-mapping", "config.yaml: $:", "(schema config)")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "config.yaml").write_text("- just\n- a list\n")
    return c.reg(RUN, "A", b)


for _bad_id, _label in [
    ("../x", "dotdot-slash"),
    (".hidden", "leading-dot"),
    ("a/b", "slash"),
    ("a..b", "double-dot"),
    ("x" * 101, "101-chars"),
    ("_x", "leading-underscore"),
    ("a b", "space"),
]:

    @case(f"unsafe-run-id-{_label}", f"run id {_bad_id!r} is not safe", "1-100 letters")
    def _(c: Ctx, bad: str = _bad_id) -> list:
        return c.reg(bad, "A", c.bundle())


@pytest.mark.parametrize("word", ["latest", "all"])
def test_reserved_run_ids_are_refused(ctx: Ctx, word: str) -> None:
    """`show latest` and `export all` could never name such a run."""
    before = snapshot(ctx.registry)
    result = run(ctx.capsys, *ctx.reg(word, "A", ctx.bundle()))
    assert_one_line_error(result, f"run id {word!r} is reserved", "pick another id")
    assert snapshot(ctx.registry) == before


@case("symlink-in-bundle", "seed.txt in", "is a symlink", "copy the real file")
def _(c: Ctx) -> list:
    b = c.bundle()
    (c.tmp / "real_seed.txt").write_text("42\n")
    (b / "seed.txt").unlink()
    (b / "seed.txt").symlink_to(c.tmp / "real_seed.txt")
    return c.reg(RUN, "A", b)


@case("symlinked-source-dir", "link_to_bundle is a symlink", "pass the folder it points to", "bundle")
def _(c: Ctx) -> list:
    b = c.bundle()
    link = c.tmp / "link_to_bundle"
    link.symlink_to(b, target_is_directory=True)
    return c.reg(RUN, "A", link)


@case("nested-unsafe-name", "unsafe file name 'plots/bad name'", "plain relative names")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / "plots" / "bad name").mkdir(parents=True)
    (b / "plots" / "bad name" / "curve.png").write_bytes(b"png")
    return c.reg(RUN, "A", b)


@case("hidden-file-in-bundle", "unsafe file name '.env'")
def _(c: Ctx) -> list:
    b = c.bundle()
    (b / ".env").write_text("TOKEN=x\n")
    return c.reg(RUN, "A", b)


@case("fifo-in-bundle", "pipe in", "is not a regular file")
def _(c: Ctx) -> list:
    b = c.bundle()
    os.mkfifo(b / "pipe")
    return c.reg(RUN, "A", b)


@case("source-dir-missing", "does not exist", "pass the folder the notebook wrote")
def _(c: Ctx) -> list:
    return c.reg(RUN, "A", c.tmp / "nowhere")


@case("source-dir-empty", "is empty", "must hold the run's artifacts")
def _(c: Ctx) -> list:
    empty = c.tmp / "empty"
    (empty / ".ipynb_checkpoints").mkdir(parents=True)  # droppings only: still empty
    return c.reg(RUN, "A", empty)


@case("source-dir-is-a-file", "is not a directory")
def _(c: Ctx) -> list:
    f = c.tmp / "metrics.json"
    f.write_text("{}")
    return c.reg(RUN, "A", f)


@case("file-too-large", "config.yaml is 101 MiB", "keep checkpoints out of the bundle")
def _(c: Ctx) -> list:
    b = (
        c.bundle()
    )  # a file the phase reads is committed, whatever its size: heavy files (gerhard.registry.heavy) are not
    with open(b / "config.yaml", "wb") as f:  # sparse: costs no disk
        f.truncate(101 * 2**20)
    return c.reg(RUN, "A", b)


# --- phases and the program -----------------------------------------------------------------


@case("unknown-phase", "unknown phase 'Z'", "state/program.yaml declares A, B, C")
def _(c: Ctx) -> list:
    return c.reg(RUN, "Z", c.bundle())


@case("future-phase", "phase B is not open yet: the current phase is A", "--force")
def _(c: Ctx) -> list:
    return c.reg(RUN, "B", c.bundle("phase_b_green"))


@case(
    "not-a-git-repo",
    "is not inside a git repository: pass --repo with the path of your registry repository, or cd into it",
)
def _(c: Ctx) -> list:
    plain = c.tmp / "plain"
    plain.mkdir()
    return ["register", "--repo", plain, "--run-id", RUN, "--phase", "A", "--source-dir", c.bundle()]


@case("repo-does-not-exist", "is not a directory", "--repo")
def _(c: Ctx) -> list:
    return ["register", "--repo", c.tmp / "gone", "--run-id", RUN, "--phase", "A", "--source-dir", c.bundle()]


@case("no-program-yaml", "no state/program.yaml", "gerhard init")
def _(c: Ctx) -> list:
    git(c.registry, "rm", "-q", "state/program.yaml")
    git(c.registry, "commit", "-q", "-m", "no program")
    return c.reg(RUN, "A", c.bundle())


@case("program-schema-error", "state/program.yaml: $.phases[0].required:", "is not of type 'array'")
def _(c: Ctx) -> list:
    p = c.registry / "state" / "program.yaml"
    p.write_text(p.read_text().replace("required: [metrics.json, config.yaml, seed.txt]", "required: metrics.json"))
    c.commit("state/program.yaml")
    return c.reg(RUN, "A", c.bundle())


@case("program-corrupt-yaml", "state/program.yaml is not valid YAML", "git checkout")
def _(c: Ctx) -> list:
    (c.registry / "state" / "program.yaml").write_text("program: x\nphases: [\n  - id: A\n")
    c.commit("state/program.yaml")
    return c.reg(RUN, "A", c.bundle())


@case("program-duplicate-phase", "phase 'A' is declared twice")
def _(c: Ctx) -> list:
    p = c.registry / "state" / "program.yaml"
    p.write_text(p.read_text().replace("  - id: B\n", "  - id: A\n"))
    c.commit("state/program.yaml")
    return c.reg(RUN, "A", c.bundle())


@case("program-uncommitted-edit", "state/program.yaml has changes that are not committed")
def _(c: Ctx) -> list:
    p = c.registry / "state" / "program.yaml"
    p.write_text(p.read_text().replace("value: 2.6", "value: 9.9"))
    return c.reg(RUN, "A", c.bundle())


@case("program-staged-edit", "state/program.yaml has staged changes", "commit or unstage")
def _(c: Ctx) -> list:
    p = c.registry / "state" / "program.yaml"
    original = p.read_text()
    p.write_text(original.replace("value: 2.6", "value: 9.9"))
    git(c.registry, "add", "state/program.yaml")
    p.write_text(original)  # work tree as committed, index not
    return c.reg(RUN, "A", c.bundle())


# --- the state files ------------------------------------------------------------------------


@case("status-corrupt-yaml", "state/program_status.yaml is not valid YAML", "git checkout")
def _(c: Ctx) -> list:
    c.register_a()
    (c.registry / "state" / "program_status.yaml").write_text("program: x\nphases: {A: [\n")
    c.commit("state/program_status.yaml")
    return c.reg(RUN, "A", c.bundle(), "--allow-duplicate")  # run_a's bundle: this case is about the state


@case("status-schema-error", "state/program_status.yaml: $.run_count:", "'many' is not of type 'integer'", "rebuild")
def _(c: Ctx) -> list:
    c.register_a()
    p = c.registry / "state" / "program_status.yaml"
    p.write_text(p.read_text().replace("run_count: 1\n", "run_count: many\n"))
    c.commit("state/program_status.yaml")
    return c.reg(RUN, "A", c.bundle(), "--allow-duplicate")  # run_a's bundle: this case is about the state


@case("status-uncommitted-edit", "state/program_status.yaml has changes that are not committed", "commit or stash")
def _(c: Ctx) -> list:
    c.register_a()
    p = c.registry / "state" / "program_status.yaml"
    p.write_text(p.read_text() + "# my note, not committed yet\n")
    return c.reg(RUN, "A", c.bundle(), "--allow-duplicate")  # run_a's bundle: this case is about the state


@case("state-file-staged-change", "state/gate_results.yaml has staged changes", "commit or unstage")
def _(c: Ctx) -> list:
    c.register_a()
    p = c.registry / "state" / "gate_results.yaml"
    original = p.read_text()
    p.write_text(original + "# staged note\n")
    git(c.registry, "add", "state/gate_results.yaml")
    p.write_text(original)
    return c.reg(RUN, "A", c.bundle(), "--allow-duplicate")  # run_a's bundle: this case is about the state


@case("state-file-staged-and-modified", "reports/index.md has changes that are not committed")
def _(c: Ctx) -> list:
    c.register_a()
    p = c.registry / "reports" / "index.md"
    p.write_text(p.read_text() + "\nmy staged paragraph\n")
    git(c.registry, "add", "reports/index.md")
    return c.reg(RUN, "A", c.bundle(), "--allow-duplicate")  # run_a's bundle: this case is about the state


@case("conflicting-reregistration", "run run_a is already registered with different content", "new --run-id")
def _(c: Ctx) -> list:
    c.register_a()
    b = c.bundle()
    (b / "seed.txt").write_text("43\n")
    return c.reg("run_a", "A", b)


@case("leftover-outputs-folder", f"outputs/{RUN}/ exists but run {RUN} is not registered", "move that folder away")
def _(c: Ctx) -> list:
    (c.registry / "outputs" / RUN).mkdir()
    (c.registry / "outputs" / RUN / "metrics.json").write_text("{}")
    return c.reg(RUN, "A", c.bundle())


@case("git-index-locked", ".git/index.lock exists", "wait for it")
def _(c: Ctx) -> list:
    (c.registry / ".git" / "index.lock").write_text("")
    return c.reg(RUN, "A", c.bundle())


@case("record-schema-error-on-show", "state/runs/run_a.yaml: $.seq:", "git checkout -- state/runs/run_a.yaml")
def _(c: Ctx) -> list:
    c.register_a()
    p = c.registry / "state" / "runs" / "run_a.yaml"
    p.write_text(p.read_text().replace("seq: 1\n", "seq: one\n"))
    return ["show", "run_a", "--repo", c.registry]


@case("record-schema-error-on-rebuild", "state/runs/run_a.yaml: $.seq:", "git checkout -- state/runs/run_a.yaml")
def _(c: Ctx) -> list:
    c.register_a()
    p = c.registry / "state" / "runs" / "run_a.yaml"
    p.write_text(p.read_text().replace("seq: 1\n", "seq: one\n"))
    return ["rebuild", "--repo", c.registry]


@case("corrupt-ledger-line", "state/ledger/", "line 2 is corrupt", "gerhard rebuild")
def _(c: Ctx) -> list:
    c.register_a()
    (ledger,) = (c.registry / "state" / "ledger").glob("*.jsonl")
    ledger.write_text(ledger.read_text() + "{not json\n")
    return ["list", "--repo", c.registry]


# --- queries --------------------------------------------------------------------------------


@case("show-unknown-run", "no run 'nope' is registered", "gerhard list")
def _(c: Ctx) -> list:
    c.register_a()
    return ["show", "nope", "--repo", c.registry]


@case("show-unsafe-run-id", "run id '../state' is not safe")
def _(c: Ctx) -> list:
    return ["show", "../state", "--repo", c.registry]


@case("show-latest-no-runs", "no run registered yet", "gerhard register")
def _(c: Ctx) -> list:
    return ["show", "latest", "--repo", c.registry]


@case("list-since-not-a-date", "--since 'notadate' is not a date", "YYYY-MM-DD")
def _(c: Ctx) -> list:
    return ["list", "--since", "notadate", "--repo", c.registry]


@case("list-negative-limit", "--limit -1 is negative")
def _(c: Ctx) -> list:
    return ["list", "--limit", "-1", "--repo", c.registry]


@case("list-limit-not-a-number", "argument --limit: invalid int value: 'ten'")
def _(c: Ctx) -> list:
    return ["list", "--limit", "ten", "--repo", c.registry]


@case("list-unknown-phase", "unknown phase 'Z'", "A, B, C")
def _(c: Ctx) -> list:
    return ["list", "--phase", "Z", "--repo", c.registry]


@case("list-bad-verdict", "argument --verdict: invalid choice: 'PURPLE'")
def _(c: Ctx) -> list:
    return ["list", "--verdict", "purple", "--repo", c.registry]


@case("export-unknown-run", "no run 'nope' is registered")
def _(c: Ctx) -> list:
    c.register_a()
    return ["export", "nope", "--repo", c.registry]


@case("export-bad-format", "argument --format: invalid choice: 'xml'")
def _(c: Ctx) -> list:
    return ["export", "latest", "--format", "xml", "--repo", c.registry]


@case("status-outside-a-registry", "no state/program.yaml", "gerhard init")
def _(c: Ctx) -> list:
    bare = c.tmp / "just_git"
    bare.mkdir()
    git(bare, "init", "-q")
    return ["status", "--repo", bare]


@case("missing-run-id", "gerhard register: error:", "--run-id", "required")
def _(c: Ctx) -> list:
    return ["register", "--repo", c.registry, "--phase", "A", "--source-dir", c.bundle()]


@case("empty-run-id", "gerhard register: error: --run-id required")
def _(c: Ctx) -> list:
    return c.reg("", "A", c.bundle())


@case("missing-source", "gerhard register: error:", "--source-dir --dossier", "required")
def _(c: Ctx) -> list:
    return ["register", "--repo", c.registry, "--phase", "A", "--run-id", RUN]


@case("unknown-option", "unrecognized arguments: --colour")
def _(c: Ctx) -> list:
    return ["status", "--repo", c.registry, "--colour"]


@case("unknown-command", "invalid choice: 'regster'")
def _(c: Ctx) -> list:
    return ["regster"]


@case("init-not-a-git-repo", "is not inside a git repository", "git init")
def _(c: Ctx) -> list:
    plain = c.tmp / "plain"
    plain.mkdir()
    return ["init", plain]


@pytest.fixture
def ctx(registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Ctx:
    # A plain temp dir must not be found inside some enclosing repository on this machine.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return Ctx(registry, tmp_path, capsys)


@pytest.mark.parametrize("name", list(CASES))
def test_user_error(ctx: Ctx, name: str) -> None:
    setup, words = CASES[name]
    argv = setup(ctx)
    before = snapshot(ctx.registry)
    others = snapshot_tree(ctx.tmp)
    result = run(ctx.capsys, *argv)
    assert_one_line_error(result, *words)
    assert result.out == ""
    assert snapshot(ctx.registry) == before
    assert snapshot_tree(ctx.tmp) == others  # the bundle and any other folder too


def test_there_are_at_least_thirty_distinct_bad_inputs() -> None:
    assert len(CASES) >= 30


def test_error_line_names_the_command(ctx: Ctx) -> None:
    result = run(ctx.capsys, "show", "latest", "--repo", ctx.registry)
    assert result.err == "gerhard show: error: no run registered yet: register one with 'gerhard register'\n"


def test_debug_shows_the_traceback(ctx: Ctx) -> None:
    b = ctx.bundle()
    (b / "seed.txt").write_text("forty-two\n")
    before = snapshot(ctx.registry)
    result = run(ctx.capsys, *ctx.reg(RUN, "A", b, "--debug"))
    assert result.rc == 2
    assert "Traceback (most recent call last)" in result.err
    assert "BundleError" in result.err
    assert result.err.splitlines()[-1] == (
        "gerhard register: error: seed.txt must hold one integer, found 'forty-two': write the seed the run used"
    )
    assert snapshot(ctx.registry) == before


def test_whole_process_argparse_error_is_one_line(ctx: Ctx) -> None:
    done = python_m_gerhard("list", "--repo", ctx.registry, "--limit", "ten")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "gerhard list: error: argument --limit: invalid int value: 'ten' (see 'gerhard list --help')"
    ]


def test_whole_process_missing_run_id_is_one_line(ctx: Ctx) -> None:
    before = snapshot(ctx.registry)
    done = python_m_gerhard("register", "--repo", ctx.registry, "--phase", "A", "--source-dir", ctx.bundle())
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "--run-id required" in done.stderr
    assert snapshot(ctx.registry) == before


def test_empty_run_id_through_the_python_api(ctx: Ctx) -> None:
    from gerhard import UserError, register_run

    before = snapshot(ctx.registry)
    with pytest.raises(UserError, match="run id '' is not safe"):
        register_run(run_id="", phase="A", source_dir=ctx.bundle(), repo_root=ctx.registry)
    assert snapshot(ctx.registry) == before


def test_whole_process_user_error_is_one_line(ctx: Ctx) -> None:
    before = snapshot(ctx.registry)
    done = python_m_gerhard(*ctx.reg("../x", "A", ctx.bundle()))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "is not safe" in done.stderr
    assert snapshot(ctx.registry) == before


def test_nan_metric_registers_red_not_an_error(ctx: Ctx) -> None:
    b = ctx.bundle()
    text = (b / "metrics.json").read_text()
    metrics = json.loads(text)
    metrics["final"]["val_loss"] = float("nan")
    (b / "metrics.json").write_text(json.dumps(metrics))  # json writes NaN, as numpy-backed loggers do
    result = register(ctx.capsys, ctx.registry, RUN, "A", b)
    assert result.rc == 0, result.err
    assert "RED, 0/1 gates passed" in result.out
    record = load_yaml(ctx.registry / "state" / "runs" / f"{RUN}.yaml")
    (gate,) = record["gates"]
    assert gate["passed"] is False
    assert gate["reason"] == "final.val_loss is nan, not a finite number"
    assert (ctx.registry / "state" / "needs_input" / f"{RUN}.yaml").is_file()
    shown = run(ctx.capsys, "show", RUN, "--json", "--repo", ctx.registry)
    assert shown.rc == 0
    assert json.loads(shown.out)["gates"][0]["observed"] == "nan"
    assert run(ctx.capsys, "rebuild", "--check", "--repo", ctx.registry).rc == 0
    assert subprocess.run(["git", "status", "--porcelain"], cwd=ctx.registry, capture_output=True).stdout == b""


def test_no_git_identity_is_one_line_that_says_what_to_do(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    git(ctx.registry, "config", "user.useConfigOnly", "true")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{who}_NAME")
        monkeypatch.delenv(f"GIT_{who}_EMAIL")
    before = snapshot(ctx.registry)
    result = run(ctx.capsys, *ctx.reg(RUN, "A", ctx.bundle()))
    assert_one_line_error(result, "git commit-tree failed", "git config user.email", "register again")
    assert snapshot(ctx.registry) == before


@pytest.mark.parametrize("where", ["before the command", "after the command"])
def test_debug_flag_works_in_either_place(ctx: Ctx, where: str) -> None:
    argv = ["show", "nope", "--repo", ctx.registry]
    result = run(ctx.capsys, *(["--debug", *argv] if where == "before the command" else [*argv, "--debug"]))
    assert result.rc == 2
    assert "Traceback (most recent call last)" in result.err
    assert result.err.splitlines()[-1].startswith("gerhard show: error: no run 'nope' is registered")


def test_future_phase_after_a_red_run_names_the_blocked_phase(ctx: Ctx) -> None:
    red_a = ctx.bundle(name="red_a")
    edit_json(red_a / "metrics.json", lambda d: d["final"].update(val_loss=3.5))
    assert register(ctx.capsys, ctx.registry, "red_a", "A", red_a).rc == 0
    before = snapshot(ctx.registry)
    result = run(ctx.capsys, *ctx.reg(RUN, "B", ctx.bundle("phase_b_green")))
    assert_one_line_error(result, "phase B is not open yet: the current phase is A", "register phase A runs first")
    assert snapshot(ctx.registry) == before
