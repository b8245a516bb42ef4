"""Where a run was made: code version, environment, runtime kind and the notebook's execution order.

Everything here is read, never asked: `gerhard env` prints it, and `gerhard.start_run` writes it to
provenance.json. Nothing touches the network; torch is only looked at when the run already imported
it (or `gerhard env` asks for it), so a run without torch does not pay for importing it.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gerhard.git import coderepo

MAX_DIFF_BYTES = 5 * 1024 * 1024  # a larger diff is cut (and says so): the code is in git, this is a patch


def runtime_kind() -> str:
    """colab, kaggle, runpod, jupyter (any Jupyter kernel), ipython (a terminal) or python."""
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG") or os.environ.get("COLAB_GPU"):
        return "colab"
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
        return "kaggle"
    if os.environ.get("RUNPOD_POD_ID"):
        return "runpod"
    shell = _ipython()
    if shell is not None:
        return "jupyter" if getattr(shell, "kernel", None) is not None else "ipython"
    return "python"


def _ipython() -> Any:
    if "IPython" not in sys.modules:
        return None
    try:
        from IPython import get_ipython

        return get_ipython()
    except Exception:  # a broken IPython install is not our problem to report
        return None


@dataclass
class CodeState:
    root: str | None  # the git work tree the code runs from, or None outside git
    sha: str | None
    dirty: bool
    diff: bytes = b""  # `git diff HEAD` plus untracked files listed, when dirty
    untracked: list[str] = field(default_factory=list)


def toplevel(start: Path) -> Path | None:
    """The work tree of the git repository around start, or None outside git."""
    return coderepo.toplevel(start)


def code_state(start: Path, exclude: list[str] | None = None) -> CodeState:
    """The commit and dirty flag of the git repository around start; when dirty, the diff itself.

    exclude: paths (relative to the work tree) that are the run's own outputs, not code.
    """
    return code_state_at(toplevel(start), exclude)


def code_state_at(root: Path | None, exclude: list[str] | None = None) -> CodeState:
    """code_state of the work tree root (from toplevel; None: not in git)."""
    if root is None:
        return CodeState(None, None, False)
    sha = coderepo.head_commit(root)
    spec = ["--", ".", *(f":(exclude){p}" for p in (exclude or []))]
    entries = coderepo.changed_entries(root, spec)
    if not entries:
        return CodeState(str(root), sha, False)
    untracked = sorted(e[3:] for e in entries if e.startswith("?? "))
    diff = coderepo.diff_to_head(root, spec) if sha else b""
    if untracked:
        diff += ("".join(f"# untracked: {p}\n" for p in untracked)).encode()
    if len(diff) > MAX_DIFF_BYTES:
        diff = diff[:MAX_DIFF_BYTES] + f"\n# cut at {MAX_DIFF_BYTES} bytes\n".encode()
    return CodeState(str(root), sha, True, diff, untracked)


def package_list() -> str:
    """Installed distributions as sorted `name==version` lines (what `pip freeze` would say)."""
    from importlib import metadata

    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            seen.setdefault(name.lower(), f"{name}=={dist.version}")
    return "".join(f"{line}\n" for _, line in sorted(seen.items()))


def _installed_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def torch_info(import_torch: bool = False) -> dict[str, Any]:
    """torch, CUDA and GPU as the run sees them. torch is imported only if the run did or import_torch."""
    info: dict[str, Any] = {"torch": None, "cuda": None, "gpu": None, "gpu_memory_gb": None}
    torch = sys.modules.get("torch")
    if torch is None and import_torch and _installed_version("torch"):
        try:
            import torch  # noqa: F811
        except Exception:
            torch = None
    if torch is None:
        info["torch"] = _installed_version("torch")
        return info | _nvidia_smi()
    info["torch"] = str(torch.__version__)
    info["cuda"] = getattr(torch.version, "cuda", None)
    try:
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = str(props.name)
            info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
    except Exception:  # a driver that fails to answer: no GPU as far as the record goes
        pass
    return info


def _nvidia_smi() -> dict[str, Any]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    first = out.strip().splitlines()[0] if out.strip() else ""
    name, _, mem = first.partition(",")
    if not name:
        return {}
    try:
        return {"gpu": name.strip(), "gpu_memory_gb": round(float(mem) / 1024, 1)}
    except ValueError:
        return {"gpu": name.strip()}


def environment(start: Path, import_torch: bool = False) -> dict[str, Any]:
    """What `gerhard env` prints and the runner notebooks show."""
    code = code_state(start)
    return {
        "python": platform.python_version(),
        **torch_info(import_torch),
        "code_root": code.root,
        "code_sha": code.sha,
        "dirty": code.dirty,
        "runtime": runtime_kind(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }


# -- clean execution order ------------------------------------------------------------------------


@dataclass
class ExecutionOrder:
    ok: bool
    kind: str  # "notebook" or "script"
    checked_against: str  # what the history was compared with
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "checked_against": self.checked_against, "problems": list(self.problems)}


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _first_line(source: str) -> str:
    line = next((s for s in source.splitlines() if s.strip()), "")
    return line.strip()[:60]


def notebook_cells(shell: Any) -> tuple[list[str] | None, str]:
    """The code cells of the notebook this kernel runs, in order, and where they were read from."""
    import json

    path = os.environ.get("GERHARD_NOTEBOOK") or (shell.user_ns.get("__vsc_ipynb_file__") if shell else None)
    source = ""
    if not path and os.environ.get("JPY_SESSION_NAME"):
        path = os.environ["JPY_SESSION_NAME"]
    data: Any = None
    if path and Path(path).is_file():
        source = str(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
    elif "google.colab" in sys.modules:
        try:
            from google.colab import _message

            data = _message.blocking_request("get_ipynb", timeout_sec=10)["ipynb"]
            source = "the Colab notebook"
        except Exception:
            data = None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, ""
    cells = []
    for cell in data["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            text = cell.get("source", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if _norm(text):
                cells.append(_norm(text))
    return cells, source


def execution_order() -> ExecutionOrder:
    """Was this run made by a fresh kernel that ran the notebook's cells once each, top to bottom?

    The kernel's own input history says what ran and in which order; the notebook file (or Colab's
    live notebook) says what the order should be. A plain Python process is in order by construction.
    """
    shell = _ipython()
    if shell is None or not hasattr(shell, "history_manager"):
        return ExecutionOrder(True, "script", "a Python process runs top to bottom")
    ran = [_norm(s) for s in shell.history_manager.input_hist_raw[1:]]
    ran = [s for s in ran if s]
    cells, where = notebook_cells(shell)
    copies = Counter(cells or [])  # a notebook may hold the same cell twice (a print, a plot): each copy runs once
    problems = [f"cell {_first_line(s)!r} ran {n} times" for s, n in Counter(ran).items() if n > max(1, copies[s])]
    if cells is None:
        checked = "the kernel's history only (notebook file not found: set GERHARD_NOTEBOOK to check the order)"
        return ExecutionOrder(not problems, "notebook", checked, problems)
    positions: dict[str, list[int]] = {}
    for i, s in enumerate(cells):
        positions.setdefault(s, []).append(i)
    runs: Counter[str] = Counter()
    expected = 0
    for s in ran:  # the n-th run of a cell is the n-th copy of it in the notebook; re-runs are counted above
        runs[s] += 1
        indices = positions.get(s, [])
        if not indices and runs[s] == 1:
            problems.append(f"cell {_first_line(s)!r} is not in the saved notebook (edited? save, restart, run all)")
        if runs[s] > len(indices):
            continue
        index = indices[runs[s] - 1]
        if index != expected:
            earlier = index > expected
            problems.append(
                f"cell {index + 1} ran before cell {expected + 1}"
                if earlier
                else f"cell {index + 1} ran after cell {expected}"
            )
            expected = max(expected, index + 1)
        else:
            expected += 1
    return ExecutionOrder(not problems, "notebook", where, problems)
