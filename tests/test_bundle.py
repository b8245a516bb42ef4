"""bundle.py: listing, hashing and refusing unsafe bundles; run ids, seeds, manifests, artifacts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gerhard.errors import BundleError, UserError
from gerhard.formats import schemas
from gerhard.formats.parsing import is_finite_number, parse_artifact, parse_seed
from gerhard.registry import bundle as bundle_module
from gerhard.registry.bundle import (
    BundleFile,
    bundle_sha256,
    check_relative_name,
    check_run_id,
    load_bundle,
    manifest_bytes,
    manifest_dict,
    read_at_most,
    read_member,
)


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
def test_notebook_droppings_are_skipped_and_said(bundle_dir: Path, dropping: str) -> None:
    before = load_bundle(bundle_dir).sha256
    make(bundle_dir / dropping, {"metrics-checkpoint.json": b"{}", ".hidden": b"x"})
    (bundle_dir / ".DS_Store").write_bytes(b"\0")
    if dropping.startswith("sub/"):
        make(bundle_dir, {"sub/kept.txt": b"k"})
        bundle = load_bundle(bundle_dir)
        assert bundle.names() == set(FILES) | {"sub/kept.txt"}
        assert bundle.skipped == (".DS_Store", "sub/.ipynb_checkpoints")
    else:
        bundle = load_bundle(bundle_dir)
        assert bundle.names() == set(FILES)
        assert bundle.sha256 == before
        assert bundle.skipped == tuple(sorted([".DS_Store", dropping]))


def test_droppings_are_skipped_in_any_case(bundle_dir: Path) -> None:
    make(bundle_dir, {"__PyCache__/m.pyc": b"x", "plots/.ds_store": b"\0"})
    bundle = load_bundle(bundle_dir)
    assert bundle.names() == set(FILES)
    assert bundle.skipped == ("__PyCache__", "plots/.ds_store")


def test_a_bundle_without_droppings_skips_nothing(bundle_dir: Path) -> None:
    assert load_bundle(bundle_dir).skipped == ()


# --- each file read once --------------------------------------------------------------------


def test_read_bytes_are_the_bytes_that_were_hashed(bundle_dir: Path) -> None:
    bundle = load_bundle(bundle_dir)
    (bundle_dir / "seed.txt").write_bytes(b"43\n")  # rewritten after loading: the bundle keeps what it read
    (bundle_dir / "config.yaml").unlink()
    for f in bundle.files:
        assert bundle.read_bytes(f.path) == FILES[f.path]
        assert hashlib.sha256(bundle.read_bytes(f.path)).hexdigest() == f.sha256
    with pytest.raises(KeyError):
        bundle.read_bytes("not-in-the-bundle.txt")


def test_an_oversized_file_is_refused_before_it_is_read(bundle_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(bundle_dir / "weights.bin", "wb") as f:  # sparse: costs no disk
        f.truncate(101 * 2**20)
    real = bundle_module.read_at_most

    def read_small(f: io.RawIOBase, limit: int, expected: int) -> bytes:
        assert expected <= limit, "read an oversized file"
        return real(f, limit, expected)

    monkeypatch.setattr(bundle_module, "read_at_most", read_small)
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    assert (
        str(exc.value)
        == "weights.bin is 101 MiB, over the 100 MiB a git host accepts: keep checkpoints out of the bundle"
    )


def test_a_file_that_grows_while_it_is_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    proc = Path("/proc/self")  # a regular file whose size says 0 but which reads a kilobyte: as one that grew
    if not (proc / "status").is_file() or (proc / "status").stat().st_size != 0:
        pytest.skip("needs Linux /proc, whose files report size 0")
    monkeypatch.setattr(bundle_module, "MAX_FILE_BYTES", 2**20 // 4096)
    with pytest.raises(BundleError) as exc:
        read_member(proc, "status")
    assert str(exc.value) == (
        "status grew past 0 MiB while it was read, more than a git host accepts: keep checkpoints out of the bundle"
    )


@pytest.mark.parametrize(("size", "expected"), [(10, 10), (10, 0), (10_000, 10), (10_000, 10_000), (0, 0)])
def test_read_at_most_reads_no_more_than_the_limit_and_one(size: int, expected: int) -> None:
    data = os.urandom(size)
    assert read_at_most(io.BytesIO(data), 100, expected) == data[:101]


def test_read_at_most_hands_back_the_one_read_as_is() -> None:
    data = os.urandom(5000)
    source = io.BytesIO(data)
    reads: list[bytes] = []
    original = source.read
    source.read = lambda n=-1: reads.append(original(n)) or reads[-1]  # type: ignore[method-assign]
    out = read_at_most(source, 10_000, len(data))
    assert out == data and out is reads[0] and reads[1:] == [b""]


def test_a_file_swapped_for_a_symlink_after_listing_is_not_followed(bundle_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("password")
    (bundle_dir / "seed.txt").unlink()
    (bundle_dir / "seed.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(BundleError) as exc:
        read_member(bundle_dir, "seed.txt")
    assert str(exc.value) == (
        f"seed.txt in {bundle_dir} cannot be read (Too many levels of symbolic links): "
        "make it a plain file you can read"
    )


def test_a_file_swapped_for_a_fifo_after_listing_is_refused_without_blocking(bundle_dir: Path) -> None:
    (bundle_dir / "seed.txt").unlink()
    os.mkfifo(bundle_dir / "seed.txt")
    with pytest.raises(BundleError) as exc:
        read_member(bundle_dir, "seed.txt")
    assert str(exc.value) == f"seed.txt in {bundle_dir} is not a regular file: a bundle holds only plain files"


METRICS_VARIANTS = [json.dumps({"final": {"val_loss": v}}).encode() for v in (1.5, 2.25, 30.125, 0.0)]


def rewrite_in_a_loop(path: Path, stop: threading.Event) -> None:
    """Rewrite a file as fast as possible: atomic renames and in-place writes, contents of other lengths."""
    i = 0
    while not stop.is_set():
        data = METRICS_VARIANTS[i % len(METRICS_VARIANTS)]
        if i % 2:
            path.write_bytes(data)
        else:
            (path.parent / "metrics.tmp").write_bytes(data)
            os.replace(path.parent / "metrics.tmp", path)
        i += 1


def test_a_file_rewritten_during_loading_gives_artifacts_that_agree_with_its_bytes(tmp_path: Path) -> None:
    from gerhard.core.program import Phase, Program
    from gerhard.registry.artifacts import load_artifacts

    folder = make(tmp_path / "b", {"metrics.json": METRICS_VARIANTS[0], "seed.txt": b"1\n"})
    phase = Phase("A", "", ("metrics.json",), ())
    program = Program("p", (phase,), dict(schemas.BUILTIN_ARTIFACT_SCHEMAS))
    stop = threading.Event()
    writer = threading.Thread(target=rewrite_in_a_loop, args=(folder / "metrics.json", stop))
    writer.start()
    loaded, seen = 0, set()
    try:
        deadline = time.monotonic() + 20
        while (loaded < 100 or len(seen) < 2) and time.monotonic() < deadline:
            try:
                bundle = load_bundle(folder)
                artifacts = load_artifacts(program, phase, bundle)
            except UserError:  # caught half-written: refused, which is fine
                continue
            data = bundle.read_bytes("metrics.json")
            (f,) = [f for f in bundle.files if f.path == "metrics.json"]
            assert (f.size, f.sha256) == (len(data), hashlib.sha256(data).hexdigest())
            assert artifacts["metrics.json"] == json.loads(data)
            assert data in METRICS_VARIANTS
            loaded, seen = loaded + 1, seen | {data}
    finally:
        stop.set()
        writer.join()
    assert loaded >= 100 and len(seen) > 1  # the race really ran


# --- a MANIFEST on top: an archived run folder, registered in place or copied -----------------


def archived(bundle_dir: Path, run_id: str = "20260223T190000Z_v15") -> Path:
    """bundle_dir as gerhard archives it: the files and their MANIFEST."""
    (bundle_dir / "MANIFEST").write_bytes(manifest_bytes(run_id, load_bundle(bundle_dir)))
    return bundle_dir


def test_a_matching_manifest_is_checked_and_left_out(bundle_dir: Path) -> None:
    before = load_bundle(bundle_dir)
    after = load_bundle(archived(bundle_dir))
    assert after.sha256 == before.sha256
    assert after.names() == set(FILES)
    assert manifest_bytes("20260223T190000Z_v15", after) == (bundle_dir / "MANIFEST").read_bytes()


def _rewrite_manifest(bundle_dir: Path, change: Any) -> None:
    doc = json.loads((bundle_dir / "MANIFEST").read_text())
    change(doc)
    (bundle_dir / "MANIFEST").write_text(json.dumps(doc, indent=2))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda d: (d / "seed.txt").write_bytes(b"43\n"),
            f"seed.txt is 3 bytes with sha256 {_sha(b'43' + bytes([10]))}…, "
            f"it lists 3 bytes with sha256 {_sha(b'42' + bytes([10]))}…",
        ),
        (lambda d: (d / "seed.txt").unlink(), "it lists seed.txt, which is not in the folder"),
        (lambda d: (d / "extra.txt").write_bytes(b"x"), "extra.txt is not listed in it"),
        (lambda d: (d / "plots" / "zoom.png").write_bytes(b"x"), "plots/zoom.png is not listed in it"),
        (
            lambda d: _rewrite_manifest(d, lambda m: m.update(bundle_sha256="f" * 64)),
            "its bundle_sha256 ffffffffffff… is not the files' {sha}…",
        ),
    ],
    ids=["changed", "removed", "added", "added-in-a-folder", "bundle-hash"],
)
def test_a_manifest_that_disagrees_is_refused_naming_the_file(bundle_dir: Path, change: Any, problem: str) -> None:
    archived(bundle_dir)
    change(bundle_dir)
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    (bundle_dir / "MANIFEST").unlink()
    sha = load_bundle(bundle_dir).sha256[:12]
    assert str(exc.value) == (
        f"{bundle_dir / 'MANIFEST'} does not match the folder: {problem.format(sha=sha)}: "
        "restore the files it lists, or delete MANIFEST to register the folder as a new bundle"
    )


RUN = "20260223T190000Z_v15"


def archived_with_heavy(bundle_dir: Path) -> Any:
    """bundle_dir archived with heavy files (stored remote in its MANIFEST); the bundle as loaded then."""
    make(bundle_dir, {"ckpt/last.ckpt": b"last epoch", "ckpt.txt": b"notes\n", "model.pt": b"weights"})
    heavy = {"ckpt/last.ckpt", "model.pt"}
    (bundle_dir / "MANIFEST").write_bytes(manifest_bytes(RUN, load_bundle(bundle_dir, lambda p, size: p in heavy)))
    return load_bundle(bundle_dir)


def test_absent_remote_files_are_kept_as_the_manifest_lists_them(bundle_dir: Path) -> None:
    full = archived_with_heavy(bundle_dir)
    (bundle_dir / "ckpt" / "last.ckpt").unlink()  # walked before ckpt.txt, sorted after it
    (bundle_dir / "model.pt").unlink()
    with pytest.raises(BundleError, match="it lists ckpt/last.ckpt, which is not in the folder"):
        load_bundle(bundle_dir)  # only when the caller asks
    bundle = load_bundle(bundle_dir, absent_remote=True)
    assert (bundle.sha256, bundle.files) == (full.sha256, full.files)
    assert bundle.remote == {"ckpt/last.ckpt", "model.pt"}
    assert manifest_bytes(RUN, bundle) == (bundle_dir / "MANIFEST").read_bytes()
    with pytest.raises(BundleError) as exc:
        bundle.read_bytes("model.pt")
    assert str(exc.value) == (
        f"model.pt is stored remote and not in {bundle_dir}: fetch it with 'gerhard sync pull', then try again"
    )


def test_absent_remote_still_refuses_a_changed_file_or_a_missing_one_in_git(bundle_dir: Path) -> None:
    archived_with_heavy(bundle_dir)
    (bundle_dir / "model.pt").write_bytes(b"other!!")  # the same size, other bytes
    with pytest.raises(BundleError, match=rf"model\.pt is 7 bytes with sha256 {_sha(b'other!!')}…, it lists 7 bytes"):
        load_bundle(bundle_dir, absent_remote=True)
    (bundle_dir / "model.pt").unlink()
    (bundle_dir / "seed.txt").unlink()  # not stored remote: it must be here
    with pytest.raises(BundleError, match="it lists seed.txt, which is not in the folder"):
        load_bundle(bundle_dir, absent_remote=True)


def test_the_first_disagreeing_file_is_named_in_path_order(bundle_dir: Path) -> None:
    archived(bundle_dir)
    (bundle_dir / "seed.txt").write_bytes(b"7\n")
    (bundle_dir / "config.yaml").write_bytes(b"model: {name: other}\n")
    with pytest.raises(BundleError, match=r"does not match the folder: config\.yaml is 21 bytes"):
        load_bundle(bundle_dir)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"stale": true}\n', "$: 'run_id' is a required property (schema manifest)"),
        ("not json", "not valid JSON: Expecting value at line 1 column 1"),
        ("\udcff", "not UTF-8 text (invalid start byte at byte 0): re-export it as UTF-8"),
        (
            '{"run_id": "r", "bundle_sha256": "' + "0" * 64 + '", "files": [], "files": []}',
            "has the key 'files' twice in one object: keep one of them",
        ),
    ],
    ids=["not-a-manifest", "not-json", "not-utf8", "duplicate-key"],
)
def test_a_manifest_gerhard_did_not_write_is_refused(bundle_dir: Path, text: str, problem: str) -> None:
    (bundle_dir / "MANIFEST").write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    assert str(exc.value) == (
        f"{bundle_dir / 'MANIFEST'} is not a MANIFEST gerhard wrote ({problem}): "
        "delete it to register the folder as a new bundle"
    )


def test_a_manifest_below_the_top_is_refused(bundle_dir: Path) -> None:
    (bundle_dir / "plots" / "MANIFEST").write_bytes(manifest_bytes("r", load_bundle(bundle_dir)))
    with pytest.raises(BundleError) as exc:
        load_bundle(bundle_dir)
    assert str(exc.value) == (
        f"{bundle_dir} holds 'plots/MANIFEST', named like the MANIFEST gerhard writes beside a bundle: rename it"
    )


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


@pytest.mark.parametrize("run_id", ["latest", "all", "index", "Latest", "ALL", "Index", "INDEX"])
def test_check_run_id_refuses_reserved_ids(run_id: str) -> None:
    with pytest.raises(BundleError) as exc:
        check_run_id(run_id)
    assert str(exc.value) == (
        f"run id {run_id!r} is reserved (gerhard show latest, gerhard export all, reports/YYYY/MM/index.md): "
        "pick another id"
    )


@pytest.mark.parametrize("run_id", ["CON", "con", "nul", "Aux", "prn.1", "COM1", "com9.run", "LPT1", "lpt0", "COM0"])
def test_check_run_id_refuses_windows_device_names(run_id: str) -> None:
    with pytest.raises(BundleError) as exc:
        check_run_id(run_id)
    assert str(exc.value) == (
        f"run id {run_id!r} is a device name Windows reserves (CON, PRN, AUX, NUL, COM0-9, LPT0-9): pick another id"
    )


@pytest.mark.parametrize("run_id", ["run.", "a.b.", "x-1."])
def test_check_run_id_refuses_a_final_dot(run_id: str) -> None:
    with pytest.raises(BundleError) as exc:
        check_run_id(run_id)
    assert str(exc.value) == f"run id {run_id!r} ends in '.', which Windows drops from file names: pick another id"


@pytest.mark.parametrize("run_id", ["console", "latest2", "all_runs", "indexed", "COM10", "lpt", "nul_run", "a.b"])
def test_check_run_id_accepts_names_that_only_look_close(run_id: str) -> None:
    assert check_run_id(run_id) == run_id


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


DEEP = "nests lists and mappings deeper than 64 levels: flatten it"


def long_int(digits: int) -> str:
    return f"holds an integer of {digits} digits, over the 300 a bundle file may hold: write it as a string"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("m.json", b'{"a": 1, "b": 2, "a": 3}', "m.json has the key 'a' twice in one object: keep one of them"),
        ("m.json", b'{"x": [{"k": 1, "k": 1}]}', "m.json has the key 'k' twice in one object: keep one of them"),
        ("m.json", b"[" * 65 + b"]" * 65, f"m.json {DEEP}"),
        ("m.json", b'{"a": ' * 65 + b"1" + b"}" * 65, f"m.json {DEEP}"),
        ("m.json", b"[" * 100_000, f"m.json {DEEP}"),
        (
            "m.json",
            b'{"n": ' + b"9" * 301 + b"}",
            f"m.json {long_int(301)}",
        ),
        (
            "m.json",
            b'{"n": -' + b"9" * 5000 + b"}",
            f"m.json {long_int(5000)}",
        ),
        ("c.yaml", b"[" * 65 + b"]" * 65, f"c.yaml {DEEP}"),
        ("c.yaml", b"[" * 5000 + b"]" * 5000, f"c.yaml {DEEP}"),
        ("c.yaml", b"a: &a [1, 2]\n" + b"b: " + b"[" * 64 + b"*a" + b"]" * 64 + b"\n", f"c.yaml {DEEP}"),
        (
            "c.yaml",
            b"seed: " + b"1" * 5000 + b"\n",
            f"c.yaml {long_int(5000)}",
        ),
        (
            "c.yaml",
            b"mask: 0x" + b"f" * 400 + b"\n",
            f"c.yaml {long_int(400)}",
        ),
        (
            "c.yaml",
            b"a: &a [*a]\n",
            "c.yaml holds itself through an alias (its *alias inside its own &anchor): write it out plainly",
        ),
        (
            "c.yaml",
            b"a: &a {b: {c: *a}}\n",
            "c.yaml holds itself through an alias (its *alias inside its own &anchor): write it out plainly",
        ),
        ("c.yaml", b"lr: 1\nlr: 2\n", "c.yaml has the key 'lr' twice in one mapping (line 2): keep one of them"),
        ("c.yaml", b"day: 2026-02-30\n", "c.yaml is not valid YAML: day is out of range for month"),
    ],
    ids=[
        "json-duplicate-key",
        "json-nested-duplicate-key",
        "json-65-lists",
        "json-65-objects",
        "json-100000-lists",
        "json-301-digits",
        "json-5000-digits",
        "yaml-65-lists",
        "yaml-5000-lists",
        "yaml-deep-through-an-alias",
        "yaml-5000-digits",
        "yaml-400-hex-digits",
        "yaml-list-holds-itself",
        "yaml-map-holds-itself",
        "yaml-duplicate-key",
        "yaml-no-such-day",
    ],
)
def test_parse_artifact_is_bounded(name: str, data: bytes, message: str) -> None:
    with pytest.raises(BundleError) as exc:
        parse_artifact(name, data)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("m.json", b"[" * 64 + b"]" * 64),
        ("m.json", b'{"n": ' + b"9" * 300 + b', "m": -' + b"9" * 300 + b"}"),
        ("c.yaml", b"[" * 64 + b"]" * 64),
        ("c.yaml", b"a: &a {lr: 1}\nb: [*a, *a, *a]\nc: {<<: *a, wd: 0}\n"),
        ("c.yaml", b"n: " + b"9" * 300 + b"\n"),
    ],
    ids=["json-64-levels", "json-300-digits", "yaml-64-levels", "yaml-aliases-and-merge", "yaml-300-digits"],
)
def test_parse_artifact_accepts_what_is_within_bounds(name: str, data: bytes) -> None:
    assert parse_artifact(name, data) is not None


def laughs(levels: int, width: int = 9) -> bytes:
    """A billion laughs: width**levels strings in a few hundred bytes of anchors and aliases."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


def test_a_billion_laughs_is_refused_quickly_and_without_expanding_it() -> None:
    import tracemalloc

    data = laughs(10)  # 9**10, about 3.5 billion strings
    assert len(data) < 600
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(BundleError) as exc:
            parse_artifact("config.yaml", data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(exc.value) == (
        "config.yaml stands for over 1,000,000 values with its aliases expanded: write it without *aliases"
    )
    assert elapsed < 0.5
    assert peak < 2 * 2**20


def test_aliases_that_stay_under_the_bound_are_accepted() -> None:
    data = parse_artifact("config.yaml", laughs(6))  # 9**6 = 531441 strings, shared: 64 lists in memory
    assert len(data["l5"]) == 9 and data["l5"][0] is data["l4"]


def test_a_duplicate_key_error_does_not_print_an_expanded_value() -> None:
    started = time.perf_counter()
    with pytest.raises(BundleError) as exc:
        parse_artifact("config.yaml", laughs(10) + b"x: 1\nx: *l9\n")
    assert str(exc.value) == "config.yaml has the key 'x' twice in one mapping (line 12): keep one of them"
    assert time.perf_counter() - started < 0.5
