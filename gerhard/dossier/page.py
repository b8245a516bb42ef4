"""Build the single-file HTML dossier of a run: a readable report and the transport of its bundle.

The page is rendered by jinja2 with autoescape on, so every text that comes from the run is
escaped; the only raw insert is the bundle block, which gerhard.dossier.codec makes inert.
Figures are PNG data URIs and a Content-Security-Policy allows nothing else: the page needs no
network and runs no script. Reading a dossier back is gerhard.dossier.codec's job.

The page is a pure function of the bundle, the registry's state and the text given (no clock, PNGs
without metadata): built twice, it is the same bytes. So the dossier gerhard archives at registration
is one it builds itself, and equals a downloaded one only when that is exactly what gerhard would build.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core.gates import Baseline, Gate, GateReport, evaluate_gates, relative_limit
from gerhard.core.phases import baselines_for, initial_status
from gerhard.core.program import Phase, Program
from gerhard.core.records import RunRecord
from gerhard.core.reports import num
from gerhard.dossier import drawn, figures
from gerhard.dossier.codec import EMBED_LIMIT, dossier_name, encode_bundle, size_text
from gerhard.dossier.figures import Mark, number
from gerhard.errors import BundleError, UserError
from gerhard.files import atomic_write
from gerhard.formats import schemas
from gerhard.formats.parsing import parse_artifact
from gerhard.output import fmt_value
from gerhard.registry import store
from gerhard.registry.artifacts import load_artifacts
from gerhard.registry.bundle import Bundle, check_run_id, load_bundle
from gerhard.registry.heavy import heavy_names
from gerhard.registry.root import find_registry
from gerhard.version import __version__

VIEW_LIMIT = 1024 * 1024  # text files up to this size are shown in the page (all are embedded)
VIEWABLE = (".json", ".yaml", ".yml", ".txt", ".md", ".csv", ".diff", ".patch", ".log")
STANDARD = ("metrics.json", "eval_suite.json", "provenance.json", "config.yaml", "seed.txt")
PROVENANCE_FIRST = ("code_sha", "dirty", "python", "torch", "cuda", "gpu", "host_kind", "execution_order_ok")
MAX_ROWS = 500
LINE_OPS = ("<", "<=", ">", ">=", "==")  # a gate with one of these and a number draws a line at the number
SUGGESTED = {
    "GREEN": "All blocking and advisory gates passed: proceed to the next queued task.",
    "AMBER": "Blocking gates passed, advisory gates failed: review them, then proceed.",
    "RED": "Blocking gates failed: a decision is needed (rerun, waive or stop).",
}


@dataclass(frozen=True)
class Evaluation:
    verdict: str | None  # None: not evaluated (note says why)
    gates: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    phase_gates: tuple[Gate, ...] = ()  # the phase's gates in program.yaml (for the figures)
    baselines: dict[str, Baseline] = field(default_factory=dict)  # of its relative gates, now
    program: Program | None = field(default=None, compare=False)  # evaluated against (its artifacts' schemas)


@dataclass(frozen=True)
class GateDrawing:
    """The gates drawn on the figures and the metrics histories of the baseline runs they compare with,
    and the per-entry fields the artifacts' schemas declare (only those, and judged ones, get bar panels)."""

    marks: list[Mark] = field(default_factory=list)
    baseline_histories: dict[str, Any] = field(default_factory=dict)
    declared: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)  # artifact -> list key -> fields


def registered_record(registry: Path | None, run_id: str, bundle: Bundle) -> tuple[RunRecord | None, str]:
    """The registry record of this run when it holds this very bundle, and a note when it does not."""
    record = store.read_record(registry, run_id) if registry else None
    if record is None:
        return None, ""
    if record.bundle_sha256 != bundle.sha256:
        return None, f"a run {run_id} is registered with other content (bundle {record.bundle_sha256[:12]}…)"
    return record, ""


def evaluate(registry: Path | None, phase: str | None, bundle: Bundle) -> Evaluation:
    """The run's verdict against the registry's program.yaml, or why it could not be evaluated."""
    if registry is None:
        return Evaluation(None, note="not evaluated: no registry at hand (pass --repo)")
    if phase is None:
        return Evaluation(None, note="not evaluated: no phase given (pass --phase)")
    try:
        program = store.load_program(registry)
        phase_def = program.phase(phase)
        status = store.load_status(registry) or initial_status(program)
    except UserError as e:
        return Evaluation(None, note=f"not evaluated: {e}")
    judged = Evaluation(
        None, phase_gates=phase_def.gates, baselines=baselines_for(status, phase_def.gates, phase), program=program
    )
    try:
        artifacts = load_artifacts(program, phase_def, bundle, registry)
    except UserError as e:
        return replace(judged, note=f"not evaluated: {e}")
    report = evaluate_gates(list(phase_def.gates), artifacts, judged.baselines)
    return evaluation_of(report, phase_def, judged.baselines, program)


def evaluation_of(
    report: GateReport, phase_def: Phase, baselines: dict[str, Baseline], program: Program | None = None
) -> Evaluation:
    """What the page shows of a gate report (registration hands in its own and its program: the gates are
    evaluated once, the program loaded once)."""
    described = {g.id: g.description for g in phase_def.gates}
    gates = [dict(r.as_dict(), description=described.get(r.id, "")) for r in report.results]
    note = f"evaluated against {layout.PROGRAM} (phase {phase_def.id})"
    return Evaluation(report.verdict, gates, note, phase_def.gates, baselines, program)


def gate_marks(gates: Iterable[Gate], baselines: Mapping[str, Baseline], passed: Mapping[str, bool]) -> list[Mark]:
    """What each gate draws on the figures: a band for a range, a line at a threshold (for a relative
    gate, at the limit its baseline sets; nothing while there is none). Equality with text draws nothing."""
    marks = []
    for g in gates:
        baseline = baselines.get(g.id) if g.is_relative else None
        limit = relative_limit(g, baseline) if g.is_relative else number(g.value) if g.op in LINE_OPS else None
        op = ("<=" if g.better == "lower" else ">=") if g.is_relative else g.op
        if g.range is not None:
            label = f"{g.id} in [{g.range[0]:.4g}, {g.range[1]:.4g}]"
            marks.append(Mark(g.id, g.artifact, g.path, label, band=g.range, passed=passed.get(g.id)))
        elif limit is not None:
            run = baseline.run_id if baseline else None
            marks.append(Mark(g.id, g.artifact, g.path, f"{g.id} {op} {limit:.4g}", limit, None, passed.get(g.id), run))
    return marks


def registered_baselines(registry: Path, gates: list[dict[str, Any]]) -> dict[str, Baseline]:
    """The baselines a registered run was judged against: each one's value for the gate, from its record."""
    found = {}
    for g in gates:
        if not g.get("baseline_run"):
            continue
        try:
            base = store.read_record(registry, check_run_id(g["baseline_run"]))
        except UserError:  # nothing to draw; the gate table still names the baseline
            continue
        gates_then = base.gates if base is not None else ()
        value = next((number(r.get("observed")) for r in gates_then if r.get("id") == g["id"]), None)
        if value is not None:
            found[g["id"]] = Baseline(g["baseline_run"], value)
    return found


def baseline_history(registry: Path, run_id: str) -> Any:
    """A registered run's metrics history, from outputs/<run_id>/metrics.json of this registry (None: unreadable)."""
    try:
        metrics = parse_artifact(
            "metrics.json", (registry / layout.run_dir(check_run_id(run_id)) / "metrics.json").read_bytes()
        )
    except (OSError, UserError):
        return None
    return metrics.get("history") if isinstance(metrics, dict) else None


def gate_drawing(registry: Path | None, run_id: str, evaluation: Evaluation, record: RunRecord | None) -> GateDrawing:
    """The phase's gates to draw, judged as the gate table shows them (a registered run's against the
    baselines it was registered with), and the metrics histories of those baselines in this registry."""
    if registry is None or not evaluation.phase_gates:
        return GateDrawing()
    shown = list(record.gates) if record is not None else evaluation.gates
    baselines = registered_baselines(registry, shown) if record is not None else evaluation.baselines
    marks = gate_marks(evaluation.phase_gates, baselines, {g["id"]: bool(g["passed"]) for g in shown})
    runs = sorted({m.baseline_run for m in marks if m.baseline_run and m.baseline_run != run_id})
    histories = {run: baseline_history(registry, run) for run in runs}
    return GateDrawing(marks, {run: h for run, h in histories.items() if h is not None})


def declared_fields(
    registry: Path | None, names: Iterable[str], program: Program | None = None
) -> dict[str, dict[str, frozenset[str]]]:
    """What each JSON artifact's schema declares for the entries of its lists (figures.schema_fields): the
    schema program.yaml maps it to (`program`, when the caller has it loaded), or without a program the
    shipped schema of its name (v15_spikingbrain)."""
    try:
        program = store.load_program(registry) if program is None and registry is not None else program
    except UserError:
        program = None
    root = str(registry) if program is not None else None
    found = {}
    for name in names:
        schema = program.schema_for(name) if program is not None else name.removesuffix(".json")
        doc = schemas.schema_document(schema, root) if schema else None
        if doc is not None:
            found[name] = figures.schema_fields(doc)
    return found


def parse_quietly(bundle: Bundle, name: str) -> tuple[Any, str]:
    """A bundle file's parsed content, or None and why not (the page shows what it can)."""
    if name not in bundle.names():
        return None, f"no {name} in the bundle"
    try:
        return bundle.parsed(name), ""
    except BundleError as e:
        return None, str(e)


def scalar_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else fmt_value(value)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested mappings as dotted keys with one-line values (lists of scalars stay on one line)."""
    if isinstance(data, dict) and data:
        return [row for k, v in data.items() for row in flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(data, list) and any(isinstance(v, (dict, list)) for v in data):
        return [row for i, v in enumerate(data) for row in flatten(v, f"{prefix}.{i}")]
    return [(prefix or "(value)", scalar_text(data))]


def artifact_names(bundle: Bundle) -> list[str]:
    """The bundle's own JSON artifacts (not the standard files), whose per-entry lists may be charted."""
    return sorted(n for n in bundle.names() if n.endswith(".json") and n not in STANDARD)


def figures_for(bundle: Bundle, metrics: Any, suite: Any, drawing: GateDrawing, cache: Path | None = None) -> list[Any]:
    """Each file's figures drawn with the gates on that file, or as drawn before (see gerhard.dossier.drawn)."""
    sha = {f.path: f.sha256 for f in bundle.files}

    def drawn_from(name: str, draw: Any, *extra: Any) -> list[Any]:
        marks = [m for m in drawing.marks if m.artifact == name]
        inputs = [name, sha.get(name), [dataclasses.asdict(m) for m in marks], *extra]
        return drawn.cached_figures(cache, "page", inputs, lambda: [f for f in draw(marks) if f is not None])

    history = metrics.get("history") if isinstance(metrics, dict) else None
    baselines = drawing.baseline_histories
    found = drawn_from("metrics.json", lambda marks: [figures.training_curves(history, marks, baselines)], baselines)
    found += drawn_from("eval_suite.json", lambda marks: [figures.eval_suite_chart(suite, marks)])
    for name in artifact_names(bundle):
        data, _ = parse_quietly(bundle, name)
        declared = drawing.declared.get(name, {})
        found += drawn_from(
            name,
            lambda marks: figures.artifact_charts(name, data, marks=marks, declared=declared),  # noqa: B023
            {key: sorted(fields) for key, fields in declared.items()},
        )
    return found


def file_rows(bundle: Bundle, embed_limit: int, heavy: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One row per bundle file; `embedded` as the page's bundle holds it (heavy files never are)."""
    rows = []
    for f in bundle.files:
        view, note = None, ""
        if f.path.lower().endswith(VIEWABLE) and f.size <= VIEW_LIMIT:
            try:
                view = bundle.read_bytes(f.path).decode("utf-8")
            except UnicodeDecodeError:
                note = "not UTF-8 text"
        elif f.path.lower().endswith(VIEWABLE):
            note = f"too large to show here ({size_text(f.size)}); it is in the embedded bundle"
        embedded = f.size <= embed_limit and f.path not in heavy
        rows.append(
            dict(
                path=f.path,
                size=f.size,
                sha256=f.sha256,
                embedded=embedded,
                heavy=f.path in heavy,
                view=view,
                note=note,
            )
        )
    return rows


def utf8_text(text: str) -> str:
    """Text that encodes as UTF-8 (command-line bytes that are not UTF-8 arrive as lone surrogates)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def provenance_rows(prov: Any) -> list[tuple[str, str]]:
    rows = flatten(prov) if isinstance(prov, dict) else []
    order = {k: i for i, k in enumerate(PROVENANCE_FIRST)}
    return sorted(rows, key=lambda kv: order.get(kv[0], len(order)))[:MAX_ROWS]


def verdict_context(evaluation: Evaluation, record: RunRecord | None) -> dict[str, Any]:
    """The header's badges: the verdict evaluated now, and the registered one for archived runs.

    A registered run's gate table is the one it was judged by: evaluated now, its relative gates
    compare with baselines registered after it, and the table would contradict the registered count.
    """
    if record is None:
        return dict(verdict=evaluation.verdict, note=evaluation.note, registered=None, gates=evaluation.gates)
    registered = dict(verdict=record.verdict, at=record.registered_at, passed=record.passed, total=record.total)
    described = {g["id"]: g.get("description", "") for g in evaluation.gates}
    gates = [dict(g, description=described.get(g["id"], "")) for g in record.gates]
    return dict(verdict=evaluation.verdict, note=evaluation.note, registered=registered, gates=gates)


def page_context(
    bundle: Bundle,
    run_id: str,
    phase: str | None,
    evaluation: Evaluation,
    record: RunRecord | None,
    summary: str,
    next_action: str,
    embed_limit: int,
    drawing: GateDrawing,
    figure_cache: Path | None = None,
) -> dict[str, Any]:
    from markupsafe import Markup

    metrics, metrics_note = parse_quietly(bundle, "metrics.json")
    suite, _ = parse_quietly(bundle, "eval_suite.json")
    config, config_note = parse_quietly(bundle, "config.yaml")
    prov, prov_note = parse_quietly(bundle, "provenance.json")
    final = metrics.get("final") if isinstance(metrics, dict) else None
    verdict = verdict_context(evaluation, record)
    suggested = SUGGESTED.get(verdict["verdict"] or (verdict["registered"] or {}).get("verdict", ""), "")

    files = file_rows(bundle, embed_limit, heavy_names(bundle, run_id, phase))
    return dict(
        verdict,
        run_id=run_id,
        phase=phase,
        summary=summary,
        next_action=next_action or suggested,
        next_action_suggested=not next_action and bool(suggested),
        figures=figures_for(bundle, metrics, suite, drawing, figure_cache),
        metrics=[(k, scalar_text(v)) for k, v in final.items()] if isinstance(final, dict) else [],
        metrics_note=metrics_note,
        config_rows=flatten(config)[:MAX_ROWS] if config is not None else [],
        config_text=next((r["view"] for r in files if r["path"] == "config.yaml"), None),
        config_sha256=next((f.sha256 for f in bundle.files if f.path == "config.yaml"), None),
        config_note=config_note,
        provenance=provenance_rows(prov),
        provenance_note=prov_note,
        files=files,
        not_embedded=[r for r in files if not r["embedded"]],
        bundle_sha256=bundle.sha256,
        total_size=sum(f.size for f in bundle.files),
        embed_limit=embed_limit,
        dossier_name=dossier_name(run_id),
        # The one raw insert: JSON with '<', '>', '&', U+2028 and U+2029 escaped (see dossier_bundle).
        bundle_json=Markup(encode_bundle(bundle, run_id, phase, summary, next_action, embed_limit)),
    )


@functools.lru_cache(maxsize=8)
def _env(compiled: Path | None = None) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gerhard", "templates"),
        bytecode_cache=drawn.compiled_templates(compiled),
        autoescape=True,  # every text from the run is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=num, size=size_text)
    env.globals.update(version=__version__)
    return env


def render_page(context: dict[str, Any], compiled: Path | None = None) -> str:
    """The page; `compiled`: where the template's compiled code is kept (see drawn.compiled_templates)."""
    return str(_env(compiled).get_template("dossier.html.j2").render(**context))


def run_id_of_folder(run_dir: Path, run_id: str | None) -> str:
    name = run_id or Path(run_dir).resolve().name
    try:
        return check_run_id(name)
    except BundleError:
        if run_id:
            raise
        raise BundleError(
            f"the folder name {name!r} is not a usable run id: pass --run-id (e.g. 20260223T190000Z_v15)"
        ) from None


def registered_phase(phase: str | None, record: RunRecord | None, run_id: str) -> str | None:
    if record is not None and phase is not None and phase != record.phase:
        raise UserError(f"run {run_id} is registered as phase {record.phase}, not {phase}: drop --phase")
    return phase or (record.phase if record else None)


def dossier_page(
    bundle: Bundle,
    run_id: str,
    phase: str | None,
    registry: Path | None,
    summary: str | None = None,
    next_action: str | None = None,
    embed_limit: int = EMBED_LIMIT,
    evaluation: Evaluation | None = None,
) -> bytes:
    """The dossier of a bundle, evaluated against the registry's program.yaml (None: not evaluated), or
    showing `evaluation` (a registration's own, see evaluation_of).

    When the registry holds this run (this very bundle), its registered verdict is shown too, and a
    summary or next action not given is the registered one.
    """
    return evaluated_page(bundle, run_id, phase, registry, summary, next_action, embed_limit, evaluation)[0]


def evaluated_page(
    bundle: Bundle,
    run_id: str,
    phase: str | None,
    registry: Path | None,
    summary: str | None,
    next_action: str | None,
    embed_limit: int,
    evaluation: Evaluation | None = None,
) -> tuple[bytes, Evaluation]:
    """dossier_page, and the evaluation it shows."""
    record, mismatch = registered_record(registry, run_id, bundle)
    phase = registered_phase(phase, record, run_id)
    evaluation = evaluate(registry, phase, bundle) if evaluation is None else evaluation
    if mismatch:
        evaluation = replace(evaluation, note=f"{evaluation.note}; {mismatch}")
    summary = utf8_text(summary if summary is not None else (record.summary if record else ""))
    next_action = utf8_text(next_action if next_action is not None else (record.next_action if record else ""))
    drawing = replace(
        gate_drawing(registry, run_id, evaluation, record),
        declared=declared_fields(registry, artifact_names(bundle), evaluation.program),
    )
    context = page_context(
        bundle, run_id, phase, evaluation, record, summary, next_action, embed_limit, drawing,
        drawn.figure_cache(registry),
    )  # fmt: skip
    return render_page(context, drawn.kept_dir(registry, "templates")).encode("utf-8"), evaluation


def build_dossier(
    run_dir: Path | str,
    phase: str | None = None,
    output: Path | str | None = None,
    run_id: str | None = None,
    repo_root: Path | str | None = None,
    summary: str | None = None,
    next_action: str | None = None,
    embed_limit: int = EMBED_LIMIT,
) -> Path:
    """Write run_dossier_<run_id>.html for the bundle in run_dir (into run_dir, or output) and return its path.

    run_id defaults to the folder's name; the registry (for the verdict) to the nearest folder above
    run_dir with state/program.yaml. For outputs/<run_id>/ of a registered run the registered verdict,
    summary and next action are shown too.
    """
    return write_dossier(run_dir, phase, output, run_id, repo_root, summary, next_action, embed_limit)[0]


def write_dossier(
    run_dir: Path | str,
    phase: str | None = None,
    output: Path | str | None = None,
    run_id: str | None = None,
    repo_root: Path | str | None = None,
    summary: str | None = None,
    next_action: str | None = None,
    embed_limit: int = EMBED_LIMIT,
) -> tuple[Path, Evaluation]:
    """build_dossier, and the evaluation the page shows (run.finish() reports its verdict)."""
    run_dir = Path(run_dir)
    bundle = load_bundle(run_dir)
    run_id = run_id_of_folder(run_dir, run_id)
    registry = Path(repo_root) if repo_root is not None else find_registry(run_dir)
    if registry is not None and not (registry / layout.PROGRAM).is_file():
        raise UserError(f"no {layout.PROGRAM} in {registry}: pass --repo with your registry repository")
    page, evaluation = evaluated_page(bundle, run_id, phase, registry, summary, next_action, embed_limit)
    out = Path(output) if output is not None else run_dir / dossier_name(run_id)
    if out.is_dir():
        out = out / dossier_name(run_id)
    atomic_write(out, page)
    return out, evaluation
