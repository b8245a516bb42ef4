"""The command line's parser: every subcommand, its arguments and its --help text (gerhard.cli dispatches)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from gerhard.version import __version__

EXIT_USER_ERROR = 2

DESCRIPTION = """\
gerhard: a git-native run registry and gate state machine for ML runs.

A notebook run ends with a bundle of artifacts. `gerhard register` archives it under
outputs/<run_id>/, evaluates the phase's gates from state/program.yaml, updates state/
and reports/, and makes one git commit. Then `git push` and review it in a pull request;
`git log state/` is the audit trail. In a notebook, gerhard.start_run(...) records the run and
run.finish() writes the bundle and dossier and registers it (see the README)."""

EPILOG = """\
examples:
  gerhard init                                   scaffold a registry in this git repo
  gerhard register --run-id 20260223T190000Z_v15 --phase B --source-dir ./out
  gerhard register --dossier run_dossier_20260223T190000Z_v15.html --phase B
  gerhard dossier --run-dir outputs/20260223T190000Z_v15   the single-file HTML report of a run
  gerhard convert hf out/trainer_state.json --out ./bundle   metrics.json from a HF Trainer run (or lightning, lm-eval)
  gerhard env                                    Python, torch, CUDA, GPU, git SHA, runtime: what a run records
  gerhard finish outputs/20260223T190000Z_v15    finish a run whose notebook died before run.finish()
  gerhard status                                 where the program stands
  gerhard decide 20260223T190000Z_v15 waive --reason "energy gate is advisory in practice"
  gerhard show latest                            the most recent run
  gerhard list --phase B --verdict red           runs that failed phase B
  gerhard export all --format csv > runs.csv
  gerhard log --phase B --limit 10               registrations and decisions from the commit trailers
  gerhard diff RUN_A latest                      config, metrics, gates and eval tasks that changed
  gerhard pr-summary origin/main..HEAD           markdown for the pull request (CI posts it)
  gerhard site --serve                           the registry browser: runs table, compare, curves, program
  gerhard sync push --latest --remote /content/drive/MyDrive/runs   copy the run's folder (only newer files)
  gerhard doctor                                 finish or undo an interrupted registration
  gerhard check                                  is every run whole and every derived file up to date?
  gerhard hooks install                          the pre-commit hook and merge driver for this repo

exit codes: 0 ok, 1 red verdict with --fail-on-red, 2 user error, 3 bug, 130 interrupted,
  141 the reader of the output went away (gerhard list | head)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other user error (argparse would print the whole usage).
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add(
    sub: argparse._SubParsersAction,
    name: str,
    help: str,
    description: str = "",
    repo: bool = True,
    json_out: bool = False,
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help=help, description=description or help, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if repo:
        p.add_argument(
            "--repo",
            default=".",
            type=Path,
            metavar="PATH",
            help="the registry repository (default: the current directory)",
        )
    if json_out:
        p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    # SUPPRESS: a subcommand's default would overwrite `gerhard --debug COMMAND` given before it.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback on errors")
    return p


def _register_args(sub: argparse._SubParsersAction) -> None:
    p = _add(
        sub,
        "register",
        "register a run bundle: archive, evaluate gates, update state, one commit",
        "Register one run bundle as one git commit: archive it under outputs/<run_id>/, evaluate the\n"
        "phase's gates, update state/ and reports/. Re-registering the same bundle is a no-op; the\n"
        "same run id with different content is refused. Your own staged and unstaged work is left alone.",
        json_out=True,
    )
    p.add_argument("--run-id", help="the run's id, e.g. 20260223T190000Z_v15 (with --dossier: the dossier's)")
    p.add_argument("--phase", help="the phase this run is for, see state/program.yaml (with --dossier: the dossier's)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--source-dir", type=Path, help="the folder holding the run's artifacts")
    source.add_argument(
        "--dossier", type=Path, metavar="FILE", help="a run_dossier_<run_id>.html: its embedded bundle is verified"
    )
    p.add_argument("--summary", default="", help="one or two sentences on what this run was")
    p.add_argument("--next-action", default="", help="what should happen next")
    p.add_argument("--force", action="store_true", help="register even if the phase is not open yet")
    p.add_argument("--fail-on-red", action="store_true", help="exit 1 when the verdict is RED")
    p.add_argument(
        "--allow-duplicate",
        action="store_true",
        help="register a bundle identical to another run's (refused otherwise, naming that run)",
    )
    p.add_argument(
        "--push",
        action="store_true",
        help="push the registration to the branch's upstream; if the remote moved, replay it on the new head "
        "(derived files recomputed, gates re-evaluated) and retry",
    )
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the repository's pre-commit and commit-msg hooks, as 'git commit --no-verify' does",
    )


def _dossier_args(sub: argparse._SubParsersAction) -> None:
    p = _add(
        sub,
        "dossier",
        "write a run's single-file HTML dossier: the report and the transport of its bundle",
        "Write run_dossier_<run_id>.html for a bundle folder (a notebook's output folder, or\n"
        "outputs/<run_id>/ of a registered run): verdict, gates, figures, metrics, config, provenance,\n"
        "and every bundle file embedded with its sha256, so 'gerhard register --dossier' needs nothing else.",
        repo=False,
    )
    p.add_argument("--run-dir", required=True, type=Path, help="the bundle folder")
    p.add_argument("--phase", help="the phase to evaluate the gates of (default: the registered phase, if any)")
    p.add_argument("--run-id", help="the run's id (default: the folder's name)")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="where to write it (default: into --run-dir)")
    p.add_argument(
        "--repo",
        type=Path,
        metavar="PATH",
        help="the registry that judges the run (default: the one holding --run-dir, else the current directory)",
    )
    p.add_argument("--summary", help="one or two sentences on what this run was")
    p.add_argument("--next-action", help="what should happen next")
    p.add_argument(
        "--embed-limit-mb", type=float, default=25.0, help="list larger files by hash only, not embedded (default 25)"
    )


def _convert_args(sub: argparse._SubParsersAction) -> None:
    p = _add(
        sub,
        "convert",
        "write metrics.json or eval_suite.json from a HF Trainer, Lightning or lm-eval run",
        "Write a bundle file from another tool's output, so nobody hand-writes gerhard's JSON:\n"
        "  hf         trainer_state.json (or the output_dir / checkpoint-N folder holding it) -> metrics.json\n"
        "  lightning  CSVLogger's metrics.csv (or its lightning_logs/version_N folder) -> metrics.json\n"
        "  lm-eval    results_<timestamp>.json (or lm_eval's --output_path folder: the newest) -> eval_suite.json\n"
        "A file in FOLDER with other content is refused unless --force. From Python: gerhard.capture.convert.",
        repo=False,
        json_out=True,
    )
    p.add_argument("kind", choices=["hf", "lightning", "lm-eval"], help="the tool that wrote SOURCE")
    p.add_argument("source", type=Path, metavar="SOURCE", help="the tool's output file, or the folder holding it")
    p.add_argument("--out", required=True, type=Path, metavar="FOLDER", help="the bundle folder (created if missing)")
    p.add_argument(
        "--threshold",
        action="append",
        metavar="X|TASK=X",
        help="lm-eval, required: the pass mark, one number for every task and/or TASK=X (repeat it); a task passes "
        "when its score >= X (<= X for a lower-is-better metric such as perplexity)",
    )
    p.add_argument(
        "--metric",
        help="lm-eval: score tasks by this metric, e.g. acc or exact_match,strict-match (default acc_norm, acc)",
    )
    p.add_argument("--suite", help="lm-eval: the suite's name (default lm-eval)")
    p.add_argument("--force", action="store_true", help="replace a file in FOLDER that holds other content")


def _capture_args(sub: argparse._SubParsersAction) -> None:
    """env and finish: the runner notebooks' environment cell, and completing a run a notebook left unfinished."""
    p = _add(
        sub,
        "env",
        "the environment a run would record: Python, torch, CUDA, GPU, git SHA and dirty flag, runtime",
        repo=False,
        json_out=True,
    )
    p.add_argument("--path", type=Path, default=Path("."), help="where the code runs from (default: .)")
    p = _add(
        sub,
        "finish",
        "finish a run a notebook left unfinished: bundle, dossier, registration",
        "A run started with gerhard.start_run keeps its history in FOLDER/.gerhard-run/ (flushed every few\n"
        "seconds). If the runtime died or the with block raised, this finishes what was logged, like\n"
        "gerhard.resume_run(FOLDER).finish() in Python.",
        repo=False,
    )
    p.add_argument("folder", type=Path, metavar="FOLDER", help="the run folder (outputs/<run_id>/ of the registry)")
    p.add_argument("--summary", default="", help="one or two sentences on what this run was")
    p.add_argument("--next-action", default="", help="what should happen next")
    p.add_argument("--allow-nonfinite", action="store_true", help="register a run that logged NaN or inf (RED)")
    p.add_argument("--no-register", action="store_true", help="write the bundle and dossier only")


def _history_args(sub: argparse._SubParsersAction) -> None:
    """log, diff, pr-summary: the registry's history, two runs side by side, a pull request's runs."""
    p = _add(
        sub,
        "log",
        "registrations and decisions from the commits' trailers, newest first",
        "Registrations and decisions, newest first, read from the git trailers of their commits\n"
        "(one git log): date, commit, kind, run, phase, verdict or decision, author.",
        json_out=True,
    )
    p.add_argument("--phase", help="only entries of this phase")
    p.add_argument("--run-id", metavar="ID", help="only the registration and decisions of this run")
    p.add_argument("--limit", type=int, default=0, help="at most this many entries (default 0 = all)")
    p = _add(sub, "diff", "two runs side by side: config, metrics, gates and eval tasks that changed", json_out=True)
    p.add_argument("run_a", metavar="RUN_A", help="a run id, or 'latest'")
    p.add_argument("run_b", metavar="RUN_B", help="a run id, or 'latest'")
    p = _add(
        sub,
        "pr-summary",
        "markdown for a pull request: runs registered in a range, gates, metric deltas, decisions",
        "Markdown for a pull request, on stdout: a verdict table first (one row per run registered in\n"
        "BASE..HEAD: verdict, gates passed, the gates that failed, a decision taken), then each run's gate\n"
        "table and metric deltas against the phase's baseline run at BASE, and the decisions. With no range,\n"
        "BASE is the branch the pull request goes into, from where this branch left it (BASE...HEAD).",
    )
    given = p.add_mutually_exclusive_group()
    given.add_argument(
        "range",
        nargs="?",
        metavar="BASE..HEAD",
        help="the commits of the pull request, as CI names them (BASE...HEAD: from their merge base)",
    )
    given.add_argument(
        "--base",
        metavar="BRANCH",
        help="the branch the pull request goes into (default: the remote's default branch, origin/HEAD, "
        "else origin/main or origin/master)",
    )


def _decide_args(sub: argparse._SubParsersAction) -> None:
    p = _add(
        sub,
        "decide",
        "decide a RED run's needs-input (waive, advance, rerun, stop) or withdraw a run (one commit)",
        "Answer a RED run's needs-input with a decision, as one git commit: state/decisions/<run_id>.yaml,\n"
        "the needs-input resolved, the derived files updated. waive or advance: the phase passes with this\n"
        "run; rerun: the phase stays active for a new run; stop: the program stops and nothing is registered\n"
        "until that run is decided again (rerun, waive or advance), which resumes it. withdraw: a run of any\n"
        "verdict registered by mistake no longer counts (gates' baselines, phases, status); its record and\n"
        "archive stay as registered, marked withdrawn by its decision file, report and ledger row.",
        json_out=True,
    )
    p.add_argument("run", metavar="RUN_ID", help="the run (RED, except to withdraw it), or 'latest'")
    p.add_argument("decision", metavar="{waive,advance,rerun,stop,withdraw}", help="the decision")
    p.add_argument("--reason", required=True, help="why: one line, in the commit and state/decisions/")
    p.add_argument("--no-verify", action="store_true", help="skip the repository's pre-commit and commit-msg hooks")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gerhard", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"gerhard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = _add(sub, "init", "scaffold the registry layout into a git repository", repo=False)
    p.add_argument("directory", nargs="?", default=".", type=Path, help="the git repository (default: .)")
    p.add_argument(
        "--scripts",
        action="store_true",
        help="also write the RunPod handoff's scripts/register_dossier_run.py, register_notebook_run.py and "
        "generate_run_dossier.py (thin entry points over gerhard register and gerhard dossier)",
    )
    p.add_argument(
        "--example",
        action="store_true",
        help="state/program.yaml as the three-phase spiking example program (default: a minimal program, "
        "one phase with a blocking and an advisory gate, every line commented)",
    )

    _register_args(sub)
    _dossier_args(sub)
    _convert_args(sub)
    _add(
        sub,
        "status",
        "the program's status in a few lines",
        "Where the program stands: the current phase, each phase's state, the latest run, open needs-input.\n"
        "Then the runs in outputs/ not registered yet (a refused finish(), a runtime that died, a notebook's\n"
        "own folder), each with the command that registers it (--json: pending_runs).",
        json_out=True,
    )
    _capture_args(sub)
    _decide_args(sub)

    p = _add(sub, "show", "one run: gates, metrics, provenance", json_out=True)
    p.add_argument("run", help="a run id, or 'latest' for the most recently registered run")

    p = _add(sub, "list", "registered runs, newest first", json_out=True)
    p.add_argument("--phase", help="only runs of this phase")
    p.add_argument("--verdict", type=str.upper, choices=["GREEN", "AMBER", "RED"], help="only runs with this verdict")
    p.add_argument("--since", help="only runs registered on or after this date (YYYY-MM-DD)")
    p.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20; 0 = all)")

    p = _add(sub, "export", "run records to stdout as JSON, YAML or CSV")
    p.add_argument("run", help="a run id, 'latest', or 'all'")
    p.add_argument("--format", choices=["json", "yaml", "csv"], default="json", help="output format (default json)")
    _history_args(sub)
    _sync_args(sub)
    _site_args(sub)

    _add(
        sub,
        "doctor",
        "finish or undo an interrupted registration; clear stale locks and temporary files",
        "Look for what an interrupted gerhard command (killed, Ctrl-C, power cut) left behind and settle it:\n"
        "a registration whose commit landed is finished (work tree and index brought to the commit), one\n"
        "that did not land is undone (the repository as before). Stale lock files and temporary files are\n"
        "removed. Says what it did, or that all is well; exit 1 if a problem is left that needs you. Runs in\n"
        "outputs/ not registered yet are no problem: named with the command that registers each, left as they are.",
        json_out=True,
    )
    p = _add(
        sub,
        "rebase",
        "replay this branch's registrations on its base, so its pull request merges without conflicts",
        "Replay the commits of this branch on BASE (default: its upstream, else origin/HEAD): each\n"
        "registration is registered again from its archived bundle (derived files recomputed, gates\n"
        "re-evaluated against the baselines on BASE, sequence numbers after BASE's runs); other commits\n"
        "are cherry-picked. Says which verdicts changed. Then push with --force-with-lease.",
        json_out=True,
    )
    p.add_argument("base", nargs="?", help="the branch to rebase on, e.g. origin/main (fetch it first)")
    p.add_argument("--no-verify", action="store_true", help="skip the repository's pre-commit and commit-msg hooks")

    p = _add(
        sub,
        "merge-driver",
        "git's merge driver for derived files (configured by 'gerhard hooks install'): recompute, never text-merge",
        repo=False,
    )
    for name, what in (("base", "%%O"), ("ours", "%%A"), ("theirs", "%%B"), ("path", "%%P")):
        p.add_argument(name, help=f"git's {what}")

    p = _add(
        sub,
        "hook",
        "run one of gerhard's git hooks (what hooks/pre-commit calls)",
        "pre-commit: checks what the staged commit touches, read from git's index: a run's record, MANIFEST,\n"
        "archived files and bundle (complete and valid for its phase); the derived files, which must be what\n"
        "'gerhard rebuild' computes. Refuses while an interrupted registration is unsettled. Exit 1 with one\n"
        "line per problem on stderr.",
    )
    p.add_argument("name", choices=["pre-commit"], help="the hook to run")
    p.add_argument("--only", choices=["bundles", "state"], help="check only run bundles, or only state files")

    p = _add(
        sub,
        "hooks",
        "install gerhard's pre-commit hook and merge driver into this repository",
        "Installs the pre-commit hook where git looks for hooks (core.hooksPath honoured). A pre-commit hook\n"
        "that is not gerhard's is kept as pre-commit.local and run after gerhard's checks; if that name is\n"
        "taken too, nothing is changed and you are told how to merge them. Running it again changes nothing.",
    )
    p.add_argument("action", choices=["install"], help="install (an existing pre-commit hook is kept and chained)")

    p = _add(
        sub,
        "check",
        "audit the registry against its history: every run as registered, archives, derived files; exit 1 on problems",
        "Every run as the commit that registered it wrote it (found by its Gerhard-* trailers): its record and\n"
        "archive never changed or deleted since (the commit that did is named, with its author), a record\n"
        "with no registration named as hand-added, the trailers agreeing with the record, the gates evaluated\n"
        "again from the archived files under that commit's program.yaml giving the recorded verdict. Every\n"
        "record and MANIFEST schema-valid, every archived file matching its MANIFEST (size and sha256), the\n"
        "derived files equal to what 'gerhard rebuild' computes, no leftovers of an interrupted registration.\n"
        "Incremental: only the commits since the last check that passed (remembered in .git/, never\n"
        "committed), and what the work tree changes. One line per problem (what, and how to fix it) and\n"
        "exit 1; else one summary line. Progress goes to stderr every few seconds. For CI: see\n"
        "examples/ci/github-workflow.yml.",
        json_out=True,
    )
    p.add_argument(
        "--full", action="store_true", help="verify every commit and every run, not only those since the last check"
    )

    p = _add(sub, "rebuild", "recompute every derived state file and report from state/runs/")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report differences; exit 1 if any")
    mode.add_argument("--commit", action="store_true", help="commit the rebuilt files that differ from HEAD")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="on the default branch: fold in only the runs and decisions merged since its aggregates were"
        " written (the CI workflow's step; exit 0 when there is nothing to fold)",
    )
    return parser


def _sync_args(sub: argparse._SubParsersAction) -> None:
    p = _add(
        sub,
        "sync",
        "copy run folders to or from the artifact remote (a path, a Drive folder, s3://...)",
        "push: outputs/<run_id>/ -> <remote>/<run_id>/; pull: back. A file is copied when it is missing at the\n"
        "destination or newer at the source (--checksum: when its sha256 differs from the MANIFEST); nothing\n"
        "is deleted and a newer destination file is never overwritten. verify: the remote holds every MANIFEST\n"
        "file. The remote: --remote, else GERHARD_REMOTE, else artifact_remote in state/program.yaml.",
        json_out=True,
    )
    p.add_argument("action", choices=["push", "pull", "verify"], help="the direction, or verify")
    p.add_argument("run", nargs="?", help="verify: a run id or 'latest' (default latest)")
    p.add_argument("--run-id", help="this run (first in the resolution order)")
    p.add_argument("--run-name", help="the latest registered run with this name (run ids are <timestamp>_<name>)")
    p.add_argument("--latest", action="store_true", help="the most recently registered run")
    p.add_argument("--all", dest="all_runs", action="store_true", help="every registered run")
    p.add_argument("--remote", metavar="URL", help="the remote root (default: GERHARD_REMOTE, artifact_remote)")
    p.add_argument("--dry-run", action="store_true", help="say what would be copied; copy nothing")
    p.add_argument("--checksum", action="store_true", help="compare sha256 with the MANIFEST, not times")


def _site_args(sub: argparse._SubParsersAction) -> None:
    p = _add(
        sub,
        "site",
        "build the registry browser: a static site with the runs table, compare, curves and the program view",
        "Build a static site from the run records and the archived metrics histories: a runs table with\n"
        "filters (also on config and metric values, e.g. 'config.lr < 0.01') and sorting, a comparison of\n"
        "2-8 runs (the content of 'gerhard diff', curves overlaid with the baseline run and gate thresholds),\n"
        "and the program view (status board, verdicts and gated metrics over time, decisions, needs-input).\n"
        "It opens from file:// with no network; a rebuild rewrites only what changed. For CI publishing:\n"
        "see examples/ci/github-workflow.yml.",
        json_out=True,
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="where to write it (default: _site in the registry)")
    p.add_argument("--rev", metavar="REV", help="build from this commit, branch or tag (default: the work tree)")
    p.add_argument("--serve", action="store_true", help="then serve it on 127.0.0.1 until Ctrl-C")
    p.add_argument("--port", type=int, default=8000, help="the port for --serve (default 8000; 0: any free port)")
