"""Helpers for the dossier tests: build one, read its embedded JSON back, edit it into a bad one."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gerhard.dossier.codec import OPEN_TAG, script_json
from gerhard.dossier.page import build_dossier
from gerhard.registry.bundle import BundleFile, bundle_sha256, sha256_bytes

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RUN_A = "20261101T090000Z_dense"
RUN_B = "20261101T100000Z_v15"


def bundle_folder(tmp_path: Path, example: str, run_id: str) -> Path:
    """A copy of an example bundle in a folder named after the run."""
    dest = tmp_path / "notebook" / run_id
    shutil.copytree(EXAMPLES / example, dest)
    return dest


def make_dossier(folder: Path, phase: str | None = None, **kwargs: Any) -> Path:
    """A dossier built without a registry (so it does not depend on where the tests run)."""
    kwargs.setdefault("repo_root", None)
    return build_dossier(folder, phase=phase, **kwargs)


def figure_titles(html: str) -> list[str]:
    """The titles of a dossier page's figures, in order."""
    return re.findall(r"<figcaption><strong>([^<]*)\.</strong>", html)


def block_span(html: str) -> tuple[int, int]:
    start = html.index(OPEN_TAG) + len(OPEN_TAG)
    return start, html.index("</script>", start)


def embedded(path: Path) -> dict[str, Any]:
    html = path.read_text(encoding="utf-8")
    start, end = block_span(html)
    return json.loads(html[start:end])


def rehash(doc: dict[str, Any]) -> dict[str, Any]:
    """Make the embedded hashes consistent again, as a careful forger would."""
    for f in doc["files"]:
        if "data" in f and isinstance(f.get("path"), str):
            data = f["data"].encode() if f["encoding"] == "utf-8" else base64.b64decode(f["data"])
            f["size"], f["sha256"] = len(data), sha256_bytes(data)
    listed = [BundleFile(str(f["path"]), f["size"], f["sha256"]) for f in doc["files"]]
    doc["bundle_sha256"] = bundle_sha256(listed)
    return doc


def tamper(path: Path, edit: Callable[[dict[str, Any]], Any], consistent: bool = False) -> Path:
    """Rewrite the embedded JSON of a dossier in place; consistent=True recomputes every hash."""
    html = path.read_text(encoding="utf-8")
    start, end = block_span(html)
    doc = json.loads(html[start:end])
    edit(doc)
    if consistent:
        rehash(doc)
    path.write_text(html[:start] + script_json(doc) + html[end:], encoding="utf-8")
    return path


def add_file(doc: dict[str, Any], name: Any, text: str = "x\n", **extra: Any) -> None:
    data = text.encode()
    doc["files"].append(
        dict(
            {"path": name, "size": len(data), "sha256": sha256_bytes(data), "encoding": "utf-8", "data": text}, **extra
        )
    )
