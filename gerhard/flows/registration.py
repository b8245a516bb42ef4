"""The registration transaction: lock → load → validate → idempotency → gates → write → one commit.

Nothing the user can see changes before the commit point (`git update-ref`, a compare-and-swap):
objects are written into git's object database and only become reachable then. After it, the
work tree files are written atomically and just those paths are added to the user's index.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gerhard import layout
from gerhard.core import reports
from gerhard.core.branchfold import own_files
from gerhard.core.derive import fold_files
from gerhard.core.gates import GateReport, evaluate_gates
from gerhard.core.metricnames import refuse_typos
from gerhard.core.phases import baselines_for, check_phase_allowed
from gerhard.core.program import Program
from gerhard.core.records import RunRecord
from gerhard.dossier.archive import archived_dossier, check_transport, transport_dossier
from gerhard.dossier.page import Evaluation, evaluation_of
from gerhard.errors import ConflictError
from gerhard.formats.runtext import clean_text, one_line
from gerhard.formats.yamlio import to_plain
from gerhard.git import gitrepo
from gerhard.registry import store
from gerhard.registry.artifacts import load_artifacts
from gerhard.registry.bundle import GITIGNORE_NAME, Bundle, check_run_id, load_bundle, manifest_bytes, sha256_bytes
from gerhard.registry.heavy import gitignore_bytes, heavy_rule, place_local_copies, remote_root
from gerhard.registry.pending_runs import ignore_pending, unignore_registered
from gerhard.registry.registry import Registry


@dataclass(frozen=True)
class RegistrationResult:
    run_id: str
    phase: str
    verdict: str
    gates_passed: int
    gates_total: int
    commit: str | None
    report: str
    needs_input: str | None
    artifact_root: str
    already_registered: bool = False
    failed_gates: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # notebook and OS droppings left out of the bundle

    def __str__(self) -> str:
        head = "already registered (no change)" if self.already_registered else f"commit {self.commit}"
        lines = [
            f"run {self.run_id} (phase {self.phase}): {self.verdict}, "
            f"{self.gates_passed}/{self.gates_total} gates passed",
            f"  {head}",
            f"  report: {self.report}",
            f"  archive: {self.artifact_root}/",
        ]
        if self.failed_gates:
            lines.append(f"  failed gates: {', '.join(self.failed_gates)}")
        if self.needs_input:
            lines.append(f"  needs input: {self.needs_input}")
        if self.skipped:
            lines.append(f"  skipped (not run files): {', '.join(self.skipped)}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def register(
    run_id: str,
    phase: str,
    source_dir: Path,
    repo_root: Path,
    summary: str = "",
    next_action: str = "",
    force: bool = False,
    now: dt.datetime | None = None,
    extra_files: dict[str, bytes] | None = None,
    record_extra: dict[str, Any] | None = None,
    verify: bool = True,
    absent_remote: bool = False,
    archive_dossier: bool = False,
    allow_duplicate: bool = False,
    allow_missing: bool = False,
) -> RegistrationResult:
    """Register one run bundle as one commit; see the module docstring for the guarantees.
    absent_remote: a replay of an archived bundle whose heavy files are not here (see load_bundle).
    archive_dossier: archive the dossier gerhard builds of the bundle (it came in a dossier file).
    allow_duplicate: register a bundle another run already registered (refused otherwise).
    allow_missing: register a bundle missing a gated value while it holds a close name (refused otherwise:
    most often a typo; the gate then fails). A replay passes it: the run was accepted once already.
    A folder registered in place (outputs/<run_id>/) loses gerhard's .gitignore that kept it out of
    `git add -A` (gerhard.registry.pending_runs); its files are added all the same."""
    check_run_id(run_id)
    summary = clean_text("the summary", summary)
    next_action = clean_text("the next action", next_action)
    with Registry.locked(repo_root) as registry:
        program, root = registry.program, registry.root
        phase_def = program.phase(phase)
        bundle = load_bundle(Path(source_dir), heavy_rule(program, phase_def), absent_remote)
        transport = check_transport(bundle, run_id)
        previous = already_registered(root, run_id, phase, bundle)
        archive = root / layout.run_dir(run_id)
        in_place = bundle.root.resolve() == archive.resolve()
        if previous is not None:
            if in_place:  # registered before it was removed (a crash at that point)
                unignore_registered(archive)
            return dataclasses.replace(previous, skipped=list(bundle.skipped))
        if not allow_duplicate:
            check_not_duplicate(root, run_id, bundle)
        artifacts = load_artifacts(program, phase_def, bundle, root)
        if not allow_missing:
            refuse_typos(phase_def.gates, artifacts, program.metric_aliases)
        check_phase_allowed(program, registry.status, phase, force)
        baselines = baselines_for(registry.status, phase_def.gates, phase)
        report = evaluate_gates(list(phase_def.gates), artifacts, baselines)  # once: the dossier shows it too
        shown = evaluation_of(report, phase_def, baselines, program)
        if archive_dossier:
            dossier = archived_dossier(bundle, run_id, phase, root, summary, next_action, shown)
        else:
            dossier = transport_dossier(bundle, run_id, transport, root, phase, summary, next_action, shown)
        extra_files = {**dossier, **(extra_files or {})}
        record_extra = {**({"dossier": next(iter(dossier))} if dossier else {}), **(record_extra or {})}
        record = build_record(
            root,
            run_id,
            phase,
            bundle,
            artifacts,
            report,
            registry.status,
            summary,
            next_action,
            force,
            now or dt.datetime.now(dt.timezone.utc),
            record_extra,
            remote_root(program),
        )
        files = archive_files(run_id, bundle, extra_files)
        files.update(derived_files(root, program, registry.status, record, registry))
        commit = commit_in_place(registry, files, commit_message(record, report), verify, archive if in_place else None)
        place_local_copies(bundle.root, root / record.artifact_root, remote_entries(bundle))
        return dataclasses.replace(result_of(record, commit), skipped=list(bundle.skipped))


def commit_in_place(
    registry: Registry, files: dict[str, bytes], message: str, verify: bool, folder: Path | None
) -> str:
    """The registration's commit; of a folder registered in place (`folder`), gerhard's PENDING_IGNORE
    removed, which kept it out of `git add -A` (the commit adds its files all the same). Where the commit
    writes the heavy files' .gitignore it is removed first, and put back when the commit fails."""
    if folder is None:
        return registry.commit(files, message, verify=verify)
    lifted = f"{layout.run_dir(folder.name)}/{GITIGNORE_NAME}" in files and unignore_registered(folder)
    try:
        commit = registry.commit(files, message, verify=verify)
    except BaseException:
        if lifted and not (folder / GITIGNORE_NAME).exists():
            ignore_pending(folder)
        raise
    unignore_registered(folder)
    return commit


def with_folder_dossier(
    bundle: Bundle,
    run_id: str,
    extra_files: dict[str, bytes],
    record_extra: dict[str, Any],
    *,
    root: Path | None = None,
    phase: str | None = None,
    summary: str | None = None,
    next_action: str | None = None,
    evaluation: Evaluation | None = None,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A run_dossier_*.html in the folder is transport: verified to carry this run, left out of the
    bundle's identity (folder or dossier: the same run), and archived as the dossier gerhard builds
    from the bundle (never the file's own page), linked from the record. Given the registry root and
    the run's phase, summary and next action, that dossier shows the verdict against the registry's
    program and the run's own text; without them, with the dossier's own phase and text, evaluated
    only for a folder that is the registry's outputs/<run_id>/ (registered in place)."""
    transport = check_transport(bundle, run_id)
    found = transport_dossier(bundle, run_id, transport, root, phase, summary, next_action, evaluation)
    if not found:
        return extra_files, record_extra
    return {**found, **extra_files}, {"dossier": next(iter(found)), **record_extra}


def already_registered(root: Path, run_id: str, phase: str, bundle: Bundle) -> RegistrationResult | None:
    """Same id + same bundle + same phase: the previous result (a no-op). Anything else: refused."""
    record = store.read_record(root, run_id)
    if record is None:
        archive = root / layout.run_dir(run_id)
        # The notebook may write its bundle straight to outputs/<run_id>/ and register it in place.
        if archive.is_dir() and archive.resolve() != bundle.root.resolve():
            raise ConflictError(
                f"{layout.run_dir(run_id)}/ exists but run {run_id} is not registered: move that folder away "
                f"or register it in place with --source-dir outputs/{run_id}"
            )
        return None
    if record.bundle_sha256 != bundle.sha256:
        raise ConflictError(
            f"run {run_id} is already registered with different content (bundle sha256 "
            f"{record.bundle_sha256[:12]}, this one {bundle.sha256[:12]}): register it under a new --run-id"
        )
    if record.phase != phase:
        raise ConflictError(
            f"run {run_id} is already registered for phase {record.phase}, not {phase}: "
            "register it under a new --run-id to count it for another phase"
        )
    return dataclasses.replace(result_of(record, None), already_registered=True)


def check_not_duplicate(root: Path, run_id: str, bundle: Bundle) -> None:
    """The same bundle under a new run id is most often a copy-paste slip, not a second run: refused,
    naming the run that has it. The bundle sha256 is in every record, found by git grep (no record is
    parsed but the ones that match)."""
    for rel in gitrepo.files_containing(root, f"bundle_sha256: {bundle.sha256}", layout.RUNS_DIR):
        other = store.read_record(root, Path(rel).stem)
        if other is not None and other.bundle_sha256 == bundle.sha256 and other.run_id != run_id:
            raise ConflictError(
                f"the bundle of run {run_id} is identical to run {other.run_id} registered "
                f"{str(other.registered_at)[:10]}; pass --allow-duplicate (allow_duplicate=True) to register it again"
            )


CODE_NOT_IN_GIT = "code not in git"


def code_identity(root: Path, artifacts: dict[str, Any]) -> tuple[str | None, bool | None, str]:
    """The code's commit: provenance.json's; none when it says the code was not in git (the registry's
    HEAD is another repository's commit: two such runs would differ in code that never changed); the
    registry's HEAD only for a bundle with no provenance.json at all."""
    prov = artifacts.get("provenance.json")
    if isinstance(prov, dict) and prov.get("code_sha"):
        return str(prov["code_sha"]), bool(prov.get("dirty")), "provenance.json"
    if isinstance(prov, dict) and "code_sha" in prov:
        return None, None, CODE_NOT_IN_GIT
    head = gitrepo.head(root)
    if head.sha is None:
        return None, None, "none"
    return head.sha, gitrepo.is_dirty(root), "registry HEAD"


def build_record(
    root: Path,
    run_id: str,
    phase: str,
    bundle: Bundle,
    artifacts: dict[str, Any],
    report: GateReport,
    status: dict[str, Any],
    summary: str,
    next_action: str,
    force: bool,
    now: dt.datetime,
    extra: dict[str, Any],
    remote: str | None = None,
) -> RunRecord:
    code_sha, dirty, source = code_identity(root, artifacts)
    metrics = artifacts.get("metrics.json") or {}
    config_bytes = bundle.read_bytes("config.yaml") if "config.yaml" in bundle.names() else None
    record = {
        "run_id": run_id,
        "seq": int(status["run_count"]) + 1,
        "phase": phase,
        "verdict": report.verdict,
        "forced": force,
        "gates": [r.as_dict() for r in report.results],
        "metrics": dict(metrics.get("final") or {}) if isinstance(metrics, dict) else {},
        "config_sha256": sha256_bytes(config_bytes) if config_bytes is not None else None,
        "config": to_plain(artifacts.get("config.yaml")),
        "seed": artifacts.get("seed.txt"),
        "code_sha": code_sha,
        "code_dirty": dirty,
        "code_sha_source": source,
        "artifact_root": layout.run_dir(run_id),
        "bundle_sha256": bundle.sha256,
        "files": len(bundle.files),
        "registered_at": now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": summary,
        "next_action": next_action,
    }
    if bundle.remote:  # heavy files: in the MANIFEST, not in git; gerhard sync moves them
        record["remote_files"] = sorted(bundle.remote)
    if remote:
        record["artifact_remote"] = f"{remote.rstrip('/')}/{run_id}"
    record.update(extra)
    return RunRecord.from_dict(record)


def remote_entries(bundle: Bundle) -> dict[str, tuple[int, str]]:
    return {f.path: (f.size, f.sha256) for f in bundle.files if f.path in bundle.remote}


def archive_files(run_id: str, bundle: Bundle, extra: dict[str, bytes]) -> dict[str, bytes]:
    base = layout.run_dir(run_id)
    files = {f"{base}/{f.path}": bundle.read_bytes(f.path) for f in bundle.files if f.path not in bundle.remote}
    files.update({f"{base}/{name}": data for name, data in extra.items()})
    files[f"{base}/MANIFEST"] = manifest_bytes(run_id, bundle)
    if bundle.remote:  # the local copies of heavy files stay in outputs/<run_id>/, ignored by git
        files[f"{base}/{GITIGNORE_NAME}"] = gitignore_bytes(bundle.remote)
    return files


def derived_files(
    root: Path, program: Program, status: dict[str, Any], record: RunRecord, registry: Registry | None = None
) -> dict[str, bytes]:
    """The files a registration writes besides the archive. Off the default branch (`registry` says),
    the run's own files; on it, the fold into the aggregates, recomputed whole when they do not hold
    every record and decision on disk (merged since the last refresh)."""
    if registry is not None and not registry.on_default_branch:
        return {rel: text.encode() for rel, text in own_files(program, record).items()}
    stale = list(registry.pending.records) if registry is not None and registry.pending.stale else None
    gate_results = store.load_gate_results(root)
    recent = store.recent_rows(root, list(status.get("months") or {}), reports.INDEX_RECENT)
    _, files = fold_files(
        program,
        status if status["run_count"] else None,
        gate_results,
        record,
        recent,
        lambda rel: store.read_text(root, rel),
        stale,
    )
    return {rel: text.encode() for rel, text in files.items()}


def commit_message(record: RunRecord, report: GateReport) -> str:
    subject = (
        f"register {record.run_id} (phase {record.phase}): {record.verdict} {report.passed}/{report.total} gates passed"
    )
    # One line each: a blank line in run text must not open a paragraph that reads like trailers.
    body = [f"Summary: {one_line(record.summary)}", f"Next action: {one_line(record.next_action)}"]
    if report.failed():
        body.append(
            "Failed gates: " + ", ".join(f"{r.id} (observed {r.observed}, {r.threshold})" for r in report.failed())
        )
    trailers = "\n".join(f"{k}: {v}" for k, v in record.trailers.items())
    return "\n\n".join([subject, "\n".join(body), trailers]) + "\n"


def result_of(record: RunRecord, commit: str | None) -> RegistrationResult:
    """What a registration says of a run: the gate counts from its record (the one place they are counted)."""
    return RegistrationResult(
        record.run_id,
        record.phase,
        record.verdict,
        record.passed,
        record.total,
        commit,
        reports.run_report_path(record),
        layout.needs_input_path(record.run_id) if record.verdict == "RED" else None,
        record.artifact_root,
        failed_gates=record.failed_gates,
    )
