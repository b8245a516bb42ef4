"""gerhard env: what the runner notebooks show before a run (Python, torch, CUDA, GPU, code, runtime)."""

from __future__ import annotations

from pathlib import Path

from gerhard.output import print_json


def env(path: Path, as_json: bool = False) -> int:
    from gerhard.capture.provenance import environment

    info = environment(path, import_torch=True)
    if as_json:
        print_json(info)
        return 0
    gpu = info["gpu"] or "none"
    if info.get("gpu_memory_gb"):
        gpu += f" ({info['gpu_memory_gb']} GB)"
    code = "not in git" if info["code_root"] is None else f"{info['code_sha'] or 'no commit yet'}"
    if info["code_root"] is not None:
        code += f" ({'dirty' if info['dirty'] else 'clean'}, {info['code_root']})"
    rows = [
        ("python", info["python"]),
        ("torch", info["torch"] or "not installed"),
        ("cuda", info["cuda"] or "none"),
        ("gpu", gpu),
        ("code", code),
        ("runtime", info["runtime"]),
        ("host", f"{info['host']} ({info['platform']})"),
    ]
    print("\n".join(f"{k:<9} {v}" for k, v in rows))
    return 0
