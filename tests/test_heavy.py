"""Heavy run files stay out of git: MANIFEST `stored: remote`, a committed .gitignore, the local copy kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gerhard.bundle import load_bundle
from gerhard.heavy import heavy_rule
from gerhard.program import program_from_dict
from tests.cli_helpers import git_out, load_yaml, register_ok, run
from tests.conftest import snapshot

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
    import gerhard.bundle as bundle_mod

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
