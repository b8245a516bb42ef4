"""The bundle embedded in a dossier: encoding, finding it by byte search, verification, extraction."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from dossier_helpers import RUN_B, add_file, bundle_folder, embedded, make_dossier, tamper

from gerhard.dossier import codec as dossier_bundle
from gerhard.dossier.archive import check_transport, transport_dossier
from gerhard.dossier.codec import extract, locate_block, read_dossier, script_json
from gerhard.errors import BundleError
from gerhard.registry.bundle import load_bundle

AWKWARD = {
    "notes/script.txt": "</script><script>alert(1)</script> <!-- --> \u2028\u2029 & <b>\n",
    "crlf.txt": "one\r\ntwo\r\n",
    "bom.txt": "\ufeffwith a byte order mark\n",
    "nul_byte.txt": "a\x00b\n",
    "deep/er/nested.yaml": "key: value # comment\n",
    "empty.txt": "",
}
BINARY = bytes(range(256)) * 200 + b"\xff\xfe\x80"


@pytest.fixture
def awkward_bundle(tmp_path: Path) -> Path:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    for name, text in AWKWARD.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("utf-8"))
    (folder / "weights.bin").write_bytes(BINARY)
    return folder


def test_script_json_leaves_nothing_that_ends_a_script_or_a_string() -> None:
    text = script_json({"k": "</script><!-- \u2028\u2029 & <SCRIPT> >"})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"k": "</script><!-- \u2028\u2029 & <SCRIPT> >"}


def test_round_trip_is_byte_identical_for_text_binary_and_nested_files(awkward_bundle: Path, tmp_path: Path) -> None:
    path = make_dossier(awkward_bundle, phase="B")
    bundle, raw = read_dossier(path)
    assert raw == path.read_bytes()
    out = extract(bundle, tmp_path / "out", path.name)
    original = load_bundle(awkward_bundle)
    assert load_bundle(out).sha256 == original.sha256 == bundle.bundle_sha256
    for f in original.files:
        assert (out / f.path).read_bytes() == (awkward_bundle / f.path).read_bytes(), f.path
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(original.names())


def test_text_is_embedded_as_text_and_binary_as_base64(awkward_bundle: Path) -> None:
    doc = embedded(make_dossier(awkward_bundle))
    encodings = {f["path"]: f["encoding"] for f in doc["files"]}
    assert encodings["weights.bin"] == "base64"
    assert encodings["metrics.json"] == encodings["nul_byte.txt"] == "utf-8"
    assert doc["run_id"] == RUN_B and doc["format"] == "gerhard-dossier-bundle" and doc["version"] == 1
    assert all(len(f["sha256"]) == 64 and isinstance(f["size"], int) for f in doc["files"])


def test_the_dossier_itself_is_not_part_of_the_bundle(awkward_bundle: Path) -> None:
    before = load_bundle(awkward_bundle)
    path = make_dossier(awkward_bundle)
    after = load_bundle(awkward_bundle)
    assert path.name == f"run_dossier_{RUN_B}.html" and path.parent == awkward_bundle
    assert after.sha256 == before.sha256 and after.transport == (path.name,)
    rebuilt = embedded(make_dossier(awkward_bundle))  # building again does not embed the first one
    assert path.name not in {f["path"] for f in rebuilt["files"]}


def test_files_over_the_embed_limit_are_listed_not_embedded(awkward_bundle: Path, tmp_path: Path) -> None:
    path = make_dossier(awkward_bundle, embed_limit=40_000)
    doc = embedded(path)
    big = {f["path"]: f for f in doc["files"]}["weights.bin"]
    assert big["embedded"] is False and "data" not in big and big["size"] == len(BINARY)
    bundle, _ = read_dossier(path)  # still verifies: the listing is complete
    assert [f.path for f in bundle.not_embedded()] == ["weights.bin"]
    html = path.read_text()
    assert "Not embedded" in html and "put these files beside it" in html
    with pytest.raises(BundleError, match=r"does not embed weights\.bin \(50\.0 KiB\) .*--source-dir"):
        extract(bundle, tmp_path / "out", path.name)
    assert not (tmp_path / "out").exists()


def test_files_over_the_embed_limit_are_taken_from_beside_the_dossier(awkward_bundle: Path, tmp_path: Path) -> None:
    path = make_dossier(awkward_bundle, embed_limit=40_000)
    bundle, _ = read_dossier(path)
    out = extract(bundle, tmp_path / "out", path.name, beside=path.parent)
    assert (out / "weights.bin").read_bytes() == BINARY
    assert load_bundle(out).sha256 == bundle.bundle_sha256


def heavy_dossier(folder: Path) -> dossier_bundle.DossierBundle:
    """The bundle block of a dossier whose bundle keeps weights.bin out of git (stored remote)."""
    bundle = load_bundle(folder, lambda path, size: path == "weights.bin")
    text = dossier_bundle.encode_bundle(bundle, RUN_B, "B", "", "", dossier_bundle.EMBED_LIMIT)
    return dossier_bundle.verify(json.loads(text), "d.html")


def test_heavy_files_are_listed_by_name_size_and_hash_only(awkward_bundle: Path, tmp_path: Path) -> None:
    bundle = load_bundle(awkward_bundle, lambda path, size: path == "weights.bin")
    doc = json.loads(dossier_bundle.encode_bundle(bundle, RUN_B, "B", "", "", dossier_bundle.EMBED_LIMIT))
    entry = {f["path"]: f for f in doc["files"]}["weights.bin"]
    sha = hashlib.sha256(BINARY).hexdigest()
    assert entry == {"path": "weights.bin", "size": len(BINARY), "sha256": sha, "embedded": False, "stored": "remote"}
    assert [(f.path, f.remote) for f in heavy_dossier(awkward_bundle).not_embedded()] == [("weights.bin", True)]


def test_heavy_files_are_taken_from_beside_the_dossier_or_refused(awkward_bundle: Path, tmp_path: Path) -> None:
    bundle = heavy_dossier(awkward_bundle)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(BundleError) as refused:
        extract(bundle, tmp_path / "out", "d.html", beside=elsewhere)
    assert str(refused.value) == (
        f"d.html does not embed weights.bin (50.0 KiB, stored remote): copy the files beside the dossier (into "
        f"{elsewhere}), or fetch them with 'gerhard sync pull --run-id {RUN_B}', then register again"
    )
    (elsewhere / "weights.bin").symlink_to(awkward_bundle / "weights.bin")  # never followed out of the folder
    with pytest.raises(BundleError, match=r"^d\.html does not embed weights\.bin \(50\.0 KiB, stored remote\)"):
        extract(bundle, tmp_path / "out", "d.html", beside=elsewhere)
    assert not (tmp_path / "out").exists()
    out = extract(bundle, tmp_path / "out", "d.html", beside=awkward_bundle)
    assert (out / "weights.bin").read_bytes() == BINARY
    assert load_bundle(out).sha256 == bundle.bundle_sha256


def test_locating_the_block_does_not_depend_on_html_structure() -> None:
    doc = b'<!DOCTYPE html><p>x</p><script type="application/json" id="gerhard-bundle">{"a":1}</script>'
    assert locate_block(doc, "d.html") == b'{"a":1}'
    assert locate_block(b"\xef\xbb\xbf\n  <HTML>" + doc[15:], "d.html") == b'{"a":1}'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7 ...", "d.html is not an HTML dossier"),
        (b'{"format": "gerhard-dossier-bundle"}', "d.html is not an HTML dossier"),
        (b"<!doctype html><p>hello</p></html>\n", "d.html is HTML but holds no embedded gerhard bundle"),
        (b"<!doctype html><p>hello</p>", "d.html is truncated \\(it ends before </html>\\)"),
        (
            b'<html><script type="application/json" id="gerhard-bundle">{}</script>'
            b'<script type="application/json" id="gerhard-bundle">{}</script></html>',
            "holds 2 embedded bundles",
        ),
        (b'<html><script type="text/javascript" id="gerhard-bundle">{}</script>', "damaged bundle block"),
        (b'<html><script type="application/json" id="gerhard-bundle">{"files": [', "d.html is truncated"),
    ],
)
def test_locate_refuses(data: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        locate_block(data, "d.html")


@pytest.fixture
def dossier_b(tmp_path: Path) -> Path:
    return make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B")


def _set(key: str, value: Any) -> Any:
    return lambda doc: doc.__setitem__(key, value)


def _file(name: str, key: str, value: Any) -> Any:
    return lambda doc: next(f for f in doc["files"] if f["path"] == name).__setitem__(key, value)


@pytest.mark.parametrize(
    ("edit", "consistent", "message"),
    [
        (
            _file("metrics.json", "data", '{"final": {"val_loss": 0.1}}'),
            False,
            "does not verify: metrics.json should be",
        ),
        (_file("seed.txt", "sha256", "0" * 64), False, "does not verify: seed.txt should be"),
        (_file("seed.txt", "size", 99), False, "does not verify: seed.txt should be 99 bytes"),
        (_file("seed.txt", "data", "4321\n"), True, None),  # a consistent forgery verifies (integrity, not trust)
        (_set("bundle_sha256", "f" * 64), False, "does not verify: its bundle sha256 ffffffffffff"),
        (lambda d: d["files"].pop(), False, "does not verify: its bundle sha256"),
        (_file("seed.txt", "encoding", "rot13"), False, "seed.txt has unknown encoding 'rot13'"),
        (_file("seed.txt", "encoding", "base64"), False, "seed.txt is not valid base64"),
        (_file("seed.txt", "sha256", "XYZ"), False, "seed.txt has no valid sha256"),
        (_file("seed.txt", "size", True), False, "seed.txt has no valid size"),
        (_set("files", []), False, "malformed \\(no files\\)"),
        (_set("files", ["seed.txt"]), False, "a file entry that is not an object"),
        (_set("format", "zip"), False, "format is not 'gerhard-dossier-bundle'"),
        (_set("version", 2), False, "written by a newer gerhard \\(bundle format 2\\): upgrade gerhard"),
        (_set("version", "1"), False, "no format version"),
        (_set("run_id", "../../etc"), False, "run id '../../etc' is not safe"),
        (_set("run_id", None), False, "'run_id' is not text"),
        (_set("phase", 3), False, "'phase' is not text"),
    ],
)
def test_verify_refuses_what_does_not_verify(dossier_b: Path, edit: Any, consistent: bool, message: str) -> None:
    tamper(dossier_b, edit, consistent=consistent)
    if message is None:
        assert read_dossier(dossier_b)[0].run_id == RUN_B
        return
    with pytest.raises(BundleError, match=message):
        read_dossier(dossier_b)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000, "not valid JSON"),
        ('{"format": "gerhard-dossier-bundle", "version": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"format": "gerhard-dossier-bundle", "version": 1, "x": "\\udcff', "not valid JSON"),
        (
            '{"format": "gerhard-dossier-bundle", "version": 1, "version": 1}',
            "not valid JSON \\(duplicate key 'version'\\)",
        ),
        ('{"format": "gerhard-dossier-bundle", "version": 1, "x": NaN}', "not valid JSON \\(NaN is not JSON\\)"),
        ('{"format": "gerhard-dossier-bundle", "version": 1, "x": [-Infinity]}', "not valid JSON \\(-Infinity is not"),
    ],
    ids=["deep nesting", "huge number", "unterminated", "duplicate key", "NaN", "Infinity"],
)
def test_hostile_json_is_a_user_error(dossier_b: Path, text: str, message: str) -> None:
    html = dossier_b.read_text()
    start = html.index('id="gerhard-bundle">') + len('id="gerhard-bundle">')
    dossier_b.write_text(html[:start] + text + html[html.index("</script>", start) :])
    with pytest.raises(BundleError, match=message):
        read_dossier(dossier_b)


def test_lone_surrogates_in_embedded_text_become_replacement_marks(dossier_b: Path) -> None:
    tamper(dossier_b, lambda doc: doc.update(summary="bad SURROGATE", phase="BSURROGATE"))
    dossier_b.write_text(dossier_b.read_text().replace("SURROGATE", "\\udcff"))  # a valid JSON escape
    bundle, _ = read_dossier(dossier_b)
    assert (bundle.summary, bundle.phase) == ("bad ?", "B?")


RULES = "use plain relative names without '..' or '/' at the start; refusing to extract it"
MANIFEST_LIKE = "named like the MANIFEST gerhard writes beside a bundle: rename it"
DOSSIER_LIKE = "named like a run dossier (run_dossier_*.html), which travels beside a bundle, not in it: rename it"
UNSAFE = [
    ("../evil.txt", f"{{d}}: unsafe file name '../evil.txt' in bundle: {RULES}"),
    ("/etc/cron.d/evil", f"{{d}}: unsafe file name '/etc/cron.d/evil' in bundle: {RULES}"),
    ("sub/../../evil", f"{{d}}: unsafe file name 'sub/../../evil' in bundle: {RULES}"),
    ("C:\\evil.txt", f"{{d}}: unsafe file name 'C:\\\\evil.txt' in bundle: {RULES}"),
    ("sub\\..\\evil", f"{{d}}: unsafe file name 'sub\\\\..\\\\evil' in bundle: {RULES}"),
    ("", f"{{d}}: unsafe file name '' in bundle: {RULES}"),
    ("dir/", f"{{d}}: unsafe file name 'dir/' in bundle: {RULES}"),
    (".hidden", f"{{d}}: unsafe file name '.hidden' in bundle: {RULES}"),
    ("x" * 300, f"{{d}}: unsafe file name {'x' * 160!r}… in bundle: {RULES}"),
    ("MANIFEST", f"{{d}} embeds 'MANIFEST', {MANIFEST_LIKE}"),
    (
        "__pycache__/x.pyc",
        "{d} embeds '__pycache__/x.pyc', a notebook or OS dropping (__pycache__), not a run file: remove it",
    ),
    ("run_dossier_other.html", f"{{d}} embeds 'run_dossier_other.html', {DOSSIER_LIKE}"),
    # Case variants would be the archive's MANIFEST or dossier on a case-insensitive checkout.
    ("manifest", f"{{d}} embeds 'manifest', {MANIFEST_LIKE}"),
    ("sub/Manifest", f"{{d}} embeds 'sub/Manifest', {MANIFEST_LIKE}"),
    ("sub/MANIFEST.json", None),  # only the very name: MANIFEST.json is a file like any other
    (f"Run_Dossier_{RUN_B}.html", f"{{d}} embeds 'Run_Dossier_{RUN_B}.html', {DOSSIER_LIKE}"),
    (f"run_dossier_{RUN_B}.HTML", f"{{d}} embeds 'run_dossier_{RUN_B}.HTML', {DOSSIER_LIKE}"),
    ("metrics.json", "{d} embeds 'metrics.json' twice: rebuild it from the run folder"),
    (
        "METRICS.json",
        "{d} embeds 'metrics.json' and 'METRICS.json', which differ only in case (one path on macOS and Windows): "
        "rename one of them",
    ),
    ("seed.txt/inner.txt", "{d} embeds 'seed.txt' both as a file and as a folder: rebuild it from the run folder"),
    ("CON.txt", "{d} embeds 'CON.txt', a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9): rename it"),
    ("notes./a.txt", "{d} embeds 'notes./a.txt', a name ending in '.', which Windows drops: rename it"),
    (7, "{d}: the embedded bundle is malformed (a file without a path): rebuild it with 'gerhard dossier'"),
]


@pytest.mark.parametrize(("name", "message"), UNSAFE, ids=[repr(n)[:40] for n, _ in UNSAFE])
def test_unsafe_embedded_names_are_refused(dossier_b: Path, name: Any, message: str | None) -> None:
    tamper(dossier_b, lambda doc: add_file(doc, name), consistent=isinstance(name, str))
    if message is None:
        assert name in {f.path for f in read_dossier(dossier_b)[0].files}
        return
    with pytest.raises(BundleError) as exc:
        read_dossier(dossier_b)
    assert str(exc.value) == message.format(d=dossier_b)


def test_entries_that_are_not_plain_files_are_refused(dossier_b: Path) -> None:
    tamper(dossier_b, lambda doc: add_file(doc, "link.txt", "/etc/passwd", type="symlink"), consistent=True)
    with pytest.raises(BundleError, match="embeds 'link.txt' as a 'symlink', not a plain file"):
        read_dossier(dossier_b)


def test_oversized_input_is_refused_before_reading(dossier_b: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dossier_bundle, "MAX_DOSSIER_BYTES", 4096)
    with pytest.raises(BundleError, match=r"KiB, over the 4\.0 KiB limit: register the run folder with --source-dir"):
        read_dossier(dossier_b)
    assert read_dossier(dossier_b, max_bytes=10**9)[0].run_id == RUN_B


def test_a_missing_dossier_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist or is not a file"):
        read_dossier(tmp_path / "nope.html")
    with pytest.raises(BundleError, match="does not exist or is not a file"):
        read_dossier(tmp_path)


def test_extraction_never_overwrites_and_needs_a_new_folder(dossier_b: Path, tmp_path: Path) -> None:
    bundle, _ = read_dossier(dossier_b)
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        extract(bundle, tmp_path / "taken", dossier_b.name)


def test_extract_double_checks_the_path_stays_inside(dossier_b: Path, tmp_path: Path) -> None:
    bundle, _ = read_dossier(dossier_b)
    forged = dossier_bundle.EmbeddedFile("../outside.txt", 1, "0" * 64, b"x")  # bypassing verify()
    bad = dossier_bundle.DossierBundle(bundle.run_id, None, "", "", bundle.bundle_sha256, (forged,))
    with pytest.raises(BundleError, match="would land outside the bundle"):
        extract(bad, tmp_path / "out", "d.html")
    assert not (tmp_path / "outside.txt").exists()


def folder_dossier(folder: Path, run_id: str) -> dict[str, bytes]:
    """The dossier a --source-dir folder's own one archives as (what registration checks and archives)."""
    bundle = load_bundle(folder)
    return transport_dossier(bundle, run_id, check_transport(bundle, run_id))


def test_folder_dossier_must_carry_the_folder_and_the_run(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    make_dossier(folder, phase="B")
    name = f"run_dossier_{RUN_B}.html"
    assert folder_dossier(folder, RUN_B) == {name: (folder / name).read_bytes()}
    with pytest.raises(BundleError, match=f"is the dossier of another run or other content \\(run {RUN_B}"):
        folder_dossier(folder, "20261101T100000Z_other")
    (folder / "seed.txt").write_text("99\n")
    with pytest.raises(BundleError, match=f"gerhard dossier --run-dir {folder} --run-id {RUN_B}' or remove it"):
        folder_dossier(folder, RUN_B)
    os.replace(folder / name, folder / "run_dossier_old.html")
    (folder / name).write_bytes(b"<html></html>")
    with pytest.raises(BundleError, match="holds 2 dossiers"):
        folder_dossier(folder, RUN_B)
