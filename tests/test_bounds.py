"""Bounded parsing (gerhard.formats.bounds, formats.yamlio, formats.runtext, the program's thresholds,
the capture API's seed and save_file): what a run, a dossier or a hand controls is refused in one line,
exit 2, the repository byte-identical, never a crash.

Nesting is measured on the text before a parser sees it (libyaml's composer crashed the process at
30,000 levels): the measure is checked against the real depth of random documents, and 60,000 levels
in every input are driven through the CLI in a subprocess, so that a crash shows as its exit code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gerhard.errors import StateError, UserError
from gerhard.formats.bounds import MAX_DATA_DEPTH, Unreadable, check_json_depth
from gerhard.formats.runtext import CUT_NOTE, MAX_TEXT_BYTES, clean_text, one_line
from gerhard.formats.yamlio import check_yaml_depth, load_state_yaml, read_state_yaml
from tests.cli_helpers import assert_one_line_error, register_ok, run
from tests.conftest import EXAMPLES, snapshot

RUN = "20260101T000000Z_alpha"
DEEP = "nests lists and mappings deeper than 64 levels: flatten it"
N = 60_000


# --- the measure on the text: exact where it matters ---------------------------------------------------


def depth(data: Any) -> int:
    if isinstance(data, dict):
        return 1 + max((depth(v) for v in data.values()), default=0)
    if isinstance(data, list):
        return 1 + max((depth(v) for v in data), default=0)
    return 0


def refused(check: Any, text: str | bytes) -> bool:
    try:
        check(text)
    except Unreadable as e:
        assert str(e) == DEEP
        return True
    return False


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * 64 + "]" * 64, False),
        ("[" * 65 + "]" * 65, True),
        ('{"a": ' * 65 + "1" + "}" * 65, True),
        ("[" * N, True),  # unterminated: deep all the same
        ("[" * 10, False),  # unterminated and shallow: the parser says what is wrong
        ('["' + "[" * 1000 + '"]', False),  # brackets in a string are text
        ('["\\"' + "[" * 1000 + '"]', False),  # an escaped quote does not end the string
        ('["\\\\"' + "[" * 70 + "]" * 70 + "]", True),  # an escaped backslash does
        ("[" + '"x", ' * 500 + "[[1]]" * 500 + "]", False),  # many brackets, shallow
        ('{"é[": ' * 65 + "1" + "}" * 65, True),
    ],
)
def test_json_depth_on_the_text(text: str, deep: bool) -> None:
    assert refused(check_json_depth, text) is deep
    assert refused(check_json_depth, text.encode()) is deep


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("a: " + "[" * 63 + "]" * 63 + "\n", False),
        ("a: " + "[" * 64 + "]" * 64 + "\n", True),
        ("- " * 64 + "x\n", False),
        ("- " * 65 + "x\n", True),
        ("a:\n" + "- " * 64 + "x\n", True),
        ("".join(" " * i + f"k{i}:\n" for i in range(64)) + " " * 64 + "v\n", False),
        ("".join(" " * i + f"k{i}:\n" for i in range(65)) + " " * 65 + "v\n", True),
        ("a: " + "{b: " * 65 + "1" + "}" * 65 + "\n", True),
        ("a: [" + "b: [" * 32 + "1" + "]" * 33 + "\n", True),  # a one-pair mapping in each sequence
        ("a: '" + "[" * 1000 + "'\n", False),  # brackets in a string: the events say it is shallow
        ("a: |\n" + "".join(" " * (2 + i) + "- x\n" for i in range(200)), False),  # a literal block
        ("x: [" + ", ".join(["[1, {a: [2]}]"] * 300) + "]\n", False),
        ("a: " + "[" * 70 + "\n", True),  # deep before it turns invalid
    ],
)
def test_yaml_depth_on_the_text(text: str, deep: bool) -> None:
    assert refused(check_yaml_depth, text) is deep


def nested(levels: int, wide: bool) -> Any:
    node: Any = "leaf"
    for i in range(levels):
        node = [node, 1] if i % 2 else {"k": node, "w": [1, 2] if wide else 3}
    return node


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(50, 70), wide=st.booleans(), flow=st.booleans(), indent=st.integers(1, 4))
def test_the_measure_agrees_with_the_parsed_depth(levels: int, wide: bool, flow: bool, indent: int) -> None:
    """Random depths around the bound, as gerhard writes YAML (block style, any indent) and as flow
    style, and as JSON: refused exactly when the parsed data is deeper than the bound."""
    import io

    from ruamel.yaml import YAML

    data = nested(levels, wide)
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.indent(mapping=indent + 1, sequence=indent + 2, offset=indent)
    buf = io.StringIO()
    yaml.dump(data, buf)
    too_deep = depth(data) > MAX_DATA_DEPTH
    assert refused(check_yaml_depth, buf.getvalue()) is too_deep
    assert refused(check_json_depth, json.dumps(data, indent=indent)) is too_deep


def test_state_files_are_bounded_before_they_are_composed() -> None:
    for read in (read_state_yaml, load_state_yaml):
        with pytest.raises(StateError) as e:
            read("a:\n" + "- " * N + "1\n", "state/program.yaml")
        assert str(e.value) == f"state/program.yaml {DEEP}"
        with pytest.raises(StateError) as e:
            read("a: &a [1]\nb: &b [*a, *a]\nc: " + "[" * 63 + "*b" + "]" * 63 + "\n", "state/x.yaml")
        assert str(e.value) == f"state/x.yaml {DEEP}"  # deeper through an alias than its text
        with pytest.raises(StateError) as e:
            read("max_bytes: " + "9" * 5000 + "\n", "state/program.yaml")
        assert str(e.value) == (
            "state/program.yaml holds an integer of 5000 digits, over the 300 a state file may hold: "
            "write it as a string"
        )
        assert read("a: &a [1, 2]\nb: *a\n", "state/x.yaml") == {"a": [1, 2], "b": [1, 2]}


# --- 60,000 levels in every input: one line, exit 2, nothing changed (a subprocess: a crash is its code)


def gerhard_cli(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gerhard", *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def one_line_exit_2(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert (proc.returncode, proc.stderr) == (2, message + "\n"), (proc.returncode, proc.stderr[-2000:])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.yaml", "model: " + "[" * N + "]" * N + "\n"),
        ("config.yaml", "model:\n" + "- " * N + "1\n"),
        ("config.yaml", "model: " + "{a: " * N + "1" + "}" * N + "\n"),
        ("metrics.json", '{"final": ' + "[" * N + "]" * N + "}"),
        ("provenance.json", '{"a": ' * N + "1" + "}" * N),
    ],
    ids=["yaml-flow", "yaml-block", "yaml-flow-mapping", "json-list", "json-object"],
)
def test_deep_bundle_files_are_refused(registry: Path, tmp_path: Path, name: str, text: str) -> None:
    source = shutil.copytree(EXAMPLES / "phase_a_green", tmp_path / "bundle")
    (source / name).write_text(text)
    before = snapshot(registry)
    proc = gerhard_cli("register", "--repo", registry, "--run-id", RUN, "--phase", "A", "--source-dir", source)
    one_line_exit_2(proc, f"gerhard register: error: {name} {DEEP}")
    assert snapshot(registry) == before


def test_a_deep_dossier_block_is_refused(registry: Path, tmp_path: Path) -> None:
    source = shutil.copytree(EXAMPLES / "phase_a_green", tmp_path / "bundle")
    made = gerhard_cli("dossier", "--run-dir", source, "--phase", "A", "--run-id", RUN)
    assert made.returncode == 0, made.stderr
    dossier = next(source.glob("run_dossier_*.html"))
    page = dossier.read_text()
    start = page.index(">", page.index('<script type="application/json"')) + 1
    dossier.write_text(page[:start] + "[" * N + "]" * N + page[page.index("</script", start) :])
    before = snapshot(registry)
    proc = gerhard_cli("register", "--repo", registry, "--dossier", dossier, "--phase", "A")
    one_line_exit_2(
        proc,
        f"gerhard register: error: {dossier}: the embedded bundle is not valid JSON ({DEEP}): the file is "
        "damaged or truncated; download or copy it again",
    )
    assert snapshot(registry) == before


@pytest.mark.parametrize(
    "text",
    ["deep: " + "[" * N + "]" * N + "\n", "deep:\n" + "- " * N + "1\n", "deep: " + "{a: " * N + "1" + "}" * N + "\n"],
    ids=["flow", "block", "flow-mapping"],
)
@pytest.mark.parametrize("command", ["status", "check", "rebuild"])
def test_a_deep_program_yaml_is_one_line(registry: Path, text: str, command: str) -> None:
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text() + text)
    before = snapshot(registry)
    one_line_exit_2(gerhard_cli(command, "--repo", registry), f"gerhard {command}: error: state/program.yaml {DEEP}")
    assert snapshot(registry) == before


@pytest.fixture
def decided(registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A registry with a RED run of phase A and a decision on it."""
    source = shutil.copytree(EXAMPLES / "phase_a_green", tmp_path / "red")
    metrics = json.loads((source / "metrics.json").read_text())
    metrics["final"]["val_loss"] = 9.0
    (source / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, registry, RUN, "A", source)
    assert run(capsys, "decide", "--repo", registry, RUN, "rerun", "--reason", "diverged").rc == 0
    return registry


@pytest.mark.parametrize(
    ("rel", "command", "message"),
    [
        (f"state/decisions/{RUN}.yaml", ["rebuild"], f"state/decisions/{RUN}.yaml {DEEP}"),
        (f"state/runs/{RUN}.yaml", ["show", RUN], f"state/runs/{RUN}.yaml {DEEP}"),
        ("state/program_status.yaml", ["status"], f"state/program_status.yaml {DEEP}"),
    ],
)
def test_deep_state_files_are_one_line(decided: Path, rel: str, command: list[str], message: str) -> None:
    path = decided / rel
    path.write_text(path.read_text() + "deep:\n" + "- " * N + "1\n")
    before = snapshot(decided)
    one_line_exit_2(gerhard_cli(*command, "--repo", decided), f"gerhard {command[0]}: error: {message}")
    assert snapshot(decided) == before


def test_a_deep_manifest_or_ledger_line_is_named_not_a_crash(decided: Path) -> None:
    manifest = decided / "outputs" / RUN / "MANIFEST"
    manifest.write_text(manifest.read_text().rstrip()[:-1] + ', "deep": ' + "[" * N + "]" * N + "}")
    checked = gerhard_cli("check", "--repo", decided)
    assert checked.returncode == 1, checked.stderr
    assert f"outputs/{RUN}/MANIFEST is not a valid MANIFEST ({DEEP}): " in checked.stdout
    ledger = next((decided / "state").rglob("*.jsonl"))
    ledger.write_text(ledger.read_text() + "[" * N + "]" * N + "\n")
    before = snapshot(decided)
    listed = gerhard_cli("list", "--repo", decided)
    assert listed.returncode == 2 and len(listed.stderr.splitlines()) == 1, listed.stderr
    assert listed.stderr.endswith("line 2 is corrupt: run 'gerhard rebuild' ('gerhard check' lists every problem)\n")
    assert snapshot(decided) == before


def test_a_long_integer_in_program_yaml_is_one_line(registry: Path) -> None:
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text() + "big: " + "9" * 5000 + "\n")
    before = snapshot(registry)
    one_line_exit_2(
        gerhard_cli("status", "--repo", registry),
        "gerhard status: error: state/program.yaml holds an integer of 5000 digits, over the 300 a state file may "
        "hold: write it as a string",
    )
    assert snapshot(registry) == before


# --- thresholds are finite numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "shown"), [(".nan", ".nan"), ("yes", "'yes'"), ("true", "true"), ("-.inf", "-.inf")])
def test_thresholds_must_be_finite_numbers(
    registry: Path, capsys: pytest.CaptureFixture[str], word: str, shown: str
) -> None:
    program = registry / "state" / "program.yaml"
    text = program.read_text()
    assert text.count("value: 2.6") == 1  # phase A's gate val_loss_max, op <=
    program.write_text(text.replace("value: 2.6", f"value: {word}"))
    before = snapshot(registry)
    result = run(capsys, "status", "--repo", registry)
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard status: error: state/program.yaml: phase A gate 'val_loss_max': value is {shown}, not a finite "
        "number: write a number\n"
    )
    assert snapshot(registry) == before


def test_range_and_improvements_must_be_finite(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = registry / "state" / "program.yaml"
    text = program.read_text()
    assert text.count("range: [0.05, 0.25]") == 1
    program.write_text(text.replace("range: [0.05, 0.25]", "range: [.nan, 0.25]"))
    result = run(capsys, "status", "--repo", registry)
    assert_one_line_error(result)
    assert result.err == (
        "gerhard status: error: state/program.yaml: phase B gate 'spike_rate_band': range is .nan, not a finite "
        "number: write a number\n"
    )


def test_equality_keeps_text_and_booleans(registry: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gerhard.registry import store

    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text().replace('op: "<="\n        value: 2.6', 'op: "=="\n        value: yes', 1))
    gate = store.load_program(registry).phase("A").gates[0]
    assert (gate.op, gate.value) == ("==", "yes")


# --- run text: the record holds it whole up to MAX_TEXT_BYTES, the commit message 4 KiB of it ------------


def test_run_text_is_capped() -> None:
    at_the_limit = "é" * (MAX_TEXT_BYTES // 2)
    assert clean_text("the summary", at_the_limit) == at_the_limit
    with pytest.raises(UserError) as e:
        clean_text("the summary", at_the_limit + "x")
    assert str(e.value) == (
        "the summary is 65,537 bytes, over the 65,536 a run record holds: shorten it (put long notes in a bundle "
        "file) and register again"
    )
    line = one_line("word " * 5000)
    assert len(line.encode()) <= 4096 and line.endswith(CUT_NOTE) and line.startswith("word word")
    assert len(one_line("é" * 5000).encode()) <= 4096
    assert one_line("a\n\n  b") == "a b" and one_line(" \n") == "(none)"


def test_a_huge_summary_or_reason_is_refused(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shutil.copytree(EXAMPLES / "phase_a_green", tmp_path / "bundle")
    before = snapshot(registry)
    huge = "x" * (5 << 20)
    result = run(
        capsys,
        "register",
        "--repo",
        registry,
        "--run-id",
        RUN,
        "--phase",
        "A",
        "--source-dir",
        source,
        "--summary",
        huge,
    )
    assert_one_line_error(result)
    assert result.err == (
        "gerhard register: error: the summary is 5,242,880 bytes, over the 65,536 a run record holds: shorten it "
        "(put long notes in a bundle file) and register again\n"
    )
    assert snapshot(registry) == before
    register_ok(capsys, registry, RUN, "A", source)
    before = snapshot(registry)
    result = run(capsys, "decide", "--repo", registry, RUN, "rerun", "--reason", huge)
    assert_one_line_error(result)
    assert result.err.endswith("shorten it (put long notes in a bundle file) and decide again\n")
    assert snapshot(registry) == before


# --- the capture API: the seed, save_file ------------------------------------------------------------------


OVER = "is over 2**64-1 (18446744073709551615), the most torch takes: pass less"


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        (
            2**200,
            f"seed=<an integer of 201 bits> {OVER}",
        ),
        (
            10**5000,
            f"seed=<an integer of 16610 bits> {OVER}",
        ),
        (2**64, f"seed=<an integer of 65 bits> {OVER}"),
        (-(10**5000), "seed=-<an integer of 16610 bits> is not a whole number >= 0"),
        ("x" * 500, "seed='" + "x" * 79 + "… is not a whole number >= 0"),
    ],
    ids=["2**200", "10**5000", "2**64", "-10**5000", "long-text"],
)
def test_a_seed_out_of_range_is_one_line(tmp_path: Path, seed: Any, message: str) -> None:
    import gerhard

    with pytest.raises(UserError) as e:
        gerhard.start_run(name="s", phase="A", seed=seed, output_root=tmp_path / "runs")
    assert str(e.value) == f"start_run: {message}"
    assert not (tmp_path / "runs").exists()


def test_the_largest_seed_fits_seed_txt() -> None:
    from gerhard.capture.seeding import MAX_SEED, resolve_seed
    from gerhard.formats.parsing import parse_seed

    assert resolve_seed(MAX_SEED) == MAX_SEED == 2**64 - 1
    assert parse_seed(f"{MAX_SEED}\n".encode()) == MAX_SEED


def test_save_file_refuses_a_symbolic_link(tmp_path: Path) -> None:
    import gerhard

    secret = tmp_path / "home" / ".bashrc"
    secret.parent.mkdir()
    secret.write_text("export TOKEN=secret\n")
    link = tmp_path / "notes.txt"
    link.symlink_to(secret)
    run_ = gerhard.start_run(name="s", phase="A", seed=1, output_root=tmp_path / "runs", register=False, dossier=False)
    with pytest.raises(UserError) as e:
        run_.save_file(link)
    assert str(e.value) == f"save_file: {link} is a symbolic link: pass the file it points to, if that is meant"
    (run_.folder / "plots").symlink_to(tmp_path / "home", target_is_directory=True)
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"png")
    with pytest.raises(UserError) as e:
        run_.save_file(plot, name="plots/plot.png")
    assert str(e.value) == f"save_file: {run_.folder / 'plots'} is a symbolic link out of the run folder: remove it"
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == [".bashrc"]
    assert not (run_.folder / "notes.txt").exists()
    assert run_.save_file(plot) == run_.folder / "plot.png"
