"""gerhard diff RUN_A RUN_B: config, metrics, gates, eval tasks and code of two runs (gerhard.core.compare)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, load_yaml, run
from history_helpers import RUN_A, RUN_A2, RUN_GREEN, RUN_RED, RUN_TUNED, TUNED_SHA, History, copy_history, unsafe_id

from gerhard.core import compare

CODE = "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"


@pytest.fixture
def history(registry: Path, history_template: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> History:
    """build_history's registry, bundles and dates: a copy of the session's (conftest's history_template)."""
    return copy_history(history_template, registry, monkeypatch, tmp_path)


def when(h: History, run_id: str) -> str:
    return load_yaml(h.repo / f"state/runs/{run_id}.yaml")["registered_at"]


def test_diff_green_and_tuned(history: History, capsys) -> None:
    result = run(capsys, "diff", RUN_GREEN, RUN_TUNED, "--repo", history.repo)
    assert (result.rc, result.err) == (0, "")
    assert result.out == "\n".join(
        [
            f"A         {RUN_GREEN}  phase B  GREEN  6/6 gates passed  {when(history, RUN_GREEN)}",
            f"B         {RUN_TUNED}   phase B  AMBER  5/6 gates passed  {when(history, RUN_TUNED)}",
            f"code      {CODE} (clean) -> {TUNED_SHA} (dirty)",
            "config    3 keys changed",
            "  removed  data.seq_len: 512",
            "  changed  optim.lr: 0.0003 -> 0.0005",
            '  added    optim.schedule: "cosine"',
            "metrics",
            "  train_loss   2.6525 -> 2.6525   +0 (+0.0%)",
            "  val_acc     missing -> 0.61     (only in B)",
            "  val_loss       2.72 -> 2.65     -0.07 (-2.6%)",
            "  val_ppl     15.1803 -> missing  (only in A)",
            "gates     1 flipped",
            "  pass -> WARN  energy_ratio_advisory  0.41 -> 0.55  (<= 0.5)",
            "eval      1 flipped",
            "  pass -> fail  sorting  0.66 -> 0.45",
            "",
        ]
    )


def test_diff_red_and_green(history: History, capsys) -> None:
    result = run(capsys, "diff", RUN_RED, RUN_GREEN, "--repo", history.repo)
    assert result.out.splitlines()[2:] == [
        f"code      same: {CODE} (clean)",
        "config    1 key changed",
        "  changed  seed: 4321 -> 1234",
        "metrics",
        "  train_loss   3.0035 -> 2.6525   -0.351 (-11.7%)",
        "  val_loss       3.05 -> 2.72     -0.33 (-10.8%)",
        "  val_ppl     21.1153 -> 15.1803  -5.935 (-28.1%)",
        "gates     4 flipped",
        "  FAIL -> pass  val_loss_max           3.05 -> 2.72  (<= 2.9)",
        "  FAIL -> pass  eval_pass_rate_min     0.4 -> 1  (>= 0.8)",
        "  FAIL -> pass  spike_rate_band        0.025 -> 0.105  (in [0.05, 0.25])",
        "  WARN -> pass  energy_ratio_advisory  0.62 -> 0.41  (<= 0.5)",
        "eval      3 flipped",
        "  fail -> pass  arithmetic  0.41 -> 0.81",
        "  fail -> pass  induction   0.31 -> 0.74",
        "  fail -> pass  qa_short    0.22 -> 0.58",
    ]


def test_diff_across_phases_and_latest(history: History, capsys) -> None:
    result = run(capsys, "diff", RUN_GREEN, "latest", "--repo", history.repo)
    assert result.out.splitlines() == [
        f"A         {RUN_GREEN}  phase B  GREEN  6/6 gates passed  {when(history, RUN_GREEN)}",
        f"B         {RUN_A2}   phase A  GREEN  1/1 gates passed  {when(history, RUN_A2)}",
        f"code      same: {CODE} (clean)",
        "config    2 keys changed",
        "  changed  model.spiking: true -> false",
        "  changed  seed: 1234 -> 11",
        "metrics",
        "  train_loss   2.6525 -> 2.352  -0.3005 (-11.3%)",
        "  val_loss       2.72 -> 2.38   -0.34 (-12.5%)",
        "  val_ppl     15.1803 -> 10.8   -4.3803 (-28.9%)",
        "gates     none flipped",
        "eval      no eval_suite.json in B",
    ]


def test_diff_of_a_run_with_itself(history: History, capsys) -> None:
    result = run(capsys, "diff", RUN_A, RUN_A, "--repo", history.repo)
    assert result.out.splitlines()[2:] == [
        f"code      same: {CODE} (clean)",
        "config    same",
        "metrics",
        "  train_loss   2.352 -> 2.352   +0 (+0.0%)",
        "  val_loss      2.41 -> 2.41    +0 (+0.0%)",
        "  val_ppl     11.134 -> 11.134  +0 (+0.0%)",
        "gates     none flipped",
        "eval      no eval_suite.json in A and B",
    ]


def test_diff_json(history: History, capsys) -> None:
    result = run(capsys, "diff", RUN_GREEN, RUN_TUNED, "--json", "--repo", history.repo)
    assert result.rc == 0, result.err
    green, tuned = (load_yaml(history.repo / f"state/runs/{r}.yaml") for r in (RUN_GREEN, RUN_TUNED))
    assert json.loads(result.out) == {
        "a": {
            "run_id": RUN_GREEN,
            "phase": "B",
            "verdict": "GREEN",
            "gates_passed": 6,
            "gates_total": 6,
            "registered_at": green["registered_at"],
            "code_sha": CODE,
            "code_dirty": False,
            "config_sha256": green["config_sha256"],
        },
        "b": {
            "run_id": RUN_TUNED,
            "phase": "B",
            "verdict": "AMBER",
            "gates_passed": 5,
            "gates_total": 6,
            "registered_at": tuned["registered_at"],
            "code_sha": TUNED_SHA,
            "code_dirty": True,
            "config_sha256": tuned["config_sha256"],
        },
        "code_changed": True,
        "config": [
            {"key": "data.seq_len", "change": "removed", "old": 512, "new": None},
            {"key": "optim.lr", "change": "changed", "old": 0.0003, "new": 0.0005},
            {"key": "optim.schedule", "change": "added", "old": None, "new": "cosine"},
        ],
        "metrics": [
            {"name": "train_loss", "a": 2.6525, "b": 2.6525, "delta": 0.0, "relative": 0.0, "missing_in": None},
            {"name": "val_acc", "a": None, "b": 0.61, "delta": None, "relative": None, "missing_in": "a"},
            {
                "name": "val_loss",
                "a": 2.72,
                "b": 2.65,
                "delta": -0.07,
                "relative": -0.0257352941176,
                "missing_in": None,
            },
            {"name": "val_ppl", "a": 15.1803, "b": None, "delta": None, "relative": None, "missing_in": "b"},
        ],
        "gates_flipped": [
            {
                "id": "energy_ratio_advisory",
                "passed_a": True,
                "passed_b": False,
                "value_a": 0.41,
                "value_b": 0.55,
                "threshold_a": "<= 0.5",
                "threshold_b": "<= 0.5",
                "severity": "advisory",
            }
        ],
        "eval_missing_in": [],
        "eval_flipped": [
            {
                "id": "sorting",
                "passed_a": True,
                "passed_b": False,
                "value_a": 0.66,
                "value_b": 0.45,
                "threshold_a": 0.5,
                "threshold_b": 0.5,
                "severity": None,
            }
        ],
    }


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        (["nope", RUN_A], "no run 'nope' is registered in {repo}: see 'gerhard list' for the ids"),
        (
            [RUN_A, "20250101T000000Z_x"],
            "no run '20250101T000000Z_x' is registered in {repo}: see 'gerhard list' for the ids",
        ),
        (["../etc", RUN_A], unsafe_id("../etc")),
    ],
)
def test_diff_unknown_run(history: History, capsys, runs: list[str], message: str) -> None:
    result = run(capsys, "diff", *runs, "--repo", history.repo)
    assert_one_line_error(result)
    assert (result.out, result.err) == ("", f"gerhard diff: error: {message.format(repo=history.repo)}\n")


def test_diff_latest_of_an_empty_registry(registry: Path, capsys) -> None:
    result = run(capsys, "diff", "latest", "latest", "--repo", registry)
    assert_one_line_error(result)
    assert result.err == "gerhard diff: error: no run registered yet: register one with 'gerhard register'\n"


def test_diff_needs_two_runs(registry: Path, capsys) -> None:
    result = run(capsys, "diff", "latest", "--repo", registry)
    assert_one_line_error(result, "the following arguments are required: RUN_B")


def test_diff_outside_a_git_repository(tmp_path: Path, capsys) -> None:
    result = run(capsys, "diff", "a", "b", "--repo", tmp_path)
    assert_one_line_error(result)
    assert result.err == (
        f"gerhard diff: error: {tmp_path} is not inside a git repository: pass --repo with the path of your registry "
        "repository, or cd into it\n"
    )


def test_diff_with_a_damaged_eval_suite(history: History, capsys) -> None:
    (history.repo / f"outputs/{RUN_GREEN}/eval_suite.json").write_text("{ not json")
    result = run(capsys, "diff", RUN_RED, RUN_GREEN, "--repo", history.repo)
    assert_one_line_error(result)
    assert result.err.startswith(f"gerhard diff: error: outputs/{RUN_GREEN}/eval_suite.json cannot be read (")
    assert result.err.endswith(f"restore it with 'git checkout -- outputs/{RUN_GREEN}/eval_suite.json'\n")


# --- the pure comparison --------------------------------------------------------------------------


def test_flatten_nested_config() -> None:
    config = {"a": {"b": {"c": 1}, "list": [1, {"x": 2}], "empty": {}}, "top": None}
    assert compare.flatten(config) == {"a.b.c": 1, "a.list": [1, {"x": 2}], "a.empty": {}, "top": None}
    assert compare.flatten({}) == {}
    assert compare.flatten(None) == {}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"x": 1}, {"x": 1.0}, []),
        ({"x": 1}, {"x": True}, [("x", "changed", 1, True)]),
        ({"x": True}, {"x": True}, []),
        ({"x": float("nan")}, {"x": float("nan")}, []),
        ({"x": {"y": 1}}, {"x": 5}, [("x", "added", None, 5), ("x.y", "removed", 1, None)]),
        ({"x": [1, 2]}, {"x": [1, 3]}, [("x", "changed", [1, 2], [1, 3])]),
        (None, {"x": None}, [("x", "added", None, None)]),
    ],
)
def test_config_changes(a, b, expected) -> None:
    assert [(c.key, c.change, c.old, c.new) for c in compare.config_changes(a, b)] == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (2.0, 3.0, (1.0, 0.5, None)),
        (-2.0, -3.0, (-1.0, -0.5, None)),
        (0, 1.5, (1.5, None, None)),  # no relative change from zero
        (float("nan"), 1.0, (None, None, None)),
        (1.0, float("inf"), (None, None, None)),
        (None, 1.0, (None, None, None)),
        (True, 1.0, (None, None, None)),
        (0.1, 0.3, (0.2, 2.0, None)),  # 0.3 - 0.1 is 0.19999999999999998 in floats
    ],
)
def test_metric_delta(a, b, expected) -> None:
    m = compare.metric_delta("m", {"m": a}, {"m": b})
    assert (m.delta, m.relative, m.missing_in) == expected


def test_metric_missing_on_one_side() -> None:
    assert compare.metric_deltas({"x": 1.0}, {"y": 2.0}) == [
        compare.MetricDelta("x", 1.0, None, None, None, "b"),
        compare.MetricDelta("y", None, 2.0, None, None, "a"),
    ]
    assert compare.metric_deltas(None, None) == []


def test_gate_and_eval_flips_only_where_both_have_them() -> None:
    gates_a = [{"id": "g1", "passed": True, "observed": 1}, {"id": "g2", "passed": False, "observed": math.nan}]
    gates_b = [{"id": "g2", "passed": True, "observed": 2, "severity": "blocking"}, {"id": "g3", "passed": False}]
    (flip,) = compare.gate_flips(gates_a, gates_b)
    assert (flip.id, flip.passed_a, flip.passed_b, flip.value_b, flip.severity) == ("g2", False, True, 2, "blocking")
    suite_a = {"tasks": [{"name": "t1", "passed": True, "score": 0.9}, "junk"]}
    suite_b = {"tasks": [{"name": "t1", "passed": False, "score": 0.1}, {"name": "t2", "passed": False}]}
    assert [(f.id, f.value_a, f.value_b) for f in compare.eval_flips(suite_a, suite_b)] == [("t1", 0.9, 0.1)]
