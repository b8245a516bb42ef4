"""The docs against the things they describe: the README's promise, the CLI reference, the links.

Only `python -m gerhard ... --help` is consulted (in subprocesses), never gerhard's modules, so
moving code inside the package cannot break this file, while a new option, a renamed command or a
link to a moved file does.
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"
MAX_README_LINES = 150
SETUP_COMMANDS = ["make demo", "make test"]

FENCE = re.compile(r"^\s*(```|~~~)")
LONG_OPTION = re.compile(r"(?<![\w-])--[A-Za-z0-9][\w-]*")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\[\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")  # [text](target "title"), ![image](target)
CODE_BLOCK = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.MULTILINE | re.DOTALL)
# A command in a code span or code line that runs another program (git push --force-with-lease):
# its options are that program's, not the section's command's.
OTHER_PROGRAM = re.compile(r"^\s*(?:\$\s+)?(?!gerhard\b|python3?\b)[a-z][\w.-]*(?:\s|$)")
# gerhard's own --help lists every command like "    init        scaffold ..." (merge-driver alone).
COMMAND_LINE = re.compile(r"^ {4}([a-z][a-z-]*)(?: {2,}\S.*)?$")
# An option line of --help: "  -o FILE, --output FILE   where to write it"
OPTION_LINE = re.compile(r"^  (-[^ ].*?)(?: {2,}\S.*)?$")
# --help on every command: documented once, in the reference's conventions.
EVERYWHERE = {"--help"}
HELP_BUGS: dict[str, str] = {}  # command -> why its --help is known to be broken (strict xfail)


class Help(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run_help(*command: str) -> Help:
    done = subprocess.run(
        [sys.executable, "-m", "gerhard", *command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return Help(done.returncode, done.stdout, done.stderr)


def commands_in(top_help: str) -> list[str]:
    section = top_help.split("positional arguments:", 1)[1].split("\noptions:", 1)[0]
    return [m.group(1) for line in section.splitlines() if (m := COMMAND_LINE.match(line))]


def options_in(help_text: str) -> set[str]:
    section = help_text.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    return {opt for line in section.splitlines() if (m := OPTION_LINE.match(line)) for opt in LONG_OPTION.findall(m[1])}


TOP_HELP = run_help()
COMMANDS = commands_in(TOP_HELP.stdout) if TOP_HELP.returncode == 0 else []


@cache
def helps() -> dict[str, Help]:
    """Every command's --help, a few processes at a time."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(COMMANDS, pool.map(run_help, COMMANDS), strict=True))


def headings_and_sections(text: str, level: str = "## ") -> dict[str, str]:
    """Each `level` heading outside code blocks -> the text under it, up to the next heading of that level."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith(level):
            current = sections.setdefault(line[len(level) :].strip(), [])
            continue
        if current is not None:
            current.append(line)
    return {title: "\n".join(lines) for title, lines in sections.items()}


@cache
def reference_sections() -> dict[str, str]:
    return headings_and_sections(REFERENCE.read_text(encoding="utf-8"))


def section_of(command: str) -> str:
    title = f"`gerhard {command}`" if command else "`gerhard`"
    sections = reference_sections()
    assert title in sections, f"docs/reference.md has no '## {title}' section"
    return sections[title]


def options_for_gerhard(section: str) -> set[str]:
    """The long options a section gives to gerhard: prose, code spans and code lines, except what is
    passed to another program (a `git ...` code span, the `git push ...` part of a shell line)."""
    found: set[str] = set()
    fenced = False
    lines = section.replace("\\\n", " ").splitlines()
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            parts = re.split(r"&&|\|\||;|\|", line)
            found.update(o for part in parts if not OTHER_PROGRAM.match(part) for o in LONG_OPTION.findall(part))
            continue
        prose = CODE_SPAN.sub(lambda m: "" if OTHER_PROGRAM.match(m[1]) else f" {m[1]} ", line)
        found.update(LONG_OPTION.findall(prose))
    return found


def mentions(section: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", section) is not None


def test_readme_is_a_front_door_that_starts_with_the_two_set_up_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; the front door holds {MAX_README_LINES}"
    assert lines[0] == "# gerhard"
    first_heading = next(i for i, line in enumerate(lines) if line.startswith("## "))
    opening = next(i for i, line in enumerate(lines) if FENCE.match(line))
    assert opening < first_heading, "the set-up commands come before the first section"
    closing = next(i for i in range(opening + 1, len(lines)) if FENCE.match(lines[i]))
    commands = [line.split("#", 1)[0].strip() for line in lines[opening + 1 : closing]]
    assert commands == SETUP_COMMANDS
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for command in SETUP_COMMANDS:
        target = command.split()[1]
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"the Makefile has no '{target}' target"


def test_every_command_is_listed_by_help() -> None:
    assert TOP_HELP.returncode == 0, TOP_HELP.stderr
    assert {"init", "register", "sync", "rebuild"} <= set(COMMANDS), COMMANDS
    assert len(COMMANDS) == len(set(COMMANDS))


def test_global_options_match_the_reference() -> None:
    section = section_of("")
    options = options_in(TOP_HELP.stdout)
    assert sorted(o for o in options - EVERYWHERE if not mentions(section, o)) == []
    assert sorted(options_for_gerhard(section) - options) == []


def test_the_reference_has_nothing_but_the_commands() -> None:
    documented = {t for t in reference_sections() if t.startswith("`gerhard")}
    assert sorted(documented - {"`gerhard`"} - {f"`gerhard {c}`" for c in COMMANDS}) == []


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=HELP_BUGS[c])) if c in HELP_BUGS else c
        for c in COMMANDS
    ],
)
def test_reference_section_matches_the_commands_help(command: str) -> None:
    section = section_of(command)
    help_ = helps()[command]
    assert help_.returncode == 0, f"gerhard {command} --help failed:\n{help_.stderr[-2000:]}"
    options = options_in(help_.stdout)
    missing = sorted(o for o in options - EVERYWHERE if not mentions(section, o))
    assert missing == [], f"docs/reference.md, gerhard {command}: --help lists {missing}, the section does not"
    unknown = sorted(options_for_gerhard(section) - options)
    assert unknown == [], f"docs/reference.md, gerhard {command}: the section names {unknown}, --help does not"


def doc_files() -> list[Path]:
    docs = [p for p in sorted((ROOT / "docs").rglob("*.md")) if "ops" not in p.relative_to(ROOT / "docs").parts]
    return [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *docs]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6} (.+)$", line)):
            base, n = slug(m[1]), 1
            name = base
            while name in found:
                name, n = f"{base}-{n}", n + 1
            found.add(name)
    return found


def links_in(text: str) -> list[str]:
    """The targets of the markdown links in text, leaving out code blocks and code spans."""
    return LINK.findall(CODE_SPAN.sub("", CODE_BLOCK.sub("", text)))


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    assert doc.is_file(), f"{doc.relative_to(ROOT)} is missing"
    broken = []
    for target in links_in(doc.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with that anchor in {linked.relative_to(ROOT)}")
    assert broken == [], f"{doc.relative_to(ROOT)}: broken links: {broken}"


def test_links_are_found() -> None:
    """The link finder itself: links in prose (across a line break too), none in code."""
    text = "see [the guide](docs/guide.md#the-flow), [the\nreference](docs/reference.md) and `[x](a.md)`\n"
    assert links_in(text + "```\n[y](b.md)\n```\n") == ["docs/guide.md#the-flow", "docs/reference.md"]
    assert slug("`gerhard pr-summary`") == "gerhard-pr-summary"
    assert slug("v15_spikingbrain.json: a phase artifact") == "v15_spikingbrainjson-a-phase-artifact"
