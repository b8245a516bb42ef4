"""Figures gerhard drew, kept in the registry's git dir (gerhard.dossier.drawn): registering a dossier
built with the registry draws nothing again (and imports no matplotlib), the archived page is the
same bytes as a page drawn afresh, and a dossier's own figures are never what the registry archives."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from cli_helpers import run
from dossier_helpers import RUN_B, bundle_folder, make_dossier

from gerhard.dossier import drawn
from gerhard.dossier.figures import Figure

DOSSIER_B = f"run_dossier_{RUN_B}.html"
PNG_RE = re.compile(rb"data:image/png;base64,([A-Za-z0-9+/=]+)")


@pytest.fixture
def green_a(registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A registry whose phase A has passed (phase B open), so phase B's gates are drawn."""
    result = run(capsys, "register", "--repo", registry, "--run-id", "a0", "--phase", "A", "--source-dir", bundle_a)
    assert result.rc == 0, result.err
    return registry


def build_with(registry: Path, tmp_path: Path, name: str) -> Path:
    """Phase B's dossier built as `gerhard dossier --repo` builds it (its figures kept in the registry)."""
    folder = bundle_folder(tmp_path / name, "phase_b_red", RUN_B)
    return make_dossier(folder, "B", repo_root=registry, output=tmp_path / f"{name}.html")


def kept(registry: Path) -> list[Path]:
    cache = drawn.figure_cache(registry)
    assert cache is not None
    return sorted(cache.glob("*.json"))


def doctor(png: bytes) -> bytes:
    """Another valid-looking PNG: the same bytes with one pixel row's data changed."""
    return png[:-40] + bytes(b ^ 0xFF for b in png[-40:-20]) + png[-20:]


def test_a_page_from_kept_figures_is_the_page_drawn_afresh(green_a: Path, tmp_path: Path) -> None:
    first = build_with(green_a, tmp_path, "first").read_bytes()
    entries = kept(green_a)
    assert len(entries) == 3  # metrics.json, eval_suite.json, v15_spikingbrain.json: one per file charted
    again = build_with(green_a, tmp_path, "again").read_bytes()
    assert again == first and kept(green_a) == entries
    shutil.rmtree(entries[0].parent)
    assert build_with(green_a, tmp_path, "afresh").read_bytes() == first


def test_a_doctored_figure_in_a_dossier_is_not_archived(green_a: Path, tmp_path: Path, capsys) -> None:
    dossier = build_with(green_a, tmp_path, "built")
    honest = dossier.read_bytes()
    png = base64.b64decode(PNG_RE.search(honest).group(1))  # type: ignore[union-attr]
    forged = honest.replace(base64.b64encode(png), base64.b64encode(doctor(png)), 1)
    assert forged != honest
    dossier.write_bytes(forged)
    result = run(capsys, "register", "--repo", green_a, "--dossier", dossier)
    assert result.rc == 0, result.err
    assert (green_a / "outputs" / RUN_B / DOSSIER_B).read_bytes() == honest


def test_a_damaged_entry_is_drawn_again(green_a: Path, tmp_path: Path) -> None:
    first = build_with(green_a, tmp_path, "first").read_bytes()
    for entry in kept(green_a):
        rows = json.loads(entry.read_bytes())
        rows[0]["png"] = base64.b64encode(doctor(base64.b64decode(rows[0]["png"]))).decode()
        entry.write_text(json.dumps(rows))
    assert build_with(green_a, tmp_path, "again").read_bytes() == first


def figure(text: str) -> Figure:
    return Figure(text, f"caption of {text}", text.encode() + b"\x89PNG")


def test_only_the_same_inputs_give_back_what_was_drawn(tmp_path: Path) -> None:
    calls: list[str] = []

    def draw(text: str) -> list[Figure]:
        calls.append(text)
        return [figure(text)]

    cache = tmp_path / "figures"
    assert drawn.cached_figures(cache, "page", ["m.json", "sha", []], lambda: draw("one")) == [figure("one")]
    assert drawn.cached_figures(cache, "page", ["m.json", "sha", []], lambda: draw("two")) == [figure("one")]
    gate = [{"gate_id": "g", "line": 1.0}]
    assert drawn.cached_figures(cache, "page", ["m.json", "sha", gate], lambda: draw("three")) == [figure("three")]
    assert drawn.cached_figures(cache, "page", ["m.json", "other", []], lambda: draw("four")) == [figure("four")]
    assert drawn.cached_figures(None, "page", ["m.json", "sha", []], lambda: draw("five")) == [figure("five")]
    assert calls == ["one", "three", "four", "five"]


def test_the_least_recently_used_entries_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drawn, "MAX_ENTRIES", 2)
    cache = tmp_path / "figures"
    for i, text in enumerate(["a", "b"]):
        drawn.cached_figures(cache, "page", [text], lambda t=text: [figure(t)])  # type: ignore[misc]
        os.utime(cache / f"{drawn.figure_key('page', [text])}.json", (1000 + i, 1000 + i))
    drawn.cached_figures(cache, "page", ["a"], lambda: [])  # used again: now the most recent
    drawn.cached_figures(cache, "page", ["c"], lambda: [figure("c")])
    left = {p.stem for p in cache.glob("*.json")}
    assert left == {drawn.figure_key("page", [t]) for t in ("a", "c")}


def test_no_cache_without_a_registry_git_dir(tmp_path: Path) -> None:
    assert drawn.figure_cache(None) is None
    assert drawn.figure_cache(tmp_path) is None
