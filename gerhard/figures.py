"""The dossier's figures: series picked out of artifacts (pure), drawn with matplotlib's Agg to PNG.

Figures are made with `matplotlib.figure.Figure` and the Agg canvas directly (no pyplot, no global
backend), with math text off so a `$` in a run's names is drawn as a character. Long histories are
decimated for drawing (min and max of each bucket, so spikes survive); the data stays complete in
the bundle.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_PLOT_POINTS = 2000  # per series; above this a series is decimated for drawing
MAX_BARS = 60
MAX_LABEL = 40
_PASS, _FAIL, _NEUTRAL = "#2e7d32", "#c62828", "#1f5fa8"
_LABEL_KEYS = ("name", "layer", "id", "task", "label")


@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (bools, text, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def short(label: Any) -> str:
    text = " ".join(str(label).split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def decimate(points: list[tuple[float, float]], max_points: int = MAX_PLOT_POINTS) -> list[tuple[float, float]]:
    """At most about max_points points: the first, last, and the min and max of each bucket, in order."""
    n = len(points)
    if n <= max_points:
        return points
    buckets = max(1, (max_points - 2) // 2)
    keep = {0, n - 1}
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if hi > lo:
            keep.add(min(range(lo, hi), key=lambda i: points[i][1]))
            keep.add(max(range(lo, hi), key=lambda i: points[i][1]))
    return [points[i] for i in sorted(keep)]


def history_series(history: Any) -> dict[str, list[tuple[float, float]]]:
    """metrics.json history rows → {metric: [(step, value)]}, skipping missing and non-finite values."""
    series: dict[str, list[tuple[float, float]]] = {}
    if not isinstance(history, list):
        return series
    for row in history:
        step = number(row.get("step")) if isinstance(row, dict) else None
        if step is None:
            continue
        for key, value in row.items():
            y = number(value)
            if key != "step" and y is not None:
                series.setdefault(str(key), []).append((step, y))
    return series


def curve_panels(series: dict[str, list[tuple[float, float]]]) -> list[tuple[str, list[str]]]:
    """Group series into panels: losses together, the learning rate apart, the rest together."""
    losses = [k for k in series if "loss" in k.lower()]
    rates = [k for k in series if k.lower() in ("lr", "learning_rate") and k not in losses]
    other = [k for k in series if k not in losses and k not in rates][:8]
    return [(t, ks) for t, ks in (("loss", losses), ("learning rate", rates), ("other", other)) if ks]


def labelled_series(data: Any) -> Iterator[tuple[str, list[str], dict[str, list[float]]]]:
    """Lists of objects with a label and numeric fields (e.g. layers: [{name, spike_rate}]):
    (key, labels, {field: values}) for each such list at the top level of an artifact."""
    if not isinstance(data, dict):
        return
    for key, rows in data.items():
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            continue
        label_key = next((k for k in _LABEL_KEYS if all(k in r for r in rows)), None)
        fields = [f for f in rows[0] if f != label_key and all(number(r.get(f)) is not None for r in rows)]
        if fields:
            labels = [short(r[label_key]) if label_key else str(i) for i, r in enumerate(rows)]
            yield str(key), labels[:MAX_BARS], {f: [float(r[f]) for r in rows][:MAX_BARS] for f in fields[:3]}


def eval_tasks(suite: Any) -> list[tuple[str, float, float | None, bool | None]]:
    """eval_suite.json tasks → [(name, score, threshold, passed)] for tasks with a finite score."""
    tasks = suite.get("tasks") if isinstance(suite, dict) else None
    out = []
    for t in tasks if isinstance(tasks, list) else []:
        if isinstance(t, dict) and number(t.get("score")) is not None:
            passed = t.get("passed") if isinstance(t.get("passed"), bool) else None
            out.append((short(t.get("name", "?")), float(t["score"]), number(t.get("threshold")), passed))
    return out[:MAX_BARS]


def _render(draw: Any, width: float, height: float) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font are drawn as boxes; that is fine
        fig = MplFigure(figsize=(width, height), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def training_curves(history: Any) -> Figure | None:
    series = history_series(history)
    panels = curve_panels(series)
    if not panels:
        return None
    decimated = {k: decimate(v) for k, v in series.items()}
    rows = max(len(v) for v in series.values())

    def draw(fig: Any) -> None:
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (title, keys) in zip(axes, panels, strict=True):
            for k in keys:
                ax.plot([p[0] for p in decimated[k]], [p[1] for p in decimated[k]], label=short(k), linewidth=1.2)
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
            ax.legend(loc="best", fontsize=8)
        axes[-1].set_xlabel("step")

    plotted = max(len(v) for v in decimated.values())
    note = f"; drawn from {plotted:,} points per series (min/max per bucket)" if plotted < rows else ""
    caption = f"Per-step history from metrics.json: {rows:,} logged steps{note}. The bundle keeps every step."
    return Figure("Training and validation curves", caption, _render(draw, 8, 2.2 + 2.0 * len(panels)))


def eval_suite_chart(suite: Any) -> Figure | None:
    tasks = eval_tasks(suite)
    if not tasks:
        return None

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        ys = range(len(tasks))
        colors = [_NEUTRAL if p is None else (_PASS if p else _FAIL) for _, _, _, p in tasks]
        ax.barh(list(ys), [t[1] for t in tasks], color=colors)
        for y, (_, score, threshold, passed) in zip(ys, tasks, strict=True):
            if threshold is not None:
                ax.plot([threshold, threshold], [y - 0.4, y + 0.4], color="black", linewidth=2)
            mark = "" if passed is None else (" pass" if passed else " FAIL")
            ax.annotate(f"{score:.3g}{mark}", (score, y), xytext=(3, 0), textcoords="offset points", va="center")
        ax.set_yticks(list(ys), [t[0] for t in tasks])
        ax.invert_yaxis()
        ax.set_xlabel("score (black tick: threshold)")
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)

    rate = number(suite.get("pass_rate")) if isinstance(suite, dict) else None
    caption = "Eval suite: green passed, red failed" + (f"; pass rate {rate:.3g}." if rate is not None else ".")
    return Figure("Eval suite", caption, _render(draw, 8, 1.2 + 0.35 * len(tasks)))


def artifact_charts(name: str, data: Any, limit: int = 4) -> list[Figure]:
    """Bar charts of the labelled series in a phase artifact (e.g. spike rate per layer)."""
    figures: list[Figure] = []
    for key, labels, fields in labelled_series(data):
        if len(figures) >= limit:
            break

        def draw(fig: Any, labels: list[str] = labels, fields: dict[str, list[float]] = fields) -> None:
            axes = fig.subplots(len(fields), 1, sharex=True, squeeze=False)[:, 0]
            for ax, (metric, values) in zip(axes, fields.items(), strict=True):
                ax.bar(range(len(values)), values, color=_NEUTRAL)
                ax.set_ylabel(short(metric))
                ax.grid(axis="y", alpha=0.3)
            axes[-1].set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0, ha="right")

        title = f"{short(key)} in {short(name)}"
        caption = f"{', '.join(map(short, fields))} per entry of '{short(key)}' in {short(name)}."
        figures.append(Figure(title, caption, _render(draw, 8, 1.2 + 2.0 * len(fields))))
    return figures
