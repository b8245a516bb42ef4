"""State files parsed once: program.yaml's and each run record's validated form cached in the git dir by
content, so ruamel and jsonschema are not even imported for text seen before, and any change is seen at once."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import load_yaml, register_ok

from gerhard.registry import store

LOAD = """
import json, sys
from pathlib import Path
from gerhard.registry import store
program = store.load_program(Path(sys.argv[1]))
print(json.dumps([program.name, program.phase_ids, "ruamel.yaml" in sys.modules, "jsonschema" in sys.modules]))
"""


def load_in_a_new_process(root: Path) -> list[object]:
    out = subprocess.run([sys.executable, "-c", LOAD, str(root)], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def cached(root: Path) -> list[Path]:
    folder = root / ".git" / store.CACHE_DIR / "program"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_an_unchanged_program_loads_without_yaml_or_jsonschema(registry: Path) -> None:
    first = load_in_a_new_process(registry)
    assert first[2:] == [True, True] and len(cached(registry)) == 1
    assert load_in_a_new_process(registry) == [*first[:2], False, False]


def test_an_edited_program_is_parsed_and_validated_again(registry: Path) -> None:
    load_in_a_new_process(registry)
    program = registry / "state" / "program.yaml"
    program.write_text(program.read_text().replace("program: ", "program: renamed-", 1))
    again = load_in_a_new_process(registry)
    assert str(again[0]).startswith("renamed-") and again[2:] == [True, True]
    assert len(cached(registry)) == 2
    assert store.load_program(registry).name == again[0]


def test_a_damaged_cache_entry_is_parsed_again(registry: Path) -> None:
    expected = store.load_program(registry)
    (entry,) = cached(registry)
    entry.write_text("{not json")
    assert store.load_program(registry) == expected
    assert json.loads(entry.read_text())["program"] == expected.name


def test_the_cache_is_never_committed(registry: Path) -> None:
    store.load_program(registry)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=registry, capture_output=True, text=True)
    assert status.stdout == ""


STATUS = """
import json, sys
from pathlib import Path
from gerhard.registry import store
status = store.load_status(Path(sys.argv[1]))
print(json.dumps([status, "ruamel.yaml" in sys.modules, "jsonschema" in sys.modules]))
"""


def test_the_status_read_again_needs_neither_yaml_nor_jsonschema(
    registry: Path, bundle_a: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    run = [sys.executable, "-c", STATUS, str(registry)]
    first = json.loads(subprocess.run(run, capture_output=True, text=True, check=True).stdout)
    again = json.loads(subprocess.run(run, capture_output=True, text=True, check=True).stdout)
    assert first[0]["run_count"] == 1 and first[1] is True
    assert again == [first[0], False, False]


def test_no_cache_outside_a_git_work_tree(tmp_path: Path, registry: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "state").mkdir(parents=True)
    (plain / "state" / "program.yaml").write_bytes((registry / "state" / "program.yaml").read_bytes())
    assert store.load_program(plain) == store.load_program(registry)
    assert not (plain / ".git").exists()


READ_RECORD = """
import json, sys
from pathlib import Path
from gerhard.registry import store
record = store.read_record(Path(sys.argv[1]), sys.argv[2])
print(json.dumps([record.as_dict(), "ruamel.yaml" in sys.modules, "jsonschema" in sys.modules]))
"""


def read_in_a_new_process(root: Path, run_id: str) -> list[object]:
    out = subprocess.run(
        [sys.executable, "-c", READ_RECORD, str(root), run_id], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


def test_a_record_read_again_needs_neither_yaml_nor_jsonschema(registry: Path, bundle_a: Path, capsys) -> None:
    register_ok(capsys, registry, "a1", "A", bundle_a)
    first = read_in_a_new_process(registry, "a1")
    assert first[1] is True  # parsed (jsonschema only when the record is not certainly valid)
    assert read_in_a_new_process(registry, "a1") == [first[0], False, False]
    assert first[0] == load_yaml(registry / "state" / "runs" / "a1.yaml")


def test_a_record_json_cannot_hold_is_read_right_and_not_cached(registry: Path, bundle_a: Path, capsys) -> None:
    metrics = json.loads((bundle_a / "metrics.json").read_text())
    metrics["final"]["diverged"] = float("nan")  # a NaN: JSON gives back a value unequal to itself
    (bundle_a / "metrics.json").write_text(json.dumps(metrics))
    register_ok(capsys, registry, "a1", "A", bundle_a)
    store.read_record(registry, "a1")
    record = store.read_record(registry, "a1")
    assert record is not None and math.isnan(record.metrics["diverged"])
    assert not (registry / ".git" / store.CACHE_DIR / "records").is_dir()
