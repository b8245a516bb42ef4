"""gerhard: a git-native run registry and gate state machine for ML runs done in notebooks.

import gerhard
with gerhard.start_run(name="v15", phase="B", config=cfg, seed=1234) as run:
    run.log_metrics({"train_loss": 0.41, "lr": 3e-4}, step=10)
    run.log_eval("arc_easy", score=0.71, passed=True)
    run.save_artifact("v15_spikingbrain.json", obj)
    run.finish(summary="...", next_action="...")   # bundle, dossier, registration

from gerhard import register_run
result = register_run(run_id="20260223T190000Z_v15", phase="B",
                      source_dir=Path("/workspace/out"), repo_root=Path("/workspace/repo"),
                      summary="v15 notebook pass on RunPod", next_action="...")
print(result)

from gerhard import decide   # a RED run's needs-input answered: waive, advance, rerun or stop
print(decide("20260223T190000Z_v15", "waive", "energy is advisory until the kernel lands",
             repo_root=Path("/workspace/repo")))
"""

from __future__ import annotations

from gerhard.version import __version__ as __version__

TYPE_CHECKING = False  # typing is not imported at run time: `gerhard --help` does without it
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "start_run",
    "resume_run",
    "register_run",
    "decide",
    "build_dossier",
    "RegistrationResult",
    "GerhardError",
    "UserError",
]


def __getattr__(name: str) -> Any:
    # Lazy, so `import gerhard` (and the CLI's --help) does not pull in YAML, jsonschema or git.
    if name in ("register_run",):
        from gerhard import api

        return getattr(api, name)
    if name in ("start_run", "resume_run", "FinishResult", "Run"):
        from gerhard.capture import run as capture

        return getattr(capture, name)
    if name == "decide":
        from gerhard.flows.decisions import decide

        return decide
    if name == "build_dossier":
        from gerhard.dossier.page import build_dossier

        return build_dossier
    if name == "RegistrationResult":
        from gerhard.flows.registration import RegistrationResult

        return RegistrationResult
    if name in ("GerhardError", "UserError"):
        from gerhard import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'gerhard' has no attribute {name!r}")
