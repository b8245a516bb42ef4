"""run.log_lm_eval (gerhard.capture.evals): a real lm-evaluation-harness results file (pythia-160m: arc, gsm8k and
the lambada group) as a run's eval tasks, judged against the phase's eval_thresholds in program.yaml or the
threshold= given, and registered GREEN; what cannot be judged is refused in one line before anything is kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import load_yaml
from conftest import git

import gerhard
from gerhard.capture.run import Run
from gerhard.errors import UserError

LM_EVAL_OUT = Path(__file__).resolve().parent / "data" / "convert" / "lm_eval_out"
NEWEST = LM_EVAL_OUT / "EleutherAI__pythia-160m" / "results_2024-05-01T12-00-00.123456.json"
TASKS = ["arc_challenge", "arc_easy", "gsm8k", "lambada_openai", "lambada_standard"]  # lambada: a group, not judged

EVAL_PHASE = """
  - id: E
    title: Zero-shot evaluation of the dense baseline
    required: [eval_suite.json, config.yaml, seed.txt]
    eval_thresholds:
      arc_easy: 0.4
      arc_challenge: 0.2
      hellaswag: 0.3       # a task of another harness run: not in these results
      "*": 0.01
    gates:
      - id: eval_pass_rate_min
        artifact: eval_suite.json
        path: pass_rate
        op: ">="
        value: 0.8
"""


@pytest.fixture
def eval_registry(registry: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The scaffolded registry with a first phase E judged on lm-eval tasks (so it is open)."""
    program = registry / "state" / "program.yaml"
    text = program.read_text()
    program.write_text(text.replace("phases:\n", "phases:" + EVAL_PHASE, 1))
    git(registry, "commit", "-qam", "phase E")
    monkeypatch.chdir(tmp_path)
    return registry


def started(registry: Path | None, tmp_path: Path, phase: str = "E") -> Run:
    where = {"repo_root": registry} if registry else {"output_root": tmp_path / "runs"}
    return gerhard.start_run("pythia", phase, {"model": "pythia-160m"}, 0, run_id="ev1", dossier=False, **where)


def test_lm_eval_results_with_the_programs_thresholds_are_registered_green(eval_registry: Path, tmp_path: Path) -> None:
    run = started(eval_registry, tmp_path)
    run.log_lm_eval(NEWEST)
    result = run.finish(summary="pythia zero-shot")
    assert (result.registered, result.verdict) == (True, "GREEN")
    suite = json.loads((eval_registry / "outputs" / "ev1" / "eval_suite.json").read_text())
    assert [t["name"] for t in suite["tasks"]] == TASKS
    judged = {t["name"]: (t["metric"], t["threshold"], t["passed"]) for t in suite["tasks"]}
    assert judged == {
        "arc_challenge": ("acc_norm,none", 0.2, True),
        "arc_easy": ("acc_norm,none", 0.4, True),  # 0.4019
        "gsm8k": ("exact_match,strict-match", 0.01, True),  # 0.0174
        "lambada_openai": ("acc,none", 0.01, True),
        "lambada_standard": ("acc,none", 0.01, True),
    }
    assert suite["suite"] == "phase-E" and suite["pass_rate"] == 1.0
    assert suite["tasks"][1]["stderr"] == pytest.approx(0.010060521220920566)
    assert load_yaml(eval_registry / "state" / "runs" / "ev1.yaml")["verdict"] == "GREEN"


def test_threshold_given_wins_over_the_program_and_a_folder_gives_its_newest_results(
    eval_registry: Path, tmp_path: Path
) -> None:
    run = started(eval_registry, tmp_path)
    run.log_lm_eval(LM_EVAL_OUT, threshold={"arc_easy": 0.5, "*": 0.2})
    tasks = {t["name"]: t for t in run.evals.values()}
    assert sorted(tasks) == TASKS  # the newest results_*.json of the folder
    assert (tasks["arc_easy"]["threshold"], tasks["arc_easy"]["passed"]) == (0.5, False)
    assert [n for n, t in tasks.items() if not t["passed"]] == ["arc_easy", "gsm8k"]
    result = run.finish()
    assert (result.registered, result.verdict) == (True, "RED")  # 3/5 < 0.8


def test_a_results_dict_without_a_registry_needs_a_threshold(tmp_path: Path) -> None:
    data = json.loads(NEWEST.read_text())
    run = started(None, tmp_path)
    with pytest.raises(UserError) as e:
        run.log_lm_eval(data)
    assert str(e.value) == (
        "log_lm_eval: the lm-eval results carries no pass mark: pass threshold= (a number, or {task: number}) or "
        "give phase E eval_thresholds in state/program.yaml "
        "(tasks: arc_challenge, arc_easy, gsm8k, lambada, lambada_openai, lambada_standard)"
    )
    assert run.evals == {} and not (run.folder / ".gerhard-run" / "evals.json").exists()
    run.log_lm_eval(data, threshold=0.3)
    assert [t["passed"] for t in run.evals.values()] == [False, True, False, True, False]
    assert json.loads((run.folder / ".gerhard-run" / "evals.json").read_text()) == list(run.evals.values())
    run.fail(RuntimeError("test over"))


def test_a_task_logged_twice_is_refused_and_nothing_is_added(tmp_path: Path) -> None:
    run = started(None, tmp_path)
    run.log_eval("arc_easy", score=0.5, passed=True)
    with pytest.raises(UserError) as e:
        run.log_lm_eval(NEWEST, threshold=0.3)
    assert str(e.value) == "log_lm_eval: task 'arc_easy' was logged already in this run: log each task once"
    assert list(run.evals) == ["arc_easy"]
    run.fail(RuntimeError("test over"))


@pytest.mark.parametrize(
    ("results", "message"),
    [
        (42, "log_lm_eval: pass lm-eval's results dict, a results_*.json or its output folder, not a int"),
        ({"config": {}}, "log_lm_eval: the lm-eval results is not lm-evaluation-harness results: "
         "it has no 'results' mapping of tasks"),
        ("missing", "missing does not exist: check the path"),
    ],
)  # fmt: skip
def test_what_is_not_lm_eval_results_is_refused_in_one_line(tmp_path: Path, results: object, message: str) -> None:
    run = started(None, tmp_path)
    with pytest.raises(UserError) as e:
        run.log_lm_eval(results, threshold=0.5)  # type: ignore[arg-type]
    assert str(e.value) == message
    run.fail(RuntimeError("test over"))


def test_a_results_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "results_2024-05-01T12-00-00.json"
    shutil.copy(NEWEST, bad)
    bad.write_text(bad.read_text()[:100])
    run = started(None, tmp_path)
    with pytest.raises(UserError) as e:
        run.log_lm_eval(bad, threshold=0.5)
    assert str(e.value).startswith(f"log_lm_eval: cannot read {str(bad)!r} as JSON: ")
    run.fail(RuntimeError("test over"))
