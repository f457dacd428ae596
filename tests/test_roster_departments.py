"""The roster's second level (issue 17.1 and 17.3): departments and staff, from the roster or
a spreadsheet; the internal pledge that lists the departments; the registration per person
or per department."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import docx
import pytest

from signflow.documents.render import docx_text
from signflow.pdf.anchors import anchor
from signflow.roster import Department, RosterError, StaffMember, load_roster

from .conftest import DATA, ROSTER, require_tool

CLUSTER = """
[cluster]
name = "Cụm Thi đua số 2"
full_name = "Cụm Thi đua số 2"
year = 2019
place = "Ninh Bình"
date = 2019-03-15
leader = "ninh-binh"
"""


def member(member_id: str, province: str, extra: str = "") -> str:
    return f"""
[[members]]
id = "{member_id}"
province = "{province}"
unit = "Thanh tra tỉnh {province}"
parent = "UBND tỉnh {province}"
place = "{province}"
symbol = "TTr"
head.name = "Trưởng {province}"
head.title = "Chánh Thanh tra"
{extra}"""


DEPARTMENTS = """
[[members.departments]]
id = "van-phong"
name = "Văn phòng"
head.name = "Trần Thị Mai"
head.title = "Chánh Văn phòng"
head.honorific = "bà"
registers = "Tập thể lao động tiên tiến"

[[members.departments]]
id = "nghiep-vu-1"
name = "Phòng Nghiệp vụ 1"
head.name = "Lê Văn Cường"
head.title = "Trưởng phòng"
"""


def write_roster(folder: Path, text: str) -> Path:
    path = folder / "roster.toml"
    path.write_text(CLUSTER + text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(RosterError) as info:
        load_roster(path)
    return info.value.details


def test_the_example_roster_has_departments_and_staff():
    import signflow

    roster = load_roster(ROSTER)
    for m in roster.members:
        assert 3 <= len(m.departments) <= 5, m.id
        assert m.staff and all(s.department in {d.id for d in m.departments} for s in m.staff)
        assert all(d.head.name and d.head.title and d.head.honorific for d in m.departments)
    assert signflow.Department is Department and signflow.StaffMember is StaffMember
    assert {"Department", "StaffMember"} <= set(signflow.__all__)


def test_department_and_staff_problems_are_reported_at_once_with_their_place(tmp_path):
    bad = DEPARTMENTS + """
[[members.departments]]
id = "Phòng 2"
name = "Phòng Nghiệp vụ 2"
head.title = "Trưởng phòng"
head.honorific = "ông/bà"

[[members.departments]]
id = "van-phong"
name = "Văn phòng 2"
head = { name = "A", title = "B", certificate = { sha256 = "xyz" } }
colour = "red"

[[members.staff]]
name = "Nguyễn Văn A"
title = "Chuyên viên"
department = "khong-co"

[[members.staff]]
name = "Nguyễn Văn B"
department = "Văn phòng"
registers = [1]
"""
    path = write_roster(tmp_path, member("ninh-binh", "Ninh Bình") + member("nam-dinh", "Nam Định")
                        + member("hai-phong", "Hải Phòng", bad))
    text = "\n".join(problems := problems_of(path))
    where = "thành viên thứ 3 (hai-phong), "
    for expected in ("departments[3].id", "departments[3].head.name: còn thiếu",
                     "departments[3].head.honorific", "departments[4].id",
                     "departments[4].head.certificate.sha256", "departments[4].colour",
                     "staff[1].department", "staff[2].title: còn thiếu", "staff[2].registers"):
        assert where + expected in text, (expected, text)
    assert "'khong-co'" in text and "van-phong, nghiep-vu-1" in text, text
    assert all(p.startswith(f"{path}: ") for p in problems), text
    assert len(problems) == 9, text


def test_staff_need_departments_and_one_source(tmp_path):
    staff = '\n[[members.staff]]\nname = "A"\ntitle = "B"\ndepartment = "van-phong"\n'
    path = write_roster(tmp_path, member("ninh-binh", "Ninh Bình", staff))
    assert "phòng, đơn vị" in problems_of(path)[0]
    both = DEPARTMENTS + 'staff_file = "x.csv"\n' + staff
    both = both.replace('staff_file = "x.csv"\n', "").replace(
        "[[members.departments]]", 'staff_file = "x.csv"\n[[members.departments]]', 1)
    path = write_roster(tmp_path, member("ninh-binh", "Ninh Bình", both))
    assert "staff_file" in problems_of(path)[0]


CSV_GOOD = ("Họ và tên,Chức vụ,Phòng,Đăng ký danh hiệu,Ghi chú\n"
            "Nguyễn Văn An,Chuyên viên,Văn phòng,Lao động tiên tiến; Chiến sĩ thi đua cơ sở,\n"
            "\n"
            'Phạm Thị Bình,"Thanh tra viên, tổ 1",nghiep-vu-1,,\n')


def staff_roster(tmp_path: Path, file_name: str, extra_member: str = "") -> Path:
    return write_roster(tmp_path, member("ninh-binh", "Ninh Bình", DEPARTMENTS.replace(
        "[[members.departments]]", f'staff_file = "{file_name}"\n\n[[members.departments]]', 1))
        + extra_member)


def test_staff_from_a_csv_with_a_bom_and_vietnamese_headers(tmp_path):
    (tmp_path / "nhan-su.csv").write_bytes(b"\xef\xbb\xbf" + CSV_GOOD.encode())
    roster = load_roster(staff_roster(tmp_path, "nhan-su.csv"))
    m = roster.member("ninh-binh")
    assert m.staff_file == tmp_path / "nhan-su.csv"
    assert m.staff == (
        StaffMember("Nguyễn Văn An", "Chuyên viên", "van-phong",
                    ("Lao động tiên tiến", "Chiến sĩ thi đua cơ sở")),
        StaffMember("Phạm Thị Bình", "Thanh tra viên, tổ 1", "nghiep-vu-1", ()),
    )
    # English headers, no BOM, ';' as Excel writes in a Vietnamese locale
    (tmp_path / "staff.csv").write_text(
        "name;title;department;registers\nA;B;van-phong;Lao động tiên tiến\n", encoding="utf-8")
    assert load_roster(staff_roster(tmp_path, "staff.csv")).member("ninh-binh").staff == (
        StaffMember("A", "B", "van-phong", ("Lao động tiên tiến",)),)


def test_bad_csv_rows_are_reported_with_row_and_column_all_at_once(tmp_path):
    (tmp_path / "nhan-su.csv").write_text(
        "Họ và tên,Chức vụ,Phòng,Ngày sinh\n"
        "Nguyễn Văn An,Chuyên viên,Văn phòng,\n"
        ",Chuyên viên,Văn phòng,\n"
        "Trần Văn C,Chuyên viên,Phòng Tổ chức,\n", encoding="utf-8")
    broken_member = member("nam-dinh", "Nam Định", "head.honorific = \"ông/bà\"\n")
    problems = problems_of(staff_roster(tmp_path, "nhan-su.csv", broken_member))
    text = "\n".join(problems)
    csv_path = tmp_path / "nhan-su.csv"
    assert f"{csv_path}: dòng 1, cột D (Ngày sinh): cột không rõ 'Ngày sinh'" in text, text
    assert f"{csv_path}: dòng 3, cột A (Họ và tên): còn thiếu" in text, text
    assert f"{csv_path}: dòng 4, cột C (Phòng): 'Phòng Tổ chức' không phải" in text, text
    assert "thành viên thứ 2 (nam-dinh), head.honorific" in text, text  # the roster's too
    assert len(problems) == 4, text
    (tmp_path / "nhan-su.csv").write_bytes("Họ và tên,Chức vụ,Phòng\n".encode("utf-16"))
    text = "\n".join(problems_of(staff_roster(tmp_path, "nhan-su.csv")))
    assert "UTF-8" in text and "staff_file" in text, text


def test_a_missing_staff_file_stops_generate_but_not_a_verifier(cli, tmp_path):
    roster = staff_roster(tmp_path, "khong-co.csv")
    assert load_roster(roster).member("ninh-binh").staff == ()  # verify, send: not needed
    data = tmp_path / "data.toml"
    data.write_text(LEGACY_DATA.split("[[")[0], encoding="utf-8")
    result = cli("generate", "--roster", roster, "--data", data, "--out", tmp_path / "o",
                 "--no-pdf", "--only", "dang-ky-thi-dua")
    assert result.code == 2 and "khong-co.csv" in result.err, result.err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").rglob("*.docx"))


def test_staff_from_an_xlsx_with_bad_rows_and_a_formula(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["STT", "Họ và tên", "Chức vụ", "Phòng", "Đăng ký danh hiệu"])
    sheet.append([1, "Nguyễn Văn An", "Chuyên viên", "van-phong", "Lao động tiên tiến"])
    sheet.append([2, "Lê Thị Hoa", "Thanh tra viên", "Phòng Nghiệp vụ 1",
                  "Lao động tiên tiến\nChiến sĩ thi đua cơ sở"])
    book.save(tmp_path / "good.xlsx")
    staff = load_roster(staff_roster(tmp_path, "good.xlsx")).member("ninh-binh").staff
    assert [s.name for s in staff] == ["Nguyễn Văn An", "Lê Thị Hoa"]
    assert staff[1].department == "nghiep-vu-1"
    assert staff[1].registers == ("Lao động tiên tiến", "Chiến sĩ thi đua cơ sở")

    sheet.append([3, "Phạm Văn D", '=CONCAT("Chuyên", " viên")', "van-phong", ""])
    sheet.append([4, "Vũ Văn E", "Chuyên viên", "", ""])
    sheet.append([5, "Đỗ Thị G", "Chuyên viên", "phong-khac", ""])
    book.save(tmp_path / "bad.xlsx")
    problems = problems_of(staff_roster(tmp_path, "bad.xlsx"))
    text = "\n".join(problems)
    xlsx = tmp_path / "bad.xlsx"
    assert f"{xlsx}: dòng 4, cột C (Chức vụ): là công thức" in text, text
    assert f"{xlsx}: dòng 5, cột D (Phòng): còn thiếu" in text, text
    assert f"{xlsx}: dòng 6, cột D (Phòng): 'phong-khac'" in text, text
    assert len(problems) == 3, text

    (tmp_path / "fake.xlsx").write_bytes(b"not a zip")
    text = "\n".join(problems_of(staff_roster(tmp_path, "fake.xlsx")))
    assert "fake.xlsx" in text and "Excel" in text, text


def pack_text(path: Path) -> str:
    return docx_text(path.read_bytes()).replace("\xa0", " ")


def test_the_internal_pledge_lists_the_rosters_departments(cli, tmp_path):
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--out", out, "--no-pdf",
                 "--only", "giao-uoc-noi-bo", "--member", "quang-ninh")
    assert result.code == 0, result.err
    assert "cảnh báo" not in result.err, result.err
    text = pack_text(out / "2019" / "quang-ninh" / "giao-uoc-noi-bo-quang-ninh-2019.docx")
    for d in load_roster(ROSTER).member("quang-ninh").departments:
        assert f"{d.name}, đại diện là {d.head.introduced}, {d.head.title}" in text, d


LEGACY_DATA = """
["giao-uoc-noi-bo"]
title = "GIAO ƯỚC THI ĐUA"
subtitle = "giữa các phòng, đơn vị năm 2019"
intro = "Các phòng, đơn vị thuộc {{ member.unit }} thống nhất giao ước."
closing = "Cam kết thực hiện."
recipients = ["Lưu: VT"]

[["giao-uoc-noi-bo".departments]]
name = "Phòng Cũ"
head = "Đặng Văn Xưa"
honorific = "ông"

[["giao-uoc-noi-bo".pledges]]
heading = "Chuyên môn"
text = "Hoàn thành nhiệm vụ."
"""


def test_the_old_data_form_still_works_with_one_warning(cli, tmp_path):
    roster = write_roster(tmp_path, member("ninh-binh", "Ninh Bình")
                          + member("nam-dinh", "Nam Định", DEPARTMENTS))
    data = tmp_path / "data.toml"
    data.write_text(LEGACY_DATA, encoding="utf-8")
    out = tmp_path / "o"
    result = cli("generate", "--roster", roster, "--data", data, "--out", out, "--no-pdf",
                 "--only", "giao-uoc-noi-bo")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("cảnh báo:")]
    assert len(warnings) == 1 and "[[members.departments]]" in warnings[0], result.err
    old = pack_text(out / "2019" / "ninh-binh" / "giao-uoc-noi-bo-ninh-binh-2019.docx")
    assert "1. Phòng Cũ, đại diện là ông Đặng Văn Xưa." in old, old
    new = pack_text(out / "2019" / "nam-dinh" / "giao-uoc-noi-bo-nam-dinh-2019.docx")
    assert "Phòng Cũ" not in new  # a roster that lists departments wins
    assert "1. Văn phòng, đại diện là bà Trần Thị Mai, Chánh Văn phòng;" in new, new
    assert "2. Phòng Nghiệp vụ 1, đại diện là Lê Văn Cường, Trưởng phòng." in new, new
    # a program calling the library gets it as a Python warning
    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack

    with pytest.warns(UserWarning, match=r"members\.departments"):
        generate_pack(load_roster(roster), load_data([data]), tmp_path / "lib",
                      only=["giao-uoc-noi-bo"])


def test_registration_per_person_lists_the_staff_with_a_summary(cli, tmp_path):
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--out", out, "--no-pdf",
                 "--only", "dang-ky-thi-dua", "--member", "hung-yen")
    assert result.code == 0, result.err
    made = [p.name for p in (out / "2019").rglob("*.docx")]
    assert made == ["dang-ky-thi-dua-hung-yen-2019.docx"]
    hy = load_roster(ROSTER).member("hung-yen")
    reg = docx.Document(io.BytesIO((out / "2019" / "hung-yen" /
                                    "dang-ky-thi-dua-hung-yen-2019.docx").read_bytes()))
    rows = [[c.text for c in r.cells] for t in reg.tables for r in t.rows]
    for person in hy.staff:
        assert any(person.name in row and person.title in row for row in rows), person
    summary = {row[1]: row[2:] for row in rows if len(row) == 4 and row[0].isdigit()}
    individuals = sum(1 for s in hy.staff if "Lao động tiên tiến" in s.registers)
    assert summary["Lao động tiên tiến"] == ["", str(individuals)], summary
    collectives = sum(1 for d in hy.departments if "Tập thể lao động tiên tiến" in d.registers)
    assert summary["Tập thể lao động tiên tiến"] == [str(collectives), ""], summary


def test_registration_per_department_converted_by_libreoffice(cli, tmp_path, artefacts):
    pdftotext = require_tool("pdftotext")
    pdftoppm = require_tool("pdftoppm")
    extra = tmp_path / "per-department.toml"
    extra.write_text('[members."ha-nam"."dang-ky-thi-dua"]\nper_department = true\n',
                     encoding="utf-8")
    out = tmp_path / "o"
    # without per_department there is no department's form to make: said, not silent
    refused = cli("generate", "--roster", ROSTER, "--data", DATA, "--out", out, "--no-pdf",
                  "--only", "dang-ky-thi-dua-phong", "--member", "ha-nam")
    assert refused.code == 2 and "per_department" in refused.err, refused.err
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--data", extra, "--out", out,
                 "--member", "ha-nam", "--only", "dang-ky-thi-dua",
                 "--only", "dang-ky-thi-dua-phong")
    assert result.code == 0, result.err
    ha_nam = load_roster(ROSTER).member("ha-nam")
    year = out / "2019"
    manifest = json.loads((year / "manifest.json").read_text(encoding="utf-8"))
    pdfs = {(e["kind"], e["department"]): e["path"] for e in manifest["documents"]
            if e["format"] == "pdf"}
    with_staff = [d for d in ha_nam.departments if ha_nam.department_staff(d.id)]
    assert set(pdfs) == {("dang-ky-thi-dua", None)} | {
        ("dang-ky-thi-dua-phong", d.id) for d in with_staff}
    from signflow.validation.revisions import read_history

    first = with_staff[0]
    path = year / pdfs[("dang-ky-thi-dua-phong", first.id)]
    assert path.name == f"dang-ky-thi-dua-phong-ha-nam-{first.id}-2019.pdf"
    text = subprocess.run([pdftotext, "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = " ".join(text.split())
    assert f"{first.name} - Năm 2019" in flat and "CHÁNH THANH TRA" in flat, flat
    for person in ha_nam.department_staff(first.id):
        assert person.name in flat, person
    others = [s for s in ha_nam.staff if s.department != first.id]
    assert not any(s.name in flat for s in others)
    assert anchor("ha-nam", "head") in flat
    assert set(read_history(path).our_fields) >= {("ha-nam", "head"), ("ha-nam", "seal")}
    subprocess.run([pdftoppm, "-r", "60", "-png", "-f", "1", "-l", "1", str(path),
                    str(artefacts / "dang-ky-thi-dua-phong-page")], check=True)
    summary = subprocess.run(
        [pdftotext, "-layout", str(year / pdfs[("dang-ky-thi-dua", None)]), "-"],
        capture_output=True, text=True, check=True).stdout
    flat = " ".join(summary.split())
    assert "theo các bản đăng ký kèm theo" in flat and first.name in flat, flat
    assert "Tổng hợp đăng ký danh hiệu thi đua" in flat, flat
    assert not any(s.name in flat for s in ha_nam.staff)  # listed in the departments' forms


def test_the_package_sent_to_an_office_carries_no_staff(tmp_path):
    from signflow.signing.handoff import _write_roster

    target = tmp_path / "roster.toml"
    _write_roster(load_roster(ROSTER), "ha-nam", target)
    sent = load_roster(target)
    assert all(not m.staff and m.departments for m in sent.members)


def test_the_departments_template_is_needed_only_when_used(cli, tmp_path):
    import shutil

    from .conftest import TEMPLATES

    tpl = tmp_path / "templates"
    shutil.copytree(TEMPLATES, tpl)
    (tpl / "dang-ky-thi-dua-phong.docx").unlink()  # a workspace made before it existed
    result = cli("templates", "check", tpl, "--roster", ROSTER, "--data", DATA)
    assert result.code == 0, result.out + result.err
    data = tmp_path / "data.toml"
    data.write_text(DATA.read_text(encoding="utf-8") + '\n[members."ha-nam"."dang-ky-thi-dua"]'
                    '\nper_department = true\n', encoding="utf-8")
    result = cli("templates", "check", tpl, "--roster", ROSTER, "--data", data)
    assert result.code == 1 and "dang-ky-thi-dua-phong.docx" in result.out, result.out
