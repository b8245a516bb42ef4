"""gerhard.registry.registry: one open registry per change (the lock, a crashed transaction settled, the
program and status loaded once), and the registration built on it: the gates evaluated once, after the
idempotency check, with the archived dossier showing that very evaluation."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import register, register_ok
from dossier_helpers import RUN_B, bundle_folder, make_dossier

from gerhard.core import gates
from gerhard.dossier import page
from gerhard.flows import registration
from gerhard.registry import store
from gerhard.registry.registry import Registry


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often the gates are evaluated, the program is loaded and a dossier page is rendered."""
    calls: Counter[str] = Counter()

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(registration, "evaluate_gates", counting("gates", gates.evaluate_gates))
    monkeypatch.setattr(page, "evaluate_gates", counting("gates", gates.evaluate_gates))
    monkeypatch.setattr(store, "load_program", counting("program", store.load_program))
    monkeypatch.setattr(page, "render_page", counting("page", page.render_page))
    return calls


def test_a_registration_loads_the_program_and_evaluates_the_gates_once(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str], counted: Counter[str]
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    assert counted == Counter(gates=1, program=1)


def test_the_archived_dossier_shows_the_registrations_own_evaluation(
    registry: Path, bundle_a: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], counted: Counter[str]
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    folder = bundle_folder(tmp_path, "phase_b_red", RUN_B)
    make_dossier(folder, phase="B")
    counted.clear()
    result = register(capsys, registry, RUN_B, "B", folder)
    assert result.rc == 0, result.err
    assert counted == Counter(gates=1, program=1, page=1)
    archived = (registry / "outputs" / RUN_B / f"run_dossier_{RUN_B}.html").read_bytes()
    assert b'<span class="badge RED" id="verdict">RED</span>' in archived


def test_registering_again_is_decided_before_anything_is_evaluated(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], counted: Counter[str]
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_folder(tmp_path, "phase_a_green", "a1"))
    folder = bundle_folder(tmp_path / "again", "phase_a_green", "a1")
    make_dossier(folder, phase="A")
    counted.clear()
    again = register(capsys, registry, "a1", "A", folder)
    assert again.rc == 0, again.err
    assert "already registered (no change)" in again.out
    assert counted == Counter(program=1)  # no gates evaluated, no page rendered


TRY_LOCK = """
import sys
from pathlib import Path
from gerhard.errors import GerhardError
from gerhard.git.lock import registry_lock
try:
    with registry_lock(Path(sys.argv[1]), timeout=0.1):
        print("got it")
except GerhardError as e:
    print(e)
"""


def another_process_locks(registry: Path) -> str:
    return subprocess.run(
        [sys.executable, "-c", TRY_LOCK, str(registry)], capture_output=True, text=True, check=True
    ).stdout


def test_locked_holds_the_registry_lock_and_loads_lazily(registry: Path, counted: Counter[str]) -> None:
    with Registry.locked(registry / "state") as opened:  # any folder inside the work tree
        assert opened.root == registry
        assert counted == Counter()
        assert opened.program is opened.program and opened.status is opened.status
        assert counted == Counter(program=1)
        assert "another gerhard command" in another_process_locks(registry)
    assert another_process_locks(registry) == "got it\n"  # released on leaving
