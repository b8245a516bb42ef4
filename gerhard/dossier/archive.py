"""The dossier archived with a run: built by gerhard from the verified bundle, never taken as it came."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from gerhard import layout
from gerhard.dossier.codec import DossierBundle, dossier_name, read_dossier
from gerhard.dossier.page import Evaluation, dossier_page
from gerhard.errors import BundleError
from gerhard.registry.bundle import Bundle
from gerhard.registry.root import archive_registry, is_archive


class Transport(NamedTuple):
    """A dossier found in a run folder: its name there, its verified bundle block, its bytes."""

    rel: str
    embedded: DossierBundle
    raw: bytes


def archived_dossier(
    bundle: Bundle,
    run_id: str,
    phase: str | None,
    registry: Path | None,
    summary: str,
    next_action: str,
    evaluation: Evaluation | None = None,
) -> dict[str, bytes]:
    """{run_dossier_<run_id>.html: the dossier to archive with the run}, built by gerhard from the verified
    bundle with the registry's program.yaml and the run's phase, summary and next action (showing
    `evaluation` when the registration hands in its own).

    Never a dossier as it came: only its bundle block is verified, so its verdict badge or anything
    outside the block (a <script>) could have been edited. The build is deterministic, so a dossier
    gerhard built the same way is these very bytes. Nothing ({}) when the registry already holds the
    run: registering it again is a no-op or refused, and building the page would be wasted.
    """
    if registry is not None and (registry / layout.record_path(run_id)).is_file():
        return {}
    page = dossier_page(bundle, run_id, phase, registry, summary, next_action, evaluation=evaluation)
    return {dossier_name(run_id): page}


def check_transport(bundle: Bundle, run_id: str) -> Transport | None:
    """The dossier a --source-dir folder carries (None: none), verified to carry this very run."""
    if len(bundle.transport) > 1:
        raise BundleError(
            f"{bundle.root} holds {len(bundle.transport)} dossiers ({', '.join(bundle.transport)}): keep only "
            f"{dossier_name(run_id)}"
        )
    if not bundle.transport:
        return None
    rel = bundle.transport[0]
    embedded, raw = read_dossier(bundle.root / rel)
    if embedded.run_id != run_id or embedded.bundle_sha256 != bundle.sha256:
        raise BundleError(
            f"{rel} in {bundle.root} is the dossier of another run or other content (run {embedded.run_id}, "
            f"bundle {embedded.bundle_sha256[:12]}…, this folder {bundle.sha256[:12]}…): rebuild it with "
            f"'gerhard dossier --run-dir {bundle.root} --run-id {run_id}' or remove it"
        )
    return Transport(rel, embedded, raw)


def transport_dossier(
    bundle: Bundle,
    run_id: str,
    transport: Transport | None,
    registry: Path | None = None,
    phase: str | None = None,
    summary: str | None = None,
    next_action: str | None = None,
    evaluation: Evaluation | None = None,
) -> dict[str, bytes]:
    """The dossier to archive for the verified one a folder carries (see archived_dossier). Phase, summary
    and next action default to the dossier's, the registry to the one whose outputs/<run_id>/ the folder is
    (see archive_registry)."""
    if transport is None:
        return {}
    embedded = transport.embedded
    registry = archive_registry(bundle, run_id) if registry is None else registry
    found = archived_dossier(
        bundle,
        run_id,
        embedded.phase if phase is None else phase,
        registry,
        embedded.summary if summary is None else summary,
        embedded.next_action if next_action is None else next_action,
        evaluation,
    )
    if found.get(transport.rel, transport.raw) != transport.raw and is_archive(registry, bundle, run_id):
        # In place, gerhard's dossier would replace this file, which git does not hold: never overwrite it.
        raise BundleError(
            f"{transport.rel} in {bundle.root} is not the dossier gerhard builds for this run (built with another "
            "summary, next action or registry state, or edited): delete it and register again"
        )
    return found
