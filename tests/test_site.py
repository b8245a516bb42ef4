"""gerhard site without a browser: what the build writes, that a rebuild rewrites only what changed and
equals a full build, --rev, the data the comparison reads, the CLI and --serve (gerhard.site)."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, copy_run_by_hand, git_out, head_sha, register_ok, run
from conftest import EXAMPLES, copy_registry
from history_helpers import RUN_A, RUN_GREEN, RUN_RED, RUN_TUNED, History, at

from gerhard.core import compare
from gerhard.core.gates import Baseline, Gate, threshold_text
from gerhard.registry import queries
from gerhard.site import build, extract, serve, wire

RUNS = 5  # build_history's


@pytest.fixture
def history(history_template: History, tmp_path: Path) -> History:
    """build_history's registry (a copy of conftest's history_template) for one test (tests change it)."""
    return History(copy_registry(history_template.repo, tmp_path / "registry"), dict(history_template.commits))


def data_files(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def doc(out: Path, rel: str, kind: str, key: str) -> object:
    return wire.read_script((out / rel).read_text(), kind, key)


def detail(out: Path, run_id: str) -> dict[str, object]:
    """A run's comparison data, from its part."""
    return build.run_details(out, build.part_of(run_id))[run_id]


def table(out: Path) -> list[dict[str, object]]:
    manifest = doc(out, "data/manifest.js", "manifest", "")
    return [row for m in manifest["months"] for row in build.expand(doc(out, build.rows_rel(m), "rows", m))]


def test_build_writes_the_page_the_table_and_the_runs_parts(history: History, tmp_path: Path) -> None:
    out = tmp_path / "site"
    report = build.build_site(history.repo, out)
    assert (report.runs, report.read, report.removed) == (RUNS, RUNS, 0)
    assert {"index.html", "assets/site.js", "assets/uPlot.iife.min.js", "assets/uPlot.LICENSE"} <= set(data_files(out))
    manifest = doc(out, "data/manifest.js", "manifest", "")
    assert manifest["program"] == "asnn-goose-v15" and manifest["root"] == "../registry"
    records = {r: extract.plain(queries.resolve_run(history.repo, r)) for r in history.commits if " " not in r}
    assert sorted(manifest["months"]) == sorted({r["registered_at"][:7] for r in records.values()})
    rows = {row["id"]: row for row in table(out)}
    assert len(rows) == RUNS and all(rows[r]["part"] == build.part_of(r) and detail(out, r) for r in rows)
    assert sorted(manifest["parts"]) == sorted({build.part_of(r) for r in rows})
    tuned = rows[RUN_TUNED]
    assert (tuned["phase"], tuned["verdict"], tuned["name"], tuned["sha"]) == ("B", "AMBER", "v15_lr", tuned["sha"])
    assert tuned["config.optim.lr"] == 0.0005 and tuned["metrics.val_acc"] == 0.61
    assert (tuned["gates.energy_ratio_advisory"], tuned["pass:energy_ratio_advisory"]) == (0.55, False)
    assert tuned["limit:energy_ratio_advisory"] == [None, 0.5] and tuned["limit:spike_rate_band"] == [0.05, 0.25]
    at = records[RUN_TUNED]["registered_at"]
    assert tuned["report"] == f"reports/{at[:4]}/{at[5:7]}/{RUN_TUNED}.md"
    assert (history.repo / tuned["report"]).is_file()
    assert "dossier" not in tuned  # registered from a folder without a dossier
    assert detail(out, RUN_TUNED)["report"] == (history.repo / tuned["report"]).read_text()  # the page shows it


def test_the_comparison_data_is_what_gerhard_diff_reads(history: History, tmp_path: Path) -> None:
    """compare.diff_runs on the site's per-run data (what the page's port of it reads) gives `gerhard diff`."""
    out = tmp_path / "site"
    build.build_site(history.repo, out)
    root = history.repo
    for a, b in [(RUN_GREEN, RUN_TUNED), (RUN_RED, RUN_GREEN), (RUN_A, RUN_TUNED)]:
        da, db = (detail(out, r) for r in (a, b))
        ra, rb = queries.resolve_run(root, a), queries.resolve_run(root, b)
        want = compare.diff_runs(ra, rb, extract.eval_tasks(load(root, a)), extract.eval_tasks(load(root, b)))
        assert da["run"] == wire.to_wire(want.a) and db["run"] == wire.to_wire(want.b)
        flat = [compare.ConfigChange(k, c, o, n) for k, c, o, n in flat_changes(da["config"], db["config"])]
        assert flat == want.config
        assert compare.metric_deltas(da["metrics"], db["metrics"]) == want.metrics
        assert compare.gate_flips(da["gates"], db["gates"]) == want.gates_flipped
        suites = (da["suite"], db["suite"])
        assert [side for side, suite in zip("ab", suites, strict=True) if suite is None] == want.eval_missing_in
        assert (compare.eval_flips(*suites) if None not in suites else []) == want.eval_flipped


def load(root: Path, run_id: str) -> object:
    return json.loads((root / "outputs" / run_id / "eval_suite.json").read_text()) if (
        root / "outputs" / run_id / "eval_suite.json").is_file() else None  # fmt: skip


def flat_changes(a: dict[str, object], b: dict[str, object]) -> list[tuple[str, str, object, object]]:
    """compare.config_changes on already flattened configs (flatten of a flat mapping is itself)."""
    return [(c.key, c.change, c.old, c.new) for c in compare.config_changes(unflat(a), unflat(b))]


def unflat(flat: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})  # type: ignore[assignment]
        node[last] = value  # type: ignore[index]
    return out


def test_a_rebuild_rewrites_only_what_changed_and_equals_a_full_build(
    history: History, capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    build.build_site(history.repo, out)
    again = build.build_site(history.repo, out)
    assert (again.read, again.written) == (0, 0)
    at(monkeypatch, "2025-04-02T09:00:00Z")
    register_ok(capsys, history.repo, "20250402T090000Z_v15_new", "B", EXAMPLES / "phase_b_green")
    after = build.build_site(history.repo, out)
    # its part, its month's rows, the manifest (status and the two digests): nothing else
    assert (after.runs, after.read, after.written) == (RUNS + 1, 1, 3)
    fresh = tmp_path / "fresh"
    build.build_site(history.repo, fresh)
    assert data_files(out) == data_files(fresh)


def test_a_changed_report_is_read_again(history: History, tmp_path: Path) -> None:
    """A report is rewritten after its run's registration (a withdrawal, `gerhard rebuild`): the run's
    fingerprint holds it, so a rebuild reads that run and shows the new text."""
    out = tmp_path / "site"
    build.build_site(history.repo, out)
    report = history.repo / next(row["report"] for row in table(out) if row["id"] == RUN_TUNED)
    report.write_text(report.read_text() + "\nWithdrawn.\n")
    again = build.build_site(history.repo, out)
    assert (again.read, again.written) == (1, 2)  # its part and the manifest's digest of it; the row is the same
    assert detail(out, RUN_TUNED)["report"].endswith("\nWithdrawn.\n")
    report.unlink()
    assert build.build_site(history.repo, out).read == 1
    assert detail(out, RUN_TUNED)["report"] is None
    assert "report" not in next(row for row in table(out) if row["id"] == RUN_TUNED)  # no link to a missing file


def test_a_run_gone_from_the_records_leaves_the_site(history: History, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build.build_site(history.repo, out)
    (history.repo / f"state/runs/{RUN_TUNED}.yaml").unlink()
    report = build.build_site(history.repo, out)
    assert (report.runs, report.removed) == (RUNS - 1, 1)
    assert RUN_TUNED not in {row["id"] for row in table(out)}
    part = out / build.part_rel(build.part_of(RUN_TUNED))
    assert not part.exists() or RUN_TUNED not in build.run_details(out, build.part_of(RUN_TUNED))


def test_rev_builds_the_registry_as_it_was(history: History, tmp_path: Path) -> None:
    then = tmp_path / "then"
    report = build.build_site(history.repo, then, rev=history.commits[RUN_GREEN])
    assert report.runs == 3 and {row["id"] for row in table(then)} == {RUN_A, RUN_RED, RUN_GREEN}
    manifest = doc(then, "data/manifest.js", "manifest", "")
    assert manifest["commit"] == history.commits[RUN_GREEN] and manifest["status"]["run_count"] == 3
    now, head = tmp_path / "now", tmp_path / "head"
    build.build_site(history.repo, now)
    build.build_site(history.repo, head, rev="HEAD")
    files_now, files_head = data_files(now), data_files(head)
    assert files_now.pop("data/manifest.js") != files_head.pop("data/manifest.js")  # rev and commit named
    assert {k: v for k, v in files_now.items() if k != build.CACHE} == {
        k: v for k, v in files_head.items() if k != build.CACHE
    }
    again = build.build_site(history.repo, head, rev="HEAD")
    assert (again.read, again.written) == (0, 0)  # blob ids as fingerprints


def test_rev_folds_the_records_its_aggregates_do_not_hold(history: History, tmp_path: Path) -> None:
    """A record merged from a branch is not in the stored status: the program view folds it on top, at a
    revision as in the work tree."""
    copy_run_by_hand(history.repo, RUN_TUNED, "20250410T090000Z_v15_branch", RUNS + 1)
    git_out(history.repo, "add", "-A")
    git_out(history.repo, "commit", "-q", "--no-verify", "-m", "a run from a branch")
    now, head = tmp_path / "now", tmp_path / "head"
    build.build_site(history.repo, now)
    build.build_site(history.repo, head, rev="HEAD")
    status = [doc(out, "data/manifest.js", "manifest", "")["status"] for out in (now, head)]
    assert status[0] == status[1] and status[1]["run_count"] == RUNS + 1


def test_cli_builds_and_says_so(history: History, capsys, tmp_path: Path) -> None:
    result = run(capsys, "site", "--repo", history.repo, "--out", tmp_path / "s", "--json")
    # the runs' parts, the one month's rows, the manifest, the assets and index.html
    parts = len({build.part_of(r) for r in history.commits if " " not in r})
    written = parts + 2 + len(build.ASSETS) + 1
    assert result.rc == 0 and json.loads(result.out) == {
        "out": str(tmp_path / "s"), "runs": RUNS, "read": RUNS, "removed": 0, "written": written,
    }  # fmt: skip
    result = run(capsys, "site", "--repo", history.repo)
    site = history.repo / "_site"
    assert (result.rc, result.out) == (0, f"site: {RUNS} runs in {site} (5 read, 0 removed, {written} files written); "
                                          f"open {site / 'index.html'}\n")  # fmt: skip
    assert (history.repo / "_site/index.html").is_file()


def test_cli_refuses_a_revision_that_names_no_commit(history: History, capsys, tmp_path: Path) -> None:
    before = git_out(history.repo, "status", "--porcelain")
    result = run(capsys, "site", "--repo", history.repo, "--out", tmp_path / "s", "--rev", "no-such-branch")
    assert_one_line_error(
        result,
        "gerhard site: error: --rev 'no-such-branch' names no commit here: give a branch, a tag or a commit id "
        "(see 'git log')",
    )
    assert git_out(history.repo, "status", "--porcelain") == before and head_sha(history.repo)


def test_serve_is_loopback_and_serves_the_site_and_the_registry_but_not_git(history: History) -> None:
    out = history.repo / "_site"
    build.build_site(history.repo, out)
    server, url = serve.make_server(history.repo, out, 0)
    assert url.startswith("http://127.0.0.1:") and url.endswith("/_site/index.html")
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert b"Content-Security-Policy" in urllib.request.urlopen(url, timeout=10).read()
        row = next(r for r in table(out) if r["id"] == RUN_TUNED)
        report = url.replace("_site/index.html", row["report"])
        assert RUN_TUNED.encode() in urllib.request.urlopen(report, timeout=10).read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.replace("_site/index.html", ".git/config"), timeout=10)
        assert refused.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_served_folder_outside_the_registry_is_the_site_itself(tmp_path: Path) -> None:
    assert serve.served_folder(tmp_path / "repo", tmp_path / "elsewhere") == ((tmp_path / "elsewhere").resolve(), "")


@pytest.mark.parametrize(
    ("gate", "baseline", "want"),
    [
        (Gate("g", "m.json", "x", op="<=", value=2.9), None, [None, 2.9]),
        (Gate("g", "m.json", "x", op=">=", value=0.8), None, [0.8, None]),
        (Gate("g", "m.json", "x", op="<", value=1e-05), None, [None, 1e-05]),
        (Gate("g", "m.json", "x", op="==", value=True), None, None),  # no number to draw
        (Gate("g", "m.json", "x", op="==", value=3), None, [3.0, 3.0]),
        (Gate("g", "m.json", "x", range=(0.05, 0.25)), None, [0.05, 0.25]),
        (Gate("g", "m.json", "x", baseline="best_green", better="lower", min_improvement=-0.05), None, None),
        (
            Gate("g", "m.json", "x", baseline="best_green", better="lower", min_improvement=-0.05),
            Baseline("20250320T090000Z_v15_fix", 2.7),
            [None, 2.75],
        ),
        (Gate("g", "m.json", "x", baseline="last_green", better="higher"), Baseline("r", 0.5), [0.5, None]),
    ],
)
def test_limits_read_what_threshold_text_writes(gate: Gate, baseline: Baseline | None, want: object) -> None:
    assert extract.limits(threshold_text(gate, baseline)) == want


def test_wire_tags_what_json_cannot_say_and_reads_its_own_files_back() -> None:
    data = {"nan": math.nan, "inf": math.inf, "list": (1, -math.inf), "text": "</script><b>\u2028"}
    text = wire.script("run", "x", data)
    assert text.isascii() and "\u2028" not in text and "<b>" in text
    assert wire.read_script(text, "run", "x") == {
        "nan": {"$nonfinite": "nan"}, "inf": {"$nonfinite": "inf"}, "list": [1, {"$nonfinite": "-inf"}],
        "text": "</script><b>\u2028",
    }  # fmt: skip
    with pytest.raises(ValueError):
        wire.read_script(text, "rows", "x")
    members = {"b": wire.dumps(data, ascii=True), 'a"\n,:': wire.dumps("x\n,\u2028", ascii=True)}
    text = wire.members_script("runs", "0f", members)
    assert text.count("\n") == 4 and text.isascii()  # one member a line
    assert wire.read_members(text, "runs", "0f") == members and list(wire.read_members(text, "runs", "0f")) == [
        'a"\n,:', "b"]  # fmt: skip
    assert wire.read_script(text, "runs", "0f") == {'a"\n,:': "x\n,\u2028", "b": json.loads(members["b"])}


def test_a_format_change_rebuilds_everything(history: History, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "site"
    build.build_site(history.repo, out)
    earlier = out / "data" / "runs" / f"{RUN_TUNED}.js"  # a run's own file, as the first format wrote them
    earlier.write_text(wire.script("run", RUN_TUNED, {}))
    monkeypatch.setattr(build, "FORMAT", build.FORMAT + 1)
    assert build.build_site(history.repo, out).read == RUNS
    fresh = tmp_path / "fresh"
    build.build_site(history.repo, fresh)
    assert not earlier.exists() and data_files(out) == data_files(fresh)
