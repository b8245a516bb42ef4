"""The few exception types gerhard raises; cli.main maps them to exit codes."""

from __future__ import annotations


class GerhardError(Exception):
    """Base of every error gerhard raises on purpose."""


class UserError(GerhardError):
    """Something the user can fix: bad input, bad state, wrong place. Exit code 2."""


class BundleError(UserError):
    """A run bundle (folder or dossier) is incomplete, unsafe or invalid."""


class SchemaError(UserError):
    """A file does not match its JSON Schema."""


class StateError(UserError):
    """The registry's state/ files are missing, corrupt or inconsistent."""


class GitError(UserError):
    """A git operation failed or the repository is not in a usable state."""


class ConflictError(UserError):
    """A run id is already registered with different content."""
