"""gerhard sync push|pull|verify against a local directory standing in for Drive (the ADR's smoke test)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cli_helpers import Result, assert_one_line_error, git_out, register_ok, run
from tests.conftest import snapshot
from tests.test_heavy import write_big

RUN = "20260101T000000Z_alpha"


def sync(capsys, repo: Path, *argv: str | Path) -> Result:
    return run(capsys, "sync", *argv, "--repo", repo)


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def later(path: Path, seconds: float = 10) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime + seconds, st.st_mtime + seconds))


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    (tmp_path / "drive").mkdir()
    return tmp_path / "drive"


@pytest.fixture
def registered(registry: Path, bundle_a: Path, capsys) -> Path:
    (bundle_a / "model.pt").write_bytes(b"checkpoint bytes " * 1000)
    register_ok(capsys, registry, RUN, "A", bundle_a)
    return registry


def test_push_smoke(registered: Path, remote: Path, capsys) -> None:
    local = registered / "outputs" / RUN
    first = sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote)
    assert first.rc == 0, first.err
    assert files_under(remote / RUN) == files_under(local)
    n = len(files_under(local))
    assert first.out.splitlines()[-1] == f"copied {n} files (0.0 MB), skipped 0 up to date, 0 refused"
    assert f"copied {RUN}/model.pt (missing at the destination)" in first.out
    # A second push copies nothing.
    again = sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote)
    assert again.out == f"copied 0 files (0.0 MB), skipped {n} up to date, 0 refused\n"
    # Touch one source file: only it is copied. A file only at the destination survives.
    later(local / "model.pt")
    (remote / RUN / "notes_from_drive.txt").write_text("mine")
    touched = sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote)
    assert touched.out == (
        f"copied {RUN}/model.pt (newer at the source)\ncopied 1 files (0.0 MB), skipped {n - 1} up to date, 0 refused\n"
    )
    assert (remote / RUN / "notes_from_drive.txt").read_text() == "mine"
    assert git_out(registered, "status", "--porcelain") == ""


def test_pull_never_overwrites_a_newer_local_file(registered: Path, remote: Path, capsys) -> None:
    local = registered / "outputs" / RUN
    sync(capsys, registered, "push", "--latest", "--remote", remote)
    (local / "model.pt").write_bytes(b"retrained locally")
    later(local / "model.pt")
    (remote / RUN / "extra_plot.png").write_bytes(b"png")
    pulled = sync(capsys, registered, "pull", "--latest", "--remote", remote)
    assert pulled.rc == 1
    assert f"refused {RUN}/model.pt: newer at the destination: not overwritten" in pulled.out
    assert f"left {RUN}/extra_plot.png: not in its MANIFEST in git: left at the remote" in pulled.out
    assert pulled.out.splitlines()[-1].endswith("1 refused")
    assert (local / "model.pt").read_bytes() == b"retrained locally"
    assert not (local / "extra_plot.png").exists()  # only what git's MANIFEST lists comes back
    # Newer at the remote: pulled.
    later(remote / RUN / "model.pt", 20)
    assert "model.pt (newer at the source)" in sync(capsys, registered, "pull", "--latest", "--remote", remote).out


def test_fresh_clone_pull_restores_and_verifies(registered: Path, remote: Path, tmp_path: Path, capsys) -> None:
    sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registered), str(clone)], check=True)
    assert not (clone / "outputs" / RUN / "model.pt").exists()
    original = (registered / "outputs" / RUN / "model.pt").read_bytes()
    # A tampered remote copy (same size) is refused, named, and not written.
    good = (remote / RUN / "model.pt").read_bytes()
    (remote / RUN / "model.pt").write_bytes(good.replace(b"checkpoint", b"CHECKPOINT"))
    bad = sync(capsys, clone, "pull", "--run-id", RUN, "--remote", remote)
    assert bad.rc == 1
    assert f"refused {RUN}/model.pt: does not match the MANIFEST (size 17000, sha256 " in bad.out
    assert not (clone / "outputs" / RUN / "model.pt").exists()
    assert list((clone / "outputs" / RUN).glob("*.gerhard-tmp")) == []
    (remote / RUN / "model.pt").write_bytes(good)
    ok = sync(capsys, clone, "pull", "--run-id", RUN, "--remote", remote, "--checksum")
    assert ok.rc == 0, ok.out
    assert (clone / "outputs" / RUN / "model.pt").read_bytes() == original
    assert git_out(clone, "status", "--porcelain") == ""
    verify = sync(capsys, clone, "verify", RUN, "--remote", remote)
    assert verify.rc == 0 and verify.out.endswith(": 0 problems\n")


def test_verify_names_missing_and_changed_files(registered: Path, remote: Path, capsys) -> None:
    sync(capsys, registered, "push", "--all", "--remote", remote)
    (remote / RUN / "model.pt").write_bytes(b"x" * 17000)
    (remote / RUN / "seed.txt").unlink()
    result = sync(capsys, registered, "verify", "--all", "--remote", remote)
    assert result.rc == 1
    assert f"{remote}/{RUN}/model.pt has sha256 differing from the MANIFEST" in result.out
    assert f"{remote}/{RUN}/seed.txt is missing: gerhard sync push --run-id {RUN}" in result.out
    assert result.out.splitlines()[-1].endswith(f"at {remote}: 2 problems")


def killed_after(chunks: int):
    """A progress bar update that interrupts the process (Ctrl-C) once `chunks` whole chunks were copied."""
    copied = []

    def update(self, n=1):
        if n == 1 << 20:
            copied.append(n)
        if len(copied) == chunks:
            raise KeyboardInterrupt

    return update


def test_interrupted_copy_leaves_no_final_file_and_rerun_completes(
    registry: Path, bundle_a: Path, remote: Path, capsys, monkeypatch
) -> None:
    import tqdm

    write_big(bundle_a / "model.ckpt", 5 << 20, b"\x07")
    register_ok(capsys, registry, RUN, "A", bundle_a)
    with monkeypatch.context() as m:  # the process dies after two whole chunks of the checkpoint are written
        m.setattr(tqdm.tqdm, "update", killed_after(2))
        assert sync(capsys, registry, "push", "--run-id", RUN, "--remote", remote).rc == 130
    assert not (remote / RUN / "model.ckpt").exists()
    assert (remote / RUN / "model.ckpt.gerhard-tmp").stat().st_size == 2 << 20
    rerun = sync(capsys, registry, "push", "--run-id", RUN, "--remote", remote)
    assert rerun.rc == 0
    assert (remote / RUN / "model.ckpt").read_bytes() == (registry / "outputs" / RUN / "model.ckpt").read_bytes()
    assert not (remote / RUN / "model.ckpt.gerhard-tmp").exists()
    assert sync(capsys, registry, "verify", RUN, "--remote", remote).rc == 0


def test_resolution_order(registry: Path, bundle_a: Path, remote: Path, capsys) -> None:
    ids = ["20260101T000000Z_alpha", "20260102T000000Z_beta", "20260103T000000Z_alpha", "20260104T000000Z_gamma"]
    for i, run_id in enumerate(ids):
        (bundle_a / "seed.txt").write_text(str(i))
        register_ok(capsys, registry, run_id, "A", bundle_a)

    def runs(*argv: str) -> set[str]:
        result = sync(capsys, registry, "push", "--dry-run", "--json", "--remote", remote, *argv)
        assert result.rc == 0, result.err
        return {f["run_id"] for f in json.loads(result.out)["files"]}

    assert runs("--run-id", ids[1]) == {ids[1]}
    assert runs("--run-id", ids[0], "--run-name", "beta", "--latest") == {ids[0]}
    assert runs("--run-name", "alpha") == {ids[2]}  # the latest registered run with that name
    assert runs("--run-name", "alpha", "--latest") == {ids[2]}
    assert runs("--latest") == {ids[3]}
    assert runs("--all") == set(ids)
    assert list(remote.iterdir()) == []  # --dry-run wrote nothing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["push", "--run-id", "20991231T000000Z_nope"],
            "gerhard sync: error: no run '20991231T000000Z_nope' is registered in {repo}: "
            "see 'gerhard list' for the ids",
        ),
        (
            ["push", "--run-name", "nope"],
            "gerhard sync: error: no run named 'nope' is registered (run ids are <timestamp>_<name>): "
            "see 'gerhard list' for the ids",
        ),
        (
            ["push", "--run-id", "../escape"],
            "gerhard sync: error: run id '../escape' is not safe: use 1-100 letters, digits, '_', '.', '-', "
            "starting with a letter or digit and without '..' (e.g. 20260223T190000Z_v15)",
        ),
        (["push"], "gerhard sync: error: say which runs: --run-id ID, --run-name NAME, --latest or --all"),
    ],
)
def test_bad_run_one_line_exit_2(registered: Path, remote: Path, capsys, argv: list[str], message: str) -> None:
    before = snapshot(registered)
    result = sync(capsys, registered, *argv, "--remote", remote)
    assert_one_line_error(result)
    assert result.err.strip() == message.format(repo=registered)
    assert snapshot(registered) == before and list(remote.iterdir()) == []


def test_no_remote_configured(registered: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("GERHARD_REMOTE", raising=False)
    result = sync(capsys, registered, "push", "--latest")
    assert_one_line_error(result)
    assert result.err.strip() == (
        "gerhard sync: error: no artifact remote configured: pass --remote URL, set GERHARD_REMOTE, "
        "or add 'artifact_remote: PATH_OR_URL' to state/program.yaml"
    )


def test_not_a_registry(tmp_path: Path, capsys) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "plain")], check=True)
    result = sync(capsys, tmp_path / "plain", "push", "--all", "--remote", tmp_path / "drive")
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard sync: error: no state/program.yaml in {tmp_path / 'plain'}: run 'gerhard init' there "
        "(or pass --repo)\n"
    )
    assert not (tmp_path / "drive").exists()


def test_remote_from_env_then_program(registered: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("GERHARD_REMOTE", str(tmp_path / "from_env"))
    assert sync(capsys, registered, "push", "--latest").rc == 0
    assert (tmp_path / "from_env" / RUN / "MANIFEST").is_file()
    monkeypatch.delenv("GERHARD_REMOTE")
    program = registered / "state" / "program.yaml"
    program.write_text(program.read_text() + f"artifact_remote: {tmp_path / 'from_program'}\n")
    assert sync(capsys, registered, "push", "--latest").rc == 0
    assert (tmp_path / "from_program" / RUN / "MANIFEST").is_file()


def test_unwritable_remote(registered: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = sync(capsys, registered, "push", "--latest", "--remote", blocker / "runs")
    assert_one_line_error(result)
    assert result.err.startswith(f"gerhard sync: error: remote {blocker / 'runs'} is not writable (")
    assert result.err.rstrip().endswith("): check the path, its permissions or credentials")


def test_manifest_disagreeing_with_files_is_refused(registered: Path, remote: Path, capsys) -> None:
    (registered / "outputs" / RUN / "model.pt").write_bytes(b"shorter")
    result = sync(capsys, registered, "push", "--latest", "--remote", remote)
    assert_one_line_error(result)
    assert result.err.startswith(
        f"gerhard sync: error: outputs/{RUN}/model.pt does not match its MANIFEST (size 17000, sha256 "
    )
    assert list(remote.iterdir()) == []


def test_pull_from_a_missing_remote(registered: Path, tmp_path: Path, capsys) -> None:
    result = sync(capsys, registered, "pull", "--latest", "--remote", tmp_path / "nowhere")
    assert_one_line_error(result)
    assert result.err.strip() == (
        f"gerhard sync: error: remote {tmp_path / 'nowhere'} does not exist or cannot be reached: check the path or URL"
    )


# The same smoke test against a real S3-compatible server on loopback (moto's standalone server,
# reached by s3fs over HTTP), configured the way a user would: fsspec's s3 config and AWS variables.


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory):
    import shutil
    import socket
    import sys
    import time
    import urllib.request

    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'gerhard[s3]')")
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    if not Path(server).exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip("moto_server did not start on loopback")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    import fsspec
    import s3fs

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    bucket = "runs-" + request.node.name.lower().replace("_", "-")[:40]
    fs.mkdir(bucket)
    return fs, f"s3://{bucket}/drive"


def test_s3_push_and_pull_smoke(registered: Path, s3, tmp_path: Path, capsys) -> None:
    fs, url = s3
    local = registered / "outputs" / RUN
    n = len(files_under(local))
    first = sync(capsys, registered, "push", "--run-id", RUN, "--remote", url)
    assert first.out.splitlines()[-1] == f"copied {n} files (0.0 MB), skipped 0 up to date, 0 refused", first
    key = f"{url[5:]}/{RUN}"
    assert fs.cat(f"{key}/model.pt") == (local / "model.pt").read_bytes()
    assert sync(capsys, registered, "push", "--run-id", RUN, "--remote", url).out == (
        f"copied 0 files (0.0 MB), skipped {n} up to date, 0 refused\n"
    )
    later(local / "model.pt", 30)
    fs.pipe(f"{key}/only_there.txt", b"mine")
    touched = sync(capsys, registered, "push", "--run-id", RUN, "--remote", url)
    assert touched.out.splitlines() == [
        f"copied {RUN}/model.pt (newer at the source)",
        f"copied 1 files (0.0 MB), skipped {n - 1} up to date, 0 refused",
    ]
    assert fs.cat(f"{key}/only_there.txt") == b"mine"
    assert not [p for p in fs.find(key) if p.endswith(".gerhard-tmp")]
    # A fresh clone pulls the checkpoint back, verified; a newer local file is not overwritten.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registered), str(clone)], check=True)
    pulled = sync(capsys, clone, "pull", "--run-id", RUN, "--remote", url, "--checksum")
    assert pulled.rc == 0, pulled
    assert (clone / "outputs" / RUN / "model.pt").read_bytes() == (local / "model.pt").read_bytes()
    assert f"left {RUN}/only_there.txt: not in its MANIFEST in git: left at the remote" in pulled.out
    assert not (clone / "outputs" / RUN / "only_there.txt").exists()
    (clone / "outputs" / RUN / "model.pt").write_bytes(b"retrained here")
    later(clone / "outputs" / RUN / "model.pt", 60)
    again = sync(capsys, clone, "pull", "--run-id", RUN, "--remote", url)
    assert f"refused {RUN}/model.pt: newer at the destination: not overwritten" in again.out
    assert (clone / "outputs" / RUN / "model.pt").read_bytes() == b"retrained here"
    (clone / "outputs" / RUN / "model.pt").write_bytes((local / "model.pt").read_bytes())
    assert sync(capsys, clone, "verify", RUN, "--remote", url).rc == 0
    fs.pipe(f"{key}/model.pt", b"tampered")
    assert sync(capsys, clone, "verify", RUN, "--remote", url).rc == 1


def test_s3_upload_killed_midway_leaves_nothing_and_rerun_completes(
    registry: Path, bundle_a: Path, s3, s3_endpoint: str, capsys, tmp_path: Path
) -> None:
    import signal
    import sys
    import time

    import boto3

    fs, url = s3
    write_big(bundle_a / "model.ckpt", 110 << 20, b"\x07")  # over two 50 MiB parts: a multipart upload
    register_ok(capsys, registry, RUN, "A", bundle_a)
    bucket, key = url[5:].split("/", 1)[0], f"{url[5:]}/{RUN}/model.ckpt"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    env = dict(os.environ, FSSPEC_S3_ENDPOINT_URL=s3_endpoint)
    argv = [sys.executable, "-m", "gerhard", "sync", "push", "--run-id", RUN, "--remote", url, "--repo", registry]
    log = open(tmp_path / "push.log", "wb")  # noqa: SIM115
    push = subprocess.Popen([str(a) for a in argv], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while not client.list_multipart_uploads(Bucket=bucket).get("Uploads") and time.monotonic() < deadline:
        time.sleep(0.01)
    push.send_signal(signal.SIGKILL)  # killed while the checkpoint's parts are on their way
    push.wait()
    log.close()
    assert push.returncode == -signal.SIGKILL, (tmp_path / "push.log").read_text()
    fs.invalidate_cache()
    assert not fs.exists(key)  # the object appears only when an upload completes
    rerun = sync(capsys, registry, "push", "--run-id", RUN, "--remote", url)
    assert rerun.rc == 0, rerun
    assert f"copied {RUN}/model.ckpt (missing at the destination)" in rerun.out
    assert fs.info(key)["size"] == 110 << 20
    assert not [p for p in fs.find(f"{url[5:]}/{RUN}") if p.endswith(".gerhard-tmp")]  # none on a store
    assert sync(capsys, registry, "verify", RUN, "--remote", url).rc == 0


def test_s3_push_of_bytes_that_disagree_with_the_manifest_sends_nothing(registered: Path, s3, capsys) -> None:
    fs, url = s3
    checkpoint = registered / "outputs" / RUN / "model.pt"
    checkpoint.write_bytes(checkpoint.read_bytes().replace(b"checkpoint", b"CHECKPOINT"))  # same size, other bytes
    result = sync(capsys, registered, "push", "--run-id", RUN, "--remote", url)
    assert result.rc == 1
    assert f"refused {RUN}/model.pt: does not match the MANIFEST (size 17000, sha256 " in result.out
    fs.invalidate_cache()
    assert not fs.exists(f"{url[5:]}/{RUN}/model.pt")
    assert fs.exists(f"{url[5:]}/{RUN}/MANIFEST")


def test_s3_upload_that_arrives_short_is_removed_and_refused(
    registered: Path, s3, tmp_path: Path, capsys, monkeypatch
) -> None:
    import fsspec
    import s3fs

    fs, url = s3
    put_file = s3fs.S3FileSystem.put_file

    def short(self, lpath, rpath, **kwargs):  # a store that kept fewer bytes than it was sent
        if not str(lpath).endswith("model.pt"):
            return put_file(self, lpath, rpath, **kwargs)
        cut = tmp_path / "cut"
        cut.write_bytes(Path(lpath).read_bytes()[:100])
        return put_file(self, str(cut), rpath, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "put_file", short)
    monkeypatch.setitem(fsspec.config.conf, "s3", {**fsspec.config.conf["s3"], "skip_instance_cache": True})
    result = sync(capsys, registered, "push", "--run-id", RUN, "--remote", url)
    assert result.rc == 1
    assert f"refused {RUN}/model.pt: 100 bytes arrived of 17000: not copied, run the command again" in result.out
    fs.invalidate_cache()
    assert not fs.exists(f"{url[5:]}/{RUN}/model.pt")
    monkeypatch.setattr(s3fs.S3FileSystem, "put_file", put_file)
    assert "copied 1 files" in sync(capsys, registered, "push", "--run-id", RUN, "--remote", url).out


def test_s3_without_credentials_says_which(registered: Path, s3, capsys, monkeypatch) -> None:
    _, url = s3
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(registered / "no-such-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(registered / "no-such-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import fsspec

    monkeypatch.setitem(fsspec.config.conf, "s3", {**fsspec.config.conf["s3"], "skip_instance_cache": True})
    before = snapshot(registered)
    result = sync(capsys, registered, "push", "--latest", "--remote", url)
    assert_one_line_error(result)
    assert result.err.strip() == (
        f"gerhard sync: error: no credentials for {url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or AWS_PROFILE with ~/.aws/credentials"
    )
    assert snapshot(registered) == before


def test_checksum_push_repairs_a_corrupt_copy(registered: Path, remote: Path, capsys) -> None:
    sync(capsys, registered, "push", "--latest", "--remote", remote)
    copy = remote / RUN / "model.pt"
    copy.write_bytes(b"y" * 17000)  # same size and time: only --checksum sees it
    st = (registered / "outputs" / RUN / "model.pt").stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sync(capsys, registered, "push", "--latest", "--remote", remote).out.startswith("copied 0 files")
    fixed = sync(capsys, registered, "push", "--latest", "--remote", remote, "--checksum")
    assert fixed.out.splitlines()[0] == f"copied {RUN}/model.pt (sha256 differs)"
    assert copy.read_bytes() == (registered / "outputs" / RUN / "model.pt").read_bytes()
    # Corrupt and newer at the destination: refused, said so.
    copy.write_bytes(b"z" * 17000)
    later(copy, 100)
    refused = sync(capsys, registered, "push", "--latest", "--remote", remote, "--checksum")
    assert refused.rc == 1
    assert f"refused {RUN}/model.pt: differs and is newer at the destination: not overwritten" in refused.out


# Where the registry says a run's files are: the record (a remote configured at registration), else
# artifact_remote in state/program.yaml now; a push to a remote program.yaml does not name says so.


def note(remote: Path | str, where: str) -> str:
    return (
        f"gerhard: note: {remote} (from {where}) is not the artifact_remote of state/program.yaml: add "
        f"'artifact_remote: {remote}' there and commit it, so every clone knows where run files are\n"
    )


def test_push_to_a_remote_program_yaml_does_not_name_says_how_to_record_it(
    registered: Path, remote: Path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("GERHARD_REMOTE", raising=False)
    first = sync(capsys, registered, "push", "--latest", "--remote", remote)
    assert (first.rc, first.err) == (0, note(remote, "--remote"))
    assert git_out(registered, "status", "--porcelain") == ""  # said, not written
    assert sync(capsys, registered, "push", "--latest", "--remote", remote).err == ""  # nothing copied: no note
    up_to_date = sync(capsys, registered, "push", "--latest", "--remote", remote, "--json")
    assert json.loads(up_to_date.out)["note"] is None
    assert "remote    " not in run(capsys, "show", "--repo", registered, RUN).out
    program = registered / "state" / "program.yaml"
    program.write_text(program.read_text() + f"artifact_remote: {remote}\n")
    later(registered / "outputs" / RUN / "model.pt")
    named = sync(capsys, registered, "push", "--latest")
    assert (named.rc, named.err) == (0, "")
    assert f"copied {RUN}/model.pt (newer at the source)" in named.out
    later(registered / "outputs" / RUN / "model.pt")
    same = sync(capsys, registered, "push", "--latest", "--remote", f"{remote}/")  # the one program.yaml names
    assert (same.rc, same.err) == (0, "")
    shown = run(capsys, "show", "--repo", registered, RUN).out
    assert (
        f"remote    {remote}/{RUN}  (from artifact_remote in state/program.yaml now; not recorded at registration)\n"
        in shown
    )


def test_a_remote_configured_at_registration_is_recorded(
    registry: Path, bundle_a: Path, remote: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("GERHARD_REMOTE", str(remote))
    register_ok(capsys, registry, RUN, "A", bundle_a)  # no heavy file: the remote is recorded all the same
    assert load_record(registry)["artifact_remote"] == f"{remote}/{RUN}"
    pushed = sync(capsys, registry, "push", "--latest")
    assert (pushed.rc, pushed.err) == (0, note(remote, "GERHARD_REMOTE"))
    monkeypatch.setenv("GERHARD_REMOTE", "/elsewhere")
    shown = run(capsys, "show", "--repo", registry, RUN).out
    assert f"archive   outputs/{RUN}/\nremote    {remote}/{RUN}\n" in shown  # the record's, as registered


def load_record(repo: Path) -> dict:
    from tests.cli_helpers import load_yaml

    return load_yaml(repo / "state" / "runs" / f"{RUN}.yaml")


# A MANIFEST's shape is checked in Python (schemas.certainly_valid), jsonschema only when that is
# not certain: what is refused, and how the error reads, stays what jsonschema alone says.

SHA = "0123456789abcdef" * 4
MANIFEST = {
    "run_id": RUN,
    "bundle_sha256": SHA,
    "files": [
        {"path": "metrics.json", "size": 0, "sha256": SHA},
        {"path": "ckpt/model.pt", "size": 17000, "sha256": SHA, "stored": "remote"},
    ],
}


def changed(path: str, value: object) -> dict:
    """MANIFEST with one value replaced (`files.1.size`), or removed (value DELETE)."""
    doc = json.loads(json.dumps(MANIFEST))
    *parents, last = path.split(".")
    holder = doc
    for key in parents:
        holder = holder[int(key)] if isinstance(holder, list) else holder[key]
    if value is DELETE:
        del holder[last]
    else:
        holder[int(last) if isinstance(holder, list) else last] = value
    return doc


DELETE = object()


@pytest.mark.parametrize(
    ("doc", "certain", "valid"),
    [
        (MANIFEST, True, True),
        (changed("files", []), True, True),
        (changed("files.1.size", 17000.0), False, True),  # an integer to jsonschema, left to it
        (changed("files.1.size", True), False, False),
        (changed("files.1.size", -1), False, False),
        (changed("files.1.sha256", SHA.upper()), False, False),
        (changed("files.1.sha256", SHA + "\n"), False, False),  # '$' is the end of the text
        (changed("files.1.stored", "local"), False, False),
        (changed("files.1.note", "x"), False, False),
        (changed("files.0.sha256", DELETE), False, False),
        (changed("files.0.path", 7), False, False),
        (changed("files.0", "metrics.json"), False, False),
        (changed("files", {"metrics.json": 0}), False, False),
        (changed("bundle_sha256", SHA[:63]), False, False),
        (changed("bundle_sha256", DELETE), False, False),
        (changed("run_id", 5), False, False),
        (changed("extra", 1), False, False),
        ([MANIFEST], False, False),
    ],
)
def test_manifest_fast_path_vouches_only_for_valid_manifests(doc: object, certain: bool, valid: bool) -> None:
    from gerhard.formats import schemas

    assert schemas.certainly_valid(doc, "manifest") is certain
    assert schemas.validator("manifest").is_valid(doc) is valid


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=3),
    st.sampled_from([SHA, SHA.upper(), SHA + "\n", SHA[:63], "remote", "local", RUN]),
)
_ENTRIES = st.fixed_dictionaries(
    {"path": st.text(max_size=5), "size": st.integers(0, 2**40), "sha256": st.just(SHA)},
    optional={"stored": st.just("remote")},
)
_MANIFESTS = st.fixed_dictionaries(
    {"run_id": st.text(max_size=5), "bundle_sha256": st.just(SHA), "files": st.lists(_ENTRIES, max_size=3)}
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_manifest_fast_path_never_vouches_for_an_invalid_one(data: st.DataObject) -> None:
    """A valid MANIFEST with up to three keys removed, added or given other values."""
    from gerhard.formats import schemas

    doc = data.draw(_MANIFESTS)
    for _ in range(data.draw(st.integers(0, 3))):
        holder = data.draw(st.sampled_from([doc, *doc["files"]] if isinstance(doc.get("files"), list) else [doc]))
        key = data.draw(st.sampled_from([*sorted(holder), "note"]))
        if data.draw(st.booleans()):
            holder.pop(key, None)
        else:
            holder[key] = data.draw(_VALUES)
    if schemas.certainly_valid(doc, "manifest"):
        assert schemas.validator("manifest").is_valid(doc)


def test_manifest_refused_as_jsonschema_says(registered: Path, capsys) -> None:
    path = registered / "outputs" / RUN / "MANIFEST"
    path.write_text(json.dumps(changed("files.0.size", -1)))
    subprocess.run(["git", "commit", "-q", "--no-verify", "-am", "a damaged MANIFEST"], cwd=registered, check=True)
    before = snapshot(registered)
    result = sync(capsys, registered, "verify", RUN, "--remote", registered / "nowhere")
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard sync: error: outputs/{RUN}/MANIFEST in git (HEAD): $.files[0].size: -1 is less than the minimum "
        "of 0 (schema manifest): the MANIFEST committed at HEAD is damaged: 'gerhard check' lists every problem\n"
    )
    assert snapshot(registered) == before


def test_manifest_fast_path_stands_in_for_the_shipped_schema_only(tmp_path: Path) -> None:
    from gerhard.formats import schemas

    shipped = schemas.schema_dir() / "manifest.schema.json"
    assert schemas.canonical_sha256(shipped) == schemas.MANIFEST_SCHEMA_SHA256, (
        "manifest.schema.json changed: make schemas._manifest_certainly_valid check what it now asks, "
        "then set MANIFEST_SCHEMA_SHA256 to its canonical_sha256"
    )
    own = tmp_path / "schemas"
    own.mkdir()
    (own / "manifest.schema.json").write_text(shipped.read_text())  # a registry's own, even the same
    assert not schemas.certainly_valid(MANIFEST, "manifest", tmp_path)
    schemas.validate(MANIFEST, "manifest", "MANIFEST", tmp_path)  # valid all the same, by jsonschema


def imported_by(repo: Path, *argv: str | Path) -> set[str]:
    """The modules `python -m gerhard ARGV` imports, as a separate process."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['gerhard', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('gerhard', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(*sorted(sys.modules), file=sys.stderr)\n"
    )
    import sys

    proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stderr.split())


# What start-up must not cost a no-op push (benchmarks/bench_sync.py: it is half start-up).
NOT_FOR_A_PUSH = {
    "jsonschema",
    "referencing",
    "gerhard.registry.queries",
    "gerhard.core.derive",
    "gerhard.core.phases",
    "jinja2",
}


def test_push_imports_only_what_it_needs(registered: Path, remote: Path) -> None:
    first = imported_by(registered, "sync", "push", "--all", "--remote", remote)
    assert "tqdm" in first
    assert first & {"gerhard.registry.queries", "gerhard.core.derive", "gerhard.core.phases", "jinja2"} == set()
    again = imported_by(registered, "sync", "push", "--all", "--remote", remote)  # nothing to copy
    assert again & (NOT_FOR_A_PUSH | {"tqdm", "fsspec", "ruamel", "ruamel.yaml", "yaml"}) == set()


def test_a_registered_manifest_is_certainly_valid(registered: Path) -> None:
    from gerhard.formats import schemas

    doc = json.loads((registered / "outputs" / RUN / "MANIFEST").read_bytes())
    assert {"path": "model.pt", "size": 17000, "stored": "remote"}.items() <= next(
        f for f in doc["files"] if f["path"] == "model.pt"
    ).items()
    assert schemas.certainly_valid(doc, "manifest")


# Git holds the truth: a pull brings back only what the MANIFEST in git (HEAD) lists, verified against it,
# never replaces a tracked file, and says so when the remote's copies were changed.


def tampered_manifest(manifest: Path, rel: str, data: bytes) -> None:
    """Rewrite a MANIFEST's entry for rel consistently with new bytes (as a forger would)."""
    import hashlib

    doc = json.loads(manifest.read_bytes())
    for entry in doc["files"]:
        if entry["path"] == rel:
            entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest.write_text(json.dumps(doc, indent=2))


def test_pull_never_replaces_what_git_holds(registered: Path, remote: Path, tmp_path: Path, capsys) -> None:
    assert sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote).rc == 0
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registered), str(clone)], check=True)
    # At the remote: a forged checkpoint with a MANIFEST rewritten to match it, a changed metrics.json
    # and .gitignore, all newer than the clone's files.
    there = remote / RUN
    (there / "model.pt").write_bytes(b"forged weights")
    (there / "metrics.json").write_text('{"final": {"val_loss": 0.01}}')
    tampered_manifest(there / "MANIFEST", "model.pt", b"forged weights")
    tampered_manifest(there / "MANIFEST", "metrics.json", (there / "metrics.json").read_bytes())
    (there / ".gitignore").write_text("*\n")
    for name in ("model.pt", "metrics.json", "MANIFEST", ".gitignore"):
        later(there / name, 100)
    before = snapshot(clone)
    pulled = sync(capsys, clone, "pull", "--run-id", RUN, "--remote", remote)
    assert pulled.rc == 1, pulled
    changed_there = "not pulled: the remote copy was changed; remove it there and push the run again"
    assert pulled.out.splitlines() == [
        f"refused {RUN}/.gitignore: differs from the .gitignore in git (HEAD), {changed_there}",
        f"refused {RUN}/MANIFEST: differs from the MANIFEST in git (HEAD), {changed_there}",
        f"refused {RUN}/model.pt: does not match the MANIFEST (size 14, sha256 "
        + pulled.out.split("(size 14, sha256 ", 1)[1].split("\n", 1)[0],
        "copied 0 files (0.0 MB), skipped 4 up to date, 3 refused",
    ]
    assert "MANIFEST: size 17000, sha256 " in pulled.out  # checked against git's, not the remote's
    assert snapshot(clone) == before  # metrics.json is tracked: never replaced, however new
    verify = sync(capsys, clone, "verify", RUN, "--remote", remote)
    assert verify.rc == 1
    assert verify.out.splitlines() == [
        f"{remote}/{RUN}/MANIFEST differs from the MANIFEST in git (HEAD): "
        "the remote copy was changed; remove it there and push the run again",
        f"{remote}/{RUN}/metrics.json is 29 bytes, the MANIFEST lists "
        + str((clone / "outputs" / RUN / "metrics.json").stat().st_size),
        f"{remote}/{RUN}/model.pt is 14 bytes, the MANIFEST lists 17000",
        f"verified 5 files of 1 runs at {remote}: 3 problems",
    ]


def test_a_tracked_file_missing_here_is_pulled_verified(registered: Path, remote: Path, capsys) -> None:
    assert sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote).rc == 0
    local = registered / "outputs" / RUN
    seed = (local / "seed.txt").read_bytes()
    (local / "seed.txt").unlink()
    (remote / RUN / "seed.txt").write_bytes(b"9999\n")  # not what git holds
    refused = sync(capsys, registered, "pull", "--run-id", RUN, "--remote", remote)
    assert refused.rc == 1
    assert f"refused {RUN}/seed.txt: does not match the MANIFEST (size 5, sha256 " in refused.out
    assert not (local / "seed.txt").exists()
    (remote / RUN / "seed.txt").write_bytes(seed)
    pulled = sync(capsys, registered, "pull", "--run-id", RUN, "--remote", remote)
    assert (pulled.rc, pulled.out.splitlines()[0]) == (0, f"copied {RUN}/seed.txt (missing at the destination)")
    assert git_out(registered, "status", "--porcelain") == ""


def test_a_remote_name_leading_out_of_the_run_folder_is_refused(registered: Path, tmp_path: Path, capsys) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    url = f"memory://{tmp_path.name}/drive"
    assert sync(capsys, registered, "push", "--run-id", RUN, "--remote", url).rc == 0
    base = f"/{tmp_path.name}/drive/{RUN}"
    fs.pipe(f"{base}/../escape.txt", b"out of the run folder")
    fs.pipe(f"{base}/../../outputs/{RUN}/metrics.json", b"{}")
    os.unlink(registered / "outputs" / RUN / "model.pt")
    before = snapshot(registered)
    try:
        pulled = sync(capsys, registered, "pull", "--run-id", RUN, "--remote", url)
    finally:
        fs.rm(f"/{tmp_path.name}", recursive=True)
    assert pulled.rc == 1, pulled
    unsafe = [line for line in pulled.out.splitlines() if "unsafe" in line]
    assert unsafe == [
        f"refused {RUN}/../../outputs/{RUN}/metrics.json: unsafe name: not copied",
        f"refused {RUN}/../escape.txt: unsafe name: not copied",
    ]
    assert f"copied {RUN}/model.pt (missing at the destination)" in pulled.out
    after = snapshot(registered)
    assert after["files"].pop(f"outputs/{RUN}/model.pt") == b"checkpoint bytes " * 1000
    assert after == before
    assert not (registered / "outputs" / "escape.txt").exists()


def test_verify_checks_the_local_run_against_git(registered: Path, remote: Path, capsys) -> None:
    assert sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote).rc == 0
    local = registered / "outputs" / RUN
    assert sync(capsys, registered, "verify", RUN, "--remote", remote).rc == 0
    tampered_manifest(local / "MANIFEST", "model.pt", b"other weights")
    (local / "model.pt").write_bytes(b"other weights")
    (local / "config.yaml").write_text("lr: 1\n")
    result = sync(capsys, registered, "verify", RUN, "--remote", remote)
    assert result.rc == 1
    assert result.out.splitlines()[:3] == [
        f"outputs/{RUN}/MANIFEST differs from the MANIFEST in git (HEAD): "
        f"restore it with 'git checkout -- outputs/{RUN}/MANIFEST'",
        f"outputs/{RUN}/config.yaml differs from its MANIFEST in git (size "
        + result.out.split(f"outputs/{RUN}/config.yaml differs from its MANIFEST in git (size ", 1)[1].split(")")[0]
        + f"): restore it with 'git checkout -- outputs/{RUN}/config.yaml'",
        f"outputs/{RUN}/model.pt differs from its MANIFEST in git (size 17000, sha256 "
        + result.out.split("(size 17000, sha256 ", 1)[1].split(")")[0]
        + f"): move it away and run 'gerhard sync pull --run-id {RUN}'",
    ]
    assert result.out.splitlines()[-1] == f"verified 5 files of 1 runs at {remote}: 3 problems"
    # A push would spread the changed MANIFEST: refused, one line, nothing sent.
    (local / "config.yaml").unlink()
    subprocess.run(["git", "checkout", "--", f"outputs/{RUN}/config.yaml"], cwd=registered, check=True)
    before = files_under(remote)
    later(local / "MANIFEST", 100)
    pushed = sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote)
    assert_one_line_error(pushed)
    assert pushed.err == (
        f"gerhard sync: error: outputs/{RUN}/MANIFEST differs from the MANIFEST in git (HEAD): restore it with "
        f"'git checkout -- outputs/{RUN}/MANIFEST' before pushing\n"
    )
    assert files_under(remote) == before


def test_a_run_without_a_committed_manifest(registered: Path, remote: Path, capsys) -> None:
    subprocess.run(["git", "rm", "-q", "--cached", f"outputs/{RUN}/MANIFEST"], cwd=registered, check=True)
    subprocess.run(["git", "commit", "-q", "--no-verify", "-m", "lose it"], cwd=registered, check=True)
    before = snapshot(registered)
    result = sync(capsys, registered, "pull", "--run-id", RUN, "--remote", remote)
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard sync: error: outputs/{RUN}/MANIFEST is not in git (HEAD): sync moves the files of committed "
        "registrations only; check out the branch that registered the run\n"
    )
    assert snapshot(registered) == before


# A killed pull leaves <name>.gerhard-tmp in outputs/<run_id>/: check names it, doctor removes it (and
# leaves one a running sync is writing to that sync), then check passes.

STALLED_PULL = """
import sys, threading
from gerhard.sync import transfer
stream = transfer._stream
def stalled(fin, fout, progress):
    fout.write(fin.read(1000))
    fout.flush()
    print("copying", flush=True)
    threading.Event().wait()  # until killed
transfer._stream = stalled
from gerhard.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_doctor_and_check_agree_on_what_a_killed_pull_left(
    registered: Path, remote: Path, tmp_path: Path, capsys
) -> None:
    import signal
    import sys

    assert sync(capsys, registered, "push", "--run-id", RUN, "--remote", remote).rc == 0
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(registered), str(clone)], check=True)
    argv = ["sync", "pull", "--run-id", RUN, "--remote", str(remote), "--repo", str(clone)]
    pull = subprocess.Popen([sys.executable, "-c", STALLED_PULL, *argv], stdout=subprocess.PIPE, text=True)
    try:
        assert pull.stdout is not None and pull.stdout.readline() == "copying\n"
        temp = clone / "outputs" / RUN / "model.pt.gerhard-tmp"
        assert temp.stat().st_size == 1000
        # While the pull runs, doctor leaves its file to it and says so.
        running = run(capsys, "doctor", "--repo", clone)
        assert (running.rc, running.out) == (
            1,
            f"problem: outputs/{RUN}/model.pt.gerhard-tmp is being written by a running gerhard sync: "
            "run doctor again when it ends\n",
        )
        assert temp.exists()
    finally:
        pull.send_signal(signal.SIGKILL)
        pull.wait()
    # What a crash leaves in state/ as well: atomic_write's temporary name, and a plain one.
    for name in (".program_status.yaml.x1y2z3.gerhard-tmp", "gate_results.yaml.gerhard-tmp"):
        (clone / "state" / name).write_text("half written")
    checked = run(capsys, "check", "--repo", clone)
    assert checked.rc == 1
    for rel in (f"outputs/{RUN}/model.pt", "state/.program_status.yaml.x1y2z3", "state/gate_results.yaml"):
        assert f"{rel}.gerhard-tmp is a temporary file of an interrupted write: run 'gerhard doctor'" in checked.out
    doctor = run(capsys, "doctor", "--repo", clone)
    assert doctor.rc == 0, doctor.out
    assert sorted(doctor.out.splitlines()) == [
        f"removed a temporary file left by an interrupted write: {rel}.gerhard-tmp"
        for rel in sorted([f"outputs/{RUN}/model.pt", "state/.program_status.yaml.x1y2z3", "state/gate_results.yaml"])
    ]
    after = run(capsys, "check", "--repo", clone)
    assert after.rc == 0, after.out
    assert git_out(clone, "status", "--porcelain") == ""
    # The pull, run again, finishes the job.
    assert sync(capsys, clone, "pull", "--run-id", RUN, "--remote", remote).rc == 0
    assert (clone / "outputs" / RUN / "model.pt").read_bytes() == b"checkpoint bytes " * 1000
