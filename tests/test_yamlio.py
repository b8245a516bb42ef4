"""yamlio: the cached round-trip parse must behave exactly like a fresh parse for every caller."""

from __future__ import annotations

import pytest

from gerhard.errors import StateError
from gerhard.formats.yamlio import dump_yaml, load_state_yaml, merge_into, read_state_yaml, to_plain

TEXT = """\
# A human's comment on top.
program: demo   # trailing comment
run_count: 3
phases:
  A:
    runs: 2
    value: 3.0e-4
"""


def test_each_load_is_a_private_copy() -> None:
    first = load_state_yaml(TEXT, "x.yaml")
    merge_into(first, {"run_count": 4, "phases": {"A": {"runs": 9}}})
    second = load_state_yaml(TEXT, "x.yaml")
    assert second["run_count"] == 3
    assert second["phases"]["A"]["runs"] == 2
    assert dump_yaml(second) == TEXT


def test_merging_into_a_cached_load_keeps_comments() -> None:
    load_state_yaml(TEXT, "x.yaml")  # cached now
    merged = dump_yaml(merge_into(load_state_yaml(TEXT, "x.yaml"), {"run_count": 4}))
    assert merged == TEXT.replace("run_count: 3", "run_count: 4")


def test_read_state_yaml_is_the_plain_data() -> None:
    plain = read_state_yaml(TEXT, "x.yaml")
    assert plain == to_plain(load_state_yaml(TEXT, "x.yaml"))
    assert type(plain) is dict and type(plain["phases"]) is dict
    plain["phases"]["A"]["runs"] = 99
    assert read_state_yaml(TEXT, "x.yaml")["phases"]["A"]["runs"] == 2


@pytest.mark.parametrize("load", [load_state_yaml, read_state_yaml])
def test_corrupt_yaml_is_a_state_error_every_time(load: object) -> None:
    for _ in range(2):  # a failed parse is not cached as a success
        with pytest.raises(StateError, match=r"^state/x\.yaml is not valid YAML"):
            load("a: [1, 2\n", "state/x.yaml")  # type: ignore[operator]
