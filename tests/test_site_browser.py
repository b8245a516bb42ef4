"""gerhard site in a real browser: Playwright for Python driving the system Chromium (executable_path, no
browser download). Sort, filter, the URL state, compare three runs (curves with a dashed baseline), a dossier
link; no request leaves the page; the page's comparison is compare.diff_runs for every pair; run text with
markup and script payloads shows as text and runs nothing. Skipped, with the reason, only when Playwright
or Chromium cannot be had. Screenshots go to the test's folder (and GERHARD_SITE_SHOTS, when set).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cli_helpers import run
from conftest import EXAMPLES, QuietCapture, copy_registry, isolate_git
from history_helpers import RUN_A, RUN_A2, RUN_GREEN, RUN_RED, RUN_TUNED, History, at, edit_json

from gerhard.core import compare
from gerhard.registry import queries
from gerhard.site import build, extract, wire

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
MARK = "document.documentElement.setAttribute('data-xss','ran')"
PAYLOADS = [
    f"<script>{MARK}</script>",
    f'<img src=x onerror="{MARK}">',
    f'</script><svg onload="{MARK}">',
    f'"><iframe srcdoc="<script>parent.{MARK}</script>">',
    f"javascript:{MARK}",
]
RUN_X = "20250402T090000Z_xss"
RUN_RED2 = "20250403T090000Z_v15_red2"
RUN_RED3 = "20250404T090000Z_v15_red3"


def hostile_bundle(dest: Path) -> Path:
    shutil.copytree(EXAMPLES / "phase_b_green", dest)

    def metrics(m: dict[str, Any]) -> None:
        m["final"].update({p: 1.0 for p in PAYLOADS})
        m["history"] = [dict(row, **{PAYLOADS[1]: 0.5}) for row in m["history"]]

    edit_json(dest / "metrics.json", metrics)
    edit_json(dest / "eval_suite.json", lambda s: s["tasks"].append({"name": PAYLOADS[2], "score": 0.1,
                                                                     "threshold": 0.5, "passed": False}))  # fmt: skip
    (dest / "config.yaml").write_text(json.dumps({"model": {"name": PAYLOADS[3]}, "payload": PAYLOADS[0], "rate": 1}))
    return dest


@pytest.fixture(scope="module")
def registry_repo(history_template: History, tmp_path_factory: pytest.TempPathFactory) -> History:
    """build_history (conftest's history_template), a decided RED run, an open needs-input, a run whose every
    text is a payload; and a dossier."""
    tmp = tmp_path_factory.mktemp("site-browser")
    cap = QuietCapture()
    with pytest.MonkeyPatch.context() as mp:
        isolate_git(mp, tmp)
        repo = copy_registry(history_template.repo, tmp / "registry")
        history = History(repo, dict(history_template.commits))
        at(mp, "2025-04-02T09:00:00Z")
        summary = " ".join(PAYLOADS)
        reg = ["register", "--repo", repo, "--phase", "B", "--summary", summary, "--next-action", PAYLOADS[4]]
        assert run(cap, *reg, "--run-id", RUN_X, "--source-dir", hostile_bundle(tmp / "x")).rc == 0  # type: ignore[arg-type]
        reg = ["register", "--repo", repo, "--phase", "B", "--allow-duplicate"]  # one example bundle, two runs
        assert run(cap, *reg, "--run-id", RUN_RED2, "--source-dir", EXAMPLES / "phase_b_red").rc == 0  # type: ignore[arg-type]
        assert run(cap, "decide", "--repo", repo, RUN_RED2, "rerun", "--reason", PAYLOADS[0]).rc == 0  # type: ignore[arg-type]
        assert run(cap, *reg, "--run-id", RUN_RED3, "--source-dir", EXAMPLES / "phase_b_red").rc == 0  # type: ignore[arg-type]
        assert run(cap, "dossier", "--run-dir", repo / "outputs" / RUN_GREEN).rc == 0  # type: ignore[arg-type]
    return history


@pytest.fixture(scope="module")
def site(registry_repo: History) -> Path:
    out = registry_repo.repo / "_site"
    build.build_site(registry_repo.repo, out)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("no playwright: pip install playwright (the dev extra has it) for the browser tests")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page(SimpleNamespace):
    pass


@pytest.fixture
def page(browser: Any, site: Path, tmp_path: Path) -> Iterator[Any]:
    """A fresh page that fails the test on any request leaving file:// (intercepted and aborted), any page
    error or console error, and any CSP violation."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.left: list[str] = []
    pg.problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            pg.left.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg.on("pageerror", lambda e: pg.problems.append(f"page error: {e}"))
    pg.on("console", lambda m: pg.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    yield pg
    assert pg.left == [], "requests left the page"
    assert pg.problems == []
    context.close()


def open_site(pg: Any, site: Path, fragment: str = "") -> None:
    pg.goto((site / "index.html").as_uri() + fragment)
    pg.wait_for_function("window.GERHARD && GERHARD.ready", timeout=30_000)


def shot(pg: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    if os.environ.get("GERHARD_SITE_SHOTS"):
        shutil.copy(path, Path(os.environ["GERHARD_SITE_SHOTS"]) / path.name)
    assert path.stat().st_size > 10_000  # a page was drawn
    return path


def shown_ids(pg: Any) -> list[str]:
    return pg.eval_on_selector_all("#tbody .tr", "rows => rows.map(r => r.dataset.id)")


def test_sort_filter_and_the_url(page: Any, site: Path, tmp_path: Path) -> None:
    open_site(page, site)
    ids = shown_ids(page)
    assert len(ids) == 8 and ids[0] == RUN_RED3 and page.text_content("#count") == "8 of 8 runs"  # newest first
    page.click('[data-col="id"]')
    assert shown_ids(page) == sorted(ids) and "sort=id" in page.url
    page.click('[data-col="gates.val_loss_max"]')
    page.click('[data-col="gates.val_loss_max"]')  # descending: the worst loss first
    assert shown_ids(page)[0] in (RUN_RED, RUN_RED2, RUN_RED3)
    page.check('input[value="RED"]')
    assert sorted(shown_ids(page)) == sorted([RUN_RED, RUN_RED2, RUN_RED3]) and "verdict=RED" in page.url
    page.uncheck('input[value="RED"]')
    page.fill('input[name="where"]', "config.lr >= 0.0005")  # config.optim.lr, found by its last part
    assert shown_ids(page) == [RUN_TUNED]
    page.fill('input[name="where"]', "config.optim.lr < 0.0005; metrics.val_loss <= 2.72")
    matching = [RUN_GREEN, RUN_A, RUN_A2]  # by val_loss_max, descending; the hostile run's config has no optim
    assert shown_ids(page) == matching
    shot(page, tmp_path, "site-table-filtered")
    linked = page.url
    page.fill('input[name="where"]', "nonsense")
    assert page.text_content("#where-error") == "cannot read 'nonsense': write KEY OP VALUE, e.g. config.lr < 0.01"
    open_site(page, site, "#" + linked.split("#", 1)[1])  # the link shows the same view
    assert shown_ids(page) == matching  # sorted as the link says
    assert page.input_value('input[name="where"]') == "config.optim.lr < 0.0005; metrics.val_loss <= 2.72"


def test_compare_three_runs_with_curves_and_a_dashed_baseline(page: Any, site: Path, tmp_path: Path) -> None:
    open_site(page, site)
    for run_id in (RUN_TUNED, RUN_RED, RUN_GREEN):
        page.check(f'.tr[data-id="{run_id}"] input.pick')
    page.click("#compare-btn")
    page.wait_for_selector('.chart[data-metric="val_loss"] canvas')
    assert f"sel={RUN_TUNED}%2C{RUN_RED}%2C{RUN_GREEN}" in page.url
    charts = page.evaluate("GERHARD.charts.map(c => ({metric: c.metric, series: c.series}))")
    val_loss = next(c for c in charts if c["metric"] == "val_loss")
    runs = [s for s in val_loss["series"] if s["runId"]]
    assert [s["runId"] for s in runs if not s["baseline"]] == [RUN_TUNED, RUN_RED]  # and the baseline, dashed:
    baseline = [s for s in runs if s["baseline"]]
    assert len(runs) == 3 and len(baseline) == 1 and baseline[0]["dash"]
    assert baseline[0]["runId"] == RUN_GREEN  # phase B's best GREEN run, selected too
    assert {s["label"] for s in val_loss["series"] if s["threshold"]} == {"gate val_loss_max",
                                                                          "gate val_loss_vs_best_green"}  # fmt: skip
    config = page.text_content("#cmp-config")
    assert "optim.lr" in config and "optim.schedule" in config
    assert "3.05 +0.4 (+15.1%)" in page.text_content("#cmp-metrics")  # val_loss: A (tuned) 2.65, RED 3.05
    shot(page, tmp_path, "site-compare")
    with page.expect_navigation():
        page.click(f'#compare a[href$="run_dossier_{RUN_GREEN}.html"]')
    assert page.url.endswith(f"/outputs/{RUN_GREEN}/run_dossier_{RUN_GREEN}.html")
    assert RUN_GREEN in page.title()


def test_program_view(page: Any, site: Path, tmp_path: Path) -> None:
    open_site(page, site, "#view=program")
    page.wait_for_selector('.phase[data-phase="B"] canvas.strip[data-runs]')
    needs = page.text_content("#needs-input")
    assert "Open needs-input (1)" in needs and RUN_RED3 in needs
    strip = page.eval_on_selector('.phase[data-phase="B"] canvas.strip', "c => [c.dataset.runs, c.dataset.decisions]")
    assert strip == ["6", "1"]  # RUN_RED2's rerun decision
    assert page.evaluate("GERHARD.charts.filter(c => c.gate === 'val_loss_max').map(c => [c.phase, c.decisions])") == [
        ["A", 0],
        ["B", 1],
    ]
    gates = page.evaluate("GERHARD.charts.map(c => c.gate)")
    assert "val_loss_max" in gates and "spike_rate_band" in gates
    shot(page, tmp_path, "site-program")


def test_the_page_compares_as_gerhard_diff_for_every_pair(page: Any, site: Path, registry_repo: History) -> None:
    """The page's diffRuns is compare.diff_runs: every ordered pair of runs, through the JSON the page reads."""
    open_site(page, site)
    root, ids = registry_repo.repo, [r for r in registry_repo.commits if " " not in r] + [RUN_X, RUN_RED2, RUN_RED3]
    assert None not in page.evaluate("ids => Promise.all(ids.map(GERHARD.runData))", ids)
    got = page.evaluate("ids => ids.flatMap(a => ids.map(b => GERHARD.diffRuns(GERHARD.runs.get(a), "
                        "GERHARD.runs.get(b))))", ids)  # fmt: skip
    want = []
    for a in ids:
        for b in ids:
            ra, rb = queries.resolve_run(root, a), queries.resolve_run(root, b)
            read = extract.file_reader(root)
            sa, sb = (extract.eval_tasks(extract.read_json(read, f"outputs/{r}/eval_suite.json")) for r in (a, b))
            want.append(json.loads(wire.dumps(compare.diff_runs(ra, rb, sa, sb).as_dict())))
    assert got == want


def test_run_text_shows_as_text_and_runs_nothing(page: Any, site: Path, tmp_path: Path) -> None:
    open_site(page, site, f"#view=compare&sel={RUN_X}%2C{RUN_GREEN}")
    page.wait_for_selector(".chart canvas")
    open_site(page, site, "#q=" + "xss")
    body = page.text_content("#tbody")
    assert PAYLOADS[0] in body  # the summary, as text
    page.fill('input[name="addcol"]', f"metrics.{PAYLOADS[1]}")
    page.dispatch_event('input[name="addcol"]', "change")
    page.goto((site / "index.html").as_uri() + f"#view=compare&sel={RUN_X}%2C{RUN_GREEN}")
    page.wait_for_function("window.GERHARD && GERHARD.ready")
    page.wait_for_selector(".chart canvas")
    text = page.text_content("#compare")
    assert PAYLOADS[0] in text and PAYLOADS[3] in text and PAYLOADS[2] in text
    shot(page, tmp_path, "site-xss")
    assert page.get_attribute("html", "data-xss") is None
    assert page.evaluate("document.querySelectorAll('iframe, svg, img, body script').length") == 0
    csp = page.get_attribute('meta[http-equiv="Content-Security-Policy"]', "content")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe" not in csp


def test_the_report_link_shows_the_report_with_run_text_as_text(page: Any, site: Path, registry_repo: History,
                                                                tmp_path: Path) -> None:  # fmt: skip
    """A report is markdown, which a browser does not render (file:// or a static host): its link opens it in
    the page, drawn from gerhard's markdown; the links in it lead into the registry."""
    open_site(page, site, "#q=xss")
    page.click(f'.tr[data-id="{RUN_X}"] a.lnk:text("report")')
    page.wait_for_selector("#report article.report")
    assert "view=report" in page.url and page.is_hidden("#runs")
    assert page.text_content("#report h2") == f"Run {RUN_X} — phase B: GREEN"
    article = page.text_content("#report article")
    assert PAYLOADS[0] in article and PAYLOADS[4] in article  # summary and next action, as text
    assert "<= 2.9" in article and "in [0.05, 0.25]" in article  # markdown escapes undone: &lt;, \[
    gates = page.eval_on_selector_all("#report table.md tr", "rows => rows.map(r => r.children[0].textContent)")
    assert "val_loss_max" in gates and "energy_ratio_advisory" in gates
    artifacts = page.get_attribute("#report article a", "href")
    assert artifacts == f"../outputs/{RUN_X}/"  # the report's ../../../outputs/<run>/, from the site's folder
    source = page.get_attribute('#report p.muted a[href$=".md"]', "href")
    report = registry_repo.repo / page.evaluate(f"GERHARD.rows.find(r => r.id === '{RUN_X}').report")
    assert (site / source).resolve() == report.resolve() and report.read_text().startswith("<!--")
    shot(page, tmp_path, "site-report")
    assert page.get_attribute("html", "data-xss") is None
    assert page.evaluate("document.querySelectorAll('iframe, svg, img, body script').length") == 0
    with page.expect_navigation():
        page.click("#report article a")
    assert page.url.endswith(f"/outputs/{RUN_X}/")


def test_csp_refuses_remote_loads_and_inline_handlers(page: Any, site: Path) -> None:
    """Even if a page bug wrote markup, the policy would stop it: a remote script and an inline handler."""
    open_site(page, site)
    page.problems.clear()
    violations = page.evaluate("""() => new Promise(resolve => {
        const seen = [];
        document.addEventListener('securitypolicyviolation', e => seen.push(e.violatedDirective));
        const s = document.createElement('script'); s.src = 'https://example.com/x.js'; document.head.append(s);
        const d = document.createElement('div'); d.innerHTML = '<img src="data:," onload="window.ran = 1">';
        document.body.append(d);
        setTimeout(() => resolve([seen, window.ran === undefined]), 500); })""")
    page.problems.clear()  # the console reports the refusals
    assert violations[1] and {"script-src-elem", "script-src-attr"} <= set(violations[0])
    page.left.clear()  # the remote script was refused by the policy before any request
