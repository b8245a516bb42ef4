"""The registry's records as typed values: a run's record, a decision, a ledger row, a phase's state and
the program's status (the shapes schemas/*.schema.json define).

They are converted from and to plain dicts only where state files are read and written: `from_dict` takes
what a YAML or JSON file holds, `as_dict` gives it back key for key, in the file's order, with the keys a
human (or a newer gerhard) added kept in `extra`. The fold (core.derive, core.phases) computes state
documents, which stay plain data so a human's comments and keys survive in them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

R = TypeVar("R", bound="Document")


def gate_counts(gates: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(passed, total) of evaluated gates: the one place they are counted."""
    listed = list(gates)
    return sum(bool(g["passed"]) for g in listed), len(listed)


@dataclass(frozen=True)
class Document:
    """A record read from (or written to) a state file; subclasses declare its keys as fields."""

    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True)  # keys not declared here
    order: tuple[str, ...] = field(default=(), kw_only=True, compare=False, repr=False)  # the file's key order

    @classmethod
    def declared(cls) -> list[dataclasses.Field[Any]]:
        return [f for f in dataclasses.fields(cls) if f.name not in ("extra", "order")]

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        names = _names(cls)
        missing = [name for name in _required(cls) if name not in data]
        if missing:
            raise ValueError(f"a {cls.__name__} needs {', '.join(missing)}")
        tuples = cls.tuple_keys()
        return cls(
            **{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items() if k in names},
            extra={k: v for k, v in data.items() if k not in names},
            order=tuple(data),
        )

    @classmethod
    def tuple_keys(cls) -> frozenset[str]:
        """Keys held as tuples (lists in the file)."""
        return frozenset()

    def __getitem__(self, key: str) -> Any:
        """Read as the file's mapping (what templates, scripts and `--json` see): record["run_id"]."""
        if key in self.extra:
            return self.extra[key]
        if key in _names(type(self)) and (not self.order or key in self.order):
            return _plain(getattr(self, key))
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def as_dict(self) -> dict[str, Any]:
        order = self.order or (*(f.name for f in self.declared()), *self.extra)
        out: dict[str, Any] = {}
        for key in order:
            if key in self.extra:
                out[key] = self.extra[key]
            elif hasattr(self, key):
                out[key] = _plain(getattr(self, key))
        return out


_NAMES: dict[type[Document], frozenset[str]] = {}


def _names(cls: type[Document]) -> frozenset[str]:
    if cls not in _NAMES:
        _NAMES[cls] = frozenset(f.name for f in cls.declared())
    return _NAMES[cls]


_REQUIRED: dict[type, tuple[str, ...]] = {}


def _required(cls: type[Document]) -> tuple[str, ...]:
    """The declared keys without a default (ten thousand records are read in one `gerhard check`)."""
    if cls not in _REQUIRED:
        _REQUIRED[cls] = tuple(
            f.name
            for f in cls.declared()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
    return _REQUIRED[cls]


def _plain(value: Any) -> Any:
    if isinstance(value, Document):
        return value.as_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping) and any(isinstance(v, Document) for v in value.values()):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class RunRecord(Document):
    """state/runs/<run_id>.yaml: the registry record of one run (schemas/run_record.schema.json)."""

    run_id: str
    phase: str
    verdict: str
    registered_at: str
    gates: tuple[dict[str, Any], ...] = ()
    seq: int = 0
    forced: bool = False
    metrics: Mapping[str, Any] = field(default_factory=dict)
    config_sha256: str | None = None
    config: Any = None
    seed: int | None = None
    code_sha: str | None = None
    code_dirty: bool | None = None
    code_sha_source: str = "none"
    artifact_root: str = ""
    bundle_sha256: str = ""
    summary: str = ""
    next_action: str = ""
    files: int | None = None  # how many files the bundle holds
    remote_files: tuple[str, ...] = ()  # heavy files: in the MANIFEST, not in git (gerhard sync moves them)
    artifact_remote: str | None = None  # <remote root>/<run_id>, when a remote was configured at registration
    dossier: str | None = None  # the file name of its archived dossier

    @classmethod
    def tuple_keys(cls) -> frozenset[str]:
        return frozenset({"gates", "remote_files"})

    @property
    def passed(self) -> int:
        return gate_counts(self.gates)[0]

    @property
    def total(self) -> int:
        return len(self.gates)

    @property
    def failed_gates(self) -> list[str]:
        return [str(g["id"]) for g in self.gates if not g["passed"]]

    @property
    def trailers(self) -> dict[str, str]:
        """The Gerhard-* trailers its registration commit carries, in order (gerhard check reads them back)."""
        return {
            "Gerhard-Run-Id": self.run_id,
            "Gerhard-Phase": self.phase,
            "Gerhard-Verdict": self.verdict,
            "Gerhard-Code-SHA": self.code_sha or "unknown",
            "Gerhard-Code-Dirty": "unknown" if self.code_dirty is None else str(self.code_dirty).lower(),
            "Gerhard-Config-SHA256": self.config_sha256 or "none",
            "Gerhard-Bundle-SHA256": self.bundle_sha256,
        }

    @property
    def month(self) -> str:
        """YYYY-MM of its registration: its ledger and report month."""
        return self.registered_at[:7]


@dataclass(frozen=True)
class Decision(Document):
    """state/decisions/<run_id>.yaml: a human decision on a RED run (schemas/decision.schema.json)."""

    decision: str
    run_id: str
    phase: str
    reason: str
    decided_at: str
    decided_by: str
    run_count: int = 0
    replaces: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class LedgerRow(Document):
    """One line of state/ledger/<YYYY-MM>.jsonl: a registered run as `gerhard list` shows it."""

    run_id: str
    phase: str
    verdict: str
    registered_at: str
    seq: int = 0
    passed: int = 0
    total: int = 0
    withdrawn: bool = False  # written only for a withdrawn run (gerhard decide RUN_ID withdraw)


@dataclass(frozen=True)
class PhaseState(Document):
    """One phase in state/program_status.yaml."""

    state: str
    runs: int = 0
    latest_run: str | None = None
    latest_verdict: str | None = None
    passed_by: str | None = None
    title: str = ""
    baselines: Mapping[str, Any] = field(default_factory=dict)
    decision: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Status(Document):
    """state/program_status.yaml: where the program stands (derived by the fold, core.derive)."""

    program: str
    current_phase: str | None
    run_count: int = 0
    phases: Mapping[str, PhaseState] = field(default_factory=dict)
    removed_phases: Mapping[str, PhaseState] = field(default_factory=dict)
    open_needs_input: tuple[Mapping[str, Any], ...] = ()
    latest_run: str | None = None
    latest_verdict: str | None = None
    latest_registered_at: str | None = None
    last_decision: Mapping[str, Any] | None = None
    stopped: Mapping[str, Any] | None = None

    @classmethod
    def tuple_keys(cls) -> frozenset[str]:
        return frozenset({"open_needs_input"})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Status:
        """The typed view of a status document, its phases typed too."""
        typed = dict(data)
        for key in ("phases", "removed_phases"):
            if key in data:
                typed[key] = {p: PhaseState.from_dict(e) for p, e in (data[key] or {}).items()}
        return super().from_dict(typed)

    @property
    def all_phases(self) -> dict[str, PhaseState]:
        """The program's phases, then those it no longer declares that have runs."""
        return {**self.phases, **self.removed_phases}
