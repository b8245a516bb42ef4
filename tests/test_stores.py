"""stores.py: the ends of a sync, listed, looked up, opened and probed; an object store's errors in one line."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from gerhard.errors import UserError
from gerhard.sync.stores import (
    FileInfo,
    Side,
    check_writable,
    local_side,
    mtime_of,
    open_side,
    remote_errors,
    sha256_at,
)

RUN = "20260101T000000Z_alpha"


@pytest.fixture
def side(tmp_path: Path) -> Side:
    """A local side whose run folder holds two files, one in a subfolder, a temporary copy, a symlink
    and an empty folder."""
    folder = tmp_path / "runs" / RUN
    (folder / "plots").mkdir(parents=True)
    (folder / "metrics.json").write_bytes(b"{}")
    (folder / "plots" / "loss.png").write_bytes(b"png" * 10)
    (folder / "model.pt.gerhard-tmp").write_bytes(b"half")
    (folder / "link.txt").symlink_to(folder / "metrics.json")
    (folder / "empty").mkdir()
    os.utime(folder / "metrics.json", (1_000_000, 1_000_000))
    return open_side(str(tmp_path / "runs"))


def test_local_listing_counts_files_only(side: Side) -> None:
    assert side.listing(RUN) == {
        "metrics.json": FileInfo(2, 1_000_000.0),
        "plots/loss.png": FileInfo(30, os.lstat(f"{side.run_dir(RUN)}/plots/loss.png").st_mtime),
    }
    assert side.listing("20260101T000000Z_missing") == {}


def test_lookup_agrees_with_the_listing_on_the_names_asked(side: Side) -> None:
    asked = ["metrics.json", "plots/loss.png", "model.pt.gerhard-tmp", "link.txt", "empty", "plots", "absent.bin"]
    listing = side.listing(RUN)
    assert side.lookup(RUN, asked) == listing  # a temporary copy, a symlink, a folder or nothing: not a file
    assert side.lookup(RUN, ["plots/loss.png"]) == {"plots/loss.png": listing["plots/loss.png"]}
    assert side.lookup("20260101T000000Z_missing", asked) == {}
    assert side.lookup(RUN, ["metrics.json/inside"]) == {}  # a file where a folder would be


def test_sha256_at(side: Side) -> None:
    assert sha256_at(side, f"{side.run_dir(RUN)}/plots/loss.png") == hashlib.sha256(b"png" * 10).hexdigest()
    assert side.sha256(RUN, "metrics.json") == hashlib.sha256(b"{}").hexdigest()


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"mtime": 12.5}, 12.5),
        ({"LastModified": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}, 1767225600.0),  # S3
        ({"updated": "2026-01-01T00:00:00Z"}, 1767225600.0),  # GCS
        ({"last_modified": "2026-01-01T01:00:00+01:00"}, 1767225600.0),
        ({"size": 3}, 0.0),
    ],
)
def test_mtime_of(info: dict, expected: float) -> None:
    assert mtime_of(info) == expected


def test_open_side_paths_are_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert open_side("drive/runs") == Side(None, str(tmp_path / "drive" / "runs"), "drive/runs")
    assert open_side("~/runs") == Side(None, str(tmp_path / "runs"), "~/runs")
    url = f"file://{tmp_path}/runs"
    assert open_side(url) == Side(None, str(tmp_path / "runs"), url)
    assert local_side(tmp_path) == Side(None, str((tmp_path / "outputs").resolve()), "outputs")
    assert open_side(str(tmp_path)).local and not open_side(str(tmp_path)).atomic_uploads


def test_open_side_unknown_protocol() -> None:
    with pytest.raises(UserError) as e:
        open_side("nosuch://bucket/runs")
    assert str(e.value) == "cannot open remote nosuch://bucket/runs: Protocol not known: nosuch"


def test_check_writable_leaves_no_probe(tmp_path: Path) -> None:
    remote = open_side(str(tmp_path / "new" / "runs"))
    check_writable(remote)
    assert list((tmp_path / "new" / "runs").iterdir()) == []


def test_check_writable_refuses_a_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file")
    label = str(tmp_path / "blocker" / "runs")
    with pytest.raises(UserError) as e:
        check_writable(open_side(label))
    assert str(e.value) == (
        f"remote {label} is not writable (Not a directory): check the path, its permissions or credentials"
    )


def raised(name: str) -> Exception:
    """An exception of a class named like a cloud SDK's (botocore, google-auth, aiohttp)."""
    return type(name, (Exception,), {})("endpoint down")


@pytest.mark.parametrize(
    ("label", "error", "message"),
    [
        (
            "s3://bucket/runs",
            "NoCredentialsError",
            "no credentials for s3://bucket/runs: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE with ~/.aws/credentials",
        ),
        (
            "gs://bucket/runs",
            "DefaultCredentialsError",
            "no credentials for gs://bucket/runs: set GOOGLE_APPLICATION_CREDENTIALS to a service-account JSON "
            "file, or run 'gcloud auth application-default login'",
        ),
        (
            "az://box/runs",
            "PartialCredentialsError",
            "no credentials for az://box/runs: configure the credentials of its fsspec backend",
        ),
        (
            "s3://bucket/runs",
            "EndpointConnectionError",
            "remote s3://bucket/runs cannot be reached (endpoint down): check the URL and the network",
        ),
    ],
)
def test_remote_errors_say_what_to_do(label: str, error: str, message: str) -> None:
    with pytest.raises(UserError) as e, remote_errors(Side(object(), "bucket/runs", label)):
        raise raised(error)
    assert str(e.value) == message


def test_remote_errors_let_others_through() -> None:
    with pytest.raises(KeyError), remote_errors(Side(object(), "bucket/runs", "s3://bucket/runs")):
        raise KeyError("a bug is a bug")
