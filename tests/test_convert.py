"""PDF/A conversion with the real LibreOffice: the 2019 pack, and every failure mode."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import docx

from signflow.documents.convert import ConversionJob, convert_documents, pdf_facts
from signflow.roster import load_roster

from .conftest import ROSTER, require_tool


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def test_pack_pdfs_are_pdfa2b_a4_fonts_embedded_vietnamese_text(pdf_pack):
    for tool in ("pdffonts", "pdftotext", "pdfinfo"):
        require_tool(tool)
    roster = load_roster(ROSTER)
    pdfs = sorted(pdf_pack.rglob("*.pdf"))
    assert len(pdfs) == 28
    for pdf in pdfs:
        facts = pdf_facts(pdf)
        assert facts.pages >= 1
        assert facts.pdfa == "2b", pdf
        info = run("pdfinfo", str(pdf))
        assert re.search(r"Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)", info), info
        meta = run("pdfinfo", "-meta", str(pdf))
        assert re.search(r"pdfaid:part(>|=\")2", meta) and re.search(
            r"pdfaid:conformance(>|=\")B", meta), pdf
        fonts = run("pdffonts", str(pdf)).splitlines()[2:]
        assert fonts, f"{pdf}: no fonts"
        for line in fonts:
            cols = line.split()
            # name type encoding emb sub uni object ID: "emb" is the 4th column from the end
            # but type names have spaces ("CID TrueType"); the flags are the last 5 columns
            emb = cols[-5]
            assert emb == "yes", f"{pdf}: font not embedded: {line}"
            assert "Liberation" in cols[0] or "Times" in cols[0] or "DejaVu" in cols[0], line
        text = run("pdftotext", "-layout", str(pdf), "-").replace("\xa0", " ")
        text = " ".join(text.split())
        assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
        assert "Độc lập - Tự do - Hạnh phúc" in text
        member_id = pdf.parent.name
        if member_id == "cluster":
            for m in roster.members:
                assert m.head.name in text, (pdf, m.head.name)
            assert "đoàn kết, kỷ cương, trách nhiệm, hiệu quả" in text
        else:
            m = roster.member(member_id)
            assert m.head.name in text
            assert m.unit.upper() in text


def test_manifest_lists_docx_and_pdf(pdf_pack):
    import json

    manifest = json.loads((pdf_pack / "manifest.json").read_text(encoding="utf-8"))
    formats = [e["format"] for e in manifest["documents"]]
    assert formats.count("docx") == 28 and formats.count("pdf") == 28
    for e in manifest["documents"]:
        if e["format"] == "pdf":
            assert e["source"] and e["source"].endswith(".docx")
            assert (pdf_pack / e["path"]).is_file()


def _doc(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    d = docx.Document()
    d.add_paragraph(text)
    d.save(path)
    return path


def test_same_names_from_different_folders_do_not_collide(cli, tmp_path):
    a = _doc(tmp_path / "a" / "x.docx", "Văn bản thứ nhất của Hà Nam")
    b = _doc(tmp_path / "b" / "x.docx", "Văn bản thứ hai của Nam Định")
    out = tmp_path / "out"
    result = cli("convert", a, b, "--out", out)
    assert result.code == 0, result.err
    texts = {p.name: run("pdftotext", str(p), "-") for p in out.glob("*.pdf")}
    assert set(texts) == {"x.pdf", "x-2.pdf"}
    assert "thứ nhất" in texts["x.pdf"] and "thứ hai" in texts["x-2.pdf"]


def test_pdfa_none_gives_plain_pdf(tmp_path):
    src = _doc(tmp_path / "p.docx", "Không PDF/A")
    report = convert_documents([ConversionJob(src, tmp_path / "p.pdf")], pdfa=None)
    assert not report.failed, report.failed
    assert pdf_facts(tmp_path / "p.pdf").pdfa is None


def test_corrupt_and_non_documents_fail_clearly_and_leave_nothing(cli, tmp_path):
    good = _doc(tmp_path / "good.docx", "Tốt")
    garbage = tmp_path / "garbage.docx"
    garbage.write_text("Đây không phải tệp Word, chỉ là chữ.", encoding="utf-8")
    data = good.read_bytes()
    corrupt = tmp_path / "corrupt.docx"
    corrupt.write_bytes(data[: len(data) - 200])
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tmp_path / "out"
    result = cli("convert", good, garbage, corrupt, image, "--out", out)
    assert result.code == 2, result.err
    assert "3 văn bản không chuyển được" in result.err, result.err
    # each file named with its own reason
    for name in ("garbage.docx", "corrupt.docx"):
        assert f"{name}: không phải văn bản DOCX hợp lệ" in result.err, result.err
    assert "photo.png: signflow không chuyển loại tệp này" in result.err, result.err
    assert "Traceback" not in result.err, result.err
    assert sorted(p.name for p in out.iterdir()) == ["good.pdf"]  # no partial outputs


def test_missing_libreoffice(cli, tmp_path, monkeypatch):
    src = _doc(tmp_path / "x.docx", "x")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("SIGNFLOW_SOFFICE", raising=False)
    result = cli("convert", src, "--out", tmp_path / "out")
    assert result.code == 2, result.err
    assert "chưa cài LibreOffice" in result.err, result.err
    assert "libreoffice-writer-nogui" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_hung_conversion_is_killed_with_its_process_group(tmp_path, monkeypatch):
    from signflow import i18n

    monkeypatch.setattr(i18n, "_language", "vi")  # whatever an earlier test left set
    # A real LibreOffice cannot be made to hang on demand, so this one test replaces it with
    # a script that hangs the way soffice does: a launcher waiting on a child that never ends.
    pidfile = tmp_path / "child.pid"
    fake = tmp_path / "soffice"
    fake.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {pidfile}\nwait\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SIGNFLOW_SOFFICE", str(fake))
    src = _doc(tmp_path / "x.docx", "x")
    started = time.monotonic()
    report = convert_documents([ConversionJob(src, tmp_path / "out" / "x.pdf")],
                               document_timeout=1, startup_timeout=1)
    assert time.monotonic() - started < 30
    assert [f.source for f in report.failed] == [src], report.failed
    reason = report.failed[0].reason
    assert "LibreOffice" in reason and "đã bị dừng" in reason, reason  # timed out, stopped
    assert not (tmp_path / "out" / "x.pdf").exists()
    child = int(pidfile.read_text())
    time.sleep(0.2)
    assert not process_alive(child), "the hung child survived"


def process_alive(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for a PID 1 that never reaps)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_hung_conversion_cli_exit_2(cli, tmp_path, monkeypatch):
    fake = tmp_path / "soffice"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SIGNFLOW_SOFFICE", str(fake))
    monkeypatch.setenv("SIGNFLOW_LO_STARTUP_TIMEOUT", "1")
    src = _doc(tmp_path / "x.docx", "x")
    result = cli("convert", src, "--out", tmp_path / "out", "--timeout", "1")
    assert result.code == 2, result.err
    # stopped for taking too long, not refused for some other reason
    assert "x.docx: LibreOffice" in result.err and "đã bị dừng" in result.err, result.err
    assert not (tmp_path / "out" / "x.pdf").exists()


def test_users_own_running_libreoffice_neither_blocks_nor_swallows(tmp_path):
    soffice = require_tool("soffice")
    home = tmp_path / "home"
    home.mkdir()
    # The user's LibreOffice, with the user's default profile, running and listening.
    user_lo = subprocess.Popen(
        [soffice, "--headless", "--norestore", "--accept=pipe,name=signflow-test-user;urp;"],
        env=dict(os.environ, HOME=str(home)), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(3)
        assert user_lo.poll() is None, "the user's LibreOffice did not start"
        srcs = [_doc(tmp_path / f"d{i}.docx", f"Văn bản {i}") for i in range(3)]
        jobs = [ConversionJob(s, tmp_path / "out" / f"{s.stem}.pdf") for s in srcs]
        report = convert_documents(jobs, workers=2)
        assert not report.failed, report.failed
        assert all(pdf_facts(j.target).pdfa == "2b" for j in jobs)
        assert user_lo.poll() is None  # and we did not kill the user's instance
    finally:
        os.killpg(user_lo.pid, signal.SIGKILL)
        user_lo.wait()
