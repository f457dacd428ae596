"""The HTML verification report: content, escaping of hostile values, and how the real headless
Chromium shows and prints it (screenshot kept as tests/artefacts/verify-report.png)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import unicodedata
from pathlib import Path

import pytest

from signflow import i18n
from signflow.output.report import render_html
from signflow.validation.verdicts import FileVerdict, SignatureVerdict
from signflow.vn import VN_TZ

# The 2019 example roster: member id, head's name, unit (the seal certificate's name).
MEMBERS = [
    ("ninh-binh", "Đinh Văn Hùng", "Thanh tra tỉnh Ninh Bình"),
    ("nam-dinh", "Trần Quốc Việt", "Thanh tra tỉnh Nam Định"),
    ("ha-nam", "Lê Thị Thu Hường", "Thanh tra tỉnh Hà Nam"),
    ("thai-binh", "Phạm Đức Thắng", "Thanh tra tỉnh Thái Bình"),
    ("hung-yen", "Vũ Minh Khoa", "Thanh tra tỉnh Hưng Yên"),
    ("hai-duong", "Nguyễn Thị Ngọc Ánh", "Thanh tra tỉnh Hải Dương"),
    ("bac-ninh", "Ngô Xuân Trường", "Thanh tra tỉnh Bắc Ninh"),
    ("vinh-phuc", "Hoàng Văn Dũng", "Thanh tra tỉnh Vĩnh Phúc"),
    ("quang-ninh", "Bùi Thị Yến", "Thanh tra tỉnh Quảng Ninh"),
]
SCRIPT = "<script>alert(1)</script>"
HOSTILE_FILE = 'giao-uoc-"><img src=x onerror=alert(2)>.pdf'
AT = "2024-06-03T10:15:00+07:00"
GENERATED = dt.datetime(2024, 6, 3, 3, 16, 5, tzinfo=dt.UTC)  # 10:16:05 in Vietnam


def at(minutes: int) -> str:
    start = dt.datetime(2019, 3, 15, 8, 30, tzinfo=VN_TZ)
    return (start + dt.timedelta(minutes=minutes)).isoformat()


def person(n: int, member: str, role: str, signer: str, *, last: bool = False,
           **changes) -> SignatureVerdict:
    values = dict(
        field=f"sf-{role}-{member}", signer=signer, member=member, role=role, intact=True,
        valid=True, trusted=True, revoked=False, coverage="entire_revision",
        modifications="lta_updates" if last else "form_filling", signing_time=at(7 * n),
        timestamp=at(7 * n), level="B-LTA", ok=True,
        certificate_sha256=f"{n:02x}" * 32)
    values.update(changes)
    return SignatureVerdict(**values)


def document_timestamp(minutes: int) -> SignatureVerdict:
    return SignatureVerdict(
        field="Signature19", signer="TSA Thanh tra Chính phủ", member=None, role=None,
        intact=True, valid=True, trusted=True, revoked=False, coverage="entire_file",
        modifications="none", signing_time=None, timestamp=at(minutes), level=None,
        ok=True, is_timestamp=True)


def good_file() -> FileVerdict:
    sigs = []
    for i, (member, head, unit) in enumerate(MEMBERS):
        last = i == len(MEMBERS) - 1
        sigs.append(person(2 * i, member, "head", head))
        sigs.append(person(2 * i + 1, member, "seal", unit, last=last))
    sigs.append(document_timestamp(200))
    return FileVerdict(
        file="/srv/luu-tru/2019/cum-thi-dua-so-2/giao-uoc-thi-dua-nam-2019-cum-thi-dua-so-2"
             "-thanh-tra-cac-tinh-vung-dong-bang-song-hong.pdf",
        ok=True, complete=True, signatures=sigs, validation_time=AT)


def tampered_file() -> FileVerdict:
    sigs = []
    for i, (member, head, unit) in enumerate(MEMBERS[:8]):
        sigs.append(person(2 * i, member, "head", head))
        sigs.append(person(2 * i + 1, member, "seal", unit))
    sigs[4] = person(4, "ha-nam", "head", "Lê Thị Thu Hường", intact=False, ok=False,
                     coverage="partial", modifications="other", revoked=None,
                     problems=["nội dung đã ký bị thay đổi sau khi ký",
                               "không kiểm tra được tình trạng thu hồi chứng thư số"])
    sigs.append(SignatureVerdict(
        field="Chữ ký ngoài danh sách – trường rất dài để kiểm tra xuống dòng "
              "Signature_Field_Without_Any_Spaces_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        signer=SCRIPT, member=None, role=None, intact=True, valid=True, trusted=False,
        revoked=None, coverage="entire_file", modifications="none",
        signing_time="2019-03-16T01:00:00+00:00", timestamp=None, level="B-B", ok=False,
        problems=[f"chữ ký trong trường không do signflow tạo: {SCRIPT}"]))
    return FileVerdict(
        file=HOSTILE_FILE, ok=False, complete=False,
        missing=[{"member": "quang-ninh", "role": "head"},
                 {"member": "quang-ninh", "role": "seal"}],
        problems=["thay đổi vượt quá việc ký (other)",
                  "trường biểu mẫu 'sf-head-ha-nam' đã bị thay đổi"],
        signatures=sigs, validation_time=AT)


def unreadable_file() -> FileVerdict:
    return FileVerdict(
        file="/srv/luu-tru/2019/tệp-hỏng.pdf", ok=False, complete=None, readable=False,
        problems=["/srv/luu-tru/2019/tệp-hỏng.pdf: không đọc được PDF: "
                  "startxref not found"], validation_time=AT)


def render(lang: str, monkeypatch) -> str:
    monkeypatch.setattr(i18n, "_language", lang)
    return render_html(
        [good_file(), tampered_file(), unreadable_file()],
        title="Bản giao ước thi đua năm 2019 – Cụm Thi đua số 2",
        roster_name="Cụm Thi đua số 2 - Thanh tra các tỉnh vùng đồng bằng sông Hồng (2019)",
        trust_roots=["/etc/signflow/trust/root-ca-chinh-phu.pem",
                     "CN=Root CA Thanh tra Chính phủ, O=Thanh tra Chính phủ, C=VN"],
        generated_at=GENERATED)


def text_of(html_text: str) -> str:
    """Visible text, roughly: tags dropped, entities kept."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_text))


def test_report_content_in_vietnamese(monkeypatch):
    page = render("vi", monkeypatch)
    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="vi">' in page and '<meta charset="utf-8">' in page
    # Self-contained: no scripts, no external resources.
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)=\"(?!#)", page)
    assert "@import" not in page and "url(" not in page
    text = text_of(page)
    assert "Biên bản xác minh chữ ký số".upper() in page.upper()
    assert "2024-06-03T10:16:05+07:00" in text  # generated_at, in Vietnam time
    assert AT in text
    assert "Cụm Thi đua số 2 - Thanh tra các tỉnh vùng đồng bằng sông Hồng (2019)" in text
    assert "root-ca-chinh-phu.pem" in text
    for _member, head, unit in MEMBERS:
        assert head in text and unit in text
    assert "Hợp lệ và đủ chữ ký" in text
    assert "Có vấn đề" in text
    assert "Không đọc được" in text
    assert "quang-ninh – " in text  # the missing signatures, as member – role
    assert "Dấu thời gian văn bản" in text or "dấu thời gian văn bản" in text
    assert "nội dung đã ký bị thay đổi sau khi ký" in text
    assert "startxref not found" in text
    # 18 signatures and 1 document timestamp in the good file, in order.
    good = page.split('id="file-1"')[1].split('id="file-2"')[0]
    assert good.count('<tbody class="sig') == 19
    assert good.count("stamp") == 1
    names = [m[1] for m in MEMBERS]
    positions = [good.index(n) for n in names]
    assert positions == sorted(positions)
    # Marks survive black-and-white printing: symbols with words.
    assert "✓" in page and "✗" in page and "?" in page


def test_hostile_values_are_escaped(monkeypatch):
    page = render("vi", monkeypatch)
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&quot;&gt;" in page
    # Bidi overrides and control characters are shown, not obeyed.
    monkeypatch.setattr(i18n, "_language", "vi")
    sneaky = FileVerdict(file="hop-dong\u202efdp.exe\x00\x1b[2J", ok=False, complete=None)
    out = render_html([sneaky], generated_at=GENERATED)
    assert "\u202e" not in out and "\x00" not in out and "\x1b" not in out
    assert "⟨U+202E⟩" in out
    # Lone surrogates (from undecodable file names) do not break UTF-8 output.
    render_html([FileVerdict(file="x\udcff.pdf", ok=False, complete=None)]).encode("utf-8")


def test_report_in_english(monkeypatch):
    page = render("en", monkeypatch)
    assert '<html lang="en">' in page
    text = text_of(page)
    for words in ("Signature verification report", "Valid and complete", "Problems found",
                  "Unreadable", "document timestamp", "quang-ninh – head",
                  "quang-ninh – seal"):
        assert words in text, words


def test_naive_and_default_generation_time(monkeypatch):
    monkeypatch.setattr(i18n, "_language", "en")
    out = render_html([], generated_at=None)
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", out)
    assert "No file was verified." in out


# --- real rendering --------------------------------------------------------------------------


def run_tool(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a program in its own process group; on timeout kill that whole group."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{args[0]} did not finish within {timeout} s")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def chromium(tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or ("/usr/bin/chromium"
                                       if Path("/usr/bin/chromium").exists() else None)
    if exe is None:
        pytest.fail("chromium is not installed: install the Debian package `chromium` "
                    "(`make test` does it)")
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return run_tool([
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}", *extra])


def test_report_in_headless_chromium(tmp_path, monkeypatch, artefacts):
    for tool in ("pdftotext", "pdftoppm", "pdfinfo"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: install the Debian package `poppler-utils`")
    page = tmp_path / "verify-report.html"
    page.write_text(render("vi", monkeypatch), encoding="utf-8")
    png, pdf = tmp_path / "verify-report.png", tmp_path / "verify-report.pdf"

    shot = chromium(tmp_path, f"--screenshot={png}", "--window-size=1240,1754",
                    page.as_uri())
    assert png.is_file(), shot.stderr.decode(errors="replace")[-2000:]
    assert png.stat().st_size > 50_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copyfile(png, artefacts / "verify-report.png")

    printed = chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                       page.as_uri())
    assert pdf.is_file(), printed.stderr.decode(errors="replace")[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000
    shutil.copyfile(pdf, artefacts / "verify-report.pdf")

    info = run_tool(["pdfinfo", str(pdf)]).stdout.decode()
    assert re.search(r"Page size:\s+59\d(\.\d+)? x 84\d(\.\d+)? pts \(A4\)", info), info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 2 <= pages <= 6, info

    raw = run_tool(["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"]).stdout.decode()
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw))
    for _member, head, _unit in MEMBERS:
        assert head in text, head
    assert "Nguyễn Thị Ngọc Ánh" in text
    for words in ("BIÊN BẢN XÁC MINH CHỮ KÝ SỐ", "HỢP LỆ VÀ ĐỦ CHỮ KÝ", "CÓ VẤN ĐỀ",
                  "KHÔNG ĐỌC ĐƯỢC", "2024-06-03T10:16:05+07:00"):
        assert words in text, words
    assert "<script>alert(1)</script>" in text  # shown as text, not run
    assert "Trang 1 / " in text  # page numbers from the @page margin boxes

    # Every page rasterised (kept for a human to look at).
    for old in artefacts.glob("verify-report-page-*.png"):
        old.unlink()
    run_tool(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")])
    rasters = sorted(tmp_path.glob("page-*.png"))
    assert len(rasters) == pages
    for r in rasters:
        shutil.copyfile(r, artefacts / f"verify-report-{r.name}")
