"""`signflow templates check` on the shipped templates and on broken ones."""

import shutil

import docx

from .conftest import TEMPLATES


def copy_templates(tmp_path):
    target = tmp_path / "tpl"
    shutil.copytree(TEMPLATES, target, ignore=shutil.ignore_patterns("examples"))
    return target


def reported(out: str, template: str, problem: str) -> bool:
    """Whether ``out`` has a line for ``template`` that says ``problem``."""
    return any(line.startswith(f"{template}: ") and problem in line
               for line in out.splitlines())


def test_shipped_templates_pass(cli):
    result = cli("templates", "check")
    assert result.code == 0, result.out + result.err


def test_problems_are_reported_with_exit_1(cli, tmp_path):
    tpl = copy_templates(tmp_path)
    d = docx.Document(tpl / "ke-hoach-phat-dong.docx")
    d.add_paragraph("{{ member.head.nickname }}")
    d.save(tpl / "ke-hoach-phat-dong.docx")
    d = docx.Document(tpl / "dang-ky-thi-dua.docx")
    d.add_paragraph("{% frobnicate %}")
    d.save(tpl / "dang-ky-thi-dua.docx")
    d = docx.Document(tpl / "giao-uoc-noi-bo.docx")
    d.add_paragraph("{{ budget }}")
    d.save(tpl / "giao-uoc-noi-bo.docx")
    # an agreement whose signature grid lost its anchors
    d = docx.Document()
    d.add_paragraph("{{ cluster.name }}")
    d.save(tpl / "giao-uoc-thi-dua.docx")
    result = cli("templates", "check", tpl)
    assert result.code == 1, result.out + result.err
    out = result.out
    # each problem on the line of its template
    assert reported(out, "ke-hoach-phat-dong.docx", "'nickname' chưa được định nghĩa"), out
    assert reported(out, "dang-ky-thi-dua.docx", "unknown tag 'frobnicate'"), out
    assert reported(out, "giao-uoc-noi-bo.docx", "'budget'"), out
    assert reported(out, "giao-uoc-thi-dua.docx", "thiếu mốc chữ ký [[sf:ninh-binh:head]]"), out


def test_missing_template_is_reported(cli, tmp_path):
    tpl = copy_templates(tmp_path)
    (tpl / "giao-uoc-noi-bo.docx").unlink()
    result = cli("templates", "check", tpl)
    assert result.code == 1, result.out + result.err
    assert reported(result.out, "giao-uoc-noi-bo.docx", "còn thiếu"), result.out
