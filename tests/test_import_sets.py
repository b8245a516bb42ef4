"""What each command imports (issue 19): heavy libraries load only where a command needs them, so the
everyday commands start in about the time Python takes. Timings live in benchmarks/; this pins the sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import register_ok

from gerhard.dossier.page import build_dossier

CHECKOUT = Path(__file__).resolve().parent.parent
HEAVY = {"jsonschema", "referencing", "ruamel", "jinja2", "markupsafe", "matplotlib", "fsspec", "filelock"}
HEAVY |= {"numpy", "torch", "tqdm", "transformers", "lightning", "IPython", "nbclient"}

IMPORTS = """
import contextlib, io, json, sys
from gerhard.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
print(json.dumps([code, sorted({m.split(".")[0] for m in sys.modules})]))
"""


def imported(repo: Path, *argv: str | Path, among: set[str] = HEAVY) -> set[str]:
    # This checkout's gerhard (not an installed copy elsewhere), and nothing else from PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(CHECKOUT)}
    out = subprocess.run(
        [sys.executable, "-c", IMPORTS, *map(str, argv)], cwd=repo, capture_output=True, text=True, env=env, check=True
    )
    code, modules = json.loads(out.stdout.splitlines()[-1])
    assert code in (0, None), out.stderr
    return set(modules) & among


@pytest.fixture
def one_run(registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    return registry


def test_help_imports_nothing_heavy(registry: Path) -> None:
    assert imported(registry, "--help") == set()
    assert imported(registry, "register", "--help") == set()
    # Nor typing or pathlib (the parser builds the one subcommand parsed; a path argument loads pathlib).
    assert imported(registry, "--help", among={"typing", "pathlib"}) == set()


def test_status_and_list_import_nothing_heavy_once_their_files_were_read(one_run: Path) -> None:
    imported(one_run, "status")  # the first read parses and caches (store.parsed_cached)
    assert imported(one_run, "status") == set()
    assert imported(one_run, "list") == set()


def test_show_imports_no_renderer_lock_or_remote(one_run: Path) -> None:
    imported(one_run, "show", "latest")
    assert imported(one_run, "show", "latest") == set()


def test_register_imports_no_plotting_remote_or_framework(one_run: Path, bundle_b_green: Path) -> None:
    """No template engine (reports are plain formatting), no filelock (the registry lock is a flock), no
    jsonschema (quickschema vouches for the bundle's and the state's valid files); ruamel reads the
    bundle's config.yaml."""
    loaded = imported(one_run, "register", "--run-id", "b1", "--phase", "B", "--source-dir", bundle_b_green)
    assert loaded <= {"ruamel"}


def test_register_from_a_dossier_built_with_the_registry_draws_nothing(one_run: Path, bundle_b_green: Path) -> None:
    """Its figures are those gerhard drew for this registry (gerhard.dossier.drawn): no matplotlib."""
    dossier = build_dossier(bundle_b_green, "B", one_run.parent / "b1.html", "b1", one_run)
    assert "matplotlib" not in imported(one_run, "register", "--dossier", dossier)
