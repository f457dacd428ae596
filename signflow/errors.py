"""The one error hierarchy that reaches users, and its mapping to exit codes.

Library code raises these with a message already translated for the user; the CLI prints
the message on one line and exits with ``exit_code``. Anything else that escapes is a bug
and is reported as such (with a traceback only under ``--debug``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_FAILED = 2


class SignflowError(Exception):
    """Base class: the command could not do its job (exit code 2)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InputError(SignflowError):
    """Bad input from the user: a file, a value, a roster."""


class ToolMissingError(SignflowError):
    """An external program (LibreOffice, softhsm2-util, ...) is not installed."""


class TemplateError(InputError):
    """A template cannot be rendered (syntax, missing variable, not a .docx)."""


class ConversionError(SignflowError):
    """LibreOffice failed to convert a document."""


class SigningError(SignflowError):
    """A signature could not be made, or was refused by policy."""


class CheckFailed(SignflowError):
    """A check ran and found problems (exit code 1)."""

    exit_code = EXIT_PROBLEMS
