"""scale: the 2019 pack at the size of a real re-launch (issue 17, item 5): nine members,
each with 12 departments and 150 staff (from a CSV spreadsheet, as offices keep them),
registration per department. That is the cluster's agreement plus, per member, the launch
plan, the registration summary, the internal pledge with 12 department signature fields
and 12 department registration forms: 136 documents, about 1,400 listed people.

Measured in the same run, both through ``signflow.generate_pack(..., pdf=True)`` (fill,
convert to PDF/A-2b, check, make the signature fields), per document: today's 2019 pack
(28 documents) and the scaled pack. Target: the scaled pack's cost per document within
1.5x of today's.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from bench.common import (
    DATA,
    ROSTER,
    BenchFailed,
    Result,
    Target,
    print_targets,
    table,
    temporary_folder,
    timed,
)

DEPARTMENTS = 12
STAFF = 150
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô")
MIDDLE = ("Văn", "Thị", "Minh", "Thu", "Đức", "Ngọc", "Thanh", "Quang", "Hải", "Kim")
GIVEN = ("An", "Bình", "Cường", "Dung", "Giang", "Hà", "Hùng", "Lan", "Long", "Mai", "Nam",
         "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vân", "Yến")
INDIVIDUAL = ("Lao động tiên tiến", "Chiến sĩ thi đua cơ sở")
COLLECTIVE = ("Tập thể lao động tiên tiến", "Tập thể lao động xuất sắc")


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


def scaled_inputs(folder: Path) -> tuple[Path, Path]:
    """(roster, per-department data) for nine members of 12 departments and 150 staff."""
    import tomlkit

    rng = random.Random(2019)
    doc = tomlkit.parse(ROSTER.read_text(encoding="utf-8"))
    for member in doc["members"]:
        member_id = str(member["id"])
        departments = tomlkit.aot()
        for d in range(1, DEPARTMENTS + 1):
            entry = tomlkit.table()
            entry["id"] = f"phong-{d}"
            entry["name"] = "Văn phòng" if d == 1 else f"Phòng Nghiệp vụ {d - 1}"
            entry["head"] = {"name": _name(rng), "title": "Trưởng phòng",
                             "honorific": rng.choice(("ông", "bà"))}
            entry["registers"] = [rng.choice(COLLECTIVE)]
            departments.append(entry)
        member["departments"] = departments
        member.pop("staff", None)
        sheet = folder / f"staff-{member_id}.csv"
        with sheet.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["STT", "Họ và tên", "Chức vụ", "Phòng", "Đăng ký danh hiệu"])
            for n in range(1, STAFF + 1):
                department = 1 + (n - 1) % DEPARTMENTS
                titles = [INDIVIDUAL[0]] + ([INDIVIDUAL[1]] if n % 7 == 0 else [])
                writer.writerow([n, _name(rng), "Chuyên viên", f"phong-{department}",
                                 "; ".join(titles)])
        member["staff_file"] = sheet.name
    roster = folder / "roster.toml"
    roster.write_text(tomlkit.dumps(doc), encoding="utf-8")
    data = folder / "per-department.toml"
    data.write_text('["dang-ky-thi-dua"]\nper_department = true\n', encoding="utf-8")
    return roster, data


def _pages(paths: list[Path]) -> int:
    import pypdfium2

    total = 0
    for path in paths:
        pdf = pypdfium2.PdfDocument(str(path))
        total += len(pdf)
        pdf.close()
    return total


def run() -> list[Result]:
    import signflow

    with temporary_folder() as tmp:
        roster_path, per_department = scaled_inputs(tmp)
        today_roster = signflow.load_roster(ROSTER)
        scaled_roster = signflow.load_roster(roster_path)
        today_data = signflow.load_data([DATA])
        scaled_data = signflow.load_data([DATA, per_department])

        def today() -> None:
            signflow.generate_pack(today_roster, today_data, tmp / "today", pdf=True)

        def scaled() -> None:
            signflow.generate_pack(scaled_roster, scaled_data, tmp / "scaled", pdf=True)

        t_today = timed(today)[0]
        t_scaled = timed(scaled)[0]
        today_pdfs = sorted((tmp / "today" / "2019").rglob("*.pdf"))
        scaled_pdfs = sorted((tmp / "scaled" / "2019").rglob("*.pdf"))
        if len(today_pdfs) != 28 or len(scaled_pdfs) != 1 + 9 * (3 + DEPARTMENTS):
            raise BenchFailed(f"unexpected packs: {len(today_pdfs)} and {len(scaled_pdfs)} "
                              "PDFs")
        registration = [p for p in scaled_pdfs if p.name.startswith("dang-ky-thi-dua")]
        pages_today, pages_scaled = _pages(today_pdfs), _pages(scaled_pdfs)
        pages_registration = _pages(registration)
        listed = sum(len(m.staff) for m in scaled_roster.members)
    per_today = t_today / len(today_pdfs)
    per_scaled = t_scaled / len(scaled_pdfs)
    rows = [
        ("today's 2019 pack", str(len(today_pdfs)), str(pages_today), f"{t_today:.1f} s",
         f"{per_today:.2f} s"),
        (f"9 members x {DEPARTMENTS} departments x {STAFF} staff", str(len(scaled_pdfs)),
         str(pages_scaled), f"{t_scaled:.1f} s", f"{per_scaled:.2f} s"),
    ]
    table("Generate and convert to PDF/A-2b, with signature fields (generate_pack)", rows,
          ("pack", "documents", "pages", "time", "per document"))
    print(f"\nThe scaled pack lists {listed} people on {pages_registration} registration "
          f"pages; its cost per document is {per_scaled / per_today:.2f}x today's.")
    results = [
        Result("scale.today_per_document", "today's pack, per document", per_today, "s"),
        Result("scale.scaled_per_document", "the scaled pack, per document", per_scaled, "s"),
        Result("scale.documents", "documents in the scaled pack", len(scaled_pdfs), ""),
        Result("scale.registration_pages", "registration pages in the scaled pack",
               pages_registration, ""),
        Result("scale.per_document_ratio", "scaled pack's cost per document over today's",
               per_scaled / per_today, "x", Target("<=", 1.5, "issue 17")),
    ]
    print_targets(results)
    return results
