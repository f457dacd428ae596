"""Full and read-only disks: a real 1 MiB tmpfs (mounted by the test, which needs root) and
the same tmpfs remounted read-only. Each command answers in one Vietnamese line naming the
file and the cause, exit 2, and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import DATA


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "1m"):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the CI runs as root)")
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> None:
    """Fill the disk up to ``leave`` bytes."""
    free = shutil.disk_usage(folder).free
    with (folder / "filler").open("wb") as f, contextlib.suppress(OSError):
        f.write(b"\0" * max(0, free - leave))


def _one_line(result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert "nội bộ" not in lines[0], f"an OS error reported as an internal error: {lines[0]}"
    return lines[0]


def _visible(folder: Path) -> list[str]:
    """What a user would find: every file but the filler and hidden lock files."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name != "filler" and not p.name.endswith(".lock"))


def test_generate_on_a_full_disk_leaves_nothing(cli, demo_pki, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        _fill(disk, 64 * 1024)
        result = cli("generate", "--roster", demo_pki.roster_path, "--data", DATA, "--out",
                     disk / "out", "--no-pdf")
        assert result.code == 2, result
        line = _one_line(result)
        assert "ổ đĩa đã đầy" in line, line
        assert _visible(disk) == [], "a failed generate left files behind"


def test_sign_and_report_on_a_full_disk(cli, pdf_pack, demo_pki, tmp_path):
    with small_disk(tmp_path / "disk", "4m") as disk:
        pdf = disk / "giao-uoc.pdf"
        shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
        before = pdf.read_bytes()
        ledger = tmp_path / "ledger.sqlite"  # the ledger elsewhere: the PDF's disk is full
        _fill(disk, 8 * 1024)
        cred = demo_pki.credential("ninh-binh", "head")
        result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", "ninh-binh",
                     "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file,
                     "--ledger", ledger)
        assert result.code == 2, result
        line = _one_line(result)
        assert "ổ đĩa đã đầy" in line and "giao-uoc.pdf" in line, line
        assert pdf.read_bytes() == before
        assert not list(disk.glob(".*.tmp"))
        result = cli("verify", pdf, "--trust", demo_pki.root_pem, "--report",
                     disk / "bien-ban.html")
        assert result.code == 2, result
        line = _one_line(result)
        assert "ổ đĩa đã đầy" in line and "bien-ban.html" in line, line
        assert not (disk / "bien-ban.html").exists() and not list(disk.glob(".*.tmp"))


def test_read_only_disk(cli, pdf_pack, demo_pki, tmp_path):
    from signflow.ledger import Ledger

    with small_disk(tmp_path / "disk", "8m") as disk:
        pdf = disk / "giao-uoc.pdf"
        shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
        from signflow.demo.services import serve_pki
        from signflow.signing.timestamps import tsa_stamp

        with serve_pki(demo_pki), Ledger(disk / "signflow-ledger.sqlite") as ledger:
            ledger.observe(pdf, pdf.read_bytes())
            ledger.anchor(demo_pki.tsa_url, tsa_stamp(demo_pki.tsa_url))
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        cred = demo_pki.credential("ninh-binh", "head")
        result = cli("sign", pdf, "--roster", demo_pki.roster_path, "--member", "ninh-binh",
                     "--pkcs12", cred.p12, "--passphrase-file", cred.passphrase_file,
                     "--ledger", tmp_path / "ledger.sqlite")
        assert result.code == 2, result
        line = _one_line(result)
        assert "chỉ cho phép đọc" in line and "giao-uoc.pdf" in line, line
        result = cli("generate", "--roster", demo_pki.roster_path, "--data", DATA, "--out",
                     disk / "out", "--no-pdf")
        assert result.code == 2, result
        line = _one_line(result)
        assert "chỉ cho phép đọc" in line, line
        # an archive on read-only media can still be audited
        result = cli("log", "--verify", "--ledger", disk / "signflow-ledger.sqlite", "--trust",
                     demo_pki.root_pem)
        assert result.code == 0, result.err
        result = cli("verify", pdf, "--trust", demo_pki.root_pem)
        assert "Traceback" not in result.err and result.code == 1, result.err  # unsigned...
        assert "không có chữ ký số nào" in result.out, result.out  # ...but read
