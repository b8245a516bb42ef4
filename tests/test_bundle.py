"""bundle.py: listing, hashing and refusing unsafe bundles; run ids, seeds, manifests, artifacts."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from gerhard import schemas
from gerhard.bundle import (
    BundleFile,
    bundle_sha256,
    check_relative_name,
    check_run_id,
    is_finite_number,
    load_bundle,
    manifest_bytes,
    manifest_dict,
    parse_artifact,
    parse_seed,
)
from gerhard.errors import BundleError


def make(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


FILES = {
    "metrics.json": b'{"final": {"val_loss": 2.5}}\n',
    "seed.txt": b"42\n",
    "config.yaml": b"model: {name: m}\n",
    "plots/loss.png": b"\x89PNG\r\n\x1a\n",
    "empty.txt": b"",
}


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return make(tmp_path / "bundle", FILES)


# --- load_bundle ---------------------------------------------------------------------------


def test_load_bundle_hashes_and_sizes(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    assert bundle.root == bundle_dir
    assert [f.path for f in bundle.files] == ["config.yaml", "empty.txt", "metrics.json", "plots/loss.png", "seed.txt"]
    for f in bundle.files:
        assert f.size == len(FILES[f.path])
        assert f.sha256 == hashlib.sha256(FILES[f.path]).hexdigest()
    assert bundle.sha256 == bundle_sha256(bundle.files)
    assert bundle.names() == set(FILES)
    assert bundle.read_bytes("plots/loss.png") == FILES["plots/loss.png"]


def test_bundle_sha256_is_the_hash_of_its_listing(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    listing = "".join(f"{f.sha256}  {f.size}  {f.path}\n" for f in sorted(bundle.files, key=lambda f: f.path))
    assert bundle.sha256 == hashlib.sha256(listing.encode()).hexdigest()


def test_bundle_sha256_is_order_independent(bundle_dir: Path) -> None:
    files = load_bundle(bundle_dir).files
    assert bundle_sha256(list(reversed(files))) == bundle_sha256(files)
    assert bundle_sha256(sorted(files, key=lambda f: f.sha256)) == bundle_sha256(files)


def test_same_content_elsewhere_has_the_same_hash(bundle_dir: Path, tmp_path: Path) -> None:
    other = make(tmp_path / "copy", FILES)
    assert load_bundle(other).sha256 == load_bundle(bundle_dir).sha256


def test_one_byte_changes_the_bundle_hash(bundle_dir: Path) -> None:
    before = load_bundle(bundle_dir).sha256
    data = bytearray(FILES["plots/loss.png"])
    data[3] ^= 0x01
    (bundle_dir / "plots/loss.png").write_bytes(bytes(data))
    after = load_bundle(bundle_dir)
    assert after.sha256 != before
    (bundle_dir / "plots/loss.png").write_bytes(FILES["plots/loss.png"])
    assert load_bundle(bundle_dir).sha256 == before


def test_appended_byte_rename_and_new_file_change_the_hash(bundle_dir: Path) -> None:
    before = load_bundle(bundle_dir).sha256
    (bundle_dir / "empty.txt").write_bytes(b"\n")
    assert load_bundle(bundle_dir).sha256 != before
    (bundle_dir / "empty.txt").write_bytes(b"")
    (bundle_dir / "empty.txt").rename(bundle_dir / "empty2.txt")
    assert load_bundle(bundle_dir).sha256 != before
    (bundle_dir / "empty2.txt").rename(bundle_dir / "empty.txt")
    assert load_bundle(bundle_dir).sha256 == before
    (bundle_dir / "extra.txt").write_bytes(b"")
    assert load_bundle(bundle_dir).sha256 != before


def test_bundle_hash_depends_on_size_and_path_not_only_content() -> None:
    a = BundleFile("a", 1, "0" * 64)
    assert bundle_sha256([a]) != bundle_sha256([BundleFile("b", 1, "0" * 64)])
    assert bundle_sha256([a]) != bundle_sha256([BundleFile("a", 2, "0" * 64)])
    assert bundle_sha256([]) == hashlib.sha256(b"").hexdigest()


def test_large_file_is_hashed_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    bundle = load_bundle(make(tmp_path / "b", {"weights.bin": data}))
    assert bundle.files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert bundle.files[0].size == len(data)


@pytest.mark.parametrize("dropping", [".ipynb_checkpoints", "__pycache__", "sub/.ipynb_checkpoints"])
def test_notebook_droppings_are_ignored(bundle_dir: Path, dropping: str) -> None:
    before = load_bundle(bundle_dir).sha256
    make(bundle_dir / dropping, {"metrics-checkpoint.json": b"{}", ".hidden": b"x"})
    (bundle_dir / ".DS_Store").write_bytes(b"\0")
    if dropping.startswith("sub/"):
        make(bundle_dir, {"sub/kept.txt": b"k"})
        assert load_bundle(bundle_dir).names() == set(FILES) | {"sub/kept.txt"}
    else:
        bundle = load_bundle(bundle_dir)
        assert bundle.names() == set(FILES)
        assert bundle.sha256 == before


def test_a_manifest_in_the_source_is_not_part_of_the_bundle(bundle_dir: Path) -> None:
    before = load_bundle(bundle_dir).sha256
    (bundle_dir / "MANIFEST").write_text('{"stale": true}\n')
    assert load_bundle(bundle_dir).sha256 == before


def test_dossier_beside_the_files_is_transport_not_content(bundle_dir: Path) -> None:
    before = load_bundle(bundle_dir)
    (bundle_dir / "run_dossier_20260223T190000Z_v15.html").write_text("<html></html>")
    after = load_bundle(bundle_dir)
    assert after.sha256 == before.sha256
    assert after.names() == set(FILES)
    assert after.transport == ("run_dossier_20260223T190000Z_v15.html",)


def test_empty_bundle(tmp_path: Path) -> None:
    (tmp_path / "b" / ".ipynb_checkpoints").mkdir(parents=True)
    with pytest.raises(BundleError) as exc:
        load_bundle(tmp_path / "b")
    assert str(exc.value) == f"source dir {tmp_path / 'b'} is empty: it must hold the run's artifacts"


def test_missing_source_dir(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"does not exist: pass the folder the notebook wrote$"):
        load_bundle(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match=r"is not a directory: pass the folder the notebook wrote$"):
        load_bundle(tmp_path / "file")


def test_symlinked_source_dir_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(bundle_dir, target_is_directory=True)
    with pytest.raises(BundleError, match=r"^source dir .*/link is a symlink: pass the folder it points to"):
        load_bundle(link)


@pytest.mark.parametrize("target", ["inside", "outside"])
def test_symlinked_file_is_refused(bundle_dir: Path, tmp_path: Path, target: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (bundle_dir / "leak.txt").symlink_to(secret if target == "outside" else bundle_dir / "seed.txt")
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    assert str(exc.value) == f"leak.txt in {bundle_dir} is a symlink: copy the real file into the bundle instead"


def test_symlinked_dir_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (bundle_dir / "plots" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(BundleError, match=r"^plots/more in .* is a symlink"):
        load_bundle(bundle_dir)


def test_dangling_symlink_is_refused(bundle_dir: Path) -> None:
    (bundle_dir / "gone.txt").symlink_to(bundle_dir / "nowhere")
    with pytest.raises(BundleError, match=r"^gone.txt in .* is a symlink"):
        load_bundle(bundle_dir)


def test_fifo_is_refused_without_blocking(bundle_dir: Path) -> None:
    os.mkfifo(bundle_dir / "pipe")
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    assert str(exc.value) == f"pipe in {bundle_dir} is not a regular file: a bundle holds only plain files"


@pytest.mark.parametrize(
    "name", [".env", "my file.txt", "bad\nname.txt", "metrics.json\n", "tab\t.txt", "é.txt", "a:b", "*"]
)
def test_unsafe_member_names_are_refused(bundle_dir: Path, name: str) -> None:
    (bundle_dir / name).write_bytes(b"x")
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    assert str(exc.value) == (
        f"unsafe file name {name!r} in bundle: use plain relative names without '..' or '/' at the start"
    )


def test_unsafe_directory_name_is_refused(bundle_dir: Path) -> None:
    make(bundle_dir, {".git/config": b"x"})
    with pytest.raises(BundleError, match=r"^unsafe file name '\.git' in bundle"):
        load_bundle(bundle_dir)


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a\\b", "..", ".", "a/", "x\n", "a/b\n", "a" * 256]
)
def test_check_relative_name_refuses(name: str) -> None:
    with pytest.raises(BundleError, match="^unsafe file name"):
        check_relative_name(name)


@pytest.mark.parametrize("name", ["metrics.json", "plots/loss.png", "a/b/c.d", "_x", "v1.0+cu121.txt", "a" * 255])
def test_check_relative_name_accepts(name: str) -> None:
    assert check_relative_name(name) == name


# --- run ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("run_id", ["20260223T190000Z_v15", "a", "run-1.2_b", "A" * 100, "0"])
def test_check_run_id_accepts(run_id: str) -> None:
    assert check_run_id(run_id) == run_id


@pytest.mark.parametrize(
    "run_id",
    [
        "",
        "../x",
        "..",
        ".hidden",
        "a/b",
        "a\\b",
        "-flag",
        "_x",
        "a..b",
        "A" * 101,
        "x\n",
        "20260223T190000Z_v15\n",
        "x y",
        "é",
        "a:b",
        "a\x00b",
    ],
)
def test_check_run_id_refuses_unsafe_ids(run_id: str) -> None:
    with pytest.raises(BundleError) as exc:
        check_run_id(run_id)
    assert str(exc.value) == (
        f"run id {run_id!r} is not safe: use 1-100 letters, digits, '_', '.', '-', "
        "starting with a letter or digit and without '..' (e.g. 20260223T190000Z_v15)"
    )


@pytest.mark.parametrize("run_id", ["latest", "all"])
def test_check_run_id_refuses_reserved_ids(run_id: str) -> None:
    with pytest.raises(BundleError) as exc:
        check_run_id(run_id)
    assert str(exc.value) == (
        f"run id {run_id!r} is reserved (gerhard show latest, gerhard export all): pick another id"
    )


def test_check_run_id_refuses_non_strings() -> None:
    with pytest.raises(BundleError, match="^run id None is not safe"):
        check_run_id(None)  # type: ignore[arg-type]
    with pytest.raises(BundleError, match="^run id 15 is not safe"):
        check_run_id(15)  # type: ignore[arg-type]


# --- seeds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "seed"), [(b"42", 42), (b"42\n", 42), (b"  7 \r\n", 7), (b"-3\n", -3), (b"0", 0)])
def test_parse_seed(data: bytes, seed: int) -> None:
    assert parse_seed(data) == seed


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"", "''"),
        (b"forty-two", "'forty-two'"),
        (b"4.2", "'4.2'"),
        (b"1 2", "'1 2'"),
        (b"+5", "'+5'"),
        (b"1e3", "'1e3'"),
        (b"123456789012345678901", "'123456789012345678901'"),
        (b"\xff\xfe", "'\ufffd\ufffd'"),
    ],
)
def test_parse_seed_refuses(data: bytes, shown: str) -> None:
    with pytest.raises(BundleError) as exc:
        parse_seed(data)
    assert str(exc.value) == f"seed.txt must hold one integer, found {shown}: write the seed the run used"


# --- manifest ------------------------------------------------------------------------------


def test_manifest_validates_against_its_schema(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    data = manifest_bytes("20260223T190000Z_v15", bundle)
    assert data.endswith(b"}\n")
    doc = json.loads(data)
    schemas.validate(doc, "manifest", "MANIFEST")
    assert doc == manifest_dict("20260223T190000Z_v15", bundle)
    assert doc["bundle_sha256"] == bundle.sha256
    assert [f["path"] for f in doc["files"]] == sorted(FILES)
    assert {f["path"]: f["size"] for f in doc["files"]} == {k: len(v) for k, v in FILES.items()}


def test_manifest_is_deterministic(bundle_dir: Path, tmp_path: Path) -> None:
    other = make(tmp_path / "copy", FILES)
    assert manifest_bytes("r", load_bundle(bundle_dir)) == manifest_bytes("r", load_bundle(other))


def test_manifest_schema_refuses_a_tampered_manifest(bundle_dir: Path) -> None:
    from gerhard.errors import SchemaError

    doc = json.loads(manifest_bytes("r", load_bundle(bundle_dir)))
    doc["files"][0]["sha256"] = "not-a-hash"
    with pytest.raises(SchemaError, match=r"^MANIFEST: \$\.files\[0\]\.sha256: 'not-a-hash' does not match"):
        schemas.validate(doc, "manifest", "MANIFEST")


# --- artifacts -----------------------------------------------------------------------------


def test_parse_artifact() -> None:
    assert parse_artifact("m.json", b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_artifact("c.yaml", b"a: {b: 1}\n") == {"a": {"b": 1}}
    assert parse_artifact("c.yml", b"- 1\n") == [1]
    assert parse_artifact("notes.txt", "héllo".encode()) == "héllo"
    assert parse_artifact("m.json", b'{"v": NaN, "w": Infinity}') == {
        "v": pytest.approx(float("nan"), nan_ok=True),
        "w": float("inf"),
    }


def test_parse_artifact_errors() -> None:
    with pytest.raises(BundleError, match=r"^m.json is not valid JSON: Expecting value at line 2 column 1$"):
        parse_artifact("m.json", b'{"a":\n')
    with pytest.raises(
        BundleError, match=r"^m.json is not UTF-8 text \(invalid start byte at byte 1\): re-export it as UTF-8$"
    ):
        parse_artifact("m.json", b"{\xff}")
    with pytest.raises(BundleError, match=r"^config.yaml is not valid YAML: "):
        parse_artifact("config.yaml", b"a: [\n")


def test_is_finite_number() -> None:
    assert is_finite_number(1) and is_finite_number(-2.5) and is_finite_number(0)
    for v in (float("nan"), float("inf"), -float("inf"), True, False, None, "1", [1]):
        assert not is_finite_number(v)
