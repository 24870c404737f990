"""The one exception of the user's making: a bad setting, file, corpus or input, raised where
the input is checked. The recipes (``asrtl.cli.recipe``) show it as one line, ``error: ...``
and exit code 2; any other exception is a bug and keeps its traceback."""

from __future__ import annotations


class UserError(ValueError):
    """Bad input, named in the message (a ``ValueError``, so that callers catching that keep
    working)."""


class MissingInput(UserError, FileNotFoundError):
    """A file or directory the user named, or that an earlier step should have written, is
    not there."""
