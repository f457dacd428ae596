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
    elif "PKCS11Error" in kinds and token_error_meaning(exc) is not None:
        meaning = token_error_meaning(exc) or ""
    else:
        return detail
    return f"{meaning} ({detail})"


def token_error_meaning(exc: BaseException) -> str | None:
    """What a PKCS#11 error (python-pkcs11's exception classes) means for the person at the
    token, in their language; None for an error this does not know."""
    from signflow.i18n import _

    name = type(exc).__name__
    text = {
        "PinIncorrect": _("the PIN is wrong"),
        "PinLocked": _("the PIN is locked after too many wrong tries: unlock it with the "
                       "token's software (or ask the CA)"),
        "PinExpired": _("the PIN has expired: change it with the token's software"),
        "PinInvalid": _("the PIN has characters the token does not accept"),
        "PinLenRange": _("the PIN is too short or too long for this token"),
        "DeviceRemoved": _("the token was removed: plug it in again and sign again"),
        "TokenNotPresent": _("the token was removed: plug it in again and sign again"),
        "SessionHandleInvalid": _("the token was removed or reset: plug it in again and "
                                  "sign again"),
        "SessionClosed": _("the token was removed or reset: plug it in again and sign again"),
        "ObjectHandleInvalid": _("the key is no longer on the token (was the token removed?): "
                                 "plug it in again and sign again"),
        "DeviceError": _("the token reported a device error: unplug it, plug it in again "
                         "and retry"),
        "DeviceMemory": _("the token is out of memory"),
        "TokenNotRecognised": _("the token is not recognised by this module: use its own "
                                "PKCS#11 module"),
        "FunctionCancelled": _("the PIN entry was cancelled on the token"),
        "NoSuchToken": _("no token found"),
        "MultipleTokensReturned": _("several tokens match: name one with --token-label or "
                                    "--slot"),
        "NoSuchKey": _("no such key on the token"),
        "MultipleObjectsReturned": _("several keys match: choose one with --key-id"),
        "UserNotLoggedIn": _("the token needs the PIN first"),
    }.get(name)
    if text is None and "more than 1 slot" in str(exc):
        return _("the module has several slots: name the token with --token-label or "
                 "--slot (signflow keys list shows them)")
    return text




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
