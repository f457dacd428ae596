"""Generating the 2019 pack: 1 agreement + 9 members x 3 documents, checked for content."""

import io
import json
import shutil

import docx
import pytest

from signflow._internal.files import sha256_file
from signflow.documents.render import docx_text
from signflow.pdf.anchors import anchor
from signflow.roster import load_roster

from .conftest import DATA, ROSTER, TEMPLATES


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack

    out = tmp_path_factory.mktemp("pack")
    generate_pack(load_roster(ROSTER), load_data([DATA]), out)
    return out / "2019"


def all_text(path) -> str:
    # Templates may keep a province name on one line with a no-break space.
    return docx_text(path.read_bytes()).replace("\xa0", " ")


def test_pack_has_every_document_and_a_manifest(pack):
    docs = sorted(pack.rglob("*.docx"))
    assert len(docs) == 28
    manifest = json.loads((pack / "manifest.json").read_text(encoding="utf-8"))
    entries = manifest["documents"]
    assert len(entries) == 28
    assert sum(1 for e in entries if e["member"] is None) == 1
    roster = load_roster(ROSTER)
    for m in roster.members:
        kinds = sorted(e["kind"] for e in entries if e["member"] == m.id)
        assert kinds == ["dang-ky-thi-dua", "giao-uoc-noi-bo", "ke-hoach-phat-dong"]
    for e in entries:
        assert sha256_file(pack / e["path"]) == e["sha256"]
        docx.Document(pack / e["path"])  # opens


def test_agreement_content(pack):
    roster = load_roster(ROSTER)
    path = pack / "cluster" / "giao-uoc-thi-dua-2019.docx"
    d = docx.Document(path)
    text = all_text(path)
    grid = "\n".join(cell.text for table in d.tables for row in table.rows
                     for cell in row.cells).replace("\xa0", " ")
    for m in roster.members:
        assert m.unit.upper() in grid, m.unit
        assert m.head.name in grid, m.head.name
        assert anchor(m.id, "head") in text and anchor(m.id, "seal") in text
    assert "Ninh Bình, ngày 15 tháng 3 năm 2019" in text
    assert "Số: 01/GƯTĐ-CTĐ2" in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    for phrase in (
        "đoàn kết, kỷ cương, trách nhiệm, hiệu quả",
        "trên 85%",
        "Kế hoạch số 2100/KH-TTCP ngày 19 tháng 9 năm 2013",
        "cơ sở dữ liệu quốc gia về khiếu nại, tố cáo",
        "Cả nước chung sức xây dựng nông thôn mới",
        "Cả nước chung tay vì người nghèo - Không để ai bị bỏ lại phía sau",
        "điển hình tiên tiến",
        "phát động lại phong trào",
    ):
        assert phrase in text, phrase
    assert "{{" not in text and "{%" not in text and "}}" not in text


def test_member_documents_content(pack):
    roster = load_roster(ROSTER)
    for m in roster.members:
        for kind in ("ke-hoach-phat-dong", "dang-ky-thi-dua", "giao-uoc-noi-bo"):
            path = pack / m.id / f"{kind}-{m.id}-2019.docx"
            text = all_text(path)
            assert m.unit.upper() in text
            assert m.parent.upper() in text
            assert m.head.name in text
            assert anchor(m.id, "head") in text and anchor(m.id, "seal") in text
            for other in roster.members:
                if other.id != m.id:
                    assert anchor(other.id, "head") not in text
            assert "{{" not in text and "{%" not in text
    qn = all_text(pack / "quang-ninh" / "ke-hoach-phat-dong-quang-ninh-2019.docx")
    assert "Số: 12/KH-TTr" in qn  # per-member override
    assert "Quảng Ninh, ngày 25 tháng 3 năm 2019" in qn
    hn = all_text(pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.docx")
    # no number: the clerical office numbers it at issue, in fields on these anchors
    assert "Số: [[sf:ha-nam:number:KH-TTr]]" + " " * 8 + "/KH-TTr" in hn
    assert "Hà Nam, " + " " * 46 + "[[sf:ha-nam:date]]" in hn
    nb = all_text(pack / "ninh-binh" / "dang-ky-thi-dua-ninh-binh-2019.docx")
    assert "Số: 03/ĐK-TTr" in nb
    assert "Ninh Bình, ngày 01 tháng 4 năm 2019" in nb
    reg = docx.Document(pack / "ha-nam" / "dang-ky-thi-dua-ha-nam-2019.docx")
    rows = [[c.text for c in r.cells] for t in reg.tables for r in t.rows]
    # the individuals are the roster's staff, with their department
    ha_nam = load_roster(ROSTER).member("ha-nam")
    person = next(s for s in ha_nam.staff if "Chiến sĩ thi đua cơ sở" in s.registers)
    assert any(person.name in row and person.title in row
               and "Lao động tiên tiến; Chiến sĩ thi đua cơ sở" in row
               and ha_nam.department(person.department).name in row for row in rows)
    assert any("Tập thể lao động xuất sắc" in row for row in rows)


def test_only_and_member_filters(cli, tmp_path):
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--out", out,
                 "--member", "ha-nam", "--only", "dang-ky-thi-dua", "--no-pdf")
    assert result.code == 0, result.err
    assert [p.name for p in (out / "2019").rglob("*.docx")] == ["dang-ky-thi-dua-ha-nam-2019.docx"]
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--out", out,
                 "--only", "giao-uoc-thi-dua", "--no-pdf")
    assert result.code == 0, result.err
    manifest = json.loads((out / "2019" / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["documents"]) == 2  # the earlier run's entry is kept


def test_unknown_member_is_one_line_exit_2(cli, tmp_path):
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--out", out,
                 "--member", "ha-noi", "--no-pdf")
    assert result.code == 2, result.err
    # the unknown id named, and the ids the roster does have
    assert "mã 'ha-noi'" in result.err and "quang-ninh" in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert not out.exists()


def test_bad_data_date_writes_nothing(cli, tmp_path):
    data = tmp_path / "data.toml"
    data.write_text(DATA.read_text(encoding="utf-8").replace("date = 2019-03-25",
                                                             'date = "25/03/2019"'),
                    encoding="utf-8")
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", data, "--out", out, "--no-pdf")
    assert result.code == 2, result.err
    assert "ke-hoach-phat-dong.date" in result.err and "25/03/2019" in result.err, result.err
    assert "ngày không hợp lệ" in result.err, result.err
    assert not out.exists()


def test_typo_in_member_override_is_reported(cli, tmp_path):
    data = tmp_path / "data.toml"
    data.write_text(DATA.read_text(encoding="utf-8").replace('[members."quang-ninh"',
                                                             '[members."quang-nin"'),
                    encoding="utf-8")
    result = cli("generate", "--roster", ROSTER, "--data", data, "--out", tmp_path / "o",
                 "--no-pdf")
    assert result.code == 2, result.err
    # the typo named as an id the roster does not have, with the id meant
    assert "không có trong danh sách: quang-nin;" in result.err, result.err
    assert "quang-ninh?" in result.err, result.err


def test_broken_template_in_custom_folder(cli, tmp_path):
    templates = tmp_path / "tpl"
    shutil.copytree(TEMPLATES, templates, ignore=shutil.ignore_patterns("examples"))
    (templates / "dang-ky-thi-dua.docx").write_bytes(b"PK\x03\x04 broken")
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--templates", templates,
                 "--out", out, "--no-pdf", "--only", "dang-ky-thi-dua")
    assert result.code == 2, result.err
    assert "dang-ky-thi-dua.docx không phải văn bản Word" in result.err, result.err
    assert "Traceback" not in result.err, result.err
    assert not list(out.rglob("*.docx"))


def test_value_with_ampersand_in_registration_table(cli, tmp_path):
    data = tmp_path / "extra.toml"
    data.write_text(
        '[["dang-ky-thi-dua".individuals]]\nname = "Nguyễn Văn A & B <Test>"\n'
        'position = "Trưởng phòng \\"Nghiệp vụ\\""\ntitle = "Lao động tiên tiến"\n'
        'commendation = ""\nnote = "x < y"\n', encoding="utf-8")
    out = tmp_path / "o"
    result = cli("generate", "--roster", ROSTER, "--data", DATA, "--data", data, "--out", out,
                 "--only", "dang-ky-thi-dua", "--member", "ha-nam", "--no-pdf")
    assert result.code == 0, result.err
    path = out / "2019" / "ha-nam" / "dang-ky-thi-dua-ha-nam-2019.docx"
    d = docx.Document(io.BytesIO(path.read_bytes()))
    rows = [[c.text for c in r.cells] for t in d.tables for r in t.rows]
    assert any("Nguyễn Văn A & B <Test>" in row and 'Trưởng phòng "Nghiệp vụ"' in row
               and "x < y" in row for row in rows)
    assert "CHÁNH THANH TRA" in all_text(path)  # the rest of the document survived
