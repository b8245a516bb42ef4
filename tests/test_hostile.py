"""Hostile bundles: one set of name rules for a folder and a dossier, bounded parsing, whole-text
patterns, clean run text; end to end, every refusal is one line and leaves the repository as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import Result, assert_one_line_error, load_yaml, register, register_ok, run
from conftest import snapshot
from dossier_helpers import RUN_B, add_file, bundle_folder, make_dossier, tamper

from gerhard.dossier.codec import read_dossier
from gerhard.errors import BundleError, SchemaError, UserError
from gerhard.formats import schemas
from gerhard.formats.runtext import clean_text
from gerhard.registry.bundle import MAX_BUNDLE_PATH_CHARS, MAX_PATH_DEPTH, load_bundle

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN = "20261101T100000Z_run"
DEVICE = "a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9): rename it"
MANIFEST_LIKE = "named like the MANIFEST gerhard writes beside a bundle: rename it"
CASE = "which differ only in case (one path on macOS and Windows): rename one of them"
DEEP_PATH = "/".join(["d"] * (MAX_PATH_DEPTH - 1) + ["x.txt"])
DEEPER_PATH = "d/" + DEEP_PATH
LONG_PATH = "long/" + "x" * (MAX_BUNDLE_PATH_CHARS - 5)
LONGER_PATH = LONG_PATH + "x"

# Files added to a good bundle → what the refusal says after "<folder> holds " / "<dossier> embeds ".
# The same table drives both ways in: one set of rules.
NAME_CASES: dict[str, tuple[list[str], str]] = {
    "case-twins": (["Notes.txt", "notes.txt"], f"'Notes.txt' and 'notes.txt', {CASE}"),
    "case-twin-folders": (["plots/A/x.png", "plots/a/y.png"], f"'plots/A' and 'plots/a', {CASE}"),
    "file-and-folder-in-two-cases": (["Seed/x.txt", "seed"], f"'Seed' and 'seed', {CASE}"),
    "manifest-lower": (["manifest"], f"'manifest', {MANIFEST_LIKE}"),
    "manifest-title": (["Manifest"], f"'Manifest', {MANIFEST_LIKE}"),
    "manifest-below": (["sub/MANIFEST"], f"'sub/MANIFEST', {MANIFEST_LIKE}"),
    "manifest-folder": (["MaNiFeSt/x.txt"], f"'MaNiFeSt/x.txt', {MANIFEST_LIKE}"),
    "con": (["CON"], f"'CON', {DEVICE}"),
    "con-txt": (["con.txt"], f"'con.txt', {DEVICE}"),
    "aux-json": (["Aux.json"], f"'Aux.json', {DEVICE}"),
    "nul-tar-gz": (["sub/nul.tar.gz"], f"'sub/nul.tar.gz', {DEVICE}"),
    "com1": (["COM1.log"], f"'COM1.log', {DEVICE}"),
    "lpt9": (["lpt9"], f"'lpt9', {DEVICE}"),
    "prn-folder": (["plots/PRN/x.png"], f"'plots/PRN/x.png', {DEVICE}"),
    "final-dot": (["notes."], "'notes.', a name ending in '.', which Windows drops: rename it"),
    "final-dot-folder": (["dir./x.txt"], "'dir./x.txt', a name ending in '.', which Windows drops: rename it"),
    "dossier-look-alike": (
        [f"Run_Dossier_{RUN_B}.html"],
        f"'Run_Dossier_{RUN_B}.html', named like a run dossier (run_dossier_*.html), which travels beside a "
        "bundle, not in it: rename it",
    ),
    "too-deep": (
        [DEEPER_PATH],
        f"{DEEPER_PATH!r}, a path 33 levels deep, over the 32 a bundle may have: flatten its folders",
    ),
    "too-long": (
        [LONGER_PATH],
        f"{LONGER_PATH!r}, a path of 151 characters, over the 150 that keep outputs/<run_id>/<path> under "
        "Windows' 260: shorten it",
    ),
}
GOOD_NAMES = [DEEP_PATH, LONG_PATH, "console.txt", "COM10.log", "nul_bytes.txt", "sub/MANIFEST.json", "a.b/c"]


def _add(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x\n")


@pytest.mark.parametrize("case", list(NAME_CASES))
def test_a_folder_is_held_to_the_name_rules(tmp_path: Path, case: str) -> None:
    names, problem = NAME_CASES[case]
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    _add(folder, names)
    with pytest.raises(BundleError) as exc:
        load_bundle(folder)
    assert str(exc.value) == f"{folder} holds {problem}"


@pytest.mark.parametrize("case", list(NAME_CASES))
def test_a_dossier_is_held_to_the_same_name_rules(tmp_path: Path, case: str) -> None:
    names, problem = NAME_CASES[case]
    dossier = make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B")
    tamper(dossier, lambda doc: [add_file(doc, name) for name in names], consistent=True)
    with pytest.raises(BundleError) as exc:
        read_dossier(dossier)
    assert str(exc.value) == f"{dossier} embeds {problem}"


def test_names_that_only_look_close_pass_both_ways(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    _add(folder, GOOD_NAMES)
    assert set(GOOD_NAMES) <= load_bundle(folder).names()
    dossier = make_dossier(folder, phase="B")
    assert set(GOOD_NAMES) <= {f.path for f in read_dossier(dossier)[0].files}


def test_a_folder_deeper_than_the_bound_is_refused_before_it_is_walked_to_the_bottom(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    deep = folder.joinpath(*["d"] * 200)
    deep.mkdir(parents=True)
    (deep / "x.txt").write_bytes(b"x")
    with pytest.raises(BundleError) as exc:
        load_bundle(folder)
    shown = "/".join(["d"] * 33)
    assert str(exc.value) == f"{folder} holds {shown!r}, a path 33 levels deep, over the 32 a bundle may have: " + (
        "flatten its folders"
    )


def test_a_folder_case_collision_of_the_brief(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    (folder / "Metrics.json").write_bytes((folder / "metrics.json").read_bytes())
    with pytest.raises(BundleError) as exc:
        load_bundle(folder)
    assert str(exc.value) == f"{folder} holds 'Metrics.json' and 'metrics.json', {CASE}"


# --- end to end: the CLI refuses, in one line, and the repository is byte-identical -----------


def bundle(tmp_path: Path, example: str = "phase_a_green", name: str = "bundle") -> Path:
    return shutil.copytree(EXAMPLES / example, tmp_path / name)


def register_argv(registry: Path, run_id: str, source: Path) -> list[str | Path]:
    return ["register", "--repo", registry, "--run-id", run_id, "--phase", "A", "--source-dir", source]


def refused(capsys: pytest.CaptureFixture[str], registry: Path, *argv: str | Path) -> Result:
    before = snapshot(registry)
    result = run(capsys, *argv)
    assert_one_line_error(result)
    assert result.out == ""
    assert snapshot(registry) == before
    return result


def laughs(levels: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# (what to write into a phase A bundle) → the message after "gerhard register: error: "
CONTENT_CASES: dict[str, tuple[dict[str, str], str]] = {
    "duplicate-json-key": (
        {"metrics.json": '{"final": {"val_loss": 9.0}, "final": {"val_loss": 1.0}}'},
        "metrics.json has the key 'final' twice in one object: keep one of them",
    ),
    "deep-json": (
        {"metrics.json": '{"final": {"val_loss": 1.0}, "x": ' + "[" * 70 + "]" * 70 + "}"},
        "metrics.json nests lists and mappings deeper than 64 levels: flatten it",
    ),
    "very-deep-json": (
        {"metrics.json": "[" * 200_000},
        "metrics.json nests lists and mappings deeper than 64 levels: flatten it",
    ),
    "long-json-integer": (
        {"metrics.json": '{"final": {"val_loss": ' + "1" * 5000 + "}}"},
        "metrics.json holds an integer of 5000 digits, over the 300 a bundle file may hold: write it as a string",
    ),
    "long-yaml-integer": (
        {"config.yaml": "model: {name: m}\nsteps: " + "9" * 4301 + "\n"},
        "config.yaml holds an integer of 4301 digits, over the 300 a bundle file may hold: write it as a string",
    ),
    "billion-laughs": (
        {"config.yaml": laughs(10)},
        "config.yaml stands for over 1,000,000 values with its aliases expanded: write it without *aliases",
    ),
    "yaml-holds-itself": (
        {"config.yaml": "model: &m {name: m, parent: *m}\n"},
        "config.yaml holds itself through an alias (its *alias inside its own &anchor): write it out plainly",
    ),
    "code-sha-with-a-newline": (
        {"provenance.json": json.dumps({"code_sha": "abc1234\n", "dirty": False})},
        "provenance.json: $.code_sha: 'abc1234\\n' does not match '^[0-9a-f]{7,64}$' (schema provenance)",
    ),
}


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_hostile_content_is_refused_end_to_end(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    files, message = CONTENT_CASES[case]
    source = bundle(tmp_path)
    for name, text in files.items():
        (source / name).write_text(text)
    result = refused(capsys, registry, *register_argv(registry, RUN, source))
    assert result.err == f"gerhard register: error: {message}\n"


@pytest.mark.parametrize("case", ["case-twins", "manifest-below", "con-txt", "final-dot", "too-long"])
def test_hostile_names_are_refused_end_to_end(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    names, problem = NAME_CASES[case]
    source = bundle(tmp_path)
    _add(source, names)
    result = refused(capsys, registry, *register_argv(registry, RUN, source))
    assert result.err == f"gerhard register: error: {source} holds {problem}\n"


@pytest.mark.parametrize("case", ["case-twin-folders", "manifest-lower", "prn-folder", "too-deep"])
def test_hostile_names_in_a_dossier_are_refused_end_to_end(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    names, problem = NAME_CASES[case]
    dossier = make_dossier(bundle(tmp_path), phase="A", run_id=RUN)
    tamper(dossier, lambda doc: [add_file(doc, name) for name in names], consistent=True)
    result = refused(capsys, registry, "register", "--repo", registry, "--dossier", dossier)
    assert result.err == f"gerhard register: error: {dossier} embeds {problem}\n"


@pytest.mark.parametrize(
    ("run_id", "message"),
    [
        ("index", "run id 'index' is reserved (gerhard show latest, gerhard export all, reports/YYYY/MM/index.md)"),
        ("Latest", "run id 'Latest' is reserved (gerhard show latest, gerhard export all, reports/YYYY/MM/index.md)"),
        ("CON", "run id 'CON' is a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9)"),
        ("lpt1.v2", "run id 'lpt1.v2' is a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9)"),
        ("run.", "run id 'run.' ends in '.', which Windows drops from file names"),
    ],
)
def test_hostile_run_ids_are_refused_end_to_end(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], run_id: str, message: str
) -> None:
    result = refused(capsys, registry, *register_argv(registry, run_id, bundle(tmp_path)))
    assert result.err == f"gerhard register: error: {message}: pick another id\n"


# --- an archived run folder: registered in place, or copied, its MANIFEST checked ---------------


def assert_registers_again_as_a_no_op(capsys: pytest.CaptureFixture[str], registry: Path, source: Path) -> None:
    before = snapshot(registry)
    again = register(capsys, registry, RUN, "A", source)
    assert again.rc == 0, again.err
    assert "already registered (no change)" in again.out
    assert snapshot(registry) == before


def test_a_run_registered_in_place_registers_again_in_place_as_a_no_op(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = registry / "outputs" / RUN
    shutil.copytree(EXAMPLES / "phase_a_green", archive)  # the notebook wrote its bundle into the archive
    register_ok(capsys, registry, RUN, "A", archive)
    assert (archive / "MANIFEST").is_file()
    assert_registers_again_as_a_no_op(capsys, registry, archive)


def test_a_copy_of_an_archived_run_is_the_same_run(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, RUN, "A", bundle(tmp_path))
    copy = shutil.copytree(registry / "outputs" / RUN, tmp_path / "copy")
    (copy / ".DS_Store").write_bytes(b"\0")  # picked up on the way: skipped
    assert load_bundle(copy).skipped == (".DS_Store",)
    assert_registers_again_as_a_no_op(capsys, registry, copy)


def test_an_archived_run_changed_since_is_refused_naming_the_file(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, RUN, "A", bundle(tmp_path))
    copy = shutil.copytree(registry / "outputs" / RUN, tmp_path / "copy")
    (copy / "seed.txt").write_text("43\n")
    result = refused(capsys, registry, *register_argv(registry, "20261101T110000Z_other", copy))
    assert result.err.startswith(
        f"gerhard register: error: {copy / 'MANIFEST'} does not match the folder: seed.txt is 3 bytes"
    )
    assert result.err.endswith(
        ": restore the files it lists, or delete MANIFEST to register the folder as a new bundle\n"
    )


# --- patterns match whole text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "doc", "message"),
    [
        (
            "provenance",
            {"code_sha": "abc1234\n", "dirty": False},
            "provenance.json: $.code_sha: 'abc1234\\n' does not match '^[0-9a-f]{7,64}$' (schema provenance)",
        ),
        (
            "manifest",
            {"run_id": "r", "bundle_sha256": "0" * 64 + "\n", "files": []},
            f"MANIFEST: $.bundle_sha256: '{'0' * 64}\\n' does not match '^[0-9a-f]{{64}}$' (schema manifest)",
        ),
    ],
)
def test_a_final_newline_does_not_pass_a_pattern(schema: str, doc: dict, message: str) -> None:
    with pytest.raises(SchemaError) as exc:
        schemas.validate(doc, schema, message.split(":")[0])
    assert str(exc.value) == message


@pytest.mark.parametrize("field", ["run_id", "bundle_sha256"])
def test_a_run_record_field_with_a_final_newline_is_refused(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    register_ok(capsys, registry, RUN, "A", bundle(tmp_path))
    record = load_yaml(registry / "state" / "runs" / f"{RUN}.yaml")
    schemas.validate(record, "run_record", "record")
    pattern = {"run_id": "^[0-9A-Za-z][0-9A-Za-z_.-]{0,99}$", "bundle_sha256": "^[0-9a-f]{64}$"}[field]
    record[field] += "\n"
    with pytest.raises(SchemaError) as exc:
        schemas.validate(record, "run_record", "record")
    assert str(exc.value) == f"record: $.{field}: {record[field]!r} does not match {pattern!r} (schema run_record)"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("^[0-9a-f]{7,64}$", "abc1234", True),
        ("^[0-9a-f]{7,64}$", "abc1234\n", False),
        ("^(a$|b$)", "b\n", False),
        ("^a\\$$", "a$", True),
        ("^a\\$$", "a$\n", False),
        ("^[$]x$", "$x", True),
        ("^[]$]$", "$", True),
        ("^[]$]$", "]\n", False),
        ("^[^]$]+$", "ab", True),
        ("^[^]$]+$", "a]b", False),
        ("^[^]$]+$", "ab\n", True),  # the class itself takes the newline
        ("abc", "xxabcxx", True),
        ("^ok", "ok\nmore", True),
    ],
)
def test_whole_text_regex(pattern: str, text: str, matches: bool) -> None:
    assert bool(schemas.whole_text_regex(pattern).search(text)) is matches


def test_a_registry_schema_pattern_matches_whole_text_too(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    custom = {"type": "object", "properties": {"tag": {"type": "string", "pattern": "^v[0-9]+$"}}}
    (tmp_path / "schemas" / "custom.schema.json").write_text(json.dumps(custom))
    schemas.validate({"tag": "v15"}, "custom", "custom.json", tmp_path)
    with pytest.raises(SchemaError) as exc:
        schemas.validate({"tag": "v15\n"}, "custom", "custom.json", tmp_path)
    assert str(exc.value) == "custom.json: $.tag: 'v15\\n' does not match '^v[0-9]+$' (schema custom)"


def test_a_pattern_that_is_not_a_regular_expression_is_a_user_error() -> None:
    with pytest.raises(SchemaError) as exc:
        schemas.whole_text_regex("^v[0-9+$")
    assert str(exc.value) == (
        "schema pattern '^v[0-9+$' is not a valid regular expression (unterminated character set at position 2): "
        "fix the schema"
    )


# --- run text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("", ""),
        ("plain", "plain"),
        ("two\nlines\tand a tab", "two\nlines\tand a tab"),
        ("windows\r\nline\r\nends", "windows\nline\nends"),
        ("old mac\rline ends\r", "old mac\nline ends\n"),
        ("mixed\r\n\r\rends", "mixed\n\n\nends"),
        ("émoji 🎉 and ünïcode", "émoji 🎉 and ünïcode"),
    ],
)
def test_clean_text_keeps_text_and_makes_line_ends_lf(text: str, clean: str) -> None:
    assert clean_text("the summary", text) == clean


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9b"])
def test_clean_text_refuses_other_control_characters(bad: str) -> None:
    with pytest.raises(UserError) as exc:
        clean_text("the next action", f"go\r\non{bad}now")
    assert str(exc.value) == f"the next action contains the control character {bad!r}: remove it and register again"


def test_notebook_droppings_are_skipped_and_said(registry: Path, bundle_a: Path, capsys) -> None:
    (bundle_a / ".ipynb_checkpoints").mkdir()
    (bundle_a / ".ipynb_checkpoints" / "run-checkpoint.ipynb").write_text("{}\n")
    (bundle_a / ".DS_Store").write_bytes(b"\0\1")
    result = run(capsys, "register", "--repo", registry, "--run-id", "drops", "--phase", "A", "--source-dir", bundle_a)
    assert result.rc == 0, result.err
    assert "  skipped (not run files): .DS_Store, .ipynb_checkpoints\n" in result.out
    assert not (registry / "outputs" / "drops" / ".DS_Store").exists()
    as_json = run(
        capsys, "register", "--repo", registry, "--run-id", "drops", "--phase", "A", "--source-dir", bundle_a, "--json"
    )
    assert json.loads(as_json.out)["skipped"] == [".DS_Store", ".ipynb_checkpoints"]
