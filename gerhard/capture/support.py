"""What the capture API (gerhard.capture.run) needs besides the Run itself: values made plain (metrics as
numbers, artifacts as JSON, config as YAML), seeding, the registry at hand, the result of finish(), and
offering the dossier for download."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gerhard.errors import UserError

_EXPONENT_WITHOUT_DOT = re.compile(r"(?<=[:-] )(-?[0-9]+)([eE][-+]?[0-9]+)$", re.MULTILINE)


@dataclass
class FinishResult:
    run_id: str
    folder: Path
    dossier: Path | None
    registered: bool
    verdict: str | None
    register_command: str
    message: str = ""  # why it was not registered, when it was not

    def __str__(self) -> str:
        lines = [f"run {self.run_id}: {self.verdict or 'not evaluated'}", f"  bundle: {self.folder}"]
        if self.dossier:
            lines.append(f"  dossier: {self.dossier}")
        if not self.registered:
            lines.append(f"  not registered{': ' + self.message if self.message else ''}")
            lines.append(f"  register it later with: {self.register_command}")
        return "\n".join(lines)


def default_run_id(name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{name}"


def find_registry(repo_root: Path | str | None) -> Path | None:
    """repo_root, else $GERHARD_REPO, else the folder at or above the working directory with state/program.yaml."""
    from gerhard import layout
    from gerhard.dossier.page import page as dossier

    given = repo_root if repo_root is not None else os.environ.get("GERHARD_REPO") or None
    if given is not None:
        root = Path(given).expanduser().resolve()
        if not (root / layout.PROGRAM).is_file():
            raise UserError(
                f"no {layout.PROGRAM} in {root}: pass repo_root= a gerhard registry (gerhard init makes one)"
            )
        return root
    return dossier.find_registry(Path.cwd())


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _number(value: Any, what: str) -> float | int:
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


def _json_default(value: Any) -> Any:
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


def _dumps(data: Any, where: str) -> bytes:
    try:
        return (json.dumps(data, indent=1, allow_nan=True, default=_json_default) + "\n").encode()
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: {e}: save plain numbers, text, lists and dicts") from None


def seed_everything(seed: int) -> list[str]:
    """Seed random, NumPy and torch (CPU and CUDA); make torch deterministic where it can. Returns notes
    on what could not be made deterministic."""
    notes: list[str] = []
    random.seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:
        pass
    if os.environ.get("PYTHONHASHSEED") is None:
        notes.append("PYTHONHASHSEED is not set: the order of sets of strings can differ between processes")
    torch = sys.modules.get("torch")
    if torch is None:
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            import torch
    if torch is None:
        return notes
    torch.manual_seed(seed)  # seeds CUDA as well
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            notes.append(
                "CUDA was initialised before start_run: cuBLAS may not be deterministic "
                "(set CUBLAS_WORKSPACE_CONFIG=:4096:8 before importing torch)"
            )
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    try:
        torch.use_deterministic_algorithms(True, warn_only=True)
    except Exception as e:  # an old torch
        notes.append(f"torch.use_deterministic_algorithms failed: {e}")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return notes


def offer_download(path: Path) -> None:
    """Colab: download the file to the laptop. Jupyter: a link. Plain Python: the path."""
    if "google.colab" in sys.modules:
        try:
            from google.colab import files

            files.download(str(path))
            return
        except Exception as e:
            print(f"gerhard: could not start the download ({e}): the dossier is {path}", file=sys.stderr)
            return
    from gerhard.capture.provenance import runtime_kind

    if runtime_kind() in ("jupyter", "kaggle", "runpod") and "IPython" in sys.modules:
        try:
            from IPython.display import FileLink, display

            display(FileLink(os.path.relpath(path), result_html_prefix="Dossier: "))
            return
        except Exception:
            pass
    print(f"dossier: {path}")


def _resolve_seed(seed: Any) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(4), "big")  # recorded in seed.txt: the run stays reproducible
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"start_run: seed={seed!r} is not a whole number >= 0")
    return seed


def _config_bytes(config: Any) -> bytes:
    from gerhard.formats.yamlio import dump_yaml, load_plain_yaml

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
    from gerhard.capture.convert import plain_data

    data = plain_data(config, "start_run: config")
    if not isinstance(data, dict):
        raise UserError(f"start_run: config must be a dict, a dataclass or a file, not a {type(config).__name__}")
    # 2e-05 is a float in YAML 1.2 but a string to PyYAML (YAML 1.1 wants a dot): write 2.0e-05, which
    # both read as the same float, so a notebook's yaml.safe_load(config.yaml) gets its learning rate back.
    return _EXPONENT_WITHOUT_DOT.sub(r"\1.0\2", dump_yaml(data)).encode()
