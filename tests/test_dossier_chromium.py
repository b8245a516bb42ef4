"""The dossier in a real headless Chromium: no script from the run ever runs, and the figures render.

Every payload, if it ran, would mark the page (an attribute on <html>, the title). Chromium's
--dump-dom prints the DOM after scripts ran and timers settled (--virtual-time-budget), so a
mark in the dump means a payload ran. A control page with the same payloads unescaped proves the
detector sees execution. Skipped, with the reason, only when no Chromium can be started.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dossier_helpers import RUN_B, bundle_folder, make_dossier, real_log_bundle

from gerhard.dossier import figures

MARK = "document.documentElement.setAttribute('data-xss','ran');document.title='XSS'"
PAYLOADS = [
    f"<script>{MARK}</script>",
    f"</script><script>{MARK}</script>",
    f"</SCRIPT ><script>{MARK}</script>",
    f'<img src=x onerror="{MARK}">',
    f'"><img src=x onerror="{MARK}">',
    f'\'><svg onload="{MARK}">',
    f"<!--<script>{MARK}</script>-->",
    f'<details open ontoggle="{MARK}">',
    f'<body onload="{MARK}">',
    f'<iframe srcdoc="<script>parent.{MARK}</script>"></iframe>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{MARK}">',
    f"\u2028\u2029</script>\u2028<script>{MARK}</script>",
    "{{ 7 * 7 }}{% raw %}",
]
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=3000",
]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium"):
        exe = shutil.which(name)
        if exe:
            probe = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
            if probe.returncode == 0:
                return exe
    pytest.skip("no Chromium to run: install Debian's chromium (apt-get install -y chromium) for the browser tests")


@pytest.fixture(scope="module")
def chromium() -> str:
    return find_chromium()


def browse(chromium: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium on one page, with a fresh profile and no network of its own."""
    env = dict(os.environ, HOME=str(profile))
    cmd = [chromium, *BROWSER_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)


def dump_dom(chromium: str, page: Path, tmp_path: Path) -> str:
    result = browse(chromium, page, tmp_path / f"profile-{page.stem}", "--dump-dom")
    assert result.returncode == 0 and "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def hostile_bundle(tmp_path: Path) -> Path:
    """Phase B bundle whose every run-provided text is a script-injection payload."""
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["final"].update({p: 1.0 for p in PAYLOADS})
    metrics["history"] = [dict(row, **{PAYLOADS[0]: 0.5}) for row in metrics["history"]]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    suite = json.loads((folder / "eval_suite.json").read_text())
    suite["suite"] = PAYLOADS[1]
    suite["tasks"] += [{"name": p, "score": 0.1, "threshold": 0.5, "passed": False} for p in PAYLOADS]
    (folder / "eval_suite.json").write_text(json.dumps(suite))
    spikes = json.loads((folder / "v15_spikingbrain.json").read_text())
    spikes["layers"] += [{"name": p, "spike_rate": 0.2} for p in PAYLOADS]
    spikes["model"] = PAYLOADS[3]
    (folder / "v15_spikingbrain.json").write_text(json.dumps(spikes))
    prov = json.loads((folder / "provenance.json").read_text())
    prov.update(gpu=PAYLOADS[4], host_kind=PAYLOADS[5], **{PAYLOADS[6]: PAYLOADS[7]})
    (folder / "provenance.json").write_text(json.dumps(prov))
    config = {"model": {"name": PAYLOADS[9]}, **{p: i for i, p in enumerate(PAYLOADS)}, "payloads": PAYLOADS}
    (folder / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    (folder / "notes.txt").write_text("\n".join(PAYLOADS))
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    summary, next_action = " ".join(PAYLOADS), PAYLOADS[2]
    return make_dossier(hostile_bundle(tmp), phase=PAYLOADS[8], summary=summary, next_action=next_action)


def assert_nothing_ran(dom: str) -> None:
    html_tag = re.search(r"<html[^>]*>", dom)
    assert html_tag is not None and "data-xss" not in html_tag.group(), html_tag
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and htmllib.unescape(title.group(1)) == f"Run {RUN_B} — gerhard dossier"
    assert dom.count("<script") == 1  # only the inert bundle block
    # Elements a payload would have made (as text they appear as &lt;..., which is fine).
    for tag in ("<svg", "<iframe", "<details open", "<body onload", '<meta http-equiv="refresh"', '<img src="x"'):
        assert tag not in dom, tag


def test_control_page_shows_the_detector_sees_a_payload_run(chromium: str, tmp_path: Path) -> None:
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>control</title></head><body>{PAYLOADS[3]}</body></html>")
    dom = dump_dom(chromium, control, tmp_path)
    assert 'data-xss="ran"' in dom and "<title>XSS</title>" in dom


def test_no_payload_runs_in_the_dossier(chromium: str, hostile: Path, tmp_path: Path) -> None:
    dom = dump_dom(chromium, hostile, tmp_path)
    assert_nothing_ran(dom)
    assert "{{ 7 * 7 }}{% raw %}" in dom  # run text is data, never template code
    assert htmllib.escape(PAYLOADS[0], quote=False) in dom  # shown as text


def test_escaping_alone_holds_without_the_content_security_policy(chromium: str, hostile: Path, tmp_path: Path) -> None:
    """The CSP is a second wall; take it away and still nothing runs."""
    html = hostile.read_text(encoding="utf-8")
    bare = tmp_path / "no_csp.html"
    bare.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html), encoding="utf-8")
    assert "Content-Security-Policy" not in bare.read_text(encoding="utf-8")
    assert_nothing_ran(dump_dom(chromium, bare, tmp_path))


def test_the_browser_reads_the_embedded_bundle_exactly(chromium: str, hostile: Path, tmp_path: Path) -> None:
    """The HTML parser hands the whole block to JSON.parse: nothing in the payloads ends it early."""
    probe = (
        "<script>const d=JSON.parse(document.getElementById('gerhard-bundle').textContent);"
        "const n=d.files.find(f=>f.path==='notes.txt');"
        "document.documentElement.setAttribute('data-files',String(d.files.length));"
        "document.documentElement.setAttribute('data-notes',n.data);</script>"
    )
    html = hostile.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace("</body>", probe + "</body>")
    checked = tmp_path / "probe.html"
    checked.write_text(html, encoding="utf-8")
    tag = re.search(r"<html[^>]*>", dump_dom(chromium, checked, tmp_path))
    assert tag is not None
    attrs = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', tag.group()))
    assert attrs["data-files"] == "7"
    assert htmllib.unescape(attrs["data-notes"]) == "\n".join(PAYLOADS)


def test_the_page_renders_its_figures(chromium: str, tmp_path: Path) -> None:
    from PIL import Image

    page = make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B")
    shot = tmp_path / "shot.png"
    result = browse(chromium, page, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,3200")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 3200)
    colors = image.getcolors(maxcolors=1 << 20) or []
    assert len(colors) > 200  # not a blank page
    counts = {rgb: n for n, rgb in colors}
    figure_pass_green, figure_bar_blue = (0x2E, 0x7D, 0x32), (0x1F, 0x5F, 0xA8)  # only the figures use these
    assert counts.get(figure_pass_green, 0) > 5000, "the eval-suite chart did not render"
    assert counts.get(figure_bar_blue, 0) > 5000, "the spike-rate chart did not render"
    assert counts.get((0xFF, 0xFF, 0xFF), 0) < 0.98 * 1200 * 3200


def test_figures_of_real_logs_fit_the_page(chromium: str, registry: Path, tmp_path: Path) -> None:
    """A dossier of what real tools write (dossier_helpers.real_log_bundle: HF log_history, lm-eval tasks, the
    notebook's layers), evaluated against a registry so the gates draw their legends, in Chromium through Playwright:
    exactly three figures, each decoded at the size it was drawn and shown at the page's width (the legends beside
    the axes make nothing spill sideways), and each screenshot drawn (tmp_path/figure-<i>.png, to look at)."""
    from PIL import Image

    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")
    page = make_dossier(real_log_bundle(tmp_path), "B", repo_root=registry)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_page(viewport={"width": 1200, "height": 900})
        pg.goto(page.resolve().as_uri())
        shown = pg.eval_on_selector_all(
            "figure",
            """figures => figures.map(f => {
                 const img = f.querySelector('img'), title = f.querySelector('figcaption strong').textContent;
                 return [title, img.complete, img.naturalWidth, img.getBoundingClientRect().width]; })""",
        )
        widths = pg.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        shots = [tmp_path / f"figure-{i}.png" for i in range(len(shown))]
        for element, shot in zip(pg.query_selector_all("figure"), shots, strict=True):
            element.screenshot(path=str(shot))
        browser.close()
    titles = ["Training and validation curves.", "Eval suite.", "layers in v15_spikingbrain.json."]
    drawn_width = figures.PAGE_WIDTH_PX * figures.DPI // figures.PX_PER_INCH
    assert shown == [[title, True, drawn_width, figures.PAGE_WIDTH_PX] for title in titles]
    assert widths[0] <= widths[1]  # no horizontal scroll
    for shot in shots:
        assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20) or []) > 100, shot  # not blank
