"""The dossier's figures: series picked out of artifacts (pure), drawn with matplotlib's Agg to PNG.

Figures are made with `matplotlib.figure.Figure` and the Agg canvas directly (no pyplot, no global
backend), with math text off so a `$` in a run's names is drawn as a character. Long histories are
decimated for drawing (min and max of each bucket, so spikes survive); the data stays complete in
the bundle. Counters (epoch, tokens seen, wall-clock time) are x-axes and are not drawn, nor are
throughput and FLOP counts (HF's *_samples_per_second, total_flos): they describe the machine, not the
model, and stay in metrics.json. Quantities share a panel only with their family within a decade of
scale, and each y-axis is labelled by that family or by the names it plots (never "other").
Gates come in as plain data (`Mark`s, and baseline runs' histories) and are drawn on the figure of the
value they judge. An artifact's per-entry numbers (spike rate per layer) are drawn only for the fields
its schema declares or a gate judges, so sizes and settings logged beside them (neurons, timesteps)
make no panel. Legends sit outside the axes, to the right, so no legend ever covers data.

Each chart is first a `Drawing` (title, caption, a function that draws on a matplotlib figure); its
`figure()` is what the tests inspect, its `render()` the PNG the page shows.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import math
import re
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

MAX_PLOT_POINTS = 2000  # per series; above this a series is decimated for drawing
MAX_BARS = 60
MAX_FIELDS = 3  # bar panels per artifact list
MAX_LABEL = 40
MAX_PANELS = 6  # curve panels, plus any panel a gate judges
MAX_PANEL_SERIES = 8
SPARSE = 30  # series with at most this many points are drawn with markers
PAGE_WIDTH_PX = 1088  # the dossier's content width: max-width 68rem at 16px (templates/dossier.html.j2)
PX_PER_INCH = 100  # page pixels per figure inch: 9-point text shows at 12.5px, near the page's own text
DPI = 150  # PNG pixels per figure inch: 1.5 per page pixel, so images are shrunk, never blown up
FIGURE_WIDTH = PAGE_WIDTH_PX / PX_PER_INCH
_PASS, _FAIL, _NEUTRAL, _INK, _RATE = "#2e7d32", "#c62828", "#1f5fa8", "#1b1f24", "#57606a"
_STYLES = (":", "-.", (0, (1, 3)), (0, (4, 1, 1, 1, 1, 1)))  # gate lines, told apart when a panel has several
_LABEL_KEYS = ("name", "layer", "id", "task", "label")
_SPLIT_WORDS = frozenset({"train", "training", "eval", "val", "valid", "validation", "test", "trainer"})
_COUNTERS = frozenset(
    {"epoch", "epochs", "step", "steps", "global_step", "globalstep", "iteration", "iterations", "iter", "iters"}
    | {"it", "batch", "batches", "batch_idx", "samples", "num_samples", "examples", "num_examples", "tokens"}
    | {"num_tokens"}
)
_RATE_WORDS = frozenset({"s", "sec", "secs", "second", "seconds", "ms", "min", "minute", "hour", "h"})
_MACHINE_WORDS = frozenset({"throughput", "flos", "flops", "tflops", "gflops", "mfu", "hfu"})
_LEGEND = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)  # outside, right
_TIME_WORDS = frozenset(
    {"time", "wall", "clock", "walltime", "wallclock", "elapsed", "timestamp", "runtime", "relative", "date"}
    | {"datetime", "s", "sec", "secs", "seconds", "ms", "min", "mins", "minutes", "h", "hours"}
)
_FAMILIES = (  # panel title and the words (or two words run together) that put a series in it
    ("perplexity", frozenset({"ppl", "perplexity"})),
    ("accuracy", frozenset({"acc", "accuracy", "top1", "top5", "f1"})),
    ("learning rate", frozenset({"lr", "learningrate"})),
    ("gradient norm", frozenset({"grad", "grads", "gradient", "gradnorm"})),
)

Points = list[tuple[float, float]]


@dataclass(frozen=True)
class Figure:
    title: str
    caption: str
    png: bytes = field(repr=False)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Drawing:
    """A chart before it is drawn: `draw` fills a matplotlib figure `height` inches tall."""

    title: str
    caption: str
    draw: Callable[[Any], None] = field(repr=False)
    height: float

    def figure(self) -> Any:
        """The matplotlib figure, drawn (laid out, ready to measure) on an Agg canvas."""
        with _style():
            fig = _figure(self.draw, self.height)
            fig.canvas.draw()
        return fig

    def render(self) -> Figure:
        """The PNG the page shows (no metadata: the same figure is the same bytes)."""
        buf = io.BytesIO()
        with _style():
            _figure(self.draw, self.height).savefig(buf, format="png", metadata={"Software": None})
        return Figure(self.title, self.caption, buf.getvalue())


@dataclass(frozen=True)
class Mark:
    """A gate drawn on the figure of the value it judges: a line at its threshold, or a shaded band."""

    gate_id: str
    artifact: str
    path: str
    label: str  # "val_loss_max <= 2.9"
    line: float | None = None
    band: tuple[float, float] | None = None
    passed: bool | None = None  # as the page's gate table shows it; None: not known
    baseline_run: str | None = None  # a relative gate's baseline run, whose curve is drawn too


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (bools, text, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def short(label: Any) -> str:
    text = " ".join(str(label).split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def decimate(points: Points, max_points: int = MAX_PLOT_POINTS) -> Points:
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


def history_series(history: Any) -> dict[str, Points]:
    """metrics.json history rows → {metric: [(step, value)]}, skipping missing and non-finite values."""
    series: dict[str, Points] = {}
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


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def is_counter(name: str, points: Sequence[tuple[float, float]] = ()) -> bool:
    """Whether a logged column counts progress (an x-axis: epoch, global_step, tokens_seen, wall-clock
    time, trainer/global_step, _runtime) rather than measuring something; a copy of the step counts too."""
    words = _words(name.lower().rsplit("/", 1)[-1])
    while words and words[0] in _SPLIT_WORDS:
        words = words[1:]
    named = bool(words) and (
        "_".join(words) in _COUNTERS or words[-1] == "seen" or words[0] == "consumed" or set(words) <= _TIME_WORDS
    )
    return named or name.lower().startswith("time/") or (len(points) > 1 and all(x == y for x, y in points))


def is_throughput(name: str) -> bool:
    """Whether a logged column measures the machine rather than the model: a rate per unit of time
    (train_samples_per_second, tokens_per_s, throughput/items_per_sec) or a FLOP count or utilisation
    (total_flos, throughput/flops_per_sec, mfu). Kept in metrics.json, never drawn."""
    words = _words(name)
    per = next((i for i, w in enumerate(words) if w == "per"), None)
    rate = per is not None and per + 1 < len(words) and words[per + 1] in _RATE_WORDS
    return rate or bool(set(words) & _MACHINE_WORDS)


def family(name: str) -> str:
    """The panel family of a quantity: loss, perplexity, accuracy, learning rate, gradient norm or other."""
    words = _words(name)
    found = set(words) | {a + b for a, b in pairwise(words)}
    if "loss" in name.lower() or found & {"nll", "ce", "xent", "crossentropy"}:
        return "loss"
    return next((title for title, names in _FAMILIES if found & names), "other")


def scale(points: Sequence[tuple[float, float]]) -> float:
    """log10 of the median size of a series' non-zero values (0 for an all-zero series)."""
    sizes = sorted(abs(y) for _, y in points if y != 0)
    return math.log10(sizes[len(sizes) // 2]) if sizes else 0.0


def _by_scale(names: list[str], series: Mapping[str, Points]) -> list[list[str]]:
    """names split where their scales are more than a decade apart; each group in the names' order."""
    scales = {k: scale(series[k]) for k in names}
    groups: list[list[str]] = []
    low = -math.inf
    for k in sorted(names, key=scales.__getitem__):
        if scales[k] - low > 1:
            groups.append([])
            low = scales[k]
        groups[-1].append(k)
    order = {k: i for i, k in enumerate(names)}
    return sorted((sorted(g, key=order.__getitem__) for g in groups), key=lambda g: order[g[0]])


def drawn_quantity(name: str, points: Sequence[tuple[float, float]]) -> bool:
    """Whether a history column gets a curve: not a counter, not a throughput or FLOP count."""
    return not is_counter(name, points) and not is_throughput(name)


def curve_panels(series: Mapping[str, Points], keep: Collection[str] = ()) -> list[tuple[str, list[str]]]:
    """Group the quantities (counters, throughput and FLOP counts left out) into panels that can share a
    y-axis: one family of names (losses, learning rates, ...) within a decade of scale. A family that
    spans more is split, each panel titled with its scale; names of no family are titled by themselves.
    At most MAX_PANELS of MAX_PANEL_SERIES, and every name in keep (a gate judges it: it is drawn, whatever it is)."""
    names = [k for k, v in series.items() if k in keep or drawn_quantity(k, v)]
    panels = []
    for title in ("loss", *(t for t, _ in _FAMILIES), "other"):
        groups = _by_scale([k for k in names if family(k) == title], series)
        for group in groups:
            shown = [k for i, k in enumerate(group) if i < MAX_PANEL_SERIES or k in keep]
            label = title if len(groups) == 1 else f"{title} (~1e{math.floor(scale(series[group[0]]))})"
            panels.append((short(", ".join(shown)) if title == "other" else label, shown))
    return [p for i, p in enumerate(panels) if i < MAX_PANELS or set(p[1]) & set(keep)]


def x_label(series: Mapping[str, Points]) -> str:
    """The counter the curves are drawn against: the history's step, or the epoch when the step is the epoch
    (a run that logs once per epoch with step=epoch)."""
    epochs = [v for k, v in series.items() if _words(k)[-1:] in (["epoch"], ["epochs"])]
    return "epoch" if epochs and all(x == y for points in epochs for x, y in points) else "step"


def judged_metric(mark: Mark, names: Collection[str]) -> str | None:
    """The metrics.json series a gate judges: the last segment of its path that names one (final.val_loss)."""
    if mark.artifact != "metrics.json":
        return None
    return next((part for part in reversed(mark.path.split(".")) if part in names), None)


def baseline_curves(
    marks: Iterable[Mark], histories: Mapping[str, Any], names: Collection[str]
) -> dict[str, list[tuple[str, Points]]]:
    """metric → [(baseline run, its curve as drawn)] for relative gates whose baseline's history logs the metric."""
    curves: dict[str, list[tuple[str, Points]]] = {}
    for m in marks:
        metric = judged_metric(m, names)
        if m.baseline_run is None or metric is None or m.baseline_run in (r for r, _ in curves.get(metric, [])):
            continue
        points = history_series(histories.get(m.baseline_run)).get(metric)
        if points:
            curves.setdefault(metric, []).append((m.baseline_run, decimate(points)))
    return curves


def schema_fields(schema: Any) -> dict[str, frozenset[str]]:
    """The numeric fields an artifact's JSON Schema declares for the entries of each top-level list:
    {"layers": {"spike_rate"}} for v15_spikingbrain's layers: [{name, spike_rate}]."""
    props = schema.get("properties") if isinstance(schema, dict) else None
    found = {}
    for key, prop in (props or {}).items():
        items = prop.get("items") if isinstance(prop, dict) else None
        fields = items.get("properties") if isinstance(items, dict) else None
        if isinstance(fields, dict):
            found[str(key)] = frozenset(str(f) for f, spec in fields.items() if _numeric(spec))
    return found


def _numeric(spec: Any) -> bool:
    kinds = spec.get("type") if isinstance(spec, dict) else None
    return bool({"number", "integer"} & set([kinds] if isinstance(kinds, str) else kinds or []))


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
            yield str(key), labels[:MAX_BARS], {f: [float(r[f]) for r in rows][:MAX_BARS] for f in fields}


def field_marks(marks: Iterable[Mark], name: str, data: Any, key: str, field_name: str) -> list[Mark]:
    """The gates on artifact `name` that judge `field_name` of the entries of list `key`: one entry's
    (layers.2.spike_rate) or a summary of them (spike_rate.mean), not a field of another list."""
    lists = {k for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else set()
    parts = {m: m.path.split(".") for m in marks if m.artifact == name}
    return [m for m, p in parts.items() if field_name in p and (p[0] == key or p[0] not in lists)]


def _scored_tasks(suite: Any) -> list[tuple[int, tuple[str, float, float | None, bool | None]]]:
    tasks = suite.get("tasks") if isinstance(suite, dict) else None
    out = []
    for i, t in enumerate(tasks if isinstance(tasks, list) else []):
        if isinstance(t, dict) and number(t.get("score")) is not None:
            passed = t.get("passed") if isinstance(t.get("passed"), bool) else None
            out.append((i, (short(t.get("name", "?")), float(t["score"]), number(t.get("threshold")), passed)))
    return out[:MAX_BARS]


def eval_tasks(suite: Any) -> list[tuple[str, float, float | None, bool | None]]:
    """eval_suite.json tasks → [(name, score, threshold, passed)] for tasks with a finite score."""
    return [task for _, task in _scored_tasks(suite)]


def eval_marks(suite: Any, marks: Iterable[Mark]) -> list[tuple[int, Mark]]:
    """(row, gate) for the gates the eval-suite chart shows: pass_rate on the pass-rate row (row 0,
    there when the suite has a pass rate), tasks.<i>.score on task i's row."""
    has_rate = isinstance(suite, dict) and number(suite.get("pass_rate")) is not None
    rows = {"pass_rate": 0} if has_rate else {}
    for row, (i, _) in enumerate(_scored_tasks(suite), start=int(has_rate)):
        rows.update({f"tasks.{i}.score": row, f"tasks.{i - len(suite['tasks'])}.score": row})
    return [(rows[m.path], m) for m in marks if m.artifact == "eval_suite.json" and m.path in rows]


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """matplotlib's settings while a figure is made and drawn (tick labels are made as it is drawn)."""
    import matplotlib

    with matplotlib.rc_context({"text.parse_math": False, "font.size": 9}), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # glyphs missing from the font are drawn as boxes; that is fine
        yield


def _figure(draw: Callable[[Any], None], height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(FIGURE_WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    return fig


def _color(mark: Mark) -> str:
    return _INK if mark.passed is None else (_PASS if mark.passed else _FAIL)


def _draw_marks(ax: Any, marks: Iterable[Mark]) -> None:
    """Gate bands behind the data, threshold lines over it, both in the legend with the gate's id."""
    for i, m in enumerate(marks):
        if m.band is not None:
            ax.axhspan(*m.band, color=_color(m), alpha=0.12, zorder=0, label=short(m.label))
        if m.line is not None:
            ax.axhline(m.line, color=_color(m), ls=_STYLES[i % len(_STYLES)], lw=1.8, label=short(m.label))


def _gates_note(marks: Sequence[Mark]) -> str:
    return f" Dotted lines and shaded bands: gates {', '.join(m.label for m in marks)}." if marks else ""


def _curve(ax: Any, name: str, points: Points, baselines: list[tuple[str, Points]]) -> None:
    """One series (with markers when sparse, as an eval logged now and then) and its baselines, dashed."""
    marker = "o" if len(points) <= SPARSE else ""
    (line,) = ax.plot(*zip(*points, strict=True), label=short(name), lw=1.2, marker=marker, ms=4)
    for run, curve in baselines:
        ax.plot(*zip(*curve, strict=True), color=line.get_color(), ls="--", label=f"{short(name)}, baseline {run}")


def training_curves(
    history: Any, marks: Sequence[Mark] = (), baselines: Mapping[str, Any] | None = None
) -> Figure | None:
    """Curves of the history's quantities, with the gates that judge them and relative gates' baselines
    (baselines: run id → that run's metrics.json history) dashed in the colour of the metric."""
    drawing = curves_drawing(history, marks, baselines)
    return drawing.render() if drawing else None


def curves_drawing(
    history: Any, marks: Sequence[Mark] = (), baselines: Mapping[str, Any] | None = None
) -> Drawing | None:
    """training_curves before it is drawn."""
    series = history_series(history)
    judged = [(judged_metric(m, series), m) for m in marks]
    panels = curve_panels(series, keep={k for k, _ in judged if k})
    if not panels:
        return None
    overlays = baseline_curves(marks, baselines or {}, series)
    decimated = {k: decimate(series[k]) for _, keys in panels for k in keys}
    xlabel = x_label(series)

    def draw(fig: Any) -> None:
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (title, keys) in zip(axes, panels, strict=True):
            for k in keys:
                _curve(ax, k, decimated[k], overlays.get(k, []))
            _draw_marks(ax, [m for k, m in judged if k in keys])
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
            ax.legend(**_LEGEND)
        axes[-1].set_xlabel(xlabel)

    drawn = [m for k, m in judged if k in decimated]
    caption = _curves_caption(series, decimated, drawn, overlays)
    return Drawing("Training and validation curves", caption, draw, 1.0 + 2.4 * len(panels))


def _curves_caption(series: Mapping[str, Points], drawn: Mapping[str, Points], marks: list[Mark], overlays: Any) -> str:
    rows = max(len(series[k]) for k in drawn)
    plotted = max(len(v) for v in drawn.values())
    note = f"; drawn from {plotted:,} points per series (min/max per bucket)" if plotted < rows else ""
    text = f"Per-step history from metrics.json: {rows:,} logged steps{note}. The bundle keeps every step."
    counters = [k for k, v in series.items() if k not in drawn and is_counter(k, v)]
    machine = [k for k in series if k not in drawn and k not in counters and is_throughput(k)]
    left = [k for k in series if k not in drawn and k not in counters and k not in machine]
    text += f" Counters, not drawn: {', '.join(map(short, counters))}." if counters else ""
    text += f" Throughput and FLOP counts, not drawn: {', '.join(map(short, machine))}." if machine else ""
    text += f" Not drawn (too many to show): {', '.join(map(short, left))}." if left else ""
    runs = sorted({run for curves in overlays.values() for run, _ in curves})
    text += f" Dashed: baseline run {', '.join(runs)}." if runs else ""
    return text + _gates_note(marks)


def eval_suite_chart(suite: Any, marks: Sequence[Mark] = ()) -> Figure | None:
    """Task scores (green passed, red failed) under the suite's pass rate, with the gates on either."""
    drawing = eval_suite_drawing(suite, marks)
    return drawing.render() if drawing else None


def eval_suite_drawing(suite: Any, marks: Sequence[Mark] = ()) -> Drawing | None:
    """eval_suite_chart before it is drawn."""
    tasks = eval_tasks(suite)
    if not tasks:
        return None
    rate = number(suite.get("pass_rate"))
    rows = ([("pass rate", rate, None, None)] if rate is not None else []) + tasks
    gated = eval_marks(suite, marks)

    def draw(fig: Any) -> None:
        from matplotlib import patheffects

        ax = fig.subplots()
        ys = range(len(rows))
        colors = [_NEUTRAL if p is None else (_PASS if p else _FAIL) for _, _, _, p in rows]
        ax.barh(list(ys), [t[1] for t in rows], color=[_RATE, *colors[1:]] if rate is not None else colors)
        for y, (_, score, threshold, passed) in zip(ys, rows, strict=True):
            if threshold is not None:
                ax.plot([threshold, threshold], [y - 0.4, y + 0.4], color="black", linewidth=2)
            mark = "" if passed is None else (" pass" if passed else " FAIL")
            ax.annotate(f"{score:.3g}{mark}", (score, y), xytext=(3, 0), textcoords="offset points", va="center")
        for y, m in gated:
            if m.band is not None:
                ax.fill_betweenx([y - 0.45, y + 0.45], *m.band, color=_color(m), alpha=0.15, label=short(m.label))
            if m.line is not None:  # outlined in white: it crosses a bar as often as not
                halo = [patheffects.withStroke(linewidth=5, foreground="white")]
                line = dict(color=_color(m), ls=":", lw=2.5, label=short(m.label), path_effects=halo)
                ax.plot([m.line] * 2, [y - 0.45, y + 0.45], **line)
        ax.set_yticks(list(ys), [t[0] for t in rows])
        ax.invert_yaxis()
        ax.set_xlabel("score (black tick: threshold)")
        ax.margins(x=0.15)
        ax.grid(axis="x", alpha=0.3)
        if gated:
            ax.legend(**_LEGEND)

    caption = "Eval suite: green passed, red failed" + (f"; pass rate {rate:.3g}." if rate is not None else ".")
    caption += _gates_note([m for _, m in gated])
    return Drawing("Eval suite", caption, draw, 1.2 + 0.35 * len(rows))


def _bar_panels(
    fig: Any, key: str, labels: list[str], fields: dict[str, list[float]], gated: dict[str, list[Mark]]
) -> None:
    axes = fig.subplots(len(fields), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (metric, values) in zip(axes, fields.items(), strict=True):
        ax.bar(range(len(values)), values, color=_NEUTRAL)
        _draw_marks(ax, gated[metric])
        ax.set_ylabel(short(metric))
        ax.grid(axis="y", alpha=0.3)
        if gated[metric]:
            ax.legend(**_LEGEND)
    axes[-1].set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0, ha="right")
    axes[-1].set_xlabel(short(key))


def artifact_charts(
    name: str,
    data: Any,
    limit: int = 4,
    marks: Sequence[Mark] = (),
    declared: Mapping[str, Collection[str]] | None = None,
) -> list[Figure]:
    """Bar charts of the labelled series in a phase artifact (e.g. spike rate per layer), with the
    gates that judge a charted field (spike_rate.mean's band on the spike_rate bars)."""
    return [drawing.render() for drawing in artifact_drawings(name, data, limit, marks, declared)]


def artifact_drawings(
    name: str,
    data: Any,
    limit: int = 4,
    marks: Sequence[Mark] = (),
    declared: Mapping[str, Collection[str]] | None = None,
) -> list[Drawing]:
    """artifact_charts before they are drawn. declared: list key → the fields that matter (schema_fields of
    the artifact's schema); a field a gate judges matters too. None: every numeric field (at most 3)."""
    drawings: list[Drawing] = []
    for key, labels, found in labelled_series(data):
        judged = {f: field_marks(marks, name, data, key, f) for f in found}
        wanted = None if declared is None else set(declared.get(key, ())) | {f for f, ms in judged.items() if ms}
        fields = dict([(f, v) for f, v in found.items() if wanted is None or f in wanted][:MAX_FIELDS])
        if not fields:
            continue
        if len(drawings) >= limit:
            break
        gated = {f: judged[f] for f in fields}
        draw = functools.partial(_bar_panels, key=key, labels=labels, fields=fields, gated=gated)
        title = f"{short(key)} in {short(name)}"
        caption = f"{', '.join(map(short, fields))} per entry of '{short(key)}' in {short(name)}."
        undeclared = [f for f in found if wanted is not None and f not in wanted]
        crowded = [f for f in found if f not in fields and f not in undeclared]
        caption += f" Not declared in its schema, not drawn: {', '.join(map(short, undeclared))}." if undeclared else ""
        caption += f" Not drawn (too many to show): {', '.join(map(short, crowded))}." if crowded else ""
        caption += _gates_note([m for ms in gated.values() for m in ms])
        drawings.append(Drawing(title, caption, draw, 1.2 + 2.0 * len(fields)))
    return drawings
