"""Errors a user can cause: the command line prints their message as one sentence and exits non-zero."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad configuration, unreachable server, disabled feed...).

    ``exit_code`` follows the command line's convention: 2 for bad configuration or usage, 1 otherwise.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ConfigError(UserError):
    """The configuration file or environment is invalid."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)
