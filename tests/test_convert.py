"""gerhard.capture.convert and `gerhard convert`: bundle files from values, HF Trainer, Lightning and lm-eval output.

The samples in tests/data/convert/ are in the formats the tools write: a transformers Trainer
trainer_state.json (json.dumps(indent=2, sort_keys=True); eval rows, the run's summary row, and the
trainer.evaluate() row logged after train() at the last step), a Lightning 2.x CSVLogger metrics.csv
(sorted header, CRLF, sparse train / validation / LearningRateMonitor rows), and lm-evaluation-harness
0.4 results_<timestamp>.json files under <output_path>/<model_name_sanitized>/.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import (
    Result,
    assert_one_line_error,
    load_yaml,
    python_m_gerhard,
    register,
    register_ok,
    run,
    snapshot_tree,
)

from gerhard.capture.convert import (
    WrittenFile,
    bundle_from_values,
    eval_suite_from_lm_eval,
    find_lm_eval_results,
    metrics_from_hf_trainer_state,
    metrics_from_lightning_csv,
    write_bundle_files,
)
from gerhard.cli.commands.convert import parse_thresholds
from gerhard.errors import UserError
from gerhard.formats import schemas
from gerhard.formats.parsing import parse_artifact

DATA = Path(__file__).resolve().parent / "data" / "convert"
HF_STATE = DATA / "trainer_state.json"
LIGHTNING_CSV = DATA / "metrics.csv"
LM_EVAL_OUT = DATA / "lm_eval_out"
LM_EVAL_MODEL = LM_EVAL_OUT / "EleutherAI__pythia-160m"
LM_EVAL_NEWEST = LM_EVAL_MODEL / "results_2024-05-01T12-00-00.123456.json"
LM_EVAL_OLDER = LM_EVAL_MODEL / "results_2024-04-30T18-40-10.json"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

HF_STEP = ("epoch", "grad_norm", "learning_rate", "loss")
HF_EVAL = ("eval_accuracy", "eval_loss", "eval_runtime", "eval_samples_per_second", "eval_steps_per_second")
HF_HISTORY = [
    {"step": 10, **dict(zip(HF_STEP, (0.5, 2.3117239475250244, 1.6666666666666667e-05, 0.6893), strict=True))},
    {
        "step": 20,
        **dict(zip(HF_STEP, (1.0, 4.880452632904053, 1.3333333333333333e-05, 0.5121), strict=True)),
        **dict(zip(HF_EVAL, (0.8165137614678899, 0.4217934310436249, 2.4081, 362.112, 11.47), strict=True)),
    },
    {"step": 30, **dict(zip(HF_STEP, (1.5, 3.9611470699310303, 1e-05, 0.3874), strict=True))},
    {
        "step": 40,
        **dict(zip(HF_STEP, (2.0, 6.207862377166748, 6.666666666666667e-06, 0.3302), strict=True)),
        **dict(zip(HF_EVAL, (0.8612385321100917, 0.3385401666164398, 2.3794, 366.479, 11.599), strict=True)),
    },
    {"step": 50, **dict(zip(HF_STEP, (2.5, 2.7384231090545654, 3.3333333333333333e-06, 0.2519), strict=True))},
    {  # the eval row of trainer.evaluate() after train() (best checkpoint loaded) wins over the one during training
        "step": 60,
        **dict(zip(HF_STEP, (3.0, 3.1005213260650635, 0.0, 0.2267), strict=True)),
        **dict(zip(HF_EVAL, (0.8612385321100917, 0.3385401666164398, 2.4406, 357.289, 11.317), strict=True)),
    },
]
HF_FINAL = {
    **{k: v for k, v in HF_HISTORY[-1].items() if k != "step"},
    "total_flos": 158956218531840.0,
    "train_loss": 0.3996000011761983,
    "train_runtime": 41.8123,
    "train_samples_per_second": 45.919,
    "train_steps_per_second": 1.435,
    "best_metric": 0.3385401666164398,
}
PL_HISTORY = [
    {"step": 9, "lr-AdamW": 0.0003, "epoch": 0, "train_loss_step": 3.8216607570648193},
    {"step": 19, "lr-AdamW": 0.00029265847744427303, "epoch": 0, "train_loss_step": 3.1042873859405518},
    {
        "step": 24,
        "epoch": 0,
        "val_loss": 2.853914737701416,
        "val_ppl": 17.353103637695312,
        "train_loss_epoch": 3.3125312328338623,
    },
    {"step": 29, "lr-AdamW": 0.0002713525491562421, "epoch": 1, "train_loss_step": 2.7731432914733887},
    {"step": 39, "lr-AdamW": 0.00023816778784387094, "epoch": 1, "train_loss_step": 2.5908701419830322},
    {
        "step": 49,
        "lr-AdamW": 0.0001963525491562421,
        "epoch": 1,
        "train_loss_step": 2.4627647399902344,
        "val_loss": 2.4136905670166016,
        "val_ppl": 11.174407958984375,
        "train_loss_epoch": 2.6403191089630127,
    },
]
PL_FINAL = {k: v for k, v in PL_HISTORY[-1].items() if k != "step"}


def lm_task(name: str, score: float, threshold: float, passed: bool, metric: str, stderr: float, n_shot: int) -> dict:
    return {
        "name": name,
        "score": score,
        "threshold": threshold,
        "passed": passed,
        "metric": metric,
        "stderr": stderr,
        "n_shot": n_shot,
    }


LM_EVAL_TASKS = [
    lm_task("arc_challenge", 0.23976109215017063, 0.3, False, "acc_norm,none", 0.012476304127453956, 0),
    lm_task("arc_easy", 0.4019360269360269, 0.3, True, "acc_norm,none", 0.010060521220920566, 0),
    lm_task("gsm8k", 0.017437452615617893, 0.3, False, "exact_match,strict-match", 0.003605486867998261, 5),
    lm_task("lambada_openai", 0.32854647778381524, 0.3, True, "acc,none", 0.006543637349581271, 0),
    lm_task("lambada_standard", 0.22414127692412186, 0.2, True, "acc,none", 0.005809763709183667, 0),
]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def user_error(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(UserError) as e:
        call(*args, **kwargs)
    return str(e.value)


# ---- the converters on the real formats


def test_hf_trainer_state_history_by_step_and_final_with_the_summary_row() -> None:
    assert metrics_from_hf_trainer_state(read_json(HF_STATE)) == {"final": HF_FINAL, "history": HF_HISTORY}


def test_lightning_csv_merged_by_step_empty_cells_dropped() -> None:
    text = LIGHTNING_CSV.read_bytes().decode()
    assert "\r\n" in text  # as csv.DictWriter writes it
    assert metrics_from_lightning_csv(text) == {"final": PL_FINAL, "history": PL_HISTORY}


def test_lm_eval_tasks_scored_groups_listed_not_judged() -> None:
    suite = eval_suite_from_lm_eval(read_json(LM_EVAL_NEWEST), threshold={"*": 0.3, "lambada_standard": 0.2})
    assert suite == {
        "suite": "lm-eval",
        "tasks": LM_EVAL_TASKS,
        "pass_rate": 0.6,
        "model_name": "EleutherAI/pythia-160m",
        "groups": [{"name": "lambada", "score": 0.27634387735299826, "metric": "acc,none"}],
    }


def test_lm_eval_one_threshold_for_every_task_and_a_suite_name() -> None:
    suite = eval_suite_from_lm_eval(read_json(LM_EVAL_NEWEST), threshold=0.3, suite="pythia-core")
    assert suite["suite"] == "pythia-core"
    assert [(t["name"], t["threshold"], t["passed"]) for t in suite["tasks"]] == [
        ("arc_challenge", 0.3, False),
        ("arc_easy", 0.3, True),
        ("gsm8k", 0.3, False),
        ("lambada_openai", 0.3, True),
        ("lambada_standard", 0.3, False),
    ]
    assert suite["pass_rate"] == 0.4


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("acc", {"arc_easy": ("acc,none", 0.43645833333333334)}),
        ("exact_match", {"gsm8k": ("exact_match,strict-match", 0.017437452615617893)}),  # no ,none: the first
        ("exact_match,flexible-extract", {"gsm8k": ("exact_match,flexible-extract", 0.01970735405610311)}),
    ],
)
def test_lm_eval_metric_asked_for(metric: str, expected: dict[str, tuple[str, float]]) -> None:
    data = read_json(LM_EVAL_NEWEST)
    data["results"] = {name: data["results"][name] for name in expected}
    tasks = eval_suite_from_lm_eval(data, threshold=0.0, metric=metric)["tasks"]
    assert {t["name"]: (t["metric"], t["score"]) for t in tasks} == expected


def test_lm_eval_task_without_the_metric_asked_for() -> None:
    message = user_error(eval_suite_from_lm_eval, read_json(LM_EVAL_NEWEST), threshold=0.3, metric="acc_norm")
    assert message == (
        "lm-eval results: the task 'gsm8k' has no metric 'acc_norm' (it has: exact_match,strict-match, "
        "exact_match,flexible-extract): choose one with --metric"
    )


def test_lm_eval_lower_is_better_metric_and_a_stderr_of_na() -> None:
    data = {
        "results": {
            "wikitext": {
                "alias": "wikitext",
                "word_perplexity,none": 21.7,
                "word_perplexity_stderr,none": "N/A",
                "bits_per_byte,none": 0.71,
                "bits_per_byte_stderr,none": "N/A",
            }
        },
        "higher_is_better": {"wikitext": {"word_perplexity": False, "bits_per_byte": False}},
        "lm_eval_version": "0.4.8",
    }
    suite = eval_suite_from_lm_eval(data, threshold=25.0)
    assert suite == {
        "suite": "lm-eval",
        "tasks": [
            {
                "name": "wikitext",
                "score": 21.7,
                "threshold": 25.0,
                "passed": True,
                "metric": "word_perplexity,none",
                "better": "lower",
            }
        ],
        "pass_rate": 1.0,
        "lm_eval_version": "0.4.8",
    }
    assert eval_suite_from_lm_eval(data, threshold=20.0)["tasks"][0]["passed"] is False


def test_lm_eval_nan_score_never_passes() -> None:
    text = '{"results": {"piqa": {"acc,none": NaN, "acc_stderr,none": NaN}}}'
    suite = eval_suite_from_lm_eval(json.loads(text), threshold=0.0)
    assert suite["pass_rate"] == 0.0
    assert math.isnan(suite["tasks"][0]["score"]) and suite["tasks"][0]["passed"] is False


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        (
            None,
            "lm-eval results: lm-eval results carry no pass mark: give --threshold X (every task) or TASK=X "
            "(tasks: arc_challenge, arc_easy, gsm8k, lambada_openai, lambada_standard)",
        ),
        (
            {"*": 0.3, "lambada": 100.0, "arc_eesy": 0.5},
            "a threshold for arc_eesy, lambada, which lm-eval results has no task of "
            "(tasks: arc_challenge, arc_easy, gsm8k, lambada_openai, lambada_standard)",
        ),
        (
            {"arc_easy": 0.5, "gsm8k": 0.1},
            "no threshold for arc_challenge, lambada_openai, lambada_standard: "
            "give TASK=X for each, or one number for every task",
        ),
        (float("nan"), "the threshold 'nan' for every task is not a finite number"),
        ({"*": 0.5, "gsm8k": "high"}, "the threshold \"'high'\" for gsm8k is not a finite number"),
    ],
)
def test_lm_eval_thresholds_refused(threshold: Any, message: str) -> None:
    assert user_error(eval_suite_from_lm_eval, read_json(LM_EVAL_NEWEST), threshold=threshold) == message


@pytest.mark.parametrize(
    ("call", "data", "message"),
    [
        (
            metrics_from_hf_trainer_state,
            {"results": {}},
            "trainer_state.json is not a HF Trainer trainer_state.json: it has no log_history list of rows",
        ),
        (
            metrics_from_hf_trainer_state,
            {"log_history": []},
            "trainer_state.json holds no logged values: was the run logged before it ended?",
        ),
        (
            metrics_from_hf_trainer_state,
            {"log_history": [{"loss": 1.0, "epoch": 0.1}]},
            "trainer_state.json: log_history[0] has no step (a whole number >= 0): every logged row needs one",
        ),
        (
            eval_suite_from_lm_eval,
            {"log_history": []},
            "lm-eval results is not lm-evaluation-harness results: it has no 'results' mapping of tasks",
        ),
        (
            eval_suite_from_lm_eval,
            [1, 2],
            "lm-eval results is not lm-evaluation-harness results: it has no 'results' mapping of tasks",
        ),
    ],
)
def test_wrong_format_is_one_line(call: Any, data: Any, message: str) -> None:
    assert user_error(call, data) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "metrics.csv is not a Lightning CSVLogger metrics.csv: no 'step' column (found nothing)"),
        (
            '{\n "log_history": []\n}\n',
            "metrics.csv is not a Lightning CSVLogger metrics.csv: no 'step' column (found '{')",
        ),
        ("epoch,step,loss\n0,1,0.5\n0,2\n", "metrics.csv line 3 has 2 cells for 3 columns: is the file cut short?"),
        ("epoch,step,loss\n0,1,abc\n", "metrics.csv line 2, column 'loss': 'abc' is not a number"),
        (
            "epoch,step,loss\n0,,0.5\n",
            "metrics.csv line 2 has no step (a whole number >= 0): every logged row needs one",
        ),
        (
            "epoch,step,loss\n0,1.5,0.5\n",
            "metrics.csv line 2 has no step (a whole number >= 0): every logged row needs one",
        ),
        ("epoch,step\n", "metrics.csv holds no logged values: was the run logged before it ended?"),
    ],
)
def test_lightning_bad_csv_is_one_line(text: str, message: str) -> None:
    assert user_error(metrics_from_lightning_csv, text) == message


def test_nan_and_inf_are_kept_so_a_diverged_run_registers_red() -> None:
    text = "epoch,step,train_loss\n0,0,2.5\n0,10,nan\n0,20,inf\n"
    metrics = metrics_from_lightning_csv(text)
    assert math.isinf(metrics["final"]["train_loss"])
    assert math.isnan(metrics["history"][1]["train_loss"])


# ---- values -> a bundle folder


class Schedule(enum.Enum):
    COSINE = "cosine"


@dataclasses.dataclass
class Optim:
    lr: float
    schedule: Schedule


@dataclasses.dataclass
class TrainConfig:
    model: str
    optim: Optim
    data_dir: Path
    betas: tuple[float, float]


class ArgsWithToDict:
    """Like transformers.TrainingArguments: to_dict() is what may be written (it hides the tokens)."""

    hub_token = "hf_secret"

    def to_dict(self) -> dict[str, Any]:
        return {"learning_rate": 2e-05, "hub_token": "<HUB_TOKEN>"}


def test_bundle_from_values_writes_four_valid_files(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    written = bundle_from_values(
        folder,
        final={"val_loss": np.float32(2.5), "val/acc": 0.61},
        history=[{"step": 0, "val_loss": 3.0}, {"step": np.int64(10), "val_loss": 2.5}],
        config=TrainConfig("tiny", Optim(3e-4, Schedule.COSINE), Path("/data/tiny"), (0.9, 0.95)),
        seed=np.int64(1234),
        eval_tasks=[{"name": "copy", "score": 0.9, "threshold": 0.5}, {"name": "sort", "score": 0.2, "passed": False}],
        suite="core",
    )
    names = ["metrics.json", "config.yaml", "seed.txt", "eval_suite.json"]
    assert written == tuple(WrittenFile(folder / name, True) for name in names)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    assert read_json(folder / "metrics.json") == {
        "final": {"val_loss": 2.5, "val/acc": 0.61},
        "history": [{"step": 0, "val_loss": 3.0}, {"step": 10, "val_loss": 2.5}],
    }
    assert (folder / "config.yaml").read_text() == (
        "model: tiny\noptim:\n  lr: 0.0003\n  schedule: cosine\ndata_dir: /data/tiny\nbetas:\n  - 0.9\n  - 0.95\n"
    )
    assert (folder / "seed.txt").read_text() == "1234\n"
    assert read_json(folder / "eval_suite.json") == {
        "suite": "core",
        "tasks": [
            {"name": "copy", "score": 0.9, "threshold": 0.5, "passed": True},
            {"name": "sort", "score": 0.2, "passed": False},
        ],
        "pass_rate": 0.5,
    }
    for name, schema in (("metrics.json", "metrics"), ("config.yaml", "config"), ("eval_suite.json", "eval_suite")):
        schemas.validate(parse_artifact(name, (folder / name).read_bytes()), schema, name)


def test_config_with_to_dict_is_written_as_to_dict_says(tmp_path: Path) -> None:
    bundle_from_values(tmp_path, final={"loss": 1.0}, config=ArgsWithToDict())
    assert (tmp_path / "config.yaml").read_text() == "learning_rate: 2e-05\nhub_token: <HUB_TOKEN>\n"


def test_written_json_is_indented_like_the_examples(tmp_path: Path) -> None:
    bundle_from_values(tmp_path, final={"val_loss": float("nan")}, history=[{"step": 0, "val_loss": float("inf")}])
    assert (tmp_path / "metrics.json").read_text() == (
        '{\n "final": {\n  "val_loss": NaN\n },\n "history": [\n  {\n   "step": 0,\n   "val_loss": Infinity\n'
        "  }\n ]\n}\n"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"final": {"val.loss": 1.0}},
            "metrics.json: the metric name 'val.loss' in final has a '.', which gate paths (final.val_loss) split on, "
            "so no gate could read it: rename it",
        ),
        (
            {"final": {"loss": 1.0}, "history": [{"step": 3, "train loss": 2.0}]},
            "metrics.json: the metric name 'train loss' in the history row of step 3 is not 1-128 letters, digits, "
            "'_', '-', '/', '@', '+' or ':' (not starting with '-/@+:'): rename it",
        ),
        ({"final": {}}, "metrics.json: $.final: {} should be non-empty (schema metrics)"),
        ({"final": {"ok": True}}, "metrics.json: $.final.ok: True is not of type 'number', 'null' (schema metrics)"),
        (
            {"final": {"loss": 1.0}, "history": [{"step": -1, "loss": 2.0}]},
            "metrics.json: $.history[0].step: -1 is less than the minimum of 0 (schema metrics)",
        ),
        ({"final": {"loss": 1.0}, "seed": "1234"}, "the seed must be an integer, not str \"'1234'\""),
        ({"final": {"loss": 1.0}, "config": {}}, "config.yaml: $: {} should be non-empty (schema config)"),
        (
            {"final": {"loss": 1.0}, "config": {"optim": {"lr": {1e-4}}}},
            "config.yaml: $.optim.lr is a set, which a bundle file cannot hold: make it a number, text or list",
        ),
        (
            {"final": {"loss": 1.0}, "config": {1: "a"}},
            "config.yaml: $ has the key 1, a int: bundle files need text keys",
        ),
        (
            {"final": {"loss": 1.0}, "eval_tasks": [{"name": "copy", "score": 0.9}]},
            "eval_suite.json: the task 'copy' has neither passed nor a threshold: give one",
        ),
        (
            {"final": {"loss": 1.0}, "eval_tasks": [{"name": "copy", "score": 1, "passed": True}] * 2},
            "eval_suite.json: the task 'copy' is listed twice: list each task once",
        ),
        (
            {"final": {"loss": 1.0}, "eval_tasks": []},
            "eval_suite.json: $.tasks: [] should be non-empty (schema eval_suite)",
        ),
        ({"final": {"loss": 1.0}, "suite": "core"}, "suite= names the eval suite: give eval_tasks= too"),
    ],
)
def test_bad_values_are_one_line_and_nothing_is_written(tmp_path: Path, values: dict[str, Any], message: str) -> None:
    folder = tmp_path / "bundle"
    assert user_error(bundle_from_values, folder, **values) == message
    assert not folder.exists()


def test_an_existing_file_with_other_content_is_refused_unless_forced(tmp_path: Path) -> None:
    bundle_from_values(tmp_path, final={"loss": 1.0}, seed=1)
    before = snapshot_tree(tmp_path)
    assert user_error(bundle_from_values, tmp_path, final={"loss": 1.0}, seed=2) == (
        f"{tmp_path / 'seed.txt'} already exists with other content: pass --force (force=True) to replace it"
    )
    assert snapshot_tree(tmp_path) == before
    again = bundle_from_values(tmp_path, final={"loss": 1.0}, seed=2, force=True)
    assert again == (WrittenFile(tmp_path / "metrics.json", False), WrittenFile(tmp_path / "seed.txt", True))
    assert (tmp_path / "seed.txt").read_text() == "2\n"


def test_write_bundle_files_refuses_what_gerhard_does_not_write(tmp_path: Path) -> None:
    message = user_error(write_bundle_files, tmp_path, {"provenance.json": {"code_sha": "abc1234", "dirty": False}})
    assert message == "gerhard writes metrics.json, eval_suite.json, config.yaml, seed.txt, not 'provenance.json'"


# ---- finding lm-eval's newest results


def test_the_newest_results_by_the_timestamp_in_the_name_not_mtime(tmp_path: Path) -> None:
    out = tmp_path / "lm_eval_out"
    shutil.copytree(LM_EVAL_OUT, out)
    model = out / LM_EVAL_MODEL.name
    newest, older = model / LM_EVAL_NEWEST.name, model / LM_EVAL_OLDER.name
    os.utime(newest, (1_000_000_000, 1_000_000_000))  # copied or synced: mtimes say nothing
    os.utime(older, (2_000_000_000, 2_000_000_000))
    assert find_lm_eval_results(out) == newest  # nested: <output_path>/<model>/results_*.json
    assert find_lm_eval_results(model) == newest
    assert find_lm_eval_results(older) == older  # a file is taken as it is
    (model / "results_2024-05-01T12-00-00.json").write_text("{}")  # same second, no fraction: older
    (model / "results_2024-05-01T12-00-00.5.json").write_text("{}")  # .5 s after 12:00:00.123456
    (model / "results_final.json").write_text("{}")  # not lm-eval's name
    assert find_lm_eval_results(out).name == "results_2024-05-01T12-00-00.5.json"


def test_no_results_and_results_of_several_models_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert user_error(find_lm_eval_results, tmp_path / "empty") == (
        f"no lm-eval results_<timestamp>.json under {tmp_path / 'empty'}: pass lm_eval's --output_path folder "
        "or the results file"
    )
    assert (
        user_error(find_lm_eval_results, tmp_path / "nowhere")
        == f"{tmp_path / 'nowhere'} does not exist: check the path"
    )
    for model in ("EleutherAI__pythia-160m", "EleutherAI__pythia-410m"):
        (tmp_path / "out" / model).mkdir(parents=True)
        shutil.copy(LM_EVAL_NEWEST, tmp_path / "out" / model)
    assert user_error(find_lm_eval_results, tmp_path / "out") == (
        f"{tmp_path / 'out'} holds lm-eval results of several models "
        "(EleutherAI__pythia-160m, EleutherAI__pythia-410m): pass one's folder"
    )


# ---- the CLI


def convert(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> Result:
    return run(capsys, "convert", *argv)


def test_cli_writes_each_kind_and_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "bundle"
    result = convert(capsys, "hf", HF_STATE, "--out", out)
    assert result == Result(
        0, f"wrote {out / 'metrics.json'} (15 final metrics, 6 history steps) from {HF_STATE}\n", ""
    )
    assert read_json(out / "metrics.json") == {"final": HF_FINAL, "history": HF_HISTORY}
    result = convert(capsys, "hf", HF_STATE, "--out", out)
    assert result.out == (
        f"{out / 'metrics.json'} already holds this (15 final metrics, 6 history steps) from {HF_STATE}: "
        "nothing written\n"
    )
    result = convert(
        capsys, "lm-eval", LM_EVAL_OUT, "--out", out, "--threshold", "0.3", "--threshold", "lambada_standard=0.2"
    )
    assert result == Result(
        0, f"wrote {out / 'eval_suite.json'} (5 tasks, 3 passed, 0.6 pass rate) from {LM_EVAL_NEWEST}\n", ""
    )
    assert read_json(out / "eval_suite.json")["tasks"] == LM_EVAL_TASKS


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = convert(capsys, "lightning", LIGHTNING_CSV.parent / "metrics.csv", "--out", tmp_path, "--json")
    assert result.rc == 0, result.err
    assert json.loads(result.out) == {
        "kind": "lightning",
        "source": str(LIGHTNING_CSV),
        "path": str(tmp_path / "metrics.json"),
        "written": True,
        "final_metrics": 6,
        "history_steps": 6,
    }
    result = convert(capsys, "lm-eval", LM_EVAL_OLDER, "--out", tmp_path, "--threshold", "0.5", "--json")
    assert json.loads(result.out) == {
        "kind": "lm-eval",
        "source": str(LM_EVAL_OLDER),
        "path": str(tmp_path / "eval_suite.json"),
        "written": True,
        "tasks": 1,
        "passed": 0,
        "pass_rate": 0.0,
    }


def test_cli_finds_the_file_in_the_folder_a_tool_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trainer_out = tmp_path / "trainer_out"
    for step in (20, 100):  # checkpoint-100 is the newest, though 'checkpoint-20' sorts after it
        (trainer_out / f"checkpoint-{step}").mkdir(parents=True)
        state = read_json(HF_STATE) if step == 100 else {"log_history": [{"step": 20, "loss": 9.0}]}
        (trainer_out / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))
    result = convert(capsys, "hf", trainer_out, "--out", tmp_path / "a")
    assert result.rc == 0 and f"from {trainer_out / 'checkpoint-100' / 'trainer_state.json'}\n" in result.out
    (tmp_path / "version_0").mkdir()
    shutil.copy(LIGHTNING_CSV, tmp_path / "version_0" / "metrics.csv")
    result = convert(capsys, "lightning", tmp_path / "version_0", "--out", tmp_path / "b")
    assert result.rc == 0 and read_json(tmp_path / "b" / "metrics.json")["final"] == PL_FINAL


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Bad inputs beside an existing bundle folder the CLI must leave byte-identical."""
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "metrics.json").write_text('{"final": {"loss": 9.0}}\n')
    (tmp_path / "not_json.json").write_text('{"log_history": [\n  {"step": 1,}\n]}\n')
    (tmp_path / "latin1.csv").write_bytes("step,p\u00e9rte\n1,0.5\n".encode("latin-1"))
    (tmp_path / "empty").mkdir()
    return tmp_path


def bad_input_cases(t: Path) -> list[tuple[list[Any], str]]:
    bundle = t / "bundle"
    return [
        (["hf", t / "missing.json"], f"{t / 'missing.json'} does not exist: check the path"),
        (
            ["hf", t / "not_json.json"],
            f"{t / 'not_json.json'} is not valid JSON: Expecting property name enclosed "
            "in double quotes at line 2 column 14",
        ),
        (["hf", LIGHTNING_CSV], f"{LIGHTNING_CSV} is not valid JSON: Expecting value at line 1 column 1"),
        (
            ["hf", LM_EVAL_NEWEST],
            f"{LM_EVAL_NEWEST} is not a HF Trainer trainer_state.json: it has no log_history list of rows",
        ),
        (
            ["lightning", HF_STATE],
            f"{HF_STATE} is not a Lightning CSVLogger metrics.csv: no 'step' column (found '{{')",
        ),
        (["lightning", t / "latin1.csv"], f"{t / 'latin1.csv'} is not UTF-8 text: is it the lightning output?"),
        (
            ["lightning", t / "empty"],
            f"no metrics.csv in {t / 'empty'}: pass CSVLogger's version folder (lightning_logs/version_0) or the file",
        ),
        (
            ["hf", t / "empty"],
            f"no trainer_state.json in {t / 'empty'} or its checkpoint-* folders: call trainer.save_state()",
        ),
        (
            ["lm-eval", HF_STATE, "--threshold", "0.5"],
            f"{HF_STATE} is not lm-evaluation-harness results: it has no 'results' mapping of tasks",
        ),
        (
            ["lm-eval", t / "empty", "--threshold", "0.5"],
            f"no lm-eval results_<timestamp>.json under {t / 'empty'}: "
            "pass lm_eval's --output_path folder or the results file",
        ),
        (
            ["lm-eval", LM_EVAL_OLDER],
            f"{LM_EVAL_OLDER}: lm-eval results carry no pass mark: give --threshold X "
            "(every task) or TASK=X (tasks: arc_easy)",
        ),
        (
            ["lm-eval", LM_EVAL_OLDER, "--threshold", "high"],
            "--threshold 'high': give a number (every task) or TASK=NUMBER",
        ),
        (
            ["hf", HF_STATE, "--threshold", "0.5", "--metric", "acc"],
            "--threshold, --metric: only for lm-eval results (hf writes metrics.json)",
        ),
        (
            ["hf", HF_STATE],
            f"{bundle / 'metrics.json'} already exists with other content: pass --force (force=True) to replace it",
        ),
    ]


def test_cli_bad_inputs_are_one_line_exit_2_and_nothing_written(
    inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot_tree(inputs, skip="")
    for argv, message in bad_input_cases(inputs):
        result = convert(capsys, *argv, "--out", inputs / "bundle")
        assert_one_line_error(result)
        assert result.err == f"gerhard convert: error: {message}\n", argv
        assert snapshot_tree(inputs, skip="") == before, argv
    result = convert(capsys, "hf", HF_STATE, "--out", inputs / "not_json.json")
    file_as_out = f"{inputs / 'not_json.json'} is a file, not a folder: write the bundle into a folder"
    assert result.err == f"gerhard convert: error: {file_as_out}\n"
    assert snapshot_tree(inputs, skip="") == before


def test_cli_force_replaces(inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = convert(capsys, "hf", HF_STATE, "--out", inputs / "bundle", "--force")
    assert result.rc == 0 and result.out.startswith(f"wrote {inputs / 'bundle' / 'metrics.json'} (15 final")
    assert read_json(inputs / "bundle" / "metrics.json")["final"] == HF_FINAL


def test_python_m_gerhard_convert_exit_codes(tmp_path: Path) -> None:
    proc = python_m_gerhard("convert", "hf", tmp_path / "nope.json", "--out", tmp_path / "out")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == f"gerhard convert: error: {tmp_path / 'nope.json'} does not exist: check the path\n"
    proc = python_m_gerhard("convert", "wandb", HF_STATE, "--out", tmp_path / "out")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "invalid choice: 'wandb'" in proc.stderr
    assert not (tmp_path / "out").exists()
    proc = python_m_gerhard("convert", "lightning", LIGHTNING_CSV, "--out", tmp_path / "out")
    assert (proc.returncode, proc.stderr) == (0, "")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, None),
        (["0.5"], 0.5),
        (["0.5", "gsm8k=0.05"], {"*": 0.5, "gsm8k": 0.05}),
        (["arc_easy=0.6", "gsm8k=0.05"], {"arc_easy": 0.6, "gsm8k": 0.05}),
    ],
)
def test_parse_thresholds(values: list[str] | None, expected: Any) -> None:
    assert parse_thresholds(values) == expected


@pytest.mark.parametrize("values", [["0.5", "0.6"], ["gsm8k=0.1", "gsm8k=0.2"], ["=0.5"]])
def test_parse_thresholds_refuses_a_task_twice(values: list[str]) -> None:
    assert user_error(parse_thresholds, values) == (
        f"--threshold {values[-1]!r}: give one number for every task and TASK=X once per task"
    )


# ---- round trip: converted files register


def test_converted_runs_register_into_a_registry(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lightning (CLI) → phase A: GREEN. Then phase B with the example's artifacts but lm-eval's eval suite
    (CLI) → RED on the pass rate. And a HF run (Python) → phase A, RED: it logs eval_loss, not val_loss."""
    run_a = tmp_path / "run_a"
    assert convert(capsys, "lightning", LIGHTNING_CSV, "--out", run_a).rc == 0
    write_bundle_files(run_a, {"config.yaml": {"model": {"name": "tiny-lm", "layers": 4}}, "seed.txt": 7})
    register_ok(capsys, registry, "20261101T100000Z_lightning", "A", run_a)
    record = load_yaml(registry / "state" / "runs" / "20261101T100000Z_lightning.yaml")
    assert (record["verdict"], record["seed"], record["metrics"]["val_loss"]) == ("GREEN", 7, 2.4136905670166016)

    run_b = tmp_path / "run_b"
    shutil.copytree(EXAMPLES / "phase_b_green", run_b)
    assert convert(capsys, "lm-eval", LM_EVAL_OUT, "--out", run_b, "--threshold", "0.3", "--force").rc == 0
    register_ok(capsys, registry, "20261101T120000Z_lmeval", "B", run_b)
    record = load_yaml(registry / "state" / "runs" / "20261101T120000Z_lmeval.yaml")
    gates = {g["id"]: g for g in record["gates"]}
    assert record["verdict"] == "RED"
    assert (gates["eval_pass_rate_min"]["observed"], gates["eval_pass_rate_min"]["passed"]) == (0.4, False)
    assert read_json(registry / "outputs" / "20261101T120000Z_lmeval" / "eval_suite.json")["tasks"][1]["name"] == (
        "arc_easy"
    )


def test_hf_values_register_red_without_the_gated_metric(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = metrics_from_hf_trainer_state(read_json(HF_STATE))
    bundle_from_values(tmp_path / "run", **metrics, config=ArgsWithToDict(), seed=42)
    # HF's eval_loss is close to the gate's val_loss: refused with the suggestion, RED when told to go on
    refused = register(capsys, registry, "20261101T100000Z_hf", "A", tmp_path / "run")
    assert refused.rc == 2 and "this run logged final.eval_loss: did you mean it?" in refused.err
    register_ok(capsys, registry, "20261101T100000Z_hf", "A", tmp_path / "run", "--allow-missing")
    record = load_yaml(registry / "state" / "runs" / "20261101T100000Z_hf.yaml")
    assert (record["verdict"], record["gates"][0]["observed"], record["seed"]) == ("RED", None, 42)
    assert record["metrics"]["eval_loss"] == 0.3385401666164398
