"""argparse wiring only: parse, dispatch to gerhard.cli.commands.*, map errors to exit codes.

Command modules are imported only when their subcommand runs, so `gerhard --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from gerhard.cli.parser import EXIT_USER_ERROR, build_parser

EXIT_BUG, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 3, 130, 141
__all__ = ["main", "build_parser", "dispatch"]


def dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "init":
        from gerhard.cli.commands.init import init

        return init(args.directory, args.scripts, args.example)
    if cmd == "register":
        from gerhard.cli.commands.register import register

        return register(
            args.repo,
            args.run_id,
            args.phase,
            args.source_dir,
            args.summary,
            args.next_action,
            force=args.force,
            fail_on_red=args.fail_on_red,
            as_json=args.json,
            dossier=args.dossier,
            verify=not args.no_verify,
            push=args.push,
            allow_duplicate=args.allow_duplicate,
            allow_missing=args.allow_missing,
        )
    if cmd == "doctor":
        from gerhard.cli.commands.doctor import doctor

        return doctor(args.repo, as_json=args.json)
    if cmd == "merge-driver":
        from pathlib import Path

        from gerhard.git import gitrepo
        from gerhard.team.mergedriver import merge_driver

        return merge_driver(gitrepo.find_root(Path(".")), Path(args.ours), args.path)
    if cmd == "rebase":
        from gerhard.cli.commands.rebase import rebase

        return rebase(args.repo, args.base, verify=not args.no_verify, as_json=args.json)
    if cmd == "hook":
        from gerhard.cli.commands.hook import hook

        return hook(args.repo, args.name, only=args.only)
    if cmd == "hooks":
        from gerhard.cli.commands.hooks import install

        return install(args.repo)
    if cmd == "check":
        from gerhard.cli.commands.check import check

        return check(args.repo, as_json=args.json, full=args.full)
    if cmd == "convert":
        from gerhard.cli.commands.convert import convert

        return convert(args.kind, args.source, args.out, args.threshold, args.metric, args.suite, args.force, args.json)
    if cmd == "dossier":
        from gerhard.cli.commands.dossier import dossier

        return dossier(
            args.run_dir,
            phase=args.phase,
            output=args.output,
            run_id=args.run_id,
            repo=args.repo,
            summary=args.summary,
            next_action=args.next_action,
            embed_limit=int(args.embed_limit_mb * 2**20),
        )
    if cmd == "decide":
        from gerhard.cli.commands.decide import decide

        return decide(args.repo, args.run, args.decision, args.reason, as_json=args.json, verify=not args.no_verify)
    if cmd == "env":
        from gerhard.cli.commands.env import env

        return env(args.path, as_json=args.json)
    if cmd == "finish":
        from gerhard.cli.commands.finish import finish

        return finish(
            args.folder, args.summary, args.next_action, args.allow_nonfinite, not args.no_register, args.allow_missing
        )
    if cmd == "status":
        from gerhard.cli.commands.status import status

        return status(args.repo, as_json=args.json)
    if cmd == "show":
        from gerhard.cli.commands.show import show

        return show(args.repo, args.run, as_json=args.json)
    if cmd == "list":
        from gerhard.cli.commands.list import list_runs

        return list_runs(
            args.repo, phase=args.phase, verdict=args.verdict, since=args.since, limit=args.limit, as_json=args.json
        )
    if cmd == "export":
        from gerhard.cli.commands.export import export

        return export(args.repo, args.run, args.format)
    if cmd in ("log", "diff", "pr-summary"):
        return _dispatch_history(args)
    if cmd == "sync":
        return _dispatch_sync(args)
    if cmd == "site":
        from gerhard.cli.commands.site import site

        return site(args.repo, args.out, args.rev, serve=args.serve, port=args.port, as_json=args.json)
    if cmd == "rebuild":
        from gerhard.cli.commands.rebuild import rebuild

        return rebuild(args.repo, check=args.check, commit=args.commit, refresh=args.refresh)
    raise AssertionError(f"unhandled command {cmd}")


def _dispatch_history(args: argparse.Namespace) -> int:
    if args.command == "log":
        from gerhard.cli.commands.log import log

        return log(args.repo, phase=args.phase, run_id=args.run_id, limit=args.limit, as_json=args.json)
    if args.command == "diff":
        from gerhard.cli.commands.diff import diff

        return diff(args.repo, args.run_a, args.run_b, as_json=args.json)
    from gerhard.cli.commands.pr_summary import pr_summary

    return pr_summary(args.repo, args.range, args.base)


def _dispatch_sync(args: argparse.Namespace) -> int:
    from gerhard.cli.commands.sync import sync, verify

    if args.action == "verify":
        return verify(args.repo, args.run or args.run_id, args.all_runs, args.remote, as_json=args.json)
    return sync(
        args.repo,
        args.action,
        args.run_id or args.run,
        args.run_name,
        args.latest,
        args.all_runs,
        args.remote,
        dry_run=args.dry_run,
        checksum=args.checksum,
        as_json=args.json,
    )


def _stdout_to_devnull() -> None:
    """So the interpreter's final flush of what is still buffered cannot fail again."""
    with contextlib.suppress(OSError, ValueError):  # not a real file (captured output in tests)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
    except BrokenPipeError:  # `gerhard --help | head`
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    from gerhard.errors import GerhardError

    try:
        rc = dispatch(args)
        sys.stdout.flush()  # a closed pipe shows up here, not in the interpreter's exit
        return rc
    except KeyboardInterrupt:
        print("gerhard: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `gerhard list | head`: the reader has all it wants. Stop quietly, as git does; the
        # command's work (a registration commit) is done.
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except GerhardError as e:
        if args.debug:
            import traceback  # only for --debug: a few milliseconds of every start otherwise

            traceback.print_exc()
        print(f"gerhard {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:  # noqa: BLE001 - the last line of defence
        if args.debug:
            import traceback

            traceback.print_exc()
        print(
            f"gerhard {args.command}: internal error (a bug in gerhard): {type(e).__name__}: {e}; "
            "rerun with --debug and report the traceback",
            file=sys.stderr,
        )
        return EXIT_BUG
