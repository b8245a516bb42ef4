"""Heavy run files stay out of git: MANIFEST `stored: remote`, a committed .gitignore, the local copy kept."""

from __future__ import annotations

import base64
import json
import random
import shutil
from pathlib import Path

import pytest

from gerhard import register_run
from gerhard.core.program import program_from_dict
from gerhard.registry.bundle import load_bundle
from gerhard.registry.heavy import heavy_rule
from tests.cli_helpers import assert_one_line_error, git_out, load_yaml, register_ok, run
from tests.conftest import git, snapshot
from tests.dossier_helpers import make_dossier

RUN = "20260101T000000Z_ckpt"
BIG = 11 * 1000 * 1000  # over the default 10 MB


def write_big(path: Path, size: int = BIG, byte: bytes = b"\x01") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(byte * (1 << 20))
        f.write(byte * (size % (1 << 20)))
    return path


def tree_paths(repo: Path) -> list[str]:
    return git_out(repo, "ls-tree", "-r", "--name-only", "HEAD").split()


def test_checkpoint_and_big_file_stay_out_of_git(registry: Path, bundle_a: Path, capsys) -> None:
    (bundle_a / "model.pt").write_bytes(b"tiny but a checkpoint")
    write_big(bundle_a / "data" / "big.npy")
    register_ok(capsys, registry, RUN, "A", bundle_a)
    base = f"outputs/{RUN}"
    tree = tree_paths(registry)
    assert f"{base}/model.pt" not in tree and f"{base}/data/big.npy" not in tree
    assert f"{base}/metrics.json" in tree and f"{base}/.gitignore" in tree
    assert "model.pt" not in git_out(registry, "ls-files", base)
    manifest = json.loads((registry / base / "MANIFEST").read_text())
    stored = {f["path"]: f.get("stored") for f in manifest["files"]}
    assert stored["model.pt"] == "remote" and stored["data/big.npy"] == "remote" and stored["metrics.json"] is None
    big = next(f for f in manifest["files"] if f["path"] == "data/big.npy")
    assert big["size"] == BIG
    # The local copies stay, byte-identical, and git ignores them.
    assert (registry / base / "model.pt").read_bytes() == b"tiny but a checkpoint"
    assert (registry / base / "data" / "big.npy").stat().st_size == BIG
    assert git_out(registry, "status", "--porcelain") == ""
    assert (registry / base / ".gitignore").read_text().splitlines()[1:] == ["/data/big.npy", "/model.pt"]
    record = load_yaml(registry / "state" / "runs" / f"{RUN}.yaml")
    assert record["remote_files"] == ["data/big.npy", "model.pt"]
    # The bundle hash covers the heavy files: it is the hash of the folder as a whole.
    assert record["bundle_sha256"] == load_bundle(bundle_a).sha256 == manifest["bundle_sha256"]


def test_heavy_files_may_exceed_the_git_limit(registry: Path, bundle_a: Path, capsys, monkeypatch) -> None:
    import gerhard.registry.bundle as bundle_mod

    monkeypatch.setattr(bundle_mod, "MAX_FILE_BYTES", 1 << 20)  # a 100 MiB file, scaled down
    write_big(bundle_a / "weights.safetensors", 2 << 20)
    register_ok(capsys, registry, RUN, "A", bundle_a)
    assert f"outputs/{RUN}/weights.safetensors" not in tree_paths(registry)


def test_check_and_idempotent_register_accept_the_archive(registry: Path, bundle_a: Path, capsys) -> None:
    (bundle_a / "model.ckpt").write_bytes(b"ckpt")
    register_ok(capsys, registry, RUN, "A", bundle_a)
    assert run(capsys, "check", "--repo", registry).rc == 0
    before = snapshot(registry)
    again = register_ok(capsys, registry, RUN, "A", bundle_a)
    assert "already registered" in again.out
    # In place: outputs/<run_id>/ with its MANIFEST and .gitignore is the same bundle.
    in_place = register_ok(capsys, registry, RUN, "A", registry / "outputs" / RUN)
    assert "already registered" in in_place.out
    assert snapshot(registry) == before


def test_show_names_the_remote_files(registry: Path, bundle_a: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GERHARD_REMOTE", "/mnt/drive/runs")
    (bundle_a / "model.bin").write_bytes(b"bin")
    register_ok(capsys, registry, RUN, "A", bundle_a)
    out = run(capsys, "show", "--repo", registry, RUN).out
    assert f"archive   outputs/{RUN}/" in out
    assert f"remote    /mnt/drive/runs/{RUN}" in out
    assert "stored remote: model.bin" in out


# --- the archived dossier: heavy files listed by name, size and sha256, never embedded -----------------

MODEL = random.Random(7).randbytes(1 << 20)  # a 1 MB checkpoint, well under the dossier's embed limit
DOSSIER = f"run_dossier_{RUN}.html"


def run_with_model(bundle_a: Path, tmp_path: Path) -> Path:
    """A notebook's run folder with a checkpoint and the dossier the notebook built (which embeds it)."""
    folder = shutil.copytree(bundle_a, tmp_path / "notebook" / RUN)
    (folder / "model.pt").write_bytes(MODEL)
    make_dossier(folder, phase="A")
    assert base64.b64encode(MODEL)[:4096].decode() in (folder / DOSSIER).read_text()  # transport: embedded
    return folder


def assert_no_model_bytes(html: bytes) -> None:
    assert base64.b64encode(MODEL)[:4096] not in html and MODEL[:4096] not in html
    entry = {f["path"]: f for f in embedded_of(html)["files"]}["model.pt"]
    assert entry == {
        "path": "model.pt",
        "size": len(MODEL),
        "sha256": sha256(MODEL),
        "embedded": False,
        "stored": "remote",
    }


def embedded_of(html: bytes) -> dict:
    from gerhard.dossier.codec import locate_block

    return json.loads(locate_block(html, DOSSIER))


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_the_committed_dossier_does_not_carry_heavy_files(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys
) -> None:
    register_ok(capsys, registry, RUN, "A", run_with_model(bundle_a, tmp_path))
    committed = git_out_bytes(registry, "show", f"HEAD:outputs/{RUN}/{DOSSIER}")
    assert_no_model_bytes(committed)
    assert (registry / "outputs" / RUN / DOSSIER).read_bytes() == committed
    assert (registry / "outputs" / RUN / "model.pt").read_bytes() == MODEL  # the local copy, git-ignored
    assert run(capsys, "check", "--repo", registry).rc == 0
    page = committed.decode()
    listed = page[page.index("Not embedded (heavy files") :].split("</p>")[0]
    assert '<span class="mono">model.pt</span>' in listed


def test_a_dossier_registered_elsewhere_needs_its_heavy_files_beside_it(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys
) -> None:
    """The archived dossier of a run, taken to another clone of the registry: registering it refuses
    in one line until the checkpoint is beside it, then registers the very same run."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(registry), str(other))
    register_ok(capsys, registry, RUN, "A", run_with_model(bundle_a, tmp_path))
    download = tmp_path / "download"
    download.mkdir()
    dossier = shutil.copy(registry / "outputs" / RUN / DOSSIER, download / DOSSIER)
    before = snapshot(other)
    refused = run(capsys, "register", "--repo", other, "--dossier", dossier)
    assert_one_line_error(refused)
    assert refused.err == (
        f"gerhard register: error: {DOSSIER} does not embed model.pt (1.0 MiB, stored remote): copy "
        f"the files beside the dossier (into {download}), or fetch them with 'gerhard sync pull --run-id {RUN}', "
        "then register again\n"
    )
    assert snapshot(other) == before
    (download / "model.pt").write_bytes(MODEL[:-1] + b"\0")  # the same size, other bytes
    changed = run(capsys, "register", "--repo", other, "--dossier", dossier)
    assert_one_line_error(changed)
    assert changed.err == (
        f"gerhard register: error: {download / 'model.pt'} is not the model.pt {DOSSIER} lists (1.0 MiB, sha256 "
        f"{sha256(MODEL)[:12]}…): copy the registered file there, or fetch it with 'gerhard sync pull --run-id "
        f"{RUN}', then register again\n"
    )
    assert snapshot(other) == before
    (download / "model.pt").write_bytes(MODEL)
    done = run(capsys, "register", "--repo", other, "--dossier", dossier)
    assert done.rc == 0, done.err
    assert (other / "outputs" / RUN / "MANIFEST").read_bytes() == (registry / "outputs" / RUN / "MANIFEST").read_bytes()
    assert (other / "outputs" / RUN / "model.pt").read_bytes() == MODEL
    assert f"outputs/{RUN}/model.pt" not in tree_paths(other)
    assert_no_model_bytes(git_out_bytes(other, "show", f"HEAD:outputs/{RUN}/{DOSSIER}"))


def test_a_notebook_dossier_registered_archives_one_without_heavy_files(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys
) -> None:
    """The notebook's dossier embeds the checkpoint (transport); the one archived does not."""
    folder = run_with_model(bundle_a, tmp_path)
    done = run(capsys, "register", "--repo", registry, "--dossier", folder / DOSSIER)
    assert done.rc == 0, done.err
    assert_no_model_bytes(git_out_bytes(registry, "show", f"HEAD:outputs/{RUN}/{DOSSIER}"))
    assert (registry / "outputs" / RUN / "model.pt").read_bytes() == MODEL
    assert f"outputs/{RUN}/model.pt" not in tree_paths(registry)


def test_a_notebook_run_with_a_checkpoint_registers_in_place(registry: Path, bundle_a: Path, tmp_path: Path) -> None:
    """The notebook wrote bundle, checkpoint and dossier into outputs/<run_id>/: the dossier it built
    embeds the checkpoint, the one registration archives there does not (nothing else differs)."""
    folder = Path(shutil.move(run_with_model(bundle_a, tmp_path), registry / "outputs" / RUN))
    make_dossier(folder, phase="A")  # built again against the registry, as start_run().finish() does
    result = register_run(run_id=RUN, phase="A", source_dir=folder, repo_root=registry)
    assert result.verdict == "GREEN"
    assert_no_model_bytes((folder / DOSSIER).read_bytes())
    assert (folder / "model.pt").read_bytes() == MODEL
    assert git_out(registry, "status", "--porcelain", "--untracked-files=all") == ""


def git_out_bytes(repo: Path, *args: str) -> bytes:
    import subprocess

    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True).stdout


PROGRAM = {"program": "p", "phases": [{"id": "A", "required": ["metrics.json"], "gates": []}]}


@pytest.mark.parametrize(
    ("heavy", "path", "size", "expected"),
    [
        (None, "model.pt", 1, True),
        (None, "ckpt/epoch1.ckpt", 1, True),
        (None, "notes.txt", 10_000_000, False),
        (None, "notes.txt", 10_000_001, True),
        (None, "metrics.json", 10**9, False),  # required by the phase: never heavy
        ({"max_bytes": 100, "patterns": ["*.npy"]}, "model.pt", 1, False),
        ({"max_bytes": 100, "patterns": ["*.npy"]}, "x/a.npy", 1, True),
        ({"max_bytes": 100}, "notes.txt", 101, True),
    ],
)
def test_heavy_rule(heavy: dict | None, path: str, size: int, expected: bool) -> None:
    program = program_from_dict({**PROGRAM, **({"heavy": heavy} if heavy else {})})
    assert heavy_rule(program, program.phase("A"))(path, size) is expected
