"""Figures gerhard drew before, kept in the registry's git dir so the same figure is never drawn twice
(and the dossier template's compiled code, so it is not compiled again in every process).

Drawing is most of a dossier's cost (matplotlib's import alone is a third of a second). A dossier built
with the registry at hand (`gerhard dossier --repo`, the notebook's finish()) draws the very figures the
page archived at registration draws: same verified bundle, same gates, same baselines. Each figure call
is keyed by everything it is drawn from: gerhard's version and the source of the modules that draw,
the kind of figure, the sha256 of the bundle file it charts, the gates drawn on it and the baseline
curves it overlays. A key seen before gives back the PNGs drawn then, without importing matplotlib;
anything else is drawn, then kept.

Only what gerhard drew is kept, and only here: the figures of a dossier that comes in are never taken
from it (a dossier's page outside its verified bundle block could have been edited), so a forged dossier
with a doctored figure cannot put that figure in the registry. An entry is trusted as the registry's git
dir is (as store.parsed_cached's entries are); a damaged one (a PNG that no longer matches its sha256)
is drawn again. The cache holds at most MAX_ENTRIES entries, the least recently used go first.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gerhard.dossier.figures import Figure
from gerhard.files import atomic_write
from gerhard.registry.store import CACHE_DIR
from gerhard.version import __version__

KIND = "figures"
DRAWING_MODULES = ("figures.py", "page.py", "drawn.py")  # in this package
MAX_ENTRIES = 256  # a run's figures take about 50-150 KiB each: tens of MB at most


def kept_dir(registry: Path | None, kind: str) -> Path | None:
    """Where gerhard keeps what it made for this registry (None: no registry, or not a plain git work tree)."""
    if registry is None or not (registry / ".git").is_dir():
        return None
    return registry / ".git" / CACHE_DIR / kind


def figure_cache(registry: Path | None) -> Path | None:
    """Where the figures drawn for this registry are kept."""
    return kept_dir(registry, KIND)


def compiled_templates(folder: Path | None) -> Any:
    """jinja2's bytecode cache in `folder` (None: none): the dossier's template compiles once per registry,
    not once per process (20-40 ms). Code is kept as jinja2 keeps it (marshal, keyed by the template's
    source, checked against Python's version); unwritable, it is compiled again next time."""
    if folder is None:
        return None
    import jinja2

    where = folder

    class Kept(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):
                where.mkdir(parents=True, exist_ok=True)
                super().dump_bytecode(bucket)

    return Kept(str(folder))


@functools.lru_cache(maxsize=1)
def code_digest() -> str | None:
    """gerhard's version and the source of the modules that decide what is drawn: figures (how),
    page (from what) and this one (None: a source not readable, then nothing is cached)."""
    digest = hashlib.sha256(__version__.encode())
    for name in DRAWING_MODULES:
        try:
            digest.update(Path(__file__).with_name(name).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def figure_key(kind: str, inputs: Any) -> str | None:
    code = code_digest()
    if code is None:
        return None
    text = json.dumps([code, kind, inputs], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cached_figures(cache: Path | None, kind: str, inputs: Any, draw: Callable[[], list[Figure]]) -> list[Figure]:
    """draw(), or what it drew before from the same inputs (a JSON-able value: hashes, gates, curves)."""
    key = figure_key(kind, inputs) if cache is not None else None
    if cache is None or key is None:
        return draw()
    entry = cache / f"{key}.json"
    found = read_entry(entry)
    if found is not None:
        with contextlib.suppress(OSError):
            os.utime(entry)  # recently used: kept longest
        return found
    drawn = draw()
    with contextlib.suppress(OSError):  # unwritable: drawn again next time, that is all
        atomic_write(entry, json.dumps([entry_of(f) for f in drawn]).encode())
        prune(cache)
    return drawn


def entry_of(figure: Figure) -> dict[str, str]:
    png = figure.png
    return dict(
        title=figure.title,
        caption=figure.caption,
        png=base64.b64encode(png).decode(),
        sha256=hashlib.sha256(png).hexdigest(),
    )


def read_entry(entry: Path) -> list[Figure] | None:
    """The figures an entry holds, each PNG checked against its sha256 (None: no entry, or a damaged one)."""
    try:
        rows = json.loads(entry.read_bytes())
        found = [Figure(r["title"], r["caption"], base64.b64decode(r["png"], validate=True)) for r in rows]
        if all(hashlib.sha256(f.png).hexdigest() == r["sha256"] for f, r in zip(found, rows, strict=True)):
            return found
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return None


def prune(cache: Path) -> None:
    """At most MAX_ENTRIES entries: the least recently used go."""
    entries = list(cache.glob("*.json"))
    if len(entries) <= MAX_ENTRIES:
        return
    by_age = sorted(entries, key=lambda p: p.stat().st_mtime)
    for old in by_age[: len(entries) - MAX_ENTRIES]:
        with contextlib.suppress(OSError):
            old.unlink()
