"""Files shipped with gerhard: the schemas, the example program, the handoff's scripts (gerhard init --scripts)
and the git hook and its launcher (gerhard hooks install).

In a wheel they live in gerhard/_data/ (force-included from the repository's schemas/, state/program.yaml,
scripts/ and hooks/, the one source of truth); in a source checkout they are read from there.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_SOURCE = {"schemas": "schemas", "program.yaml": "state/program.yaml", "scripts": "scripts", "hooks": "hooks"}


def data_path(name: str) -> Path:
    shipped = _HERE / "_data" / name
    return shipped if shipped.exists() else _HERE.parent / _SOURCE[name]
