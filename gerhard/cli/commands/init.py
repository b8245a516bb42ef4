"""gerhard init [DIR]: scaffold the registry layout into an existing git repository.

state/program.yaml starts as MINIMAL_PROGRAM (one phase, a blocking and an advisory gate, each line
saying what it means), or with --example as the spiking program this repository registers (shipped as
gerhard/_data/program.yaml).
"""

from __future__ import annotations

from pathlib import Path

from gerhard import layout
from gerhard.files import atomic_write
from gerhard.git import gitrepo
from gerhard.resources import data_path

GITIGNORE_MARK = "# gerhard: heavy run files stay out of git (gerhard sync moves them)"
GITIGNORE_LINES = [
    GITIGNORE_MARK,
    "*.ckpt",
    "*.pt",
    "*.pth",
    "*.safetensors",
    "*.bin",
    "outputs/*/checkpoints/",
    ".ipynb_checkpoints/",
    "*.gerhard-tmp",
]
# The RunPod handoff's entry points (gerhard.cli.handoff), written by `gerhard init --scripts`.
SCRIPTS = ("register_dossier_run.py", "register_notebook_run.py", "generate_run_dossier.py")
KEEP_DIRS = [
    "state/runs",
    "state/needs_input",
    "state/decisions",
    "state/ledger",
    "outputs",
    "reports",
    "docs/ops",
    "schemas",
    "notebooks",
]
MINIMAL_PROGRAM = """\
# state/program.yaml: your research program. You write it; gerhard reads it to judge every run.
# Every key: docs/reference.md#stateprogramyaml. A three-phase example: gerhard init --example.
program: my-research             # the program's name, on the status board and in every report
description: What this program sets out to show.   # one line under the name

phases:                          # in order; the current phase is the first one not yet passed
  - id: A                        # runs name it: gerhard register --phase A, gerhard.start_run(phase="A")
    title: Baseline              # a few words for people
    required: [metrics.json, config.yaml, seed.txt]   # the files every run of this phase must carry
    gates:                       # what a run's results must clear; a GREEN run passes the phase
      - id: val_loss_max         # the gate's name in reports, gerhard show and pr-summary
        description: The baseline converges.   # why the gate is there
        artifact: metrics.json   # the bundle file the value is read from
        path: final.val_loss     # where in it: dotted keys, list items by index (layers.0.rate)
        op: "<="                 # compared with: <, <=, >, >=, ==, != (or range: [low, high])
        value: 2.5               # this threshold: put your own
        severity: blocking       # failed: the run is RED and the phase blocked until a decision
      - id: val_loss_vs_best     # a gate relative to earlier runs
        description: No worse than the best GREEN run of this phase.   # why the gate is there
        artifact: metrics.json   # the same value as above
        path: final.val_loss     # read from the same place
        baseline: best_green     # compared with the phase's best GREEN run (last_green: its latest)
        better: lower            # lower is better (or higher); passes while no GREEN run exists yet
        severity: advisory       # failed: the run is AMBER, noted and never blocking
"""
SCHEMAS_README = """\
# schemas/

JSON Schemas (Draft 2020-12) for your own bundle artifacts. Name them `<name>.schema.json`
and map a bundle file to one in `state/program.yaml`:

    artifacts:
      my_artifact.json: my_artifact

gerhard's built-in schemas (metrics, eval_suite, config, provenance, ...) ship with the package.
"""


def scaffold(root: Path, scripts: bool = False, example: bool = False) -> list[str]:
    """Create what is missing of the registry layout (and the handoff's scripts/ when asked); never overwrite.
    The program is the minimal one, or the spiking example. Returns what was created."""
    created = []
    program = root / layout.PROGRAM
    if not program.exists():
        atomic_write(program, data_path("program.yaml").read_bytes() if example else MINIMAL_PROGRAM.encode())
        created.append(layout.PROGRAM)
    for d in KEEP_DIRS:
        keep = root / d / ".gitkeep"
        if not (root / d).exists():
            atomic_write(keep, b"")
            created.append(f"{d}/")
    readme = root / "schemas" / "README.md"
    if not readme.exists() and not any((root / "schemas").glob("*.json")):
        atomic_write(readme, SCHEMAS_README.encode())
        created.append("schemas/README.md")
    gitignore = root / ".gitignore"
    text = gitignore.read_text() if gitignore.exists() else ""
    if GITIGNORE_MARK not in text:
        sep = "" if not text or text.endswith("\n") else "\n"
        atomic_write(gitignore, (text + sep + "\n".join(GITIGNORE_LINES) + "\n").encode())
        created.append(".gitignore (heavy-file entries)")
    from gerhard.team.mergedriver import add_attributes

    if add_attributes(root):
        created.append(".gitattributes (derived files merged by 'gerhard merge-driver'; 'gerhard hooks install')")
    return created + (write_scripts(root) if scripts else [])


def write_scripts(root: Path) -> list[str]:
    """The RunPod handoff's scripts (gerhard.cli.handoff) into root/scripts/, each unless it is there already."""
    written = []
    for name in SCRIPTS:
        dest = root / "scripts" / name
        if not dest.exists():
            atomic_write(dest, (data_path("scripts") / name).read_bytes())
            dest.chmod(0o755)
            written.append(f"scripts/{name}")
    return written


def init(directory: Path, scripts: bool = False, example: bool = False) -> int:
    root = gitrepo.find_root(Path(directory), "run 'git init' there first")
    created = scaffold(root, scripts, example)
    if not created:
        print(f"{root} already has the gerhard registry layout; nothing to do")
        return 0
    print(f"gerhard registry scaffolded in {root}:")
    for item in created:
        print(f"  created {item}")
    print(
        "next: edit state/program.yaml (phases, required artifacts, gates), run 'gerhard hooks install', then\n"
        f"  git add -A state schemas outputs reports docs notebooks{' scripts' if scripts else ''} .gitignore "
        ".gitattributes && git commit -m 'gerhard init'"
    )
    return 0
