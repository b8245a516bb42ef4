"""Load the JSON Schemas in schemas/, validate data against them, and format one-line errors."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from gerhard.errors import SchemaError
from gerhard.formats import metrics_history, quickschema
from gerhard.resources import data_path

# Bundle files every program knows; program.yaml's `artifacts:` adds more.
BUILTIN_ARTIFACT_SCHEMAS = {
    "metrics.json": "metrics",
    "eval_suite.json": "eval_suite",
    "config.yaml": "config",
    "provenance.json": "provenance",
    "MANIFEST": "manifest",
}


def schema_dir() -> Path:
    """The schemas shipped with gerhard."""
    return data_path("schemas")


def schema_names() -> list[str]:
    return sorted(p.name.removesuffix(".schema.json") for p in schema_dir().glob("*.schema.json"))


def _dirs(root: str | None) -> list[Path]:
    """A registry's own schemas/ (for its custom artifacts) first, then the shipped ones."""
    return ([Path(root) / "schemas"] if root else []) + [schema_dir()]


@functools.cache
def _registry(root: str | None) -> Any:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for d in reversed(_dirs(root)):
        for path in d.glob("*.json"):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, OSError) as e:
                raise SchemaError(f"schema file {path} cannot be read as JSON ({e}): fix or remove it") from None
            if not isinstance(doc, dict):
                raise SchemaError(f"schema file {path} is not a JSON object: fix or remove it")
            resource = Resource.from_contents(doc, default_specification=DRAFT202012)  # no "$schema": 2020-12
            resources.append((path.name, resource))
            resources.append((doc.get("$id", path.name), resource))
    return Registry().with_resources(resources)


def _schema_file(name: str, root: str | None) -> Path | None:
    """The file a schema name resolves to: a registry's own first, then the shipped one."""
    return next((d / f"{name}.schema.json" for d in _dirs(root) if (d / f"{name}.schema.json").is_file()), None)


@functools.cache
def schema_document(name: str, root: str | None = None) -> dict[str, Any] | None:
    """The schema named `name` as data (a registry's own first, then the shipped one), for what reads a
    schema's declarations rather than validating with it (the dossier's figures); None when there is no
    such schema or it is not a readable JSON object (validating says why)."""
    path = _schema_file(name, root)
    try:
        doc = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (ValueError, OSError):
        return None
    return doc if isinstance(doc, dict) else None


def _is_shipped(path: Path) -> bool:
    return path.parent == schema_dir()


@functools.cache
def validator(name: str, root: str | None = None) -> Any:
    path = _schema_file(name, root)
    if path is None:
        raise SchemaError(
            f"no schema named {name!r} (looked for {name}.schema.json in "
            f"{', '.join(map(str, _dirs(root)))}): add it or fix the artifacts in state/program.yaml"
        )
    try:
        schema = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SchemaError(f"{path} is not valid JSON ({e.msg}, line {e.lineno}): fix the schema") from None
    if not _is_shipped(path):  # the shipped schemas are checked by the test suite, not on every start
        _check_schema(schema, path)
    return _whole_text_validator()(schema, registry=_registry(root))


@functools.cache
def _whole_text_validator() -> Any:
    """Draft 2020-12, but `pattern` reads '$' as JSON Schema does (ECMA-262: the end of the text).
    Python's re.search also matches '$' before a final newline, so "abc1234\n" would pass
    ^[0-9a-f]{7,64}$ and then break the commit's trailers."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _whole_text_pattern_keyword})


def _whole_text_pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not whole_text_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# An escape, a [character class] (a ']' right after '[' or '[^' is part of it), '$', or other text.
_REGEX_TOKEN_RE = re.compile(r"\\.|\[\^?\]?(?:\\.|[^\]\\])*\]|\$|[^\\\[$]+|.", re.DOTALL)


@functools.lru_cache(maxsize=256)
def whole_text_regex(pattern: str) -> re.Pattern[str]:
    """The pattern with every '$' that is an anchor (not escaped, not in a [class]) made '\\Z'."""
    try:
        re.compile(pattern)
    except re.error as e:  # a registry's schema is checked when loaded; this guards any other way in
        raise SchemaError(
            f"schema pattern {pattern!r} is not a valid regular expression ({e}): fix the schema"
        ) from None
    return re.compile("".join("\\Z" if t == "$" else t for t in _REGEX_TOKEN_RE.findall(pattern)))


def _check_schema(schema: Any, path: Path) -> None:
    """A registry's own schema with a mistake is a user error, not a crash while validating."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError as InvalidSchema

    try:
        Draft202012Validator.check_schema(schema)
    except InvalidSchema as e:
        problem = " ".join(e.message.split())[:160]
        raise SchemaError(
            f"{path} is not a valid JSON Schema ({json_path(e.absolute_path)}: {problem}): fix the schema"
        ) from None


def json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def validate(data: Any, schema_name: str, label: str, root: Path | None = None) -> None:
    """Raise SchemaError naming the file, the JSON path and the problem, in one line."""
    try:
        if certainly_valid(data, schema_name, root):  # a valid document never imports jsonschema
            return
        from jsonschema.exceptions import best_match

        error = best_match(validator(schema_name, str(root) if root else None).iter_errors(data))
    except Exception as e:
        from referencing.exceptions import Unresolvable

        if not isinstance(e, Unresolvable):
            raise
        raise SchemaError(
            f"{label}: schema {schema_name} refers to {e.ref!r}, which cannot be found: "
            f"fix the $ref in {schema_name}.schema.json"
        ) from None
    if error is not None:
        message = " ".join(error.message.split())
        if len(message) > 160:
            message = message[:157] + "..."
        raise SchemaError(f"{label}: {json_path(error.absolute_path)}: {message} (schema {schema_name})")


@functools.cache
def _history_fast_path(name: str, root: str | None) -> bool:
    """Whether `name` is a shipped schema whose history rows metrics_history can vouch for.

    Only the shipped schemas, which the tests hold to what `covers` expects: a registry's own
    (even a copy of metrics.schema.json) goes to jsonschema whole, whatever it says."""
    path = _schema_file(name, root)
    return path is not None and _is_shipped(path) and metrics_history.covers(_shipped_schema(name, root))


def certainly_valid(data: Any, schema_name: str, root: Path | None = None) -> bool:
    """True only when `data` is valid, checked in Python where that is cheap and exact: a MANIFEST's
    shape, a record, a long metrics history, any document against a shipped schema that quickschema
    reads whole; the rest by jsonschema.

    False means "not known"; `validate` then gives jsonschema the whole document, so what is
    refused, and how the error reads, is exactly what jsonschema alone says."""
    key = str(root) if root else None
    if schema_name == "manifest":
        return _manifest_fast_path(key) and _manifest_certainly_valid(data)
    if schema_name == "run_record":
        return _record_fast_path(key) and _record_certainly_valid(data)
    schema = _shipped_schema(schema_name, key)
    if isinstance(data, dict) and "history" in data and _history_fast_path(schema_name, key):
        if not metrics_history.rows_certainly_valid(data["history"]):
            return False
        data = {**data, "history": []}  # its rows are vouched for: the rest by quickschema
    reader = _quick_reader(key)
    return schema is not None and reader is not None and quickschema.certainly_valid(schema, data, reader)


@functools.cache
def _quick_reader(root: str | None) -> quickschema.Reader | None:
    """How quickschema reads the shipped schemas, where a `$ref` names a shipped file (gate_result.defs.json);
    None for a registry with schemas of its own: jsonschema reads them all (one could take a shipped
    name or $id, and a broken one is reported), as before."""
    if root and any((Path(root) / "schemas").glob("*.json")):
        return None
    refs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in schema_dir().glob("*.json")}
    return quickschema.Reader(whole_text_regex, refs)


@functools.cache
def _shipped_schema(name: str, root: str | None) -> Any:
    """The shipped schema `name` resolves to, as JSON (None for a registry's own: jsonschema reads those)."""
    path = _schema_file(name, root)
    if path is None or not _is_shipped(path):
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# The canonical JSON of the shipped manifest.schema.json that `_manifest_certainly_valid` stands in
# for: a schema that differs (edited, or a registry's own) turns the fast path off, and
# tests/test_sync.py fails until the two agree again.
MANIFEST_SCHEMA_SHA256 = "d0b17d44c798fa3498e84b24d65019d81f278bc3cd4ca0b7957cc0c47143524f"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MANIFEST_KEYS = frozenset({"run_id", "bundle_sha256", "files"})
_MANIFEST_FILE_KEYS = (frozenset({"path", "size", "sha256"}), frozenset({"path", "size", "sha256", "stored"}))


def canonical_sha256(path: Path) -> str:
    """sha256 of a JSON file's content, whatever its spacing, key order or line endings."""
    import hashlib

    doc = json.loads(path.read_text(encoding="utf-8"))
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@functools.cache
def _manifest_fast_path(root: str | None) -> bool:
    """Whether "manifest" resolves to the shipped schema, unchanged. jsonschema costs half a
    millisecond a MANIFEST, and `sync`, `check` and the pre-commit hook read one a run."""
    path = _schema_file("manifest", root)
    return path is not None and _is_shipped(path) and canonical_sha256(path) == MANIFEST_SCHEMA_SHA256


def _manifest_certainly_valid(doc: Any) -> bool:
    """The exact shape manifest.schema.json asks for, with exact types (a size of 5.0, valid to
    jsonschema, is left to it)."""
    if not (isinstance(doc, dict) and doc.keys() == _MANIFEST_KEYS and isinstance(doc["run_id"], str)):
        return False
    if not (isinstance(doc["bundle_sha256"], str) and _SHA256_HEX.fullmatch(doc["bundle_sha256"])):
        return False
    files = doc["files"]
    if not isinstance(files, list):
        return False
    for f in files:
        if not (isinstance(f, dict) and f.keys() in _MANIFEST_FILE_KEYS and f.get("stored", "remote") == "remote"):
            return False
        path, size, sha = f["path"], f["size"], f["sha256"]
        if not (isinstance(path, str) and type(size) is int and size >= 0 and isinstance(sha, str)):
            return False
        if not _SHA256_HEX.fullmatch(sha):
            return False
    return True


# The canonical JSON of the shipped run_record.schema.json and gate_result.defs.json that
# `_record_certainly_valid` stands in for (jsonschema takes about 0.4 ms a record, and `gerhard check`
# reads every one): a schema that differs turns the fast path off, and tests/test_schemas.py fails until
# the two agree again.
RECORD_SCHEMA_SHA256 = {
    "run_record": "da8a3b24abb479203d83cc03591ad562cde0ab1f5862d661799fb708201299a6",
    "gate_result.defs": "27501a3e95011d65e0e7bc1b218ab115d70b7c2650ba3d9649b2a638c1679ace",
}
_RUN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,99}")
_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "phase": (str,),
    "metrics": (dict,),
    "config_sha256": (str, type(None)),
    "code_sha": (str, type(None)),
    "code_dirty": (bool, type(None)),
    "artifact_root": (str,),
    "registered_at": (str,),
    "summary": (str,),
    "next_action": (str,),
}
_RECORD_REQUIRED = frozenset(
    {"run_id", "seq", "verdict", "gates", "config", "seed", "code_sha_source", "bundle_sha256"}
)
_GATE_REQUIRED = frozenset({"id", "passed", "severity", "observed", "threshold"})


@functools.cache
def _record_fast_path(root: str | None) -> bool:
    """Whether "run_record" and the gate results it refers to resolve to the shipped schemas, unchanged."""
    for name, digest in RECORD_SCHEMA_SHA256.items():
        path = _schema_file(name, root) if name == "run_record" else schema_dir() / f"{name}.json"
        if path is None or not _is_shipped(path) or canonical_sha256(path) != digest:
            return False
    return True


def _record_certainly_valid(doc: Any) -> bool:
    """What run_record.schema.json asks for, with exact types (an integer written 5.0, valid to
    jsonschema, is left to it)."""
    if not (isinstance(doc, dict) and doc.keys() >= _RECORD_REQUIRED | _RECORD_TYPES.keys()):
        return False
    if not all(type(doc[k]) in kinds for k, kinds in _RECORD_TYPES.items()):
        return False
    if not (isinstance(doc["run_id"], str) and _RUN_ID.fullmatch(doc["run_id"])):
        return False
    if not (type(doc["seq"]) is int and doc["seq"] >= 1 and doc["verdict"] in ("GREEN", "AMBER", "RED")):
        return False
    if not (doc["seed"] is None or type(doc["seed"]) is int) or not isinstance(doc["bundle_sha256"], str):
        return False
    if doc["code_sha_source"] not in ("provenance.json", "registry HEAD", "code not in git", "none"):
        return False
    if type(doc.get("forced", False)) is not bool:
        return False
    if not _SHA256_HEX.fullmatch(doc["bundle_sha256"]) or not _optional_strings(doc):
        return False
    return isinstance(doc["gates"], list) and all(_gate_certainly_valid(g) for g in doc["gates"])


def _optional_strings(doc: dict[str, Any]) -> bool:
    remote = doc.get("remote_files", [])
    return type(doc.get("artifact_remote", "")) is str and type(remote) is list and all(type(f) is str for f in remote)


def _gate_certainly_valid(gate: Any) -> bool:
    if not (isinstance(gate, dict) and gate.keys() >= _GATE_REQUIRED):
        return False
    if not (type(gate["id"]) is str and type(gate["passed"]) is bool and type(gate["threshold"]) is str):
        return False
    if gate["severity"] not in ("blocking", "advisory"):
        return False
    strings = all(type(gate.get(k, "")) is str for k in ("artifact", "path"))
    return strings and all(type(gate.get(k)) in (str, type(None)) for k in ("baseline_run", "reason"))
