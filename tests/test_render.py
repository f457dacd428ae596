"""Rendering one template: escaping, split runs, missing variables, broken inputs."""

import json
import re
import zipfile
from pathlib import Path

import docx
import pytest

from signflow.documents.render import docx_text, render_bytes, render_file
from signflow.errors import TemplateError


@pytest.fixture
def vietnamese(monkeypatch):
    """Messages in Vietnamese, whatever language an earlier test left set."""
    from signflow import i18n

    monkeypatch.setattr(i18n, "_language", "vi")


def make_template(path: Path, paragraphs=(), table_rows=None, split_runs=None) -> Path:
    """A small .docx built with python-docx, as a secretariat would type it in Word."""
    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    if split_runs:
        p = d.add_paragraph()
        for text, style in split_runs:
            run = p.add_run(text)
            run.bold = style == "b"
            run.italic = style == "i"
            run.underline = style == "u"
    if table_rows:
        table = d.add_table(rows=0, cols=len(table_rows[0]))
        for row in table_rows:
            cells = table.add_row().cells
            for cell, text in zip(cells, row, strict=True):
                cell.text = text
    d.save(path)
    return path


def test_values_with_xml_specials_inside_a_table_loop(tmp_path):
    tpl = make_template(
        tmp_path / "t.docx",
        paragraphs=["Tiêu đề: {{ title }}"],
        table_rows=[
            ["STT", "Tên"],
            ["{%tr for p in people %}", ""],
            ["{{ loop.index }}", "{{ p.name }}"],
            ["{%tr endfor %}", ""],
            ["Cuối bảng", "x"],
        ],
    )
    ctx = {
        "title": 'A & B <C> "D"',
        "people": [{"name": "Công ty A & B"}, {"name": "<script>"}, {"name": "Trần 'Út'"}],
    }
    out = render_bytes(tpl, ctx)
    text = docx_text(out)
    d = docx.Document(__import__("io").BytesIO(out))
    table = d.tables[0]
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert cells[1] == ["1", "Công ty A & B"]
    assert cells[2] == ["2", "<script>"]
    assert cells[3] == ["3", "Trần 'Út'"]
    assert cells[4] == ["Cuối bảng", "x"]  # the rest of the table survived
    assert d.paragraphs[0].text == 'Tiêu đề: A & B <C> "D"'
    assert "{%" not in text and "{{" not in text


def test_tags_split_across_runs_with_different_formatting(tmp_path):
    tpl = make_template(
        tmp_path / "split.docx",
        split_runs=[
            ("Đơn vị: ", ""),
            ("{{ ", "b"),
            ("member.", "i"),
            ("unit", "u"),
            (" }}", "b"),
            (" và ", ""),
            ("{", "i"),
            ("{ member.place }", "b"),
            ("}", ""),
        ],
    )
    out = render_bytes(tpl, {"member": {"unit": "Thanh tra tỉnh Hà Nam", "place": "Hà Nam"}})
    para = docx.Document(__import__("io").BytesIO(out)).paragraphs[0].text
    assert para == "Đơn vị: Thanh tra tỉnh Hà Nam và Hà Nam"


def test_missing_variable_names_template_variable_and_text(tmp_path, vietnamese):
    tpl = make_template(
        tmp_path / "ke-hoach.docx",
        paragraphs=[
            "Mở đầu",
            "Kính gửi Chánh Thanh tra {{ member.head.nam }} tỉnh {{ member.place }}",
        ],
    )
    out = tmp_path / "out.docx"
    with pytest.raises(TemplateError) as info:
        render_file(tpl, {"member": {"head": {"name": "X"}, "place": "Hà Nam"}}, out)
    message = info.value.message
    assert "ke-hoach.docx" in message, message
    assert "biến 'nam' chưa được định nghĩa" in message, message
    assert "Kính gửi Chánh Thanh tra" in message, message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tpl]  # no temporary file left behind


def test_missing_top_level_variable(tmp_path, vietnamese):
    tpl = make_template(tmp_path / "a.docx", paragraphs=["Năm {{ year }}"])
    with pytest.raises(TemplateError, match="biến 'year' chưa được định nghĩa"):
        render_bytes(tpl, {})


def test_if_on_missing_name_is_an_error_not_a_blank(tmp_path, vietnamese):
    tpl = make_template(tmp_path / "a.docx", paragraphs=["{% if deputy %}Phó{% endif %}"])
    with pytest.raises(TemplateError, match="biến 'deputy' chưa được định nghĩa"):
        render_bytes(tpl, {})


def test_unknown_tag_is_a_syntax_error(tmp_path):
    tpl = make_template(tmp_path / "a.docx", paragraphs=["{% frobnicate %}"])
    with pytest.raises(TemplateError, match="unknown tag 'frobnicate'"):
        render_bytes(tpl, {})


def test_not_a_docx(tmp_path, vietnamese):
    bogus = tmp_path / "bogus.docx"
    bogus.write_text("this is not a Word document", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"bogus\.docx không phải văn bản Word"):
        render_bytes(bogus, {})


def test_corrupt_docx_zip_without_document(tmp_path, vietnamese):
    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("hello.txt", "no word/document.xml here")
    with pytest.raises(TemplateError, match=r"broken\.docx không phải văn bản Word"):
        render_bytes(broken, {})


def test_truncated_docx(tmp_path, vietnamese):
    good = make_template(tmp_path / "good.docx", paragraphs=["x"])
    data = good.read_bytes()
    truncated = tmp_path / "truncated.docx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(TemplateError, match=r"truncated\.docx không phải văn bản Word"):
        render_bytes(truncated, {})


def test_render_command_merges_data_files_later_wins(cli, tmp_path):
    tpl = make_template(tmp_path / "t.docx", paragraphs=["{{ a }} / {{ b.c }} / {{ b.d }}"])
    first = tmp_path / "one.toml"
    first.write_text('a = "một"\n[b]\nc = "hai"\nd = "ba"\n', encoding="utf-8")
    second = tmp_path / "two.json"
    second.write_text(json.dumps({"b": {"d": "bốn & năm"}}), encoding="utf-8")
    out = tmp_path / "out" / "r.docx"
    result = cli("render", tpl, "--data", first, "--data", second, "--out", out)
    assert result.code == 0, result.err
    assert docx.Document(out).paragraphs[0].text == "một / hai / bốn & năm"


def test_render_command_errors_are_one_line_exit_2(cli, tmp_path):
    tpl = make_template(tmp_path / "t.docx", paragraphs=["{{ a }}"])
    bad = tmp_path / "bad.toml"
    bad.write_text("a = = 1", encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text('a = "x"\n', encoding="utf-8")
    out = tmp_path / "out.docx"
    for args, reason in (
        ((tpl, "--data", bad), "bad.toml: TOML không hợp lệ"),
        ((tpl, "--data", tmp_path / "nope.toml"), "không tìm thấy tệp dữ liệu"),
        # good data, so that the missing template is what is refused
        ((tmp_path / "nope.docx", "--data", good), "không tìm thấy mẫu"),
    ):
        result = cli("render", *args, "--out", out)
        assert result.code == 2, (args, result.err)
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert result.err.startswith("signflow: lỗi:"), result.err
        assert reason in result.err, (reason, result.err)
        assert not out.exists()


def test_existing_output_untouched_when_render_fails(cli, tmp_path):
    tpl = make_template(tmp_path / "t.docx", paragraphs=["{{ missing }}"])
    data = tmp_path / "d.toml"
    data.write_text('a = "x"\n', encoding="utf-8")
    out = tmp_path / "out.docx"
    out.write_bytes(b"previous version")
    result = cli("render", tpl, "--data", data, "--out", out)
    assert result.code == 2, result.err
    assert "biến 'missing' chưa được định nghĩa" in result.err, result.err
    assert out.read_bytes() == b"previous version"


# --- templates are untrusted code (they travel between organisations) ------------------

ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ title.__class__.__base__.__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ self._TemplateReference__context }}",
    "{{ lipsum.__globals__ }}",
    "{{ people.append('x') }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 9 ** 9 ** 9 }}",
]


@pytest.mark.parametrize("tag", ESCAPES)
def test_template_cannot_run_code(cli, tmp_path, monkeypatch, tag):
    """A template that reaches for Python internals is refused with the tag named, exit 2,
    no output written and no command run."""
    monkeypatch.chdir(tmp_path)
    tpl = make_template(tmp_path / "evil.docx", paragraphs=["Kính gửi", tag])
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"title": "x", "people": []}), encoding="utf-8")
    out = tmp_path / "out.docx"
    result = cli("render", tpl, "--data", data, "--out", out)
    assert result.code == 2, result
    assert not (tmp_path / "MARKER").exists(), "the template ran a command"
    assert not out.exists()
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert "evil.docx" in lines[0], lines[0]
    # refused as unsafe, or because the helper it reaches through is not there at all
    # (lipsum): the tag named either way
    first_tag = re.match(r"\{[{%].*?[}%]\}", tag).group(0)
    assert first_tag in lines[0], lines[0]
    assert "từ chối mã mẫu không an toàn" in lines[0] or (
        "chưa được định nghĩa" in lines[0]), lines[0]


def test_unsafe_template_message_names_the_tag(tmp_path):
    tpl = make_template(tmp_path / "evil.docx",
                        paragraphs=["{{ cycler.__init__.__globals__.os.popen('id').read() }}"])
    with pytest.raises(TemplateError) as info:
        render_bytes(tpl, {})
    # either refused as an unsafe attribute or because the helper class is not there at all
    assert "cycler" in info.value.message, info.value.message


def test_unsafe_attribute_on_data_is_refused_with_the_tag(tmp_path):
    tpl = make_template(tmp_path / "evil.docx",
                        paragraphs=["Số {{ title.__class__.__mro__ }}"])
    with pytest.raises(TemplateError) as info:
        render_bytes(tpl, {"title": "x"})
    assert "title.__class__.__mro__" in info.value.message, info.value.message
    assert "không an toàn" in info.value.message or "unsafe" in info.value.message


def test_sandbox_keeps_what_our_templates_use(tmp_path):
    tpl = make_template(tmp_path / "ok.docx", paragraphs=[
        "{% for p in people %}{{ loop.index }}{{ '.' if loop.last else ';' }}{% endfor %}",
        "{{ 'abc'[1] }} {{ range(3)|list|length }} {{ name|upper|replace(' ', '-') }}"])
    text = docx_text(render_bytes(tpl, {"people": [1, 2], "name": "hà nam"}))
    assert "1;2." in text and "b 3 HÀ-NAM" in text
