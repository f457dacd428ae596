"""Terminal tables from plain verdicts and statuses (no PDF needed): they fit 100 columns
unless --wide, name provinces, put the cluster's agreement first and the members in roster
order, never cut a word, and tell a signature that is there but not trusted from one that
is missing."""

from __future__ import annotations

import json

import pytest

from signflow.output.tables import (
    MAX_WIDTH,
    event_line,
    render_table,
    status_table,
    verify_table,
    width,
    wrap,
)
from signflow.roster import load_roster
from signflow.validation.status import DocumentStatus, FieldStatus
from signflow.validation.verdicts import FileVerdict, SignatureVerdict

from .conftest import ROSTER

AGREEMENT = "out/2019/cluster/giao-uoc-thi-dua-2019.pdf"


@pytest.fixture(scope="module")
def roster():
    return load_roster(ROSTER)


def member_doc(member: str, kind: str = "ke-hoach-phat-dong") -> str:
    return f"out/2019/{member}/{kind}-{member}-2019.pdf"


def status(path: str, members: list[str], signed: set[tuple[str, str]],
           roster=None) -> DocumentStatus:
    from signflow.validation.status import next_steps

    fields = [FieldStatus(member=m, role=r, field=f"sf-{r}-{m}", signed=(m, r) in signed)
              for m in members for r in ("head", "seal")]
    return DocumentStatus(file=path, fields=fields, next=next_steps(fields, roster))


def lines_fit(text: str) -> None:
    too_wide = [line for line in text.splitlines() if width(line) > MAX_WIDTH]
    assert not too_wide, "\n".join(too_wide)


def words(text: str) -> set[str]:
    return set(text.split())


# --- the building blocks --------------------------------------------------------------------

def test_width_counts_what_a_terminal_shows():
    assert width("Quảng Ninh") == 10
    assert width("Quảng Ninh".replace("ả", "a\u0309")) == 10  # a combining hook above
    assert width("中文") == 4  # wide East Asian characters


def test_wrap_breaks_at_spaces_and_never_loses_a_character():
    text = "người đứng đầu ký: Ninh Bình, Nam Định, Hà Nam (và 6 đơn vị khác)"
    lines = wrap(text, 20)
    assert all(width(line) <= 20 for line in lines), lines
    assert " ".join(lines) == text
    long = "giao-uoc-noi-bo-quang-ninh-2019.pdf"
    assert "".join(wrap(long, 10)) == long


def test_a_table_that_cannot_shrink_enough_keeps_its_words():
    table = render_table(["A", "B"], [["x" * 30, "một hai ba bốn năm sáu bảy tám"]], 20,
                         wrap_columns=(1,))
    assert "x" * 30 in table
    assert words(table) >= {"một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám"}


# --- signflow status ------------------------------------------------------------------------

def test_status_fits_names_provinces_and_follows_the_pack(roster):
    everyone = roster.member_ids
    results = [
        status(member_doc("quang-ninh"), ["quang-ninh"], set(), roster),
        status(member_doc("ninh-binh", "giao-uoc-noi-bo"), ["ninh-binh"],
               {("ninh-binh", "head")}, roster),
        status(AGREEMENT, everyone, {("ninh-binh", "head")}, roster),
        status(member_doc("ninh-binh"), ["ninh-binh"],
               {("ninh-binh", "head"), ("ninh-binh", "seal")}, roster),
    ]
    table = status_table(results, roster)
    lines_fit(table)
    rows = [line for line in table.splitlines()[2:] if line and not line.startswith(" ")]
    assert rows[0].startswith("giao-uoc-thi-dua-2019.pdf"), table
    # the agreement, then Ninh Bình (first in the roster: launch plan before the internal
    # pledge), then Quảng Ninh (last)
    assert [r.split()[0] for r in rows] == [
        "giao-uoc-thi-dua-2019.pdf", "ke-hoach-phat-dong-ninh-binh-2019.pdf",
        "giao-uoc-noi-bo-ninh-binh-2019.pdf", "ke-hoach-phat-dong-quang-ninh-2019.pdf"], table
    assert "Cụm Thi đua số 2" in rows[0] and "Quảng Ninh" in rows[3], table
    assert "Tiếp theo" in table.splitlines()[0], table
    for member_id in ("nam-dinh", "ha-nam", "quang-ninh/"):
        assert member_id not in table.replace(".pdf", ""), table
    # who is next, whole: the agreement's eight heads (three named) and Ninh Bình's seal
    assert words("người đứng đầu ký: Nam Định, Hà Nam, Thái Bình (và 5 đơn vị khác); "
                 "đóng dấu: Ninh Bình") <= words(table), table
    assert "…" not in table
    assert "đã đủ" in rows[1], table


def test_status_next_wraps_instead_of_being_cut(roster):
    long_error = ("không đọc được tệp PDF: " + "bảng tham chiếu chéo bị hỏng ở nhiều chỗ " * 5
                  ).strip()
    results = [status(AGREEMENT, roster.member_ids, set(), roster),
               DocumentStatus(file=member_doc("ha-nam"), error=long_error)]
    table = status_table(results, roster)
    lines_fit(table)
    assert words(long_error) <= words(table), table
    assert len(table.splitlines()) > 4  # the long cell took several lines


def test_status_wide_shows_a_column_per_province(roster):
    results = [status(AGREEMENT, roster.member_ids, {("ninh-binh", "head")}, roster)]
    table = status_table(results, roster, wide=True)
    header = table.splitlines()[0]
    for member in roster.members:
        assert member.province in header, header
    assert "✓·" in table  # Ninh Bình: head signed, seal pending
    assert "(và" not in table  # every name listed
    assert "Mỗi cột đơn vị" in table


def test_status_without_roster_names_ids():
    results = [status(member_doc("ha-nam"), ["ha-nam"], set())]
    table = status_table(results, None)
    assert "ha-nam" in table and "người đứng đầu ký: ha-nam" in table, table


# --- signflow verify ------------------------------------------------------------------------

def signature(member: str, role: str, *, trusted: bool = True, signer: str | None = None,
              problems: list[str] | None = None) -> SignatureVerdict:
    return SignatureVerdict(
        field=f"sf-{role}-{member}", signer=signer or "Nguyễn Văn An", member=member,
        role=role, intact=True, valid=True, trusted=trusted, revoked=False,
        coverage="entire_revision", modifications="form_filling",
        signing_time="2019-03-15T09:30:00+07:00", timestamp=None, level="B-B",
        ok=trusted and not problems, problems=problems or [], certificate_sha256="ab" * 32,
        identity="sha256")


def test_verify_tells_present_but_untrusted_from_missing(roster):
    expired = "chứng thư số của người ký đã hết hạn tại thời điểm xác minh"
    sigs = [signature("ninh-binh", "head", trusted=False, signer="Đinh Văn Hùng",
                      problems=[expired]),
            signature("ninh-binh", "seal", trusted=False,
                      signer="Thanh tra tỉnh Ninh Bình", problems=[expired])]
    missing = [{"member": m, "role": r} for m in roster.member_ids for r in ("head", "seal")]
    agreement = FileVerdict(file=AGREEMENT, ok=False, complete=False, missing=missing,
                            signatures=sigs, validation_time="2040-06-01T09:00:00+07:00")
    member = FileVerdict(file=member_doc("quang-ninh"), ok=True, complete=True,
                         signatures=[signature("quang-ninh", "head"),
                                     signature("quang-ninh", "seal")],
                         validation_time="2040-06-01T09:00:00+07:00")
    text = verify_table([member, agreement], roster)
    lines_fit(text)
    assert text.index("giao-uoc-thi-dua-2019.pdf") < text.index("ke-hoach-phat-dong"), text
    flat = " ".join(text.split())
    assert ("Có chữ ký nhưng chưa được tin cậy tại thời điểm xác minh (09:00 01/6/2040): "
            "Ninh Bình (người đứng đầu, con dấu)") in flat, text
    absent = flat.split("Còn thiếu chữ ký: ")[1].split(" Có chữ ký")[0]
    assert "Ninh Bình" not in absent and "Nam Định (người đứng đầu, con dấu)" in absent, \
        absent
    assert "Quảng Ninh (con dấu)" in flat  # the signer's province and role
    assert "chưa tin cậy" in flat and "hợp lệ" in flat
    assert "quang-ninh" not in flat.replace(member_doc("quang-ninh").split("/")[-1], "")
    # the JSON says the same: two of the missing are there, not valid at that time
    data = json.loads(json.dumps(agreement.as_json()))
    assert data["signed_not_ok"] == missing[:2]
    assert data["missing"] == missing  # unchanged: {member, role}


def test_verify_present_but_invalid_is_said_so(roster):
    broken = signature("ha-nam", "head", problems=["nội dung đã ký bị thay đổi"])
    broken.intact = False
    broken.ok = False
    verdict = FileVerdict(file=member_doc("ha-nam"), ok=False, complete=False,
                          missing=[{"member": "ha-nam", "role": "head"}], signatures=[broken])
    text = " ".join(verify_table([verdict], roster).split())
    assert "Có chữ ký nhưng chữ ký không hợp lệ: Hà Nam (người đứng đầu)" in text, text
    assert "Còn thiếu chữ ký" not in text
    assert "bị sửa sau khi ký" in text


def test_verify_wide_shows_every_column_whole(roster):
    long_field = "Timestamp-" + "0123456789abcdef" * 3
    stamp = SignatureVerdict(
        field=long_field, signer="signflow Demo Time Stamping Authority", member=None,
        role=None, intact=True, valid=True, trusted=True, revoked=None,
        coverage="entire_file", modifications="none", signing_time=None,
        timestamp="2019-03-16T10:00:00+07:00", level=None, ok=True, is_timestamp=True)
    verdict = FileVerdict(file=AGREEMENT, ok=True, complete=None,
                          signatures=[signature("ninh-binh", "head"), stamp])
    narrow = verify_table([verdict], roster)
    lines_fit(narrow)
    assert long_field not in narrow  # field names are for --wide
    wide = verify_table([verdict], roster, wide=True)
    assert long_field in wide and "2019-03-16T10:00:00+07:00" in wide
    assert "Nguyên vẹn" in wide and "Chưa bị thu hồi" in wide


def test_hostile_names_cannot_drive_the_terminal(roster):
    evil = signature("ninh-binh", "head", signer="A\x1b[2J\u202eB")
    text = verify_table([FileVerdict(file=AGREEMENT, ok=True, complete=None,
                                     signatures=[evil])], roster)
    assert "\x1b" not in text and "\u202e" not in text and "⟨U+202E⟩" in text


# --- signflow log ---------------------------------------------------------------------------

def test_log_lines_in_vietnamese_and_vietnam_time():
    line = event_line(7, "2019-03-15T02:30:00+00:00", "signed", "2019/cluster/a.pdf",
                      {"member": "ninh-binh", "role": "seal", "revisions_sha256": ["x"]})
    assert "2019-03-15T09:30:00+07:00" in line and " ký số " in line, line
    assert "vai trò: con dấu" in line and "revisions_sha256" not in line, line
    recovered = event_line(8, "2019-03-15T02:31:00+00:00", "signed", "a.pdf",
                           {"recovered": True})
    assert "ghi bù" in recovered and "recovered" not in recovered, recovered
    assert "lịch sử không khớp" in event_line(9, "2019-03-15T02:32:00+00:00",
                                               "history-conflict", "a.pdf", {})
    assert "some-new-action" in event_line(10, "2019-03-15T02:32:00+00:00",
                                           "some-new-action", None, {})
