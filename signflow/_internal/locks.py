"""One writer at a time per document, across processes (and machines sharing a folder).

A document's lock is an advisory lock (``filelock``: fcntl/flock on POSIX, msvcrt on
Windows) on a hidden file beside it, ``.<name>.lock``. It is held from reading the file
to the rename of the new revision and the ledger's record of it: the check that the file
is unchanged, the write and the record are then one step for every other signflow process.
Under the lock no other writer can be half-way through, so temporary files of the document
left by a killed process are removed then.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from signflow.errors import SigningError, os_error_message
from signflow.i18n import _

LOCK_TIMEOUT = 120.0  # seconds a second writer waits before it is refused
WAIT_NOTICE_AFTER = 0.5  # seconds of waiting before the caller is told


def lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def stale_temporaries(path: Path) -> list[Path]:
    """The temporary files ``atomic_output`` makes for ``path`` (``.<name>.*.tmp``)."""
    return sorted(path.parent.glob(f".{glob_escape(path.name)}.*.tmp"))


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def writing(paths: Sequence[Path], timeout: float = LOCK_TIMEOUT,
            on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the write lock of every document in ``paths`` (taken in one fixed order, so two
    calls naming the same files never wait for each other forever)."""
    targets = sorted({Path(p).absolute() for p in paths})
    with contextlib.ExitStack() as stack:
        for path in targets:
            _acquire(stack, lock_path(path), path, timeout, on_wait)
            remove_stale_temporaries(path)
        yield


@contextlib.contextmanager
def try_writing(path: Path) -> Iterator[bool]:
    """The document's write lock if nobody holds it (True), without waiting; False when
    its writer is alive or the lock cannot be made. Stale temporaries go when it is got."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path(Path(path))), is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        yield False
        return
    try:
        remove_stale_temporaries(Path(path))
        yield True
    finally:
        lock.release()


def remove_stale_temporaries(path: Path) -> None:
    """Only under the document's lock: then no live writer is half-way through."""
    for leftover in stale_temporaries(path):
        with contextlib.suppress(OSError):
            leftover.unlink()


@contextlib.contextmanager
def writing_folder(folder: Path, timeout: float = LOCK_TIMEOUT,
                   on_wait: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the lock of a folder that one run fills as a whole (``generate``): a hidden
    file beside the folder, so that a run that fails early leaves no folder behind."""
    folder = Path(folder).absolute()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SigningError(_("{path}: cannot create the folder: {reason}").format(
            path=folder.parent, reason=os_error_message(exc, with_path=False))) from None
    with contextlib.ExitStack() as stack:
        _acquire(stack, lock_path(folder), folder, timeout, on_wait)
        yield


def _acquire(stack: contextlib.ExitStack, lock_file: Path, what: Path, timeout: float,
             on_wait: Callable[[Path], None] | None) -> None:
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_file), is_singleton=False)
    try:
        started = time.monotonic()
        try:
            lock.acquire(timeout=WAIT_NOTICE_AFTER)
        except Timeout:
            if on_wait is not None:
                on_wait(what)
            lock.acquire(timeout=max(0.0, timeout - (time.monotonic() - started)))
    except Timeout:
        raise SigningError(_("{path} is being written by another signflow process (waited "
                             "{seconds:.0f} s); nothing was changed, try again").format(
            path=what, seconds=timeout)) from None
    except OSError as exc:
        raise SigningError(_("{path}: cannot lock the file for writing: {reason}").format(
            path=what, reason=os_error_message(exc, with_path=False))) from None
    stack.callback(lock.release)
