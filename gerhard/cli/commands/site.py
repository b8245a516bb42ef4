"""gerhard site: build the static registry browser (runs table, compare, program view); --serve shows it."""

from __future__ import annotations

from pathlib import Path

from gerhard.output import print_json
from gerhard.registry.root import registry_root
from gerhard.site.build import build_site
from gerhard.site.serve import serve as serve_site

DEFAULT_OUT = "_site"


def site(
    repo: Path, out: Path | None, rev: str | None, serve: bool = False, port: int = 8000, as_json: bool = False
) -> int:
    root = registry_root(repo)
    folder = out if out is not None else root / DEFAULT_OUT
    report = build_site(root, folder, rev)
    if as_json:
        print_json({"out": str(report.out), "runs": report.runs, "read": report.read,
                    "removed": report.removed, "written": report.written})  # fmt: skip
    else:
        print(report.line(), flush=True)
    if serve:
        serve_site(root, folder, port)
    return 0
