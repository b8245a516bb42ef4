"""gerhard init [DIR]: scaffold the registry layout into an existing git repository."""

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
SCHEMAS_README = """\
# schemas/

JSON Schemas (Draft 2020-12) for your own bundle artifacts. Name them `<name>.schema.json`
and map a bundle file to one in `state/program.yaml`:

    artifacts:
      my_artifact.json: my_artifact

gerhard's built-in schemas (metrics, eval_suite, config, provenance, ...) ship with the package.
"""


def scaffold(root: Path) -> list[str]:
    """Create what is missing of the registry layout; never overwrite. Returns what was created."""
    created = []
    program = root / layout.PROGRAM
    if not program.exists():
        atomic_write(program, data_path("program.yaml").read_bytes())
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
    return created


def init(directory: Path) -> int:
    root = gitrepo.find_root(Path(directory))
    created = scaffold(root)
    if not created:
        print(f"{root} already has the gerhard registry layout; nothing to do")
        return 0
    print(f"gerhard registry scaffolded in {root}:")
    for item in created:
        print(f"  created {item}")
    print(
        "next: edit state/program.yaml (phases, required artifacts, gates), run 'gerhard hooks install', then\n"
        "  git add -A state schemas outputs reports docs notebooks .gitignore .gitattributes && "
        "git commit -m 'gerhard init'"
    )
    return 0
