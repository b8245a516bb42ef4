"""Figures for the dossier: series picked out of artifacts, counters left out, panels by family and scale,
gates drawn where they judge, baselines overlaid, PNGs from matplotlib's Agg sized for the page."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import register
from dossier_helpers import (
    HF_LOG_HISTORY,
    HF_MACHINE,
    NOTEBOOK_LAYERS,
    RUN_A,
    RUN_B,
    bundle_folder,
    figure_titles,
    lm_eval_suite,
    make_dossier,
    real_log_bundle,
)

from gerhard.core.gates import Baseline, Gate
from gerhard.dossier import figures
from gerhard.dossier import page as dossier
from gerhard.dossier.figures import Mark
from gerhard.registry.bundle import load_bundle

PNG = b"\x89PNG\r\n\x1a\n"


def test_decimate_keeps_short_series_whole() -> None:
    points = [(float(i), float(i % 7)) for i in range(100)]
    assert figures.decimate(points, 200) is points


def test_decimate_bounds_the_points_and_keeps_ends_and_spikes() -> None:
    points = [(float(i), 1.0) for i in range(100_000)]
    points[54_321] = (54_321.0, 50.0)  # a loss spike must survive
    points[77_777] = (77_777.0, -3.0)
    out = figures.decimate(points, 2000)
    assert len(out) <= 2000
    assert out[0] == points[0] and out[-1] == points[-1]
    assert (54_321.0, 50.0) in out and (77_777.0, -3.0) in out
    assert [p[0] for p in out] == sorted(p[0] for p in out)


def test_history_series_skips_rows_and_values_it_cannot_plot() -> None:
    history = [
        {"step": 0, "train_loss": 5.0, "lr": 0.1, "note": "warmup", "flag": True},
        {"step": 1, "train_loss": math.nan, "val_loss": None},
        {"step": "2", "train_loss": 4.0},
        "not a row",
        {"train_loss": 3.0},
        {"step": 3, "train_loss": math.inf, "val_loss": 4.5},
    ]
    assert figures.history_series(history) == {"train_loss": [(0.0, 5.0)], "lr": [(0.0, 0.1)], "val_loss": [(3.0, 4.5)]}
    assert figures.history_series({"not": "a list"}) == {}


def test_curve_panels_group_losses_rates_and_the_rest() -> None:
    # grad_norm has its own family; names of no family are the label of their axis; throughput gets no panel.
    names = ("train_loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "mfu", "spike_rate", "sparsity")
    assert figures.curve_panels({k: [(0.0, 1.0)] for k in names}) == [
        ("loss", ["train_loss", "val_loss"]),
        ("learning rate", ["lr"]),
        ("gradient norm", ["grad_norm"]),
        ("spike_rate, sparsity", ["spike_rate", "sparsity"]),
    ]


def test_labelled_series_finds_per_entry_numbers() -> None:
    data = {
        "model": "v15",
        "layers": [{"name": "block0", "spike_rate": 0.1, "tag": "x"}, {"name": "block1", "spike_rate": 0.2}],
        "mixed": [{"name": "a", "v": 1}, {"name": "b", "v": "n/a"}],
        "plain": [1, 2, 3],
    }
    assert list(figures.labelled_series(data)) == [("layers", ["block0", "block1"], {"spike_rate": [0.1, 0.2]})]
    assert list(figures.labelled_series([1, 2])) == []


def test_eval_tasks_keeps_scored_tasks() -> None:
    suite = {
        "tasks": [
            {"name": "copy", "score": 0.9, "threshold": 0.5, "passed": True},
            {"name": "sort", "score": None, "passed": False},
            {"name": "x" * 100, "score": 0.1, "passed": "no"},
        ]
    }
    tasks = figures.eval_tasks(suite)
    assert tasks[0] == ("copy", 0.9, 0.5, True)
    assert tasks[1][0] == "x" * 39 + "…" and tasks[1][2:] == (None, None)
    assert figures.eval_tasks({"tasks": "nope"}) == figures.eval_tasks(None) == []


def test_figures_are_pngs_and_names_with_dollars_are_drawn_as_text() -> None:
    history = [{"step": i, "$\\frac{a}{": 1.0 / (i + 1), "val_loss": 2.0} for i in range(50)]
    suite = {"tasks": [{"name": "$\\undefined{", "score": 0.3, "threshold": 0.5, "passed": False}], "pass_rate": 0.0}
    made = [
        figures.training_curves(history),
        figures.eval_suite_chart(suite),
        *figures.artifact_charts("x.json", {"layers": [{"name": "$^", "rate": 1}]}),
    ]
    assert len(made) == 3
    for fig in made:
        assert fig is not None and fig.png.startswith(PNG)
        assert base64.b64decode(fig.data_uri.removeprefix("data:image/png;base64,")) == fig.png
    assert "pass rate 0." in made[1].caption


def test_no_figure_without_data() -> None:
    assert figures.training_curves(None) is None
    assert figures.training_curves([{"step": 1}]) is None
    assert figures.eval_suite_chart({"tasks": []}) is None
    assert figures.artifact_charts("x.json", {"a": 1}) == []


def test_long_history_caption_says_it_was_decimated() -> None:
    history = [{"step": i, "train_loss": 1.0 + (i % 13) / 10} for i in range(10_000)]
    fig = figures.training_curves(history)
    assert fig is not None
    assert "10,000 logged steps; drawn from" in fig.caption and "The bundle keeps every step." in fig.caption


def test_artifact_charts_are_limited() -> None:
    data = {f"k{i}": [{"name": "a", "v": 1.0}] for i in range(10)}
    assert len(figures.artifact_charts("x.json", data, limit=2)) == 2


def png_width(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")  # IHDR: the first chunk after the signature


def flat(value: float, n: int = 3) -> list[tuple[float, float]]:
    return [(float(i), value) for i in range(n)]


# metrics.json histories as real trainers log them: Hugging Face Trainer's log_history (train rows and an
# eval row) and PyTorch Lightning's metrics.csv (step and epoch columns, per-step and per-epoch losses).
HF_TRAINER = [
    {"step": s, "loss": 2.7 + 10 / s, "learning_rate": 3e-4 * (1 - s / 1000), "grad_norm": 1.3, "epoch": s / 500}
    for s in range(10, 1000, 10)
] + [
    {
        "step": 500,
        "eval_loss": 2.9,
        "eval_runtime": 12.3,
        "eval_samples_per_second": 80.1,
        "eval_steps_per_second": 10.0,
        "epoch": 1.0,
    },
    {
        "step": 990,
        "train_runtime": 812.5,
        "train_samples_per_second": 19.7,
        "train_steps_per_second": 1.2,
        "total_flos": 2.1e15,
        "train_loss": 2.86,
        "epoch": 1.98,
    },
]
LIGHTNING = [
    {"step": s, "epoch": s // 100, "train_loss_step": 3.0 - s / 1000, "lr-Adam": 1e-3} for s in range(0, 500, 10)
]
LIGHTNING += [{"step": s, "epoch": s // 100, "val_loss": 2.8, "train_loss_epoch": 2.9} for s in (99, 199, 299)]


@pytest.mark.parametrize(
    "name",
    ["epoch", "step", "global_step", "trainer/global_step", "train/epoch", "iteration", "iter", "samples"]
    + ["num_samples", "tokens_seen", "num_input_tokens_seen", "consumed_samples", "time"]
    + ["time/wall-clock", "time/step", "wall_clock", "elapsed_time", "elapsed_s", "timestamp", "_runtime"]
    + ["_timestamp", "_step", "train_runtime", "eval_runtime"],
)
def test_counters_are_axes_not_quantities(name: str) -> None:
    assert figures.is_counter(name, [(0.0, 1.0), (1.0, 3.0)])


@pytest.mark.parametrize(
    "name",
    ["loss", "train_loss_step", "val_loss_epoch", "epoch_loss", "learning_rate", "lr-Adam", "grad_norm", "val"]
    + ["tokens_per_second", "step_time", "eval_samples_per_second", "val_acc", "val_ppl"],
)
def test_quantities_are_not_counters(name: str) -> None:
    assert not figures.is_counter(name, [(0.0, 1.0), (1.0, 3.0)])


def test_a_copy_of_the_step_is_a_counter_whatever_its_name() -> None:
    assert figures.is_counter("progress", [(0.0, 0.0), (10.0, 10.0)])
    assert not figures.is_counter("progress", [(5.0, 5.0)])  # one point proves nothing


@pytest.mark.parametrize(
    ("history", "panels"),
    [
        (
            HF_TRAINER,
            [
                ("loss", ["loss", "eval_loss", "train_loss"]),
                ("learning rate", ["learning_rate"]),
                ("gradient norm", ["grad_norm"]),
            ],
        ),
        (LIGHTNING, [("loss", ["train_loss_step", "val_loss", "train_loss_epoch"]), ("learning rate", ["lr-Adam"])]),
        ([{"step": i, "epoch": i / 10, "global_step": i, "time/wall-clock": 3.5 * i} for i in range(5)], []),
    ],
    ids=["hf-trainer", "lightning", "only-counters"],
)
def test_curve_panels_of_real_training_logs(history: list[dict[str, Any]], panels: list[Any]) -> None:
    assert figures.curve_panels(figures.history_series(history)) == panels


@pytest.mark.parametrize(
    ("series", "panels"),
    [
        ({"loss": flat(2.7), "lr": flat(3e-4)}, [("loss", ["loss"]), ("learning rate", ["lr"])]),
        ({"a": flat(2.7), "b": flat(3e-4)}, [("a", ["a"]), ("b", ["b"])]),
        ({"train_loss": flat(2.7), "val_loss": flat(0.3)}, [("loss", ["train_loss", "val_loss"])]),  # 9x: one axis
        (
            {"train_loss": flat(2.7), "aux_loss": flat(0.003), "val_loss": flat(3.1)},
            [("loss (~1e0)", ["train_loss", "val_loss"]), ("loss (~1e-3)", ["aux_loss"])],
        ),
        (
            {"spikes": flat(12000.0), "sparsity": flat(0.41), "zero": flat(0.0)},
            [("spikes", ["spikes"]), ("sparsity, zero", ["sparsity", "zero"])],
        ),
        ({"lr-Adam/pg1": flat(1e-3), "lr-Adam/pg2": flat(3e-4)}, [("learning rate", ["lr-Adam/pg1", "lr-Adam/pg2"])]),
        ({"val_ppl": flat(15.2), "val_acc": flat(0.7)}, [("perplexity", ["val_ppl"]), ("accuracy", ["val_acc"])]),
    ],
    ids=[
        "loss-vs-lr",
        "unknown-names-by-scale",
        "within-a-decade",
        "loss-split",
        "other-split",
        "lr-groups",
        "ppl-acc",
    ],
)
def test_quantities_of_different_scale_get_their_own_panels(series: dict[str, Any], panels: list[Any]) -> None:
    assert figures.curve_panels(series) == panels


def test_panels_are_limited_but_a_judged_metric_keeps_its_panel() -> None:
    series = {f"m{i}": flat(100.0**i) for i in range(8)}
    assert [keys for _, keys in figures.curve_panels(series)] == [[f"m{i}"] for i in range(figures.MAX_PANELS)]
    kept = figures.curve_panels(series, keep={"m7"})
    assert [keys for _, keys in kept] == [[f"m{i}"] for i in range(figures.MAX_PANELS)] + [["m7"]]
    crowded = {f"loss{i}": flat(2.0) for i in range(10)}
    assert figures.curve_panels(crowded) == [("loss", [f"loss{i}" for i in range(8)])]
    assert figures.curve_panels(crowded, keep={"loss9"}) == [("loss", [*(f"loss{i}" for i in range(8)), "loss9"])]
    fig = figures.training_curves([{"step": s, **{f"loss{i}": 2.0 for i in range(10)}} for s in range(3)])
    assert fig is not None and fig.caption.endswith(" Not drawn (too many to show): loss8, loss9.")


PHASE_GATES = [
    Gate.from_dict(d)
    for d in (
        {"id": "val_loss_max", "artifact": "metrics.json", "path": "final.val_loss", "op": "<=", "value": 2.9},
        {"id": "spike_rate_band", "artifact": "v15.json", "path": "spike_rate.mean", "range": [0.05, 0.25]},
        {"id": "eval_pass_rate_min", "artifact": "eval_suite.json", "path": "pass_rate", "op": ">=", "value": 0.8},
        {
            "id": "val_loss_vs_best_green",
            "artifact": "metrics.json",
            "path": "final.val_loss",
            "baseline": "best_green",
            "better": "lower",
            "min_improvement": -0.05,
        },
        {"id": "clean_order", "artifact": "provenance.json", "path": "execution_order_ok", "op": "==", "value": True},
        {"id": "not_zero", "artifact": "metrics.json", "path": "final.val_loss", "op": "!=", "value": 0},
    )
]


BAND = (0.05, 0.25)


def test_gate_marks_are_thresholds_bands_and_baseline_limits() -> None:
    marks = dossier.gate_marks(
        PHASE_GATES,
        {"val_loss_vs_best_green": Baseline("b_green", 2.72), "val_loss_max": Baseline("ignored", 1.0)},
        {"val_loss_max": True, "spike_rate_band": False},
    )
    assert marks == [
        Mark("val_loss_max", "metrics.json", "final.val_loss", "val_loss_max <= 2.9", line=2.9, passed=True),
        Mark(
            "spike_rate_band", "v15.json", "spike_rate.mean", "spike_rate_band in [0.05, 0.25]", band=BAND, passed=False
        ),
        Mark("eval_pass_rate_min", "eval_suite.json", "pass_rate", "eval_pass_rate_min >= 0.8", line=0.8),
        Mark(
            "val_loss_vs_best_green",
            "metrics.json",
            "final.val_loss",
            "val_loss_vs_best_green <= 2.77",
            line=pytest.approx(2.77),
            baseline_run="b_green",
        ),
    ]
    assert dossier.gate_marks(PHASE_GATES[3:], {}, {}) == []  # no baseline yet: nothing to draw


@pytest.mark.parametrize(
    ("artifact", "path", "metric"),
    [
        ("metrics.json", "final.val_loss", "val_loss"),
        ("metrics.json", "history.-1.train_loss", "train_loss"),
        ("metrics.json", "final.val_ppl", None),  # not logged per step: no curve to draw it on
        ("eval_suite.json", "val_loss", None),
    ],
)
def test_a_metrics_gate_is_drawn_on_the_curve_of_the_metric_it_judges(artifact: str, path: str, metric: Any) -> None:
    mark = Mark("g", artifact, path, "g <= 1", line=1.0)
    assert figures.judged_metric(mark, {"train_loss", "val_loss", "lr"}) == metric


SPIKES = {
    "spike_rate": {"mean": 0.1},
    "layers": [{"name": "b0", "spike_rate": 0.1, "energy": 1.0}],
    "heads": [{"name": "h0", "spike_rate": 0.2}],
    "energy_ratio": 0.4,
}


@pytest.mark.parametrize(
    ("artifact", "path", "key", "field", "drawn"),
    [
        ("v15.json", "spike_rate.mean", "layers", "spike_rate", True),  # a summary of the charted field
        ("v15.json", "layers.0.spike_rate", "layers", "spike_rate", True),
        ("v15.json", "layers.-1.spike_rate", "layers", "spike_rate", True),
        ("v15.json", "heads.0.spike_rate", "layers", "spike_rate", False),  # another list's field
        ("v15.json", "heads.0.spike_rate", "heads", "spike_rate", True),
        ("v15.json", "layers.0.spike_rate", "layers", "energy", False),
        ("v15.json", "energy_ratio", "layers", "energy", False),
        ("other.json", "spike_rate.mean", "layers", "spike_rate", False),
    ],
)
def test_an_artifact_gate_is_drawn_on_the_bars_of_the_field_it_judges(
    artifact: str, path: str, key: str, field: str, drawn: bool
) -> None:
    mark = Mark("g", artifact, path, "g in [0, 1]", band=(0.0, 1.0))
    assert figures.field_marks([mark], "v15.json", SPIKES, key, field) == ([mark] if drawn else [])


SUITE = {
    "tasks": [{"name": "a", "score": 0.9}, {"name": "b", "score": None}, {"name": "c", "score": 0.4}],
    "pass_rate": 0.5,
}


@pytest.mark.parametrize(
    ("suite", "artifact", "path", "row"),
    [
        (SUITE, "eval_suite.json", "pass_rate", 0),  # the pass-rate row comes first
        (SUITE, "eval_suite.json", "tasks.0.score", 1),
        (SUITE, "eval_suite.json", "tasks.2.score", 2),  # task 1 has no score and no row
        (SUITE, "eval_suite.json", "tasks.-1.score", 2),
        (SUITE, "eval_suite.json", "tasks.1.score", None),
        (SUITE, "eval_suite.json", "tasks.0.threshold", None),
        (SUITE, "metrics.json", "pass_rate", None),
        ({"tasks": SUITE["tasks"]}, "eval_suite.json", "pass_rate", None),  # no pass rate, no row for it
        ({"tasks": SUITE["tasks"]}, "eval_suite.json", "tasks.0.score", 0),
    ],
)
def test_an_eval_gate_is_drawn_on_its_row(suite: Any, artifact: str, path: str, row: int | None) -> None:
    mark = Mark("g", artifact, path, "g >= 0.8", line=0.8)
    assert figures.eval_marks(suite, [mark]) == ([] if row is None else [(row, mark)])


def test_baseline_curves_come_from_the_baseline_runs_history() -> None:
    relative = Mark("rel", "metrics.json", "final.val_loss", "rel <= 2.77", line=2.77, baseline_run="b")
    marks = [
        relative,
        Mark("rel_again", "metrics.json", "final.val_loss", "rel_again <= 2.8", line=2.8, baseline_run="b"),
        Mark("abs", "metrics.json", "final.val_loss", "abs <= 2.9", line=2.9),
        Mark("unread", "metrics.json", "final.val_loss", "unread <= 2.7", line=2.7, baseline_run="c"),
        Mark("no_curve", "metrics.json", "final.val_ppl", "no_curve <= 20", line=20.0, baseline_run="b"),
    ]
    histories = {"b": [{"step": 0, "val_loss": 3.0}, {"step": 10, "val_loss": 2.8, "lr": 1.0}]}
    names = {"val_loss", "lr", "val_ppl"}
    assert figures.baseline_curves(marks, histories, names) == {"val_loss": [("b", [(0.0, 3.0), (10.0, 2.8)])]}
    assert figures.baseline_curves([relative], {"b": [{"step": 0, "lr": 1.0}]}, names) == {}


def test_training_curves_of_a_real_log_with_gates_and_a_baseline_render() -> None:
    marks = [
        Mark("eval_loss_max", "metrics.json", "final.eval_loss", "eval_loss_max <= 2.9", line=2.9, passed=True),
        Mark("rel", "metrics.json", "final.eval_loss", "rel <= 3", line=3.0, passed=False, baseline_run="b_green"),
        Mark("elsewhere", "eval_suite.json", "pass_rate", "elsewhere >= 0.8", line=0.8),
    ]
    baseline = [{"step": 500, "eval_loss": 2.95}, {"step": 1000, "eval_loss": 2.93}]
    fig = figures.training_curves(HF_TRAINER, marks, {"b_green": baseline})
    assert fig is not None and fig.png.startswith(PNG)
    assert png_width(fig.png) == figures.PAGE_WIDTH_PX * figures.DPI / figures.PX_PER_INCH
    assert fig.caption == (
        "Per-step history from metrics.json: 99 logged steps. The bundle keeps every step."
        " Counters, not drawn: epoch, eval_runtime, train_runtime. Throughput and FLOP counts, not drawn:"
        " eval_samples_per_second, eval_steps_per_second, train_samples_per_second, train_steps_per_second,"
        " total_flos. Dashed: baseline run b_green."
        " Dotted lines and shaded bands: gates eval_loss_max <= 2.9, rel <= 3."
    )
    assert figures.training_curves([{"step": i, "epoch": i / 10} for i in range(5)]) is None


def test_gates_on_the_eval_suite_and_artifact_charts_render() -> None:
    suite = dict(SUITE, tasks=[{"name": "a", "score": 0.9, "threshold": 0.5, "passed": True}])
    rate_gate = Mark("eval_pass_rate_min", "eval_suite.json", "pass_rate", "eval_pass_rate_min >= 0.8", line=0.8)
    chart = figures.eval_suite_chart(suite, [rate_gate])
    assert chart is not None and chart.png.startswith(PNG)
    assert chart.caption == (
        "Eval suite: green passed, red failed; pass rate 0.5. Dotted lines and shaded bands: gates"
        " eval_pass_rate_min >= 0.8."
    )
    band = Mark("spike_rate_band", "v15.json", "spike_rate.mean", "spike_rate_band in [0.05, 0.25]", band=(0.05, 0.25))
    (bars,) = figures.artifact_charts(
        "v15.json", {"spike_rate": {"mean": 0.1}, "layers": SPIKES["layers"]}, marks=[band]
    )
    assert bars.png.startswith(PNG) and bars.caption == (
        "spike_rate, energy per entry of 'layers' in v15.json. Dotted lines and shaded bands: gates"
        " spike_rate_band in [0.05, 0.25]."
    )


def test_figures_fill_the_page_width_without_being_blown_up() -> None:
    css = (Path(figures.__file__).parent.parent / "templates" / "dossier.html.j2").read_text(encoding="utf-8")
    body = re.search(r"body \{[^}]*max-width: ([0-9.]+)rem", css)
    assert body is not None and float(body.group(1)) * 16 == figures.PAGE_WIDTH_PX
    assert re.search(r"figure img \{ width: 100%;", css)
    fig = figures.eval_suite_chart(SUITE)
    assert fig is not None and png_width(fig.png) >= figures.PAGE_WIDTH_PX


def figures_caption(html: str, title: str) -> str:
    match = re.search(rf"<strong>{title}\.</strong> ([^<]*)</figcaption>", html)
    assert match is not None, title
    return match.group(1)


def test_the_dossier_draws_the_gates_and_the_baseline_of_the_registry_it_is_given(
    registry: Path, bundle_a: Path, bundle_b_green: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "state").mkdir()
    (fresh / "state" / "program.yaml").write_bytes((registry / "state" / "program.yaml").read_bytes())
    for run_id, phase, folder in ((RUN_A, "A", bundle_a), ("b_green", "B", bundle_b_green)):
        assert register(capsys, registry, run_id, phase, folder).rc == 0
    folder = bundle_folder(tmp_path, "phase_b_red", RUN_B)
    drawing = dossier.gate_drawing(registry, RUN_B, dossier.evaluate(registry, "B", load_bundle(folder)), None)
    relative = next(m for m in drawing.marks if m.gate_id == "val_loss_vs_best_green")
    assert relative.baseline_run == "b_green" and relative.line == pytest.approx(2.77) and relative.passed is False
    assert drawing.baseline_histories == {
        "b_green": json.loads((bundle_b_green / "metrics.json").read_text())["history"]
    }
    curves = figures_caption(
        make_dossier(folder, "B", repo_root=registry).read_text(), "Training and validation curves"
    )
    assert "Dashed: baseline run b_green." in curves
    assert "gates val_loss_max &lt;= 2.9, val_loss_vs_best_green &lt;= 2.77." in curves
    other = figures_caption(make_dossier(folder, "B", repo_root=fresh).read_text(), "Training and validation curves")
    assert "Dashed" not in other and "gates val_loss_max &lt;= 2.9." in other  # that registry has no baseline
    shutil.rmtree(registry / "outputs" / "b_green")  # the limit is still drawn; the curve is not
    curves = figures_caption(
        make_dossier(folder, "B", repo_root=registry).read_text(), "Training and validation curves"
    )
    assert "Dashed" not in curves and "val_loss_vs_best_green &lt;= 2.77." in curves


def test_an_archived_run_draws_the_baseline_it_was_registered_against(
    registry: Path,
    bundle_a: Path,
    bundle_b_red: Path,
    bundle_b_green: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    later = bundle_folder(tmp_path, "phase_b_red", "b_red_later")
    for run_id, phase, folder in ((RUN_A, "A", bundle_a), (RUN_B, "B", bundle_b_red), ("b_green", "B", bundle_b_green)):
        assert register(capsys, registry, run_id, phase, folder).rc == 0
    assert register(capsys, registry, "b_red_later", "B", later, "--allow-duplicate").rc == 0
    first = dossier.build_dossier(registry / "outputs" / RUN_B).read_text()
    assert "val_loss_vs_best_green" not in figures_caption(first, "Training and validation curves")  # none yet then
    second = figures_caption(
        dossier.build_dossier(registry / "outputs" / "b_red_later").read_text(), "Training and validation curves"
    )
    assert "Dashed: baseline run b_green." in second and "val_loss_vs_best_green &lt;= 2.77." in second


# Figures that suit real logs: no legend over data, axes named by what they plot, no panel for throughput or FLOP
# counts, per-entry bars only for the fields an artifact's schema declares or a gate judges. Asserted on the
# matplotlib figures the PNGs are saved from (Drawing.figure(), laid out by a real draw on the Agg canvas).


@pytest.mark.parametrize(
    "name",
    [*HF_MACHINE, "tokens_per_s", "tokens_per_second", "throughput/batches_per_sec", "throughput/device/mfu"]
    + ["throughput/flops_per_sec", "mfu", "perf/tflops"],
)
def test_throughput_and_flop_counts_get_no_panel(name: str) -> None:
    assert figures.is_throughput(name)
    series = {name: [(0.0, 1.0), (1.0, 2.0)], "loss": flat(2.0)}
    assert figures.curve_panels(series) == [("loss", ["loss"])]
    assert figures.curve_panels(series, keep={name})[-1][1] == [name]  # unless a gate judges it


@pytest.mark.parametrize(
    "name", ["loss", "eval_loss", "val_ppl", "spike_rate", "per_token_loss", "steps_per_epoch", "lr-Adam/pg1", "f1"]
)
def test_quantities_are_not_throughput(name: str) -> None:
    assert not figures.is_throughput(name)


def legends_clear_of_the_axes(fig: Any) -> list[Any]:
    """Every legend of the figure lies inside the figure and overlaps no axes (data is drawn clipped to its axes,
    so this is stronger than clearing the data artists); returns the legends."""
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), (legend.get_texts()[0].get_text(), ax.get_ylabel())
    return legends


@pytest.mark.parametrize("history", [HF_LOG_HISTORY, HF_TRAINER, LIGHTNING], ids=["hf-real", "hf-long", "lightning"])
def test_curves_of_real_logs_have_named_axes_clear_legends_and_no_throughput(history: list[dict[str, Any]]) -> None:
    marks = [Mark("val_loss_max", "metrics.json", "final.val_loss", "val_loss_max <= 2.9", line=2.9, passed=True)]
    drawing = figures.curves_drawing(history, marks)
    assert drawing is not None
    fig = drawing.figure()
    ylabels = [ax.get_ylabel() for ax in fig.axes]
    assert all(label and "other" not in label for label in ylabels), ylabels
    assert [ax.get_xlabel() for ax in fig.axes] == [""] * (len(fig.axes) - 1) + ["step"]
    plotted = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert not plotted & set(HF_MACHINE) and not {"epoch", "train_runtime", "eval_runtime"} & plotted
    assert len(legends_clear_of_the_axes(fig)) == len(fig.axes)  # every panel names its curves


def test_the_counter_on_the_x_axis_is_the_epoch_when_the_step_is_the_epoch() -> None:
    per_epoch = [{"step": e, "epoch": e, "val_acc": 0.5 + e / 10} for e in range(5)]
    drawing = figures.curves_drawing(per_epoch)
    assert drawing is not None and drawing.figure().axes[-1].get_xlabel() == "epoch"
    assert figures.x_label(figures.history_series(HF_LOG_HISTORY)) == "step"


def test_no_legend_over_the_last_eval_bar() -> None:
    """The reported case: lm-eval tasks under a pass-rate gate, the legend was drawn over the last task's bar."""
    suite = lm_eval_suite()
    marks = [
        Mark("eval_pass_rate_min", "eval_suite.json", "pass_rate", "eval_pass_rate_min >= 0.8", line=0.8, passed=False),
        Mark("last_task", "eval_suite.json", "tasks.-1.score", "last_task in [0.2, 0.9]", band=(0.2, 0.9), passed=True),
    ]
    drawing = figures.eval_suite_drawing(suite, marks)
    assert drawing is not None
    fig = drawing.figure()
    (ax,) = fig.axes
    (legend,) = legends_clear_of_the_axes(fig)
    box = legend.get_window_extent(fig.canvas.get_renderer())
    assert not any(box.overlaps(bar.get_window_extent()) for bar in ax.patches)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == suite["tasks"][-1]["name"]
    assert ax.get_xlabel() == "score (black tick: threshold)"


def test_bar_panels_are_named_by_their_field_and_keep_the_legend_outside() -> None:
    band = Mark("spike_rate_band", "v15.json", "spike_rate.mean", "spike_rate_band in [0.05, 0.25]", band=BAND)
    data = {"spike_rate": {"mean": 0.12}, "layers": NOTEBOOK_LAYERS}
    (drawing,) = figures.artifact_drawings("v15.json", data, marks=[band], declared={"layers": {"spike_rate"}})
    fig = drawing.figure()
    assert [(ax.get_ylabel(), ax.get_xlabel()) for ax in fig.axes] == [("spike_rate", "layers")]
    assert len(legends_clear_of_the_axes(fig)) == 1
    assert drawing.caption == (
        "spike_rate per entry of 'layers' in v15.json. Not declared in its schema, not drawn: neurons, timesteps,"
        " dead_fraction, threshold. Dotted lines and shaded bands: gates spike_rate_band in [0.05, 0.25]."
    )


def test_the_schema_says_which_per_entry_fields_matter() -> None:
    shipped = json.loads((Path(figures.__file__).parents[2] / "schemas" / "v15_spikingbrain.schema.json").read_text())
    assert figures.schema_fields(shipped) == {"layers": frozenset({"spike_rate"})}
    typed = {"properties": {"rows": {"type": "array", "items": {"properties": {"n": {"type": "integer"}, "s": {}}}}}}
    assert figures.schema_fields(typed) == {"rows": frozenset({"n"})}
    assert figures.schema_fields({"type": "object"}) == figures.schema_fields(None) == {}


def test_per_entry_bars_only_for_declared_or_judged_fields() -> None:
    data = {"spike_rate": {"mean": 0.12}, "layers": NOTEBOOK_LAYERS}
    judged = Mark("g", "v15.json", "layers.0.dead_fraction", "g <= 0.1", line=0.1)
    assert figures.artifact_drawings("v15.json", data, declared={}) == []  # nothing declared, nothing judged
    (only_judged,) = figures.artifact_drawings("v15.json", data, marks=[judged], declared={})
    assert [ax.get_ylabel() for ax in only_judged.figure().axes] == ["dead_fraction"]
    (undeclared,) = figures.artifact_drawings("v15.json", data)  # no schema at hand: the first numeric fields
    assert [ax.get_ylabel() for ax in undeclared.figure().axes] == ["spike_rate", "neurons", "timesteps"]
    assert undeclared.caption.endswith(" Not drawn (too many to show): dead_fraction, threshold.")


def test_declared_fields_come_from_the_programs_schemas_or_the_shipped_one(registry: Path) -> None:
    names = ["v15_spikingbrain.json", "trainer_state.json"]
    expected = {"v15_spikingbrain.json": {"layers": frozenset({"spike_rate"})}}
    assert dossier.declared_fields(None, names) == expected  # no program: the shipped schema of that name
    assert dossier.declared_fields(registry, names) == expected  # program.yaml's artifacts: maps it
    program = registry / "state" / "program.yaml"
    text = program.read_text().replace("artifacts:\n  v15_spikingbrain.json: v15_spikingbrain\n", "artifacts: {}\n")
    program.write_text(text)
    assert dossier.declared_fields(registry, names) == {}  # the program does not say what the file is


def test_a_dossier_draws_no_noise_panels(tmp_path: Path) -> None:
    """real_log_bundle: curves, eval suite and the spike rate per layer, nothing else (not trainer_state.json's
    log_history, not the layers' neurons and timesteps)."""
    html = make_dossier(real_log_bundle(tmp_path), "B").read_text()
    assert figure_titles(html) == [
        "Training and validation curves",
        "Eval suite",
        "layers in v15_spikingbrain.json",
    ]
    assert "Throughput and FLOP counts, not drawn: eval_samples_per_second" in html
    assert "spike_rate per entry of &#39;layers&#39; in v15_spikingbrain.json. Not declared in its schema" in html
