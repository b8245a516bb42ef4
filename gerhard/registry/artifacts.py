"""Check a bundle against its phase: required files present, every artifact valid, values parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gerhard.core.program import Phase, Program
from gerhard.errors import BundleError
from gerhard.formats import schemas
from gerhard.formats.parsing import parse_seed
from gerhard.registry.bundle import MAX_FILE_BYTES, Bundle, check_file_size

__all__ = ["MAX_FILE_BYTES", "check_required", "check_sizes", "load_artifacts"]


def check_required(phase: Phase, bundle: Bundle) -> None:
    missing = [name for name in phase.required if name not in bundle.names()]
    if missing:
        raise BundleError(
            f"bundle {bundle.root} is missing {', '.join(missing)} (required by phase {phase.id} in "
            "state/program.yaml): export them from the notebook into the folder, or check --phase"
        )


def check_sizes(bundle: Bundle) -> None:
    """load_bundle already refused an oversized file before reading it; this guards bundles made otherwise."""
    for f in bundle.files:
        if f.path not in bundle.remote:  # heavy files are not committed: any size (gerhard.registry.heavy)
            check_file_size(f.path, f.size)


def load_artifacts(program: Program, phase: Phase, bundle: Bundle, root: Path | None = None) -> dict[str, Any]:
    """Parse every artifact that has a schema or feeds a gate, from the bytes the bundle read once;
    validate each against its schema."""
    check_required(phase, bundle)
    check_sizes(bundle)
    wanted = {g.artifact for g in phase.gates} | set(phase.required)
    artifacts: dict[str, Any] = {}
    for name in sorted(bundle.names()):
        schema = program.schema_for(name)
        if name == "seed.txt":
            artifacts[name] = parse_seed(bundle.read_bytes(name))
            continue
        if schema is None and name not in wanted:
            continue
        data = bundle.parsed(name)
        if schema is not None:
            schemas.validate(data, schema, name, root)
        artifacts[name] = data
    return artifacts
