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


def failure_reason(exc: BaseException) -> str:
    """One line about an unexpected failure (signing, archiving, a revision pyHanko cannot
    analyse): what it means for the user where the kind is known (a TSA or OCSP/CRL
    service down is the usual one), then the technical detail (type and first line)."""
    from signflow.i18n import _

    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if len(first) > 160:
        first = first[:159] + "…"
    detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "TimestampRequestError" in kinds:
        meaning = _("the timestamp authority could not be reached or gave an unusable answer")
    elif "InsufficientRevinfoError" in kinds:
        meaning = _("no revocation data (OCSP/CRL) could be obtained for a certificate of the "
                    "chain: is the CA's OCSP/CRL service reachable?")
    elif kinds & {"ClientError", "TimeoutError", "ConnectionError"}:
        meaning = _("a network service could not be reached")
    else:
        return detail
    return f"{meaning} ({detail})"


def os_error_message(exc: OSError, with_path: bool = True) -> str:
    """An operating-system error (disk full, read-only, no permission, path too long) as
    one line in the user's language, naming the file."""
    import errno

    from signflow.i18n import _

    causes = {
        errno.ENOSPC: _("the disk is full"),
        errno.EDQUOT: _("the disk quota is used up"),
        errno.EROFS: _("the disk or folder is read-only"),
        errno.EACCES: _("permission denied"),
        errno.EPERM: _("permission denied"),
        errno.ENAMETOOLONG: _("the path is too long"),
        errno.ENOENT: _("not found"),
        errno.EISDIR: _("is a folder, not a file"),
        errno.ENOTDIR: _("a part of the path is not a folder"),
        errno.EMFILE: _("too many open files"),
        errno.EIO: _("input/output error (a faulty disk or network share?)"),
    }
    cause = causes.get(exc.errno or -1) or exc.strerror or type(exc).__name__
    if not with_path:
        return cause
    where = exc.filename if exc.filename is not None else ""
    return _("{path}: {cause}").format(path=where, cause=cause) if where else cause
