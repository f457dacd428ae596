"""Ctrl+C (SIGINT) and SIGTERM at any moment: one line, exit 2, no traceback, and nothing
left behind (no LibreOffice process, no private profile, no half-written file)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import ROOT

SIGNFLOW = str(ROOT / ".venv" / "bin" / "signflow")


def _catches_sigterm(pid: int) -> bool:
    """signflow's own handlers are in place (SigCgt lists SIGTERM, which plain Python does
    not catch): from here on an interrupt is signflow's to handle. Before, it falls in the
    interpreter's own start-up (site imports), which no program can make tidy."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except OSError:
        pass
    return False


def _interrupt(cmd: list[str], sig: int, after: float, env: dict) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True)
    deadline = time.monotonic() + 30
    while not _catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(after)
    if proc.poll() is None:
        proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sign_interrupted_at_any_moment(pdf_pack, demo_pki, tmp_path, sig):
    source = pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf"
    original = source.read_bytes()
    cred = demo_pki.credential("ninh-binh", "head")
    env = dict(os.environ, SIGNFLOW_LANG="vi")
    endings = set()
    for i, after in enumerate((0.0, 0.02, 0.1, 0.3, 0.6, 1.0, 1.5)):
        pdf = tmp_path / f"a{i}.pdf"
        shutil.copyfile(source, pdf)
        code, err = _interrupt([SIGNFLOW, "sign", str(pdf), "--roster", str(demo_pki.roster_path),
                                "--member", "ninh-binh", "--pkcs12", str(cred.p12),
                                "--passphrase-file", str(cred.passphrase_file), "--ledger",
                                str(tmp_path / f"l{i}.sqlite")], sig, after, env)
        lines = [line for line in err.splitlines() if line.strip()]
        assert "Traceback" not in err, f"after {after} s: {err}"
        if code == 0:  # it finished first
            endings.add("finished")
            assert pdf.read_bytes() != original, f"after {after} s: exit 0, file unsigned"
            continue
        endings.add("interrupted")
        assert code == 2, f"after {after} s: exit {code}: {err}"
        assert len(lines) == 1 and "dừng" in lines[0], f"after {after} s: {err}"
        data = pdf.read_bytes()
        assert data == original or data.startswith(original), \
            f"after {after} s: the original bytes were not kept"
        assert not list(tmp_path.glob(".*.tmp")), f"after {after} s: a temporary file remains"
    assert "interrupted" in endings, endings


def _soffice_processes(marker: str) -> list[int]:
    """soffice processes whose command line names ``marker`` (our private profile)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("soffice" in cmdline or "oosplash" in cmdline) and marker in cmdline:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (children, grandchildren...), with its command line.
    LibreOffice runs in its own session, but stays a descendant of signflow while it runs:
    this finds it whatever its command line shows (the launcher ``oosplash`` replaces the
    ``soffice`` script, then starts ``soffice.bin``)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # the command name may hold spaces or parentheses: the ppid follows the last ')'
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = commands.get(child, "")
                frontier.append(child)
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_convert_interrupted_stops_libreoffice_and_removes_its_profile(pdf_pack, tmp_path,
                                                                        sig):
    from .conftest import require_tool

    require_tool("soffice")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    sources = sorted(pdf_pack.rglob("*.docx"))[:6]
    assert sources, "the generated pack has .docx files"
    env = dict(os.environ, SIGNFLOW_LANG="vi", TMPDIR=str(tmpdir))
    proc = subprocess.Popen([SIGNFLOW, "convert", *map(str, sources), "--out",
                             str(tmp_path / "out"), "--timeout", "600", "--jobs", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    deadline = time.monotonic() + 120
    office: dict[int, str] = {}
    while proc.poll() is None and time.monotonic() < deadline:
        office = {pid: cmd for pid, cmd in _descendants(proc.pid).items()
                  if "office" in cmd or "oosplash" in cmd}
        if office:
            break
        time.sleep(0.05)
    if proc.poll() is not None:  # say why rather than "did not start"
        pytest.fail(f"signflow convert ended ({proc.returncode}) before it could be "
                    f"interrupted: {proc.stderr.read() if proc.stderr else ''}")
    if not office:
        children = _descendants(proc.pid)
        proc.kill()
        pytest.fail(f"LibreOffice did not start within 120 s; processes under signflow: "
                    f"{children or 'none'}; profile folders: {list(tmpdir.iterdir())}")
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)  # not the 600 s LibreOffice timeout
    assert proc.returncode == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "dừng" in lines[0], err  # stopped by the signal, not failed for another reason
    time.sleep(0.5)
    alive = [pid for pid in office if Path(f"/proc/{pid}").exists()
             and "office" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    assert not alive, f"LibreOffice processes outlived signflow: {alive}"
    assert not _soffice_processes(str(tmpdir)), "a LibreOffice process outlived signflow"
    assert not list(tmpdir.glob("signflow-lo-*")), "the private profile was left behind"
    assert not list((tmp_path / "out").rglob(".*.tmp"))


def test_nan_and_infinite_timeouts_are_refused(cli, tmp_path):
    src = tmp_path / "a.docx"
    src.write_bytes(b"x")
    for value in ("nan", "inf", "-inf", "0", "1e9"):
        result = cli("convert", src, "--out", tmp_path / "out", "--timeout", value)
        assert result.code == 2, (value, result)
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("signflow: lỗi:"), result.err
        assert "--timeout" in lines[0] and "signflow convert --help" in lines[0], lines[0]


def test_usage_errors_are_one_line(cli):
    for args, reason in (
        (("sign",), "Thiếu đối số 'TỆP_PDF...'"),
        (("prepare",), "Thiếu đối số 'TỆP_PDF...'"),
        (("sign", "x.pdf"), "Thiếu tùy chọn '--roster'"),
        (("frobnicate",), "Không có lệnh 'frobnicate'"),
        (("convert", "--jobs", "0", "x.docx", "--out", "o"), "'--jobs': 0"),
    ):
        result = cli(*args)
        assert result.code == 2, (args, result)
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("signflow: lỗi:"), (args, result.err)
        assert reason in lines[0], (args, reason, lines[0])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_interrupted_while_the_offices_sign_in_parallel(tmp_path, sig):
    """Ctrl+C reaches the whole process group (the demo, its worker processes, the demo
    PKI's services); SIGTERM only the demo's own process. Either way: one line, exit 2,
    and no process of the demo left."""
    import select

    env = dict(os.environ, SIGNFLOW_LANG="vi")
    proc = subprocess.Popen([SIGNFLOW, "demo", "--out", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    seen = ""
    while time.monotonic() < deadline and "[5/6]" not in seen and proc.poll() is None:
        ready, _w, _x = select.select([proc.stdout], [], [], 1)
        if ready:
            seen += proc.stdout.readline()
    assert "[5/6]" in seen, f"the demo did not reach the offices' signing: {seen}"
    time.sleep(2)  # the workers have started and are signing
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert proc.returncode == 2, f"exit {proc.returncode}: {err}"
    assert len(lines) == 1 and "dừng" in lines[0], err
    for _ in range(50):  # the workers and services end with the demo
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("processes of the interrupted demo are still running")
