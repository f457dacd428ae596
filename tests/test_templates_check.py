"""`signflow templates check` on the shipped templates and on broken ones."""

import shutil

import docx

from .conftest import TEMPLATES


def copy_templates(tmp_path):
    target = tmp_path / "tpl"
    shutil.copytree(TEMPLATES, target, ignore=shutil.ignore_patterns("examples"))
    return target


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
    assert result.code == 1
    out = result.out
    assert "ke-hoach-phat-dong.docx" in out and "nickname" in out
    assert "dang-ky-thi-dua.docx" in out and "frobnicate" in out
    assert "giao-uoc-noi-bo.docx" in out and "budget" in out
    assert "giao-uoc-thi-dua.docx" in out and "[[sf:ninh-binh:head]]" in out


def test_missing_template_is_reported(cli, tmp_path):
    tpl = copy_templates(tmp_path)
    (tpl / "giao-uoc-noi-bo.docx").unlink()
    result = cli("templates", "check", tpl)
    assert result.code == 1
    assert "giao-uoc-noi-bo.docx" in result.out
