"""Figures for the dossier: series picked out of artifacts, decimation, PNGs from matplotlib's Agg."""

from __future__ import annotations

import base64
import math

from gerhard import figures

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
    series = {k: [(0.0, 1.0)] for k in ("train_loss", "val_loss", "lr", "grad_norm", "tokens_per_s")}
    assert figures.curve_panels(series) == [
        ("loss", ["train_loss", "val_loss"]),
        ("learning rate", ["lr"]),
        ("other", ["grad_norm", "tokens_per_s"]),
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
