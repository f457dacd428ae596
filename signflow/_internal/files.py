"""Files that are never half-written: write a temporary file beside the target, fsync it,
then rename it over the target (atomic on POSIX), and fsync the folder."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO


def read_input(path: Path) -> bytes:
    """The bytes of an input file, or an InputError naming it (missing, unreadable)."""
    from signflow.errors import InputError
    from signflow.i18n import _

    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(_("{path}: file not found").format(path=path)) from None
    except OSError as exc:
        raise InputError(_("{path}: cannot read: {reason}").format(
            path=path, reason=exc.strerror or exc)) from None


def unique_paths(paths: Iterable[Path]) -> list[Path]:
    """The paths in their order, each file once: overlapping globs (``*.pdf dir/*.pdf``) or
    a file named twice must not be signed twice from the same starting bytes."""
    seen: set[object] = set()
    unique = []
    for path in paths:
        try:
            st = Path(path).stat()
            key: object = (st.st_dev, st.st_ino)  # also catches links to the same file
        except OSError:
            key = Path(path).absolute()  # reported as missing later, by the caller
        if key not in seen:
            seen.add(key)
            unique.append(Path(path))
    return unique


def append_revision(path: Path, before: bytes, after: bytes) -> str:
    """Write a new incremental revision of ``path`` atomically, after making sure it only
    appends to ``before`` and that nobody changed the file meanwhile; returns the SHA-256.
    """
    from signflow.errors import SigningError
    from signflow.i18n import _

    if not after.startswith(before):  # an incremental update never rewrites history
        raise SigningError(_("{path}: internal error: the new revision does not extend the "
                             "original").format(path=path))
    if Path(path).read_bytes() != before:
        raise SigningError(_("{path} changed while the new revision was being made; nothing "
                             "was written").format(path=path))
    return atomic_write_bytes(Path(path), after)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_file_mode() -> int:
    """The permissions an ordinary new file gets here (0o666 minus the umask): what a
    temporary file made with mkstemp (0o600) is given before it takes a file's place."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_file(path: Path) -> None:
    """Flush a file's bytes to the disk (before it is renamed or linked into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(target: Path, mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it replaces ``target`` in one step.

    On any exception the temporary file is removed and ``target`` is left as it was.
    ``mode`` sets the permissions (e.g. 0o600 for private files); by default an existing
    target keeps its permissions and a new file gets the usual 0o644 minus umask.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    tmp = Path(tmp_name)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        elif target.exists():
            os.fchmod(fd, target.stat().st_mode & 0o7777)
        else:
            os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # a write to the temporary file: name the file the user asked for
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise


def atomic_write_bytes(target: Path, data: bytes, mode: int | None = None) -> str:
    """Write ``data`` to ``target`` atomically and return its SHA-256."""
    with atomic_output(target, mode) as f:
        f.write(data)
    return sha256_bytes(data)


def fault_point(name: str) -> None:
    """For the crash tests only: ``SIGNFLOW_FAULT=<name>`` kills the process right here
    (SIGKILL, no clean-up), as a power cut would. Unset in every real use."""
    if os.environ.get("SIGNFLOW_FAULT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
