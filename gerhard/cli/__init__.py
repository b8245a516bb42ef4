"""The command line: the parser (parser.py), dispatch and exit codes (main.py), a module per subcommand (commands/)."""

from gerhard.cli.main import main

__all__ = ["main"]
