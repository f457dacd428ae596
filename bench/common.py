"""What the benchmarks share: the example's paths, the machine, timing, markdown tables,
processes run to the end (wall time, CPU time, peak memory), the demo PKI, and the
``Result`` record every benchmark returns (a figure, and the target it must meet if any).

The benchmarks call signflow through its public API (``signflow.__all__``) wherever it
offers the step being measured; each module says in a comment where it reaches further
and why.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
# the 2019 example that ships inside the package (signflow/documents/examples)
EXAMPLE = ROOT / "signflow" / "documents" / "examples" / "cum-thi-dua-so-2-2019"
ROSTER = EXAMPLE / "roster.toml"
DATA = EXAMPLE / "data.toml"

INSTALL_BENCH = ".venv/bin/pip install -e '.[test,bench]' (or `make bench`)"


class CannotRun(Exception):
    """The benchmark cannot run here: a tool is missing. The message is one line naming what
    to install."""


class BenchFailed(Exception):
    """A step of a benchmark failed (a bug to look at, not a slow machine)."""


# --- results ------------------------------------------------------------------------------

Op = Literal["<", "<=", ">="]


@dataclass(frozen=True)
class Target:
    op: Op
    bound: float
    source: str  # where the target was set, e.g. "issue 7"

    def met(self, value: float) -> bool:
        if self.op == "<":
            return value < self.bound
        if self.op == "<=":
            return value <= self.bound
        return value >= self.bound


@dataclass
class Result:
    """One figure of a benchmark: ``value`` in ``unit`` ("s", "ms", "x" for a ratio,
    "MiB"), and the target it must meet, if it has one."""

    name: str  # a stable key, e.g. "verify.process.speedup_36"
    label: str  # what it is, in words
    value: float
    unit: str
    target: Target | None = None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    def shown(self) -> str:
        return fmt(self.value, self.unit)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "label": self.label, "value": self.value,
                                "unit": self.unit}
        if self.target is not None:
            data["target"] = {"op": self.target.op, "bound": self.target.bound,
                              "source": self.target.source}
            data["met"] = self.met
        if self.note:
            data["note"] = self.note
        return data


def fmt(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.1f}x"
    if unit == "s":
        digits = 3 if value < 1 else 2 if value < 10 else 1
        return f"{value:.{digits}f} s"
    if unit in ("ms", "MiB"):
        return f"{value:.0f} {unit}"
    return f"{value:g} {unit}"


def met_word(ok: bool | None) -> str:
    return "met" if ok else "NOT met"


def print_targets(results: Sequence[Result]) -> None:
    """One line per figure that has a target, as the tables' footnote."""
    lines = []
    for r in results:
        if r.target is not None:
            t = r.target
            lines.append(f"Target ({t.source}): {r.label} {t.op} {fmt(t.bound, r.unit)}: "
                         f"{met_word(r.met)} ({r.shown()}).")
    if lines:
        print("\n" + "\n".join(lines))


# --- the machine --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "?"
    memory_gib = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    return {"system": platform.system(), "arch": platform.machine(), "cores": os.cpu_count(),
            "cpu": cpu, "memory_gib": memory_gib, "python": platform.python_version(),
            "versions": versions()}


def machine_line(m: dict[str, Any]) -> str:
    tools = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    return (f"{m['system']} {m['arch']}, {m['cores']} cores, {m['cpu']}, "
            f"{m['memory_gib']} GiB RAM; Python {m['python']}; {tools}")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for dist in ("pyHanko", "pyhanko-certvalidator", "pyhanko-cli"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    for name, cmd in (("LibreOffice", [soffice_path() or "soffice", "--version"]),
                      ("SoftHSM", ["softhsm2-util", "--version"])):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
            words = out.split()
            found[name] = (words[1] if name == "LibreOffice" and len(words) > 1
                           else words[0] if words else None)
        except (OSError, subprocess.SubprocessError):
            found[name] = None
    return found


def git_commit() -> dict[str, Any]:
    """The commit measured, and whether the working tree had changes on top of it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)
        if head.returncode != 0:
            return {"commit": "unknown", "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=ROOT, capture_output=True, text=True, timeout=30)
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


class Load:
    """While a benchmark runs: the CPU time this process and its children used, and the CPU
    time used by everything else on the machine (/proc/stat minus ours), as the average
    number of cores other programs kept busy. On a 2-core machine, 0.5 or more means the
    figures were measured under contention."""

    def __enter__(self) -> Load:
        self._start = (time.perf_counter(), _busy_seconds(), _own_cpu_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, busy0, own0 = self._start
        self.wall = time.perf_counter() - wall0
        busy = _busy_seconds() - busy0 if busy0 is not None else None
        self.own_cpu = _own_cpu_seconds() - own0
        self.other_cpu = max(0.0, busy - self.own_cpu) if busy is not None else None
        self.loadavg = os.getloadavg()

    @property
    def other_cores(self) -> float | None:
        return None if self.other_cpu is None else self.other_cpu / self.wall

    def as_json(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall, 2), "own_cpu_s": round(self.own_cpu, 2),
                "other_cpu_s": None if self.other_cpu is None else round(self.other_cpu, 2),
                "other_cores": (None if self.other_cores is None
                                else round(self.other_cores, 2)),
                "loadavg_at_end": [round(x, 2) for x in self.loadavg]}


def _busy_seconds() -> float | None:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


# --- timing and tables --------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def table(title: str, rows: Sequence[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    print(f"\n## {title}\n")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


# --- tools and processes ------------------------------------------------------------------


def venv_tool(name: str, install: str) -> str:
    """A command installed in this interpreter's environment (the venv's bin folder), else
    on PATH."""
    path = Path(sys.executable).with_name(name)
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise CannotRun(f"`{name}` is not installed: {install}")
    return found


def pyhanko() -> str:
    return venv_tool("pyhanko", f"it comes with pyhanko-cli, the `bench` extra: {INSTALL_BENCH}")


def signflow_cli() -> str:
    return venv_tool("signflow", f"install signflow in the venv: {INSTALL_BENCH}")


def soffice_path() -> str | None:
    """LibreOffice as signflow finds it: $SIGNFLOW_SOFFICE, else soffice or libreoffice."""
    override = os.environ.get("SIGNFLOW_SOFFICE")
    for name in [override] if override else ["soffice", "libreoffice"]:
        found = shutil.which(name)
        if found:
            return found
    return None


def soffice() -> str:
    found = soffice_path()
    if found is None:
        raise CannotRun("LibreOffice (soffice) is not installed: install the Debian package "
                        "libreoffice-writer-nogui (scripts/setup-system.sh, which `make bench` "
                        "runs)")
    return found


def require_demo() -> None:
    """The demo PKI needs signflow's [demo] extra (certomancer...)."""
    from signflow import ToolMissingError
    from signflow.demo import require_demo_extra

    try:
        require_demo_extra()
    except ToolMissingError as e:
        raise CannotRun(f"{e} (the `test` extra includes it: {INSTALL_BENCH})") from None


@dataclass
class Finished:
    """A process run to its end."""

    code: int
    wall: float  # seconds, from the fork to the exit
    cpu: float  # user + system seconds of the process and the children it waited for
    out: str = ""
    err: str = ""


def run_process(cmd: Sequence[str], check: bool = True, capture: bool = False,
                cwd: Path | None = None, env: dict[str, str] | None = None) -> Finished:
    """Run one command to the end and measure it; ``capture`` keeps its standard output.
    With ``check``, a non-zero exit raises BenchFailed with the end of its error output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL,
                                stdout=out if capture else subprocess.DEVNULL, stderr=err,
                                cwd=cwd, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = Finished(code, wall, usage.ru_utime + usage.ru_stime,
                        out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"))
    if check and code != 0:
        raise BenchFailed(f"failed ({code}): {' '.join(cmd)}\n{done.err[-1500:]}")
    return done


def pyhanko_validate(root_pem: Path, pdf: Path) -> list[str]:
    """`pyhanko sign validate` as a script would call it: every signature of the file in
    one process (it has no --field option), the given root as the only trust root, no
    revocation checks. Prints one line per signature (field:fingerprint:summary) and exits
    1 when one fails."""
    return [pyhanko(), "sign", "validate", "--trust", str(root_pem), "--trust-replace",
            "--no-revocation-check", str(pdf)]


class TreeMemory:
    """Samples, every 0.1 s, the RSS of every process below this one (not this one):
    ``peak_kib`` is the most the job's processes held at once, ``largest_kib`` the most one
    of them held. (wait4's ru_maxrss cannot say the latter: a child's figure includes the
    memory of this process at the fork, since Linux keeps the high-water mark across exec;
    a process shorter than 0.1 s may be missed.)"""

    def __init__(self) -> None:
        self.peak_kib = 0
        self.largest_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._page_kib = os.sysconf("SC_PAGE_SIZE") // 1024

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            total, largest = self._sample()
            self.peak_kib = max(self.peak_kib, total)
            self.largest_kib = max(self.largest_kib, largest)

    def _sample(self) -> tuple[int, int]:
        parent: dict[int, int] = {}
        rss: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()  # fields 3.. of proc(5)
            parent[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * self._page_kib
        me = os.getpid()
        total = largest = 0
        for pid in rss:
            p = parent.get(pid)
            while p is not None and p not in (me, 0, 1):
                p = parent.get(p)
            if p == me:
                total += rss[pid]
                largest = max(largest, rss[pid])
        return total, largest


# --- the demo PKI and signing with pyhanko ------------------------------------------------
# The demo PKI lives in signflow.demo.pki, which is not part of the public API (it is the
# [demo] extra's, for the demo and the tests): the benchmarks need its certificates.


@dataclass
class Pki:
    """A demo PKI and the roster it wrote (the certificates' fingerprints pinned, the demo
    images named)."""

    pki: Any  # signflow.demo.pki.DemoPki
    roster: Any  # signflow.Roster
    credentials: dict[tuple[str, str], Any] = field(default_factory=dict)  # signflow.Credential


def demo_pki(where: Path, roster: Any | None = None, open_credentials: bool = True) -> Pki:
    """A demo PKI for the example roster (or ``roster``), with every member's head and seal
    credential opened (unless not asked to)."""
    import signflow
    from signflow.demo.pki import create_demo_pki

    require_demo()
    pki = create_demo_pki(roster or signflow.load_roster(ROSTER), where)
    written = signflow.load_roster(pki.roster_path)
    creds = {}
    for m in written.members if open_credentials else ():
        for role in ("head", "seal"):
            c = pki.credential(m.id, role)
            creds[(m.id, role)] = signflow.open_pkcs12(c.p12, c.passphrase().encode())
    return Pki(pki, written, creds)


def field_name(member_id: str, role: str) -> str:
    """The signature field of a member's role (sf-<role>-<member>). Not in the public API
    (the public functions take a member and a role); taken from signflow so that pyhanko is
    pointed at the field signflow created."""
    from signflow.pdf.anchors import field_name as name

    return name(member_id, role)


def addsig(pki: Any, member: str, role: str, infile: Path, outfile: Path,
           tsa_url: str | None = None) -> Finished:
    """One `pyhanko sign addsig` process: the usual way to add one PAdES signature to an
    existing field with a PKCS#12 file."""
    cred = pki.credential(member, role)
    cmd = [pyhanko(), "sign", "addsig", "--field", field_name(member, role), "--use-pades"]
    if tsa_url:
        cmd += ["--timestamp-url", tsa_url]
    cmd += ["pkcs12", "--passfile", str(cred.passphrase_file), str(infile), str(outfile),
            str(cred.p12)]
    return run_process(cmd)


def forget_parsed_files() -> None:
    """Every timed run starts like a new `signflow sign` command: nothing remembered in
    memory about the bytes it is given (the revision-ends memo is keyed by content, and
    every copy here has the same bytes). The memo, ``signflow.pdf.reader._LOCATIONS``, is
    private: no public function clears it, and only a benchmark needs to."""
    import signflow.pdf.reader

    memo = getattr(signflow.pdf.reader, "_LOCATIONS", None)
    if memo is not None:
        memo.clear()


@contextlib.contextmanager
def temporary_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="signflow-bench-") as name:
        yield Path(name)
