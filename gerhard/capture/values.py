"""What a notebook hands the capture API, made plain: metric values as numbers, artifacts as JSON,
config as YAML, metric names checked once."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gerhard.capture.convert import check_metric_name, plain_data
from gerhard.errors import UserError
from gerhard.formats.yamlio import dump_yaml, load_plain_yaml

_EXPONENT_WITHOUT_DOT = re.compile(r"(?<=[:-] )(-?[0-9]+)([eE][-+]?[0-9]+)$", re.MULTILINE)


def check_new_metric(key: Any, call: str) -> str:
    """A metric name the first time a run sees it: text, not 'step', and no '.' (gate paths split on it)."""
    if not isinstance(key, str) or key == "step":
        raise UserError(f"{call}: {key!r} is not a metric name: use text such as 'val_loss' (not 'step')")
    check_metric_name(key, call)
    return key


def check_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    """metric_aliases= as given to start_run or an integration: text -> a metric name a gate can read."""
    if aliases is None:
        return {}
    if not isinstance(aliases, Mapping):
        raise UserError(f"metric_aliases: pass a dict of logged name -> gate name, not a {type(aliases).__name__}")
    for key, name in aliases.items():
        if not isinstance(key, str):
            raise UserError(f"metric_aliases: the key {key!r} is not text: name the metric as it is logged")
        check_new_metric(name, f"metric_aliases[{key!r}]")
    return dict(aliases)


def plain_number(value: Any, what: str) -> float | int:
    """A metric value as a Python number (numpy and 0-d torch scalars accepted)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise UserError(f"{what} is {value!r} ({type(value).__name__}): log a number")
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            out = item()
        except (TypeError, ValueError, RuntimeError):
            out = None
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            return out
    raise UserError(f"{what} is a {type(value).__name__}: log a number (for a tensor, .item())")


def json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"a value of type {type(value).__name__} cannot be written as JSON")


def json_bytes(data: Any, where: str) -> bytes:
    try:
        return (json.dumps(data, indent=1, allow_nan=True, default=json_default) + "\n").encode()
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: {e}: save plain numbers, text, lists and dicts") from None


def config_bytes(config: Any) -> bytes:
    if config is None:
        config = {}
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise UserError(
                f"start_run: config={str(config)!r} is not a file: pass a dict, dataclass or YAML/JSON file"
            )
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            try:
                config = json.loads(text)
            except ValueError as e:
                raise UserError(f"start_run: config file {path} is not valid JSON: {e}") from None
        else:
            load_plain_yaml(text, str(path))  # refuses what is not YAML
            return text.encode() if text.endswith("\n") else (text + "\n").encode()

    data = plain_data(config, "start_run: config")
    if not isinstance(data, dict):
        raise UserError(f"start_run: config must be a dict, a dataclass or a file, not a {type(config).__name__}")
    # 2e-05 is a float in YAML 1.2 but a string to PyYAML (YAML 1.1 wants a dot): write 2.0e-05, which
    # both read as the same float, so a notebook's yaml.safe_load(config.yaml) gets its learning rate back.
    return _EXPONENT_WITHOUT_DOT.sub(r"\1.0\2", dump_yaml(data)).encode()
