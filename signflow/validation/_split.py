"""Half of one file's revision analysis in a forked child while the parent judges the
signatures: on a file with many signatures, the duplicate-key scan, pyHanko's difference
analysis of every revision and the fields' geometry against their anchors (the child) take
about as long as the signatures' cryptography and signflow's own rules for each revision
(the parent), and all of it is CPU-bound Python.

The child inherits the parsed file (fork, after ``gc.freeze()``, so that neither process's
collector walks, and so copies, the inherited heap) and sends back plain data: the revision
reviews, the duplicate-key findings, the geometry problems and the anchors read from the
page content, which the parent adopts as if it had computed them (they depend on the file's
bytes only). Anything unexpected (no fork on this platform, threads running, the child
failing, killed, or answering something else) leaves the parent to compute them itself:
the verdict is the same either way, only the time differs.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import threading
from typing import Any, TypeGuard

from signflow.validation.revisions import DocumentHistory, Findings, RevisionReview

# below this many revisions after the first signature, a child costs more than it saves
MIN_REVISIONS = 8
# how long the parent, its own part done, waits for the child's answer before it kills the
# child and computes the findings itself (a child stuck anywhere must not hang `verify`;
# the child's part takes about as long as the parent's, seconds for hundreds of revisions)
ADOPT_TIMEOUT = 120.0

def child_findings(history: DocumentHistory, first: int) -> Findings:
    """The duplicate keys from revision ``first`` on, every revision from there reviewed
    (in this order: the scan parses each object written since, and the reviews then read
    those parses), and the fields' geometry."""
    history.scan_duplicate_keys(1)  # (from the start: the difference analysis's first
    history.duplicate_key_problems(first)  # index reads the earlier revisions' objects)
    for revision in range(first, history.total_revisions):
        history.review(revision)
    history.geometry_problems()
    return history.shareable_findings()


def _plain(answer: Any) -> TypeGuard[Findings]:
    """The child's answer has exactly the expected shape and types (plain ``str``, not a
    pyHanko string that would drag a reader along)."""
    if not (type(answer) is tuple and len(answer) == 4):
        return False
    reviews, duplicates, geometry, scan = answer
    return (type(reviews) is dict and type(duplicates) is dict
            and (geometry is None or (type(geometry) is list
                                      and all(type(p) is str for p in geometry)))
            and (scan is None or _plain_anchors(scan))
            and all(type(k) is int and type(v) is RevisionReview and v.revision == k
                    and type(v.level) is str and type(v.changed_fields) is frozenset
                    and all(type(n) is str for n in v.changed_fields)
                    and (v.suspicious is None or type(v.suspicious) is str)
                    for k, v in reviews.items())
            and all(type(k) is int and type(v) is list
                    and all(type(p) is tuple and len(p) == 2 and type(p[0]) is int
                            and type(p[1]) is str for p in v)
                    for k, v in duplicates.items()))


def _plain_anchors(scan: Any) -> bool:
    from signflow.pdf.anchors import Anchor, IssueAnchor
    from signflow.roster import ROLES

    def box(value: Any) -> bool:
        return type(value) is tuple and len(value) == 4 and \
            all(type(v) is float for v in value)

    if not (type(scan) is tuple and len(scan) == 2 and type(scan[0]) is list
            and type(scan[1]) is list):
        return False
    return all(type(a) is Anchor and type(a.member) is str and a.role in ROLES
               and type(a.page) is int and box(a.box) for a in scan[0]) and \
        all(type(a) is IssueAnchor and type(a.member) is str and a.part in ("number", "date")
            and (a.symbol is None or type(a.symbol) is str) and type(a.page) is int
            and box(a.box) for a in scan[1])


class ForkedFindings:
    """``child_findings`` started in a child process when that is worth it;
    ``adopt()`` hands its answer to the history (or does nothing, and the history computes
    the findings itself when asked)."""

    def __init__(self, history: DocumentHistory) -> None:
        self.history = history
        self.pid: int | None = None
        self.fd: int | None = None
        self.froze = False
        start = history.reference_revision
        if (start is None or history.total_revisions - start - 1 < MIN_REVISIONS
                or not hasattr(os, "fork") or threading.active_count() > 1
                or (os.cpu_count() or 1) < 2):
            return
        # (a caller's own frozen objects are left as they are)
        self.froze = gc.get_freeze_count() == 0
        if self.froze:
            gc.freeze()
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_end)
            os.close(write_end)
            self._thaw()
            return
        if pid == 0:  # the child: find, answer, leave without running the parent's exits
            code = 0
            try:
                os.close(read_end)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                payload = pickle.dumps(child_findings(history, start + 1),
                                       protocol=pickle.HIGHEST_PROTOCOL)
                view = memoryview(payload)
                while view:
                    view = view[os.write(write_end, view):]
            except BaseException:
                code = 1  # no answer: the parent computes the findings itself
            finally:
                os._exit(code)
        os.close(write_end)
        self.pid, self.fd = pid, read_end

    def adopt(self) -> None:
        """Wait for the child's answer and give it to the history (if usable)."""
        if self.fd is None:
            return
        import selectors
        import time

        chunks: list[bytes] = []
        deadline = time.monotonic() + ADOPT_TIMEOUT
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.fd, selectors.EVENT_READ)
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or not selector.select(left):
                        chunks = []  # no whole answer in time: the parent computes
                        break
                    chunk = os.read(self.fd, 1 << 16)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError:
            chunks = []
        finally:
            self.close()
        try:
            answer = pickle.loads(b"".join(chunks)) if chunks else None
        except Exception:
            return
        if _plain(answer):
            self.history.adopt_findings(answer)

    def _thaw(self) -> None:
        if self.froze:
            self.froze = False
            gc.unfreeze()

    def close(self) -> None:
        """Stop and reap the child (also when the parent gives up early)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self._thaw()
        if self.pid is not None:
            pid, self.pid = self.pid, None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
