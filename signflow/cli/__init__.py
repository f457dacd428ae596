"""Entry point of the `signflow` command: language, error reporting and exit codes.

This module is the one place where errors become exit codes (0 done, 1 a check found
problems, 2 the job could not be done) and one clear line on stderr. The commands
themselves live in ``signflow.cli.commands`` and are imported only after the language is
fixed, because click evaluates help texts when the commands are defined.
"""

from __future__ import annotations

import os
import signal
import sys


def _early_stop(signum: int, _frame: object) -> None:
    """Until ``main`` runs (imports take a moment), an interrupt ends with one line."""
    os.write(2, "signflow: đã dừng / interrupted\n".encode())
    os._exit(EXIT_INTERRUPTED)


EXIT_INTERRUPTED = 2  # the job was not done (README: exit codes)
_IS_COMMAND = os.path.basename(sys.argv[0] if sys.argv else "") in ("signflow", "__main__.py")
# Only when this is the `signflow` command (not a library or test importing the module),
# and not in a process started with interrupts ignored: the demo's worker processes
# (multiprocessing runs this script again in each), whose parent answers for them.
if _IS_COMMAND and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, _early_stop)
    signal.signal(signal.SIGTERM, _early_stop)
if _IS_COMMAND:
    # The process is the command's: its imports and a PDF's parsed objects are many
    # objects that live until the end. Python's default (a young-generation collection
    # every 700 allocations) walked them over and over: about 5% of a `verify`. The older
    # generations keep their defaults, so a long-running `agent` or `portal` still frees
    # its cycles.
    import gc

    gc.set_threshold(10_000, 10, 10)

import threading  # noqa: E402 - after the handlers: an interrupt while importing is one line
import traceback  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402

from signflow.errors import (  # noqa: E402
    EXIT_FAILED,
    EXIT_OK,
    SignflowError,
    SigningError,
    os_error_message,
)
from signflow.i18n import LANGUAGES, _, get_language, gettext, set_language  # noqa: E402


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl+C so that every clean-up (finally blocks, LibreOffice
    processes, temporary folders) runs the same way."""


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise Terminated()


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (tests call main() from threads)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_terminated)


def _global_options(argv: Sequence[str]) -> tuple[str | None, bool, list[str]]:
    """--lang and --debug, read before click parses anything (the language must be fixed
    before the commands' help texts are built), and the arguments with those options moved
    in front: they are accepted anywhere (`signflow verify x.pdf --lang en`), while click
    wants them before the command name."""
    args = list(argv)
    end = args.index("--") if "--" in args else len(args)
    lang: str | None = None
    debug = False
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < end:
        arg = args[i]
        if arg == "--debug":
            debug = True
            front.append(arg)
        elif arg.startswith("--lang="):
            lang = arg.split("=", 1)[1]
            front.append(arg)
        elif arg == "--lang" and i + 1 < end:
            lang = args[i + 1]
            front += [arg, lang]
            i += 1
        else:
            rest.append(arg)
        i += 1
    return (lang if lang in LANGUAGES else None), debug, [*front, *rest, *args[end:]]


# click's modules that show users text; each binds gettext's `_` (and `ngettext`) at import.
_CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types")
_click_lock = threading.Lock()
_click_users = 0
_click_saved: dict[tuple[str, str], Any] = {}


class _ClickText(str):
    """One of click's messages in the user's language. The type names click fills in
    ("integer", "float") are translated too; the values it fills in are the user's own."""

    def format(self, *args: Any, **kwargs: Any) -> str:
        if isinstance(kwargs.get("number_type"), str):
            kwargs["number_type"] = gettext(kwargs["number_type"])
        return super().format(*args, **kwargs)


def _click_gettext(message: str) -> str:
    return _ClickText(gettext(message))


def _click_ngettext(singular: str, plural: str, n: int) -> str:
    return _ClickText(gettext(singular if n == 1 else plural))  # Vietnamese has one form


@contextmanager
def _click_in_language() -> Iterator[None]:
    """click's own texts (usage lines, headings, usage errors, prompts) through our
    catalogue, for as long as a command runs: click is left as it was afterwards, for
    any other user of it in the process (main() may run in several threads at once)."""
    global _click_users
    import importlib

    with _click_lock:
        if _click_users == 0:
            for name in _CLICK_MODULES:
                module = importlib.import_module(f"click.{name}")
                for attr, replacement in (("_", _click_gettext), ("ngettext", _click_ngettext)):
                    if hasattr(module, attr):
                        _click_saved[(name, attr)] = getattr(module, attr)
                        setattr(module, attr, replacement)
        _click_users += 1
    try:
        yield
    finally:
        with _click_lock:
            _click_users -= 1
            if _click_users == 0:
                for (name, attr), original in _click_saved.items():
                    setattr(sys.modules[f"click.{name}"], attr, original)
                _click_saved.clear()


def _commands() -> click.Group:
    """The command tree, its help texts and metavars in the current language. click reads
    them when the commands are defined, so the commands are defined again when a process
    switches language (tests; a program calling main() for users of both languages)."""
    import importlib

    lang = get_language()
    with _click_lock:
        module = sys.modules.get("signflow.cli.commands")
        if module is None:
            module = importlib.import_module("signflow.cli.commands")
        elif getattr(module, "_language", None) != lang:
            module = importlib.reload(module)
        module._language = lang  # type: ignore[attr-defined]
    group: click.Group = module.cli
    _localise_usage(group)
    return group


def _localise_usage(command: click.Command) -> None:
    """The usage line's placeholders, which click fixes when a command is defined."""
    command.options_metavar = _("[OPTIONS]")
    if isinstance(command, click.Group):
        command.subcommand_metavar = _("COMMAND [ARGS]...")
        for sub in command.commands.values():
            _localise_usage(sub)


def _configure_logging(debug: bool) -> None:
    """Libraries' log lines (pyHanko warns in English about odd files it still reads) are
    for developers: shown with --debug, otherwise kept off the user's terminal. What
    matters to the user reaches them as a verdict or an error in their language."""
    import logging

    root = logging.getLogger()
    if debug:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")
    elif not root.handlers:
        root.addHandler(logging.NullHandler())  # no "last resort" printing to stderr


# A refused signing of a forged file can list hundreds of problems: the first say enough.
# (Roster problems are all shown: a roster is fixed in one pass.)
MAX_SIGNING_DETAILS = 6


def report_error(exc: SignflowError, debug: bool = False) -> None:
    click.echo(_("signflow: error: {message}").format(message=exc.message), err=True)
    cut = isinstance(exc, SigningError) and not debug
    shown = exc.details[:MAX_SIGNING_DETAILS] if cut else exc.details
    for detail in shown:
        click.echo(f"  - {detail}", err=True)
    if len(shown) < len(exc.details):
        click.echo("  " + _("… and {n} more (--debug shows all)").format(
            n=len(exc.details) - len(shown)), err=True)


def report_usage_error(exc: click.ClickException) -> None:
    message = " ".join(exc.format_message().split())  # one line ("Choose from:\n\t...")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message = _("{message} (see: {command} --help)").format(
            message=message, command=ctx.command_path)
    click.echo(_("signflow: error: {message}").format(message=message), err=True)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the command itself, not a call from Python
        _install_signal_handlers()
        try:
            return _main(sys.argv[1:])
        finally:
            # The job is done (or reported): an interrupt now would only turn the exit code
            # into "killed by a signal" while the interpreter shuts down. Hold it back.
            if hasattr(signal, "pthread_sigmask"):  # POSIX only: not on Windows
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    return _main(argv)


def _main(argv: Sequence[str]) -> int:
    lang, debug, args = _global_options(argv)
    set_language(lang)
    if any("\x00" in arg for arg in args):  # (the OS cannot pass one; a caller in Python can)
        click.echo(_("signflow: error: {message}").format(
            message=_("an argument contains a NUL character")), err=True)
        return EXIT_FAILED
    try:
        _configure_logging(debug)
        with _click_in_language():  # click's messages are worded when they are shown
            try:
                result = _commands().main(args=args, prog_name="signflow",
                                          standalone_mode=False)
            except click.exceptions.Abort:
                click.echo(_("Interrupted."), err=True)
                return EXIT_FAILED
            except click.ClickException as exc:  # usage errors: one line, where to look
                report_usage_error(exc)
                return EXIT_FAILED
    except SignflowError as exc:
        if debug:
            traceback.print_exc()
        report_error(exc, debug)
        return exc.exit_code
    except OSError as exc:  # disk full, read-only, permissions: the user's to fix
        if debug:
            traceback.print_exc()
        click.echo(_("signflow: error: {message}").format(message=os_error_message(exc)),
                   err=True)
        return EXIT_FAILED
    except KeyboardInterrupt:  # Ctrl+C or SIGTERM: everything was cleaned up on the way
        click.echo(_("signflow: interrupted; nothing was left half-written"), err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: say so in one line, details under --debug
        if debug:
            traceback.print_exc()
        click.echo(
            _("signflow: internal error ({kind}: {message}); run again with --debug "
              "for details").format(kind=type(exc).__name__, message=str(exc)[:200]),
            err=True,
        )
        return EXIT_FAILED
    return result if isinstance(result, int) else EXIT_OK


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
