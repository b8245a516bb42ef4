"""Registering from a dossier: its embedded bundle verified and extracted, then the same transaction as a folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gerhard.dossier.codec import DossierBundle, extract, read_dossier
from gerhard.errors import BundleError, UserError
from gerhard.flows.registration import RegistrationResult, register


def dossier_run_id(embedded: DossierBundle, run_id: str | None, name: str) -> str:
    if run_id is not None and run_id != embedded.run_id:
        raise BundleError(
            f"{name} is the dossier of run {embedded.run_id}, not {run_id}: pass --run-id {embedded.run_id} "
            "or leave --run-id out"
        )
    return embedded.run_id


def dossier_phase(embedded: DossierBundle, phase: str | None, name: str) -> str:
    if phase is None and embedded.phase is None:
        raise BundleError(f"{name} does not say which phase it is for: pass --phase")
    if phase is not None and embedded.phase is not None and phase != embedded.phase:
        raise BundleError(
            f"{name} was built for phase {embedded.phase}, not {phase}: pass --phase {embedded.phase}, "
            f"or rebuild it with 'gerhard dossier --phase {phase}'"
        )
    return phase or str(embedded.phase)


def register_dossier(
    dossier: Path,
    repo_root: Path,
    phase: str | None = None,
    run_id: str | None = None,
    summary: str | None = None,
    next_action: str | None = None,
    force: bool = False,
    verify: bool = True,
    allow_duplicate: bool = False,
    allow_missing: bool = False,
) -> RegistrationResult:
    """Verify and extract the bundle a dossier embeds (the files it lists but does not embed, heavy or
    over its embed limit, taken from beside it), then the same transaction as --source-dir;
    outputs/<run_id>/run_dossier_<run_id>.html is the dossier gerhard builds from that bundle (see
    archived_dossier), not the file as it came."""
    name = Path(dossier).name
    embedded, _ = read_dossier(Path(dossier))
    run_id = dossier_run_id(embedded, run_id, name)
    phase = dossier_phase(embedded, phase, name)
    summary = embedded.summary if summary is None else summary
    next_action = embedded.next_action if next_action is None else next_action
    with tempfile.TemporaryDirectory(prefix="gerhard-dossier-") as tmp:
        source = extract(embedded, Path(tmp) / "bundle", name, beside=Path(dossier).parent)
        try:
            return register(
                run_id, phase, source, repo_root, summary, next_action, force=force, verify=verify,
                archive_dossier=True, allow_duplicate=allow_duplicate, allow_missing=allow_missing,
            )  # fmt: skip
        except UserError as e:  # name the dossier, not the temporary folder it was extracted to
            raise type(e)(str(e).replace(str(source), f"{name} (embedded bundle)")) from None
