"""A branch rewritten by gerhard, as one transaction: `gerhard rebase`, and `register --push` (its
registration, and its replays when the remote moved).

    journal the branch's old head and the user's own changes → set heavy files aside (each move
    journaled first) → move the branch (each commit it goes to journaled first) → the steps (each
    cherry-pick journaled first; a registration is its own transaction) → DONE: the journal names
    the final commit (THE COMMIT POINT) → heavy files home → clear the journal

Before DONE, whoever finds the journal undoes the whole rewrite: the process itself (a refused step,
an error, Ctrl-C, `kill`), else the next gerhard command or `gerhard doctor` (after a SIGKILL or a
power cut). Undoing needs git and the journal, never the step that was running: every file that a
commit the branch went through changed is put back as the old head has it, in the index and the work
tree, except those the user had changed before; files that are new since are removed, not those that
were there (untracked) before; heavy files go home; and the branch moves back last, so an undo that
is itself interrupted is done again whole. After DONE the rewrite is finished instead: heavy files home.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gerhard import layout
from gerhard.errors import GitError
from gerhard.files import atomic_write
from gerhard.git import checkout, gitrepo, stale

REWRITE_DIR = "gerhard-rebase"  # in the git dir: journal.json, bundles/<run_id>/, heavy/<run_id>/...
LEFT_DIR = "gerhard-rebase-left"  # heavy files that could not go home (their place was taken): doctor names them
ACTIVE: set[Path] = set()  # journal folders of rewrites running in this process: not to be settled by it


class Undone(NamedTuple):
    message: str
    exact: bool  # the branch, index, work tree and heavy files are as before


@dataclass
class Rewrite:
    repo: gitrepo.RepoInfo
    data: dict[str, Any] = field(default_factory=dict)
    undone: Undone | None = None  # set when it was undone in this process

    @property
    def dir(self) -> Path:
        return rewrite_dir(self.repo)

    @property
    def bundles(self) -> Path:
        return self.dir / "bundles"

    @property
    def what(self) -> str:
        return str(self.data.get("what", "rewrite of the branch"))

    def save(self, **changes: Any) -> None:
        self.data.update(changes)
        tmp = self.dir / "journal.json.tmp"
        tmp.write_text(json.dumps(self.data), encoding="utf-8")
        os.replace(tmp, self.dir / "journal.json")

    def going_to(self, *commits: str) -> None:
        """Journal commits the branch is about to hold (before it moves or commits there)."""
        self.save(seen=[*self.data["seen"], *commits])

    def picking(self, sha: str) -> None:
        self.save(picked=[*self.data["picked"], sha])

    def mark_done(self, final: str) -> None:
        """THE COMMIT POINT: from here on the rewrite is finished, never undone."""
        self.save(done=final)

    def set_aside(self, moves: list[tuple[str, str]]) -> None:
        """Move work-tree files (path from the root) into the journal folder (path from it), each move
        journaled before it is made; folders they leave empty go (git never tracked those)."""
        self.save(heavy=[*self.data["heavy"], *map(list, moves)])
        root = self.repo.root
        for home, aside in moves:
            (self.dir / aside).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(root / home, self.dir / aside)
            _prune_empty((root / home).parent, stop=root / layout.run_dir(home.split("/")[1]))

    def put_back(self) -> list[str]:
        """Heavy files set aside go home; one whose place is taken goes to LEFT_DIR (returned)."""
        root, left = self.repo.root, []
        for home, aside in self.data.get("heavy", []):
            src, dst = self.dir / aside, root / home
            if not os.path.lexists(src):
                continue
            if os.path.lexists(dst):
                dst = self.repo.git_dir / LEFT_DIR / home
                left.append(str(dst))
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)
        return left


def rewrite_dir(repo: gitrepo.RepoInfo) -> Path:
    return repo.git_dir / REWRITE_DIR


def pending(repo: gitrepo.RepoInfo) -> bool:
    """A rewrite's journal is here that no one in this process is running."""
    d = rewrite_dir(repo)
    return d.exists() and d not in ACTIVE


def begin(repo: gitrepo.RepoInfo, what: str, finished: str, ref: str, old: str) -> Rewrite:
    """Journal the rewrite of `ref` (at `old`) before anything moves. The caller holds the registry lock."""
    d = rewrite_dir(repo)
    try:
        d.mkdir()
    except FileExistsError:
        raise GitError(f"{d} is left from an interrupted rebase: run 'gerhard doctor', then try again") from None
    except OSError as e:
        raise GitError(f"cannot write in {repo.git_dir} ({e.strerror}): is the repository read-only?") from None
    ACTIVE.add(d)
    rw = Rewrite(repo)
    try:
        changed, untracked = checkout.local_changes(repo.root)
        kept, kept_dirs = _untracked_now(repo.root, old, untracked)
        rw.save(
            what=what, finished=finished, ref=ref, old=old, started=time.time(), pid=os.getpid(), changed=changed,
            kept=kept, kept_dirs=kept_dirs, seen=[], picked=[], heavy=[], done=None,
        )  # fmt: skip
    except BaseException:
        clear(rw)
        raise
    return rw


def _untracked_now(root: Path, old: str, untracked: list[str]) -> tuple[list[str], list[str]]:
    """(files an undo must leave: untracked files, and everything in outputs/ that old does not track,
    ignored heavy files included; untracked folders elsewhere, left whole)."""
    outputs = root / layout.OUTPUTS
    tracked = gitrepo.read_trees(root, old, [layout.OUTPUTS])[layout.OUTPUTS]
    kept = [u for u in untracked if not u.endswith("/")]
    in_outputs = [u for u in untracked if u.endswith("/") and u.startswith(f"{layout.OUTPUTS}/")]
    kept_dirs = [u for u in untracked if u.endswith("/") and u not in in_outputs]
    kept += [f for u in in_outputs for f in _files(root, u)]
    if outputs.is_dir():
        new = [name for name in sorted(os.listdir(outputs)) if name not in tracked]
        kept += [f for name in new for f in _files(root, layout.run_dir(name))]
    return sorted(set(kept)), kept_dirs


def _files(root: Path, rel: str) -> list[str]:
    """rel itself (a file or a link), or every file below it."""
    top = root / rel.rstrip("/")
    if not top.is_dir() or top.is_symlink():
        return [rel.rstrip("/")] if os.path.lexists(top) else []
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath).relative_to(root).as_posix()
        found += [f"{here}/{n}" for n in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]]
    return found


def load(repo: gitrepo.RepoInfo) -> Rewrite | None:
    d = rewrite_dir(repo)
    if not d.is_dir():
        return None
    try:
        data = json.loads((d / "journal.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}  # stopped before its journal was written: nothing had moved
    return Rewrite(repo, data if isinstance(data, dict) else {})


def settle(repo: gitrepo.RepoInfo) -> str | None:
    """Finish (after DONE) or undo a rewrite a crash left behind; what was done, or None when there was none.
    The caller holds the registry lock and has settled an interrupted registration first."""
    rw = load(repo)
    if rw is None or rw.dir in ACTIVE:
        return None
    if not rw.data.get("old"):
        if any(rw.dir.glob("*/bundle/MANIFEST")):  # an earlier gerhard's: `gerhard doctor` puts its files back
            return None
        clear(rw)
        return None
    if rw.data.get("done") and gitrepo.ref_value(repo.root, rw.data["ref"]) == rw.data["done"]:
        return finish(rw)
    return roll_back(rw).message


def finish(rw: Rewrite) -> str:
    left = rw.put_back()
    clear(rw)
    return f"finished an interrupted {rw.what}: {rw.data.get('finished', 'it is complete')}" + (
        f"; {finish_note(left)}" if left else ""
    )


def clear(rw: Rewrite) -> None:
    shutil.rmtree(rw.dir, ignore_errors=True)
    ACTIVE.discard(rw.dir)


def roll_back(rw: Rewrite) -> Undone:
    """The branch, its index and work tree as at `begin`, heavy files home; then the journal goes."""
    root, d = rw.repo.root, rw.data
    old, ref = d["old"], d["ref"]
    in_the_way = stale.remove_locks_left_since(rw.repo, ref, float(d.get("started", 0)))
    if in_the_way:
        raise GitError(
            f"{in_the_way[0]} is in the way of undoing the interrupted {rw.what}: wait for the git command "
            "running here to finish (if none is, remove that file), then run 'gerhard doctor'"
        )
    checkout.quit_cherry_pick(root, rw.repo.git_dir)
    checkout.refresh_index(root)
    head = gitrepo.ref_value(root, ref)
    commits = [c for c in dict.fromkeys([*d.get("seen", []), head]) if c and c != old]
    paths = _touched(root, old, commits, d.get("picked", [])) - set(d.get("changed", []))
    present = checkout.in_commit(root, old, sorted(paths))
    checkout.checkout_paths(root, old, sorted(present))
    gone = sorted(paths - present)
    checkout.unstage(root, gone)
    _remove_new_files(rw, gone, commits)
    left = rw.put_back()
    _remove_new_run_folders(rw, gone)  # after the heavy files came home: copies a registration made there
    if head != old:
        gitrepo.update_ref(root, ref, old, head, f"gerhard: undo the interrupted {rw.what}")
    differ = checkout.differing(root, old, sorted(paths))
    clear(rw)
    branch = ref.removeprefix("refs/heads/")
    if not differ and not left:
        return Undone(f"undid an interrupted {rw.what}: branch {branch} is back at {old[:12]} as before", True)
    shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
    notes = [f"{shown} differ from it (see git status)"] if differ else []
    return Undone(
        f"undid an interrupted {rw.what}: branch {branch} is back at {old[:12]}, but "
        + "; ".join([*notes, *([finish_note(left)] if left else [])]),
        False,
    )


def finish_note(left: list[str]) -> str:
    if not left:
        return ""
    return (
        f"heavy file(s) set aside could not go back, their place is taken: {', '.join(left)} "
        "(compare them with the files in outputs/ and keep the right one)"
    )


def _touched(root: Path, old: str, commits: list[str], picked: list[str]) -> set[str]:
    """Every file a commit the branch went through differs in from old, or a cherry-pick changed."""
    paths: set[str] = set()
    for commit in commits:
        paths.update(checkout.changed_paths(root, old, commit))
    for sha in picked:
        paths.update(checkout.commit_paths(root, sha))
    return paths


def _remove_new_files(rw: Rewrite, gone: list[str], commits: list[str]) -> None:
    """Files old does not have: removed, but those that were there before (an untracked run folder that
    a registration took in place, written back if a move removed it)."""
    root, kept = rw.repo.root, set(rw.data.get("kept", []))
    kept_dirs = tuple(rw.data.get("kept_dirs", []))
    for rel in gone:
        if rel in kept:
            if not os.path.lexists(root / rel):
                _write_from(root, rel, commits)
        elif not rel.startswith(kept_dirs) and os.path.lexists(root / rel):
            (root / rel).unlink()
            _prune_empty((root / rel).parent, stop=root)


def _remove_new_run_folders(rw: Rewrite, gone: list[str]) -> None:
    """What is left in run folders old does not have, but files that were there before."""
    root, kept = rw.repo.root, set(rw.data.get("kept", []))
    tracked = gitrepo.read_trees(root, rw.data["old"], [layout.OUTPUTS])[layout.OUTPUTS]
    runs = {rel.split("/")[1] for rel in gone if rel.startswith(f"{layout.OUTPUTS}/") and rel.count("/") >= 2}
    for run in sorted(runs - set(tracked)):
        for rel in _files(root, layout.run_dir(run)):
            if rel not in kept:
                (root / rel).unlink()
                _prune_empty((root / rel).parent, stop=root / layout.OUTPUTS)


def _write_from(root: Path, rel: str, commits: list[str]) -> None:
    for commit in reversed(commits):
        if checkout.in_commit(root, commit, [rel]):
            atomic_write(root / rel, gitrepo.cat_blob(root, commit, rel))
            return


def _prune_empty(folder: Path, stop: Path) -> None:
    """Remove folder and its parents while they are empty, up to (not including) stop."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
