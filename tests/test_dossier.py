"""gerhard dossier: the page (sections, verdict, figures, escaping, no network) built from any bundle folder."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run
from conftest import PHASE_B_GATES
from dossier_helpers import RUN_A, RUN_B, bundle_folder, embedded, figure_titles, make_dossier
from markupsafe import escape

from gerhard import __version__, build_dossier
from gerhard.dossier.page import VIEW_LIMIT
from gerhard.errors import UserError

SECTIONS = ["summary", "gates", "figures", "metrics", "config", "provenance", "files"]


def page(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def visible(html: str) -> str:
    """The page without its embedded bundle block."""
    return re.sub(r'<script type="application/json" id="gerhard-bundle">.*?</script>', "", html, flags=re.S)


def test_sections_come_in_the_documented_order(tmp_path: Path) -> None:
    html = page(make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B"))
    header = html.index("<h1>Run")
    positions = [html.index(f'<section id="{s}">') for s in SECTIONS]
    assert header < positions[0] and positions == sorted(positions)
    assert html.index('id="gerhard-bundle"') > positions[-1]
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_without_a_registry_the_verdict_is_not_evaluated(tmp_path: Path) -> None:
    html = page(make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B"))
    assert '<span class="badge" id="verdict">not evaluated</span>' in html
    assert "not evaluated: no registry at hand (pass --repo)" in html
    assert "No gate results" in html


def test_evaluated_against_the_registry_program(registry: Path, tmp_path: Path) -> None:
    green = page(make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B", repo_root=registry))
    assert '<span class="badge GREEN" id="verdict">GREEN</span>' in green
    assert "evaluated against state/program.yaml (phase B)" in green
    assert "Next action (suggested):</strong> All blocking and advisory gates passed" in green
    red = page(make_dossier(bundle_folder(tmp_path / "r", "phase_b_red", RUN_B), phase="B", repo_root=registry))
    assert '<span class="badge RED" id="verdict">RED</span>' in red
    gate_rows = re.findall(r'<td><span class="mono">([a-z_]+)</span>', red)
    assert gate_rows == PHASE_B_GATES
    assert red.count('<span class="fail">FAIL</span>') >= 1 and "Validation loss after spiking conversion." in red


def test_a_bundle_that_fails_validation_still_gets_a_dossier(registry: Path, tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_a_green", RUN_A)
    html = page(make_dossier(folder, phase="B", repo_root=registry))  # phase B needs more files
    assert "not evaluated: bundle" in html and "is missing eval_suite.json" in html
    assert "not evaluated: unknown phase &#39;Z&#39;" in page(make_dossier(folder, phase="Z", repo_root=registry))


def test_an_archived_run_shows_its_registered_verdict(
    registry: Path, bundle_b_red: Path, bundle_a: Path, capsys
) -> None:
    run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", bundle_a)
    rc = run(
        capsys,
        "register",
        "--repo",
        registry,
        "--run-id",
        RUN_B,
        "--phase",
        "B",
        "--source-dir",
        bundle_b_red,
        "--summary",
        "red <b>run</b>",
        "--next-action",
        "fix the kernel",
    ).rc
    assert rc == 0
    archive = registry / "outputs" / RUN_B
    path = build_dossier(archive)  # no phase, no run id, no repo: all found from outputs/<run_id>/
    html = page(path)
    assert path == archive / f"run_dossier_{RUN_B}.html"
    assert 'registered <span class="badge RED">RED</span>' in html
    assert '<span class="badge RED" id="verdict">RED</span>' in html
    assert "red &lt;b&gt;run&lt;/b&gt;" in html and "fix the kernel" in html and "(suggested)" not in html
    doc = embedded(path)
    assert doc["phase"] == "B" and doc["run_id"] == RUN_B and doc["summary"] == "red <b>run</b>"
    assert "MANIFEST" not in {f["path"] for f in doc["files"]}
    with pytest.raises(UserError, match=f"run {RUN_B} is registered as phase B, not A: drop --phase"):
        build_dossier(archive, phase="A")


def _register_red_then_green_b(registry: Path, bundle_a: Path, red: Path, green: Path, capsys) -> Path:
    for run_id, phase, folder in ((RUN_A, "A", bundle_a), (RUN_B, "B", red), ("b_green", "B", green)):
        result = run(
            capsys, "register", "--repo", registry, "--run-id", run_id, "--phase", phase, "--source-dir", folder
        )
        assert result.rc == 0, result.err
    return registry / "outputs" / RUN_B


def test_an_archived_run_shows_the_gates_it_was_registered_with(
    registry: Path, bundle_a: Path, bundle_b_red: Path, bundle_b_green: Path, capsys
) -> None:
    # A GREEN run registered later is now the best_green baseline; re-evaluated, the RED run's
    # relative gate would fail and the table would contradict its registered "2/6 gates passed".
    html = page(build_dossier(_register_red_then_green_b(registry, bundle_a, bundle_b_red, bundle_b_green, capsys)))
    assert "(2/6 gates passed," in html and "evaluated now" in html
    row = html[html.index('<span class="mono">val_loss_vs_best_green</span>') :].split("</tr>")[0]
    assert "best_green (none yet)" in row and '<span class="pass">pass</span>' in row
    assert "No regression against the best GREEN phase-B run." in row  # descriptions still come from program.yaml


def test_an_archived_run_whose_phase_is_gone_from_the_program_shows_its_registered_gates(
    registry: Path, bundle_a: Path, bundle_b_red: Path, bundle_b_green: Path, capsys
) -> None:
    archive = _register_red_then_green_b(registry, bundle_a, bundle_b_red, bundle_b_green, capsys)
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text().replace("- id: B\n", "- id: B2\n", 1))
    html = page(build_dossier(archive))
    assert "not evaluated: unknown phase &#39;B&#39;" in html
    assert html.count('<span class="fail">FAIL</span>') == 3 and '<span class="mono">spike_rate_band</span>' in html
    assert html.count('<span class="warn">WARN</span>') == 1  # the advisory energy gate, as report.md says


def test_a_run_registered_with_other_content_is_noted(registry: Path, bundle_a: Path, tmp_path: Path, capsys) -> None:
    run(capsys, "register", "--repo", registry, "--run-id", RUN_A, "--phase", "A", "--source-dir", bundle_a)
    folder = bundle_folder(tmp_path, "phase_a_green", RUN_A)
    (folder / "seed.txt").write_text("7\n")
    html = page(make_dossier(folder, phase="A", repo_root=registry))
    assert f"a run {RUN_A} is registered with other content" in html and "registered <span" not in html


def test_figures_are_embedded_pngs(tmp_path: Path) -> None:
    html = page(make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B"))
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 3  # curves, eval suite, spike rate per layer
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert figure_titles(html) == ["Training and validation curves", "Eval suite", "layers in v15_spikingbrain.json"]


def test_nothing_is_loaded_from_the_network(tmp_path: Path) -> None:
    html = visible(page(make_dossier(bundle_folder(tmp_path, "phase_b_green", RUN_B), phase="B")))
    assert re.findall(r'(?:src|href)="([^"]*)"', html) == [s for s in re.findall(r'src="([^"]*)"', html)]
    assert all(s.startswith("data:") for s in re.findall(r'src="([^"]*)"', html))
    for needle in ("<link", "@import", "url(", "http://", "https://", "<script src", "@font-face"):
        assert needle not in html, needle
    assert "default-src 'none'; img-src data:; style-src 'unsafe-inline'" in html


def test_final_metrics_config_and_provenance_tables(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    html = page(make_dossier(folder, phase="B"))
    assert '<td class="mono">val_loss</td><td class="mono">2.72</td>' in html
    assert '<td class="mono">model.d_model</td><td class="mono">512</td>' in html
    assert '<td class="mono">model.spiking</td><td class="mono">true</td>' in html
    from gerhard.registry.bundle import sha256_file

    assert f"config.yaml sha256 <code>{sha256_file(folder / 'config.yaml')}</code>" in html
    assert "# ASNN-Goose v15 training config" in html  # config.yaml as written
    prov = html[html.index('<section id="provenance">') :]
    assert prov.index("code_sha") < prov.index("dirty") < prov.index("gpu") < prov.index("started_at")
    assert "NVIDIA A100-SXM4-40GB" in prov


def test_every_file_is_listed_with_its_hash_and_viewable(tmp_path: Path) -> None:
    from gerhard.registry.bundle import load_bundle

    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    html = page(make_dossier(folder, phase="B"))
    files = html[html.index('<section id="files">') :]
    for f in load_bundle(folder).files:
        assert f'<td class="mono">{f.path}</td>' in files and f'<td class="mono">{f.sha256}</td>' in files
        assert f'<details><summary class="mono">{f.path}</summary>' in files
    assert str(escape((folder / "eval_suite.json").read_text())) in files


def test_a_long_history_is_decimated_but_embedded_whole(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    history = [{"step": i, "train_loss": 5 - i / 4000, "val_loss": 5.1 - i / 4000, "lr": 3e-4} for i in range(10_000)]
    (folder / "metrics.json").write_text(json.dumps({"final": {"val_loss": 2.6}, "history": history}, indent=4))
    assert (folder / "metrics.json").stat().st_size > VIEW_LIMIT
    path = make_dossier(folder, phase="B")
    html = page(path)
    assert "10,000 logged steps; drawn from" in html
    entry = {f["path"]: f for f in embedded(path)["files"]}["metrics.json"]
    assert json.loads(entry["data"])["history"] == history
    assert "too large to show here" in html  # the 1 MiB+ file is not shown inline, only embedded


def test_any_folder_makes_a_dossier(tmp_path: Path) -> None:
    folder = tmp_path / "odd_run"
    folder.mkdir()
    (folder / "notes.txt").write_text("just notes\n")
    (folder / "metrics.json").write_text("{not json")
    html = page(make_dossier(folder))
    assert "No figures" in html and "metrics.json is not valid JSON" in html
    assert "No config" in html and "No provenance: no provenance.json in the bundle" in html
    assert "Phase <strong>not given</strong>" in html
    assert "not evaluated: no registry at hand" in html


def test_run_id_comes_from_the_option_or_the_folder(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_a_green", RUN_A)
    assert make_dossier(folder).name == f"run_dossier_{RUN_A}.html"
    out = make_dossier(folder, run_id="20261101T090000Z_renamed", output=tmp_path)
    assert out == tmp_path / "run_dossier_20261101T090000Z_renamed.html"
    assert embedded(out)["run_id"] == "20261101T090000Z_renamed"
    spaced = folder.rename(tmp_path / "my run (1)")
    with pytest.raises(UserError, match=r"the folder name 'my run \(1\)' is not a usable run id: pass --run-id"):
        make_dossier(spaced)
    with pytest.raises(UserError, match="run id '../x' is not safe"):
        make_dossier(spaced, run_id="../x")


def test_output_file(tmp_path: Path) -> None:
    folder = bundle_folder(tmp_path, "phase_a_green", RUN_A)
    out = make_dossier(folder, output=tmp_path / "report.html")
    assert out == tmp_path / "report.html" and not (folder / f"run_dossier_{RUN_A}.html").exists()
    assert f"gerhard register --dossier run_dossier_{RUN_A}.html" in page(out)
    assert f"Built by gerhard {__version__}.</p>" in page(out)


BUILD = """
import sys
from gerhard.dossier.page import build_dossier
build_dossier(sys.argv[1], phase="B", repo_root=sys.argv[2], output=sys.argv[3], summary="s", next_action="n")
"""


def test_building_twice_gives_the_same_bytes(registry: Path, tmp_path: Path) -> None:
    """No clock and no PNG metadata in the page, nothing that depends on hashing order or the process:
    so the dossier gerhard archives can be compared with a downloaded one byte for byte."""
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    first = make_dossier(folder, "B", repo_root=registry, summary="s", next_action="n", output=tmp_path / "1.html")
    for seed in ("1", "2"):
        out = tmp_path / f"{seed}-{seed}.html"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run([sys.executable, "-c", BUILD, folder, registry, out], check=True, env=env)
        assert out.read_bytes() == first.read_bytes()
    again = make_dossier(folder, "B", repo_root=registry, summary="s", next_action="n", output=tmp_path / "2.html")
    assert again.read_bytes() == first.read_bytes()
    pngs = [base64.b64decode(src) for src in re.findall(r'src="data:image/png;base64,([^"]*)"', page(first))]
    assert len(pngs) == 3 and not any(b"tIME" in png or b"Software" in png for png in pngs)


def test_summary_that_is_not_utf8_on_the_command_line_is_replaced(tmp_path: Path) -> None:
    path = make_dossier(bundle_folder(tmp_path, "phase_a_green", RUN_A), summary="bad \udcff byte")
    assert embedded(path)["summary"] == "bad ? byte"


def test_cli_dossier(tmp_path: Path, registry: Path, capsys) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    result = run(capsys, "dossier", "--run-dir", folder, "--phase", "B", "--repo", registry, "--summary", "s1")
    assert result.rc == 0 and result.out.strip() == str(folder / f"run_dossier_{RUN_B}.html")
    assert embedded(folder / f"run_dossier_{RUN_B}.html")["summary"] == "s1"
    result = run(capsys, "dossier", "--run-dir", folder, "--embed-limit-mb", "0.001", "-o", tmp_path / "small.html")
    assert result.rc == 0 and "Not embedded" in page(tmp_path / "small.html")


def test_cli_dossier_finds_the_registry_it_stands_in(
    tmp_path: Path, registry: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = bundle_folder(tmp_path, "phase_b_green", RUN_B)
    monkeypatch.chdir(registry)
    assert run(capsys, "dossier", "--run-dir", folder, "--phase", "B").rc == 0
    assert '<span class="badge GREEN" id="verdict">GREEN</span>' in page(folder / f"run_dossier_{RUN_B}.html")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--run-dir", "missing"], ["source dir missing does not exist"]),
        (["--run-dir", "."], ["is not a usable run id: pass --run-id"]),
        (["--run-dir", "bundle", "--repo", "."], ["no state/program.yaml in .: pass --repo"]),
    ],
)
def test_cli_dossier_errors_are_one_line(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, args: list[str], words: list[str]
) -> None:
    bundle_folder(tmp_path, "phase_a_green", "bundle")
    monkeypatch.chdir(tmp_path / "notebook")
    if args == ["--run-dir", "."]:
        monkeypatch.chdir(tmp_path / "notebook" / "bundle")
        (tmp_path / "notebook" / "bundle").rename(tmp_path / "notebook" / "bad name")
        monkeypatch.chdir(tmp_path / "notebook" / "bad name")
    assert_one_line_error(run(capsys, "dossier", *args), "gerhard dossier: error:", *words)
