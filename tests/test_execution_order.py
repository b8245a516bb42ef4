"""The clean-execution-order check in a real Jupyter kernel (ipykernel, driven by nbclient cell by cell).

A notebook of four code cells is executed in a chosen order; its last cell asks
gerhard.capture.provenance.execution_order() what it saw. The end-to-end case registers a phase-B run made
with a re-executed cell and finds the blocking clean_execution_order gate failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import load_yaml, register_ok

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install gerhard[notebook])")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install gerhard[notebook])")
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install gerhard[notebook])")

CELLS = [
    "import json\nimport gerhard.capture.provenance as provenance",
    "x = 1",
    "y = 2",
    "order = provenance.execution_order()\nprint(json.dumps({'ok': order.ok, **order.as_dict()}))",
]


def execute(tmp_path: Path, order: list[int], cells: list[str] = CELLS) -> list[Any]:
    """Run the notebook's cells in `order` in one fresh kernel; the outputs of each execution."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / "order.ipynb"
    nbformat.write(nb, path)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    outputs = []
    with client.setup_kernel():
        for i in order:
            cell = nb.cells[i]
            client.execute_cell(cell, i)
            outputs.append(list(cell.outputs))
    return outputs


def verdict(outputs: list[Any]) -> dict[str, Any]:
    text = "".join(o.get("text", "") for o in outputs[-1] if o.get("output_type") == "stream")
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture
def notebook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GERHARD_NOTEBOOK", str(tmp_path / "order.ipynb"))  # the kernel inherits it
    return tmp_path


def test_top_to_bottom_in_a_fresh_kernel_is_clean(notebook_env: Path) -> None:
    seen = verdict(execute(notebook_env, [0, 1, 2, 3]))
    assert seen == {
        "ok": True,
        "kind": "notebook",
        "checked_against": str(notebook_env / "order.ipynb"),
        "problems": [],
    }


def test_a_re_executed_cell_is_caught(notebook_env: Path) -> None:
    seen = verdict(execute(notebook_env, [0, 1, 1, 2, 3]))
    assert seen["ok"] is False
    assert seen["problems"] == ["cell 'x = 1' ran 2 times"]


def test_an_out_of_order_execution_is_caught(notebook_env: Path) -> None:
    seen = verdict(execute(notebook_env, [0, 2, 1, 3]))
    assert seen["ok"] is False
    assert seen["problems"] == ["cell 3 ran before cell 2", "cell 2 ran after cell 3"]


def test_a_cell_edited_after_saving_is_caught(notebook_env: Path) -> None:
    patched = [CELLS[0], "x = 2  # patched after the save", CELLS[2], CELLS[3]]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbformat.write(nb, notebook_env / "order.ipynb")  # the saved notebook still has x = 1
    run_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in patched])
    client = nbclient.NotebookClient(run_nb, timeout=120, kernel_name="python3")
    with client.setup_kernel():
        for i in range(4):
            client.execute_cell(run_nb.cells[i], i)
    seen = verdict([run_nb.cells[3].outputs])
    assert seen["ok"] is False
    assert (
        seen["problems"][0]
        == "cell 'x = 2  # patched after the save' is not in the saved notebook (edited? save, restart, run all)"
    )


def test_without_the_notebook_file_only_repeats_are_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GERHARD_NOTEBOOK", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    out_of_order = verdict(execute(tmp_path, [0, 2, 1, 3]))
    assert out_of_order["ok"] is True and "kernel's history only" in out_of_order["checked_against"]
    repeated = verdict(execute(tmp_path, [0, 1, 1, 2, 3]))
    assert repeated["ok"] is False and repeated["problems"] == ["cell 'x = 1' ran 2 times"]


def test_a_run_with_a_re_executed_cell_fails_the_phase_b_gate(
    registry: Path, bundle_a: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("GERHARD_NOTEBOOK", str(work / "order.ipynb"))
    cells = [
        "import gerhard",
        f"run = gerhard.start_run('patched', 'B', {{'lr': 0.1}}, 3, repo_root={str(registry)!r}, run_id='b1', "
        "dossier=False, download=False)",
        "for step in range(3):\n    run.log_metrics({'train_loss': 2.0 - step * 0.1, 'val_loss': 2.1}, step=step)",
        "for task in ('copy', 'sort'):\n    run.log_eval(task, score=0.9, threshold=0.5)\n"
        "run.save_artifact('v15_spikingbrain.json', {'model': 'm', 'spike_rate': {'mean': 0.1}, 'energy_ratio': 0.3,"
        " 'layers': [{'name': 'l0', 'spike_rate': 0.1}]})",
        "result = run.finish(summary='a cell ran twice')\nprint(result.verdict)",
    ]
    outputs = execute(work, [0, 0, 1, 2, 3, 4], cells)
    stderr = "".join(o.get("text", "") for out in outputs for o in out if o.get("name") == "stderr")
    assert "WARNING" in stderr and "ran 2 times" in stderr
    record = load_yaml(registry / "state" / "runs" / "b1.yaml")
    gates = {g["id"]: g for g in record["gates"]}
    assert record["verdict"] == "RED"
    assert gates["clean_execution_order"]["passed"] is False
    assert [g for g, v in gates.items() if not v["passed"]] == ["clean_execution_order"]
    provenance = json.loads((registry / "outputs" / "b1" / "provenance.json").read_text())
    assert provenance["execution_order_ok"] is False
    assert provenance["execution"]["problems"] == ["cell 'import gerhard' ran 2 times"]
