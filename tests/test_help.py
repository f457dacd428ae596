"""Help and usage errors in the user's language: no English words of click's own in
Vietnamese (headings, placeholders, "[required]", type names), English with --lang en, and
click itself left as it was once a command has run."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import click
import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from update_catalog import CLICK_DEVELOPER_MESSAGES, CLICK_MESSAGES  # noqa: E402

# What click writes by itself when nobody translates it: headings, placeholders built from
# parameter names and types, the notes in brackets.
CLICK_ENGLISH = re.compile(
    r"\b(Usage|Options|Commands|Arguments|Positional|Show this message|Show the version|"
    r"required|default|env var|deprecated|Error|Missing|Invalid value|No such|Try|"
    r"COMMAND|ARGS|OPTIONS|TEXT|INTEGER|FLOAT|PATH|FILE|DIRECTORY|RANGE|BOOLEAN|UUID|"
    r"FILENAME|PDFS|PKI_DIR|FOLDER|TEMPLATE|ROSTER_PATH|TEMPLATES_DIR|FILES)\b")
VIETNAMESE_LETTERS = re.compile("[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợ"
                                "ùúủũụừứửữựỳýỷỹỵ]")


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and subcommand, the group itself first."""
    found = [path]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += command_paths(command.commands[name], (*path, name))
    return found


def the_commands() -> click.Group:
    from signflow.cli.commands import cli

    return cli


def leaf(path: tuple[str, ...]) -> click.Command:
    command: click.Command = the_commands()
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


ALL = command_paths(the_commands())


def test_every_command_is_walked():
    names = {" ".join(p) for p in ALL}
    assert {"", "sign", "verify", "status", "log", "keys serve", "roster pin",
            "templates check"} <= names, names


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "signflow")
def test_help_in_vietnamese_has_no_english_of_clicks(cli, path):
    result = cli(*path, "--help")
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith(f"Cách dùng: signflow {' '.join(path)}".rstrip()), text
    assert "Tùy chọn:" in text and "--help" in text, text
    described = text.split("\n\n", 2)[1].strip() if "\n\n" in text else ""
    assert described and not described.startswith("Tùy chọn"), \
        f"no description: {text}"
    english = sorted(set(CLICK_ENGLISH.findall(text)))
    assert not english, f"`signflow {' '.join(path)} --help`: {english}\n{text}"
    if isinstance(leaf(path), click.Group):
        assert "Lệnh:" in text and "LỆNH [ĐỐI_SỐ]..." in text, text


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "signflow")
def test_help_in_english_is_english(cli, path):
    result = cli("--lang", "en", *path, "--help")
    assert result.code == 0, result.err
    text = result.out
    assert text.startswith("Usage: signflow"), text
    assert "[OPTIONS]" in text and "Options:" in text and "Show this message" in text, text
    assert not VIETNAMESE_LETTERS.search(text), text
    if isinstance(leaf(path), click.Group):
        assert "Commands:" in text and "COMMAND [ARGS]..." in text, text


def test_languages_can_follow_each_other_in_one_process(cli):
    """The help texts are built when the commands are defined: a change of language
    defines them again."""
    assert cli("sign", "--help").out.startswith("Cách dùng: signflow sign [TÙY_CHỌN] TỆP_PDF")
    english = cli("--lang", "en", "sign", "--help").out
    assert english.startswith("Usage: signflow sign [OPTIONS] PDF..."), english
    assert "Member id of the signer (a department's" in english and "[required]" in english, \
        english
    again = cli("sign", "--help").out
    assert "Mã đơn vị của người ký (trưởng một phòng" in again and "[bắt buộc]" in again, again


def usage_error_cases() -> list[tuple[str, ...]]:
    """A command line click refuses, for every command: an unknown option; for commands
    with a required argument or option, nothing at all."""
    cases = []
    for path in ALL:
        cases.append((*path, "--no-such-option"))
        command = leaf(path)
        if not isinstance(command, click.Group) and any(p.required for p in command.params):
            cases.append(path)
    return cases


@pytest.mark.parametrize("args", usage_error_cases(), ids=" ".join)
def test_usage_errors_are_one_vietnamese_line(cli, args):
    result = cli(*args)
    assert result.code == 2, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("signflow: lỗi: "), result.err
    assert "(xem: signflow" in lines[0], lines[0]
    english = sorted(set(CLICK_ENGLISH.findall(lines[0].replace("--no-such-option", ""))))
    assert not english, lines[0]
    assert VIETNAMESE_LETTERS.search(lines[0]), lines[0]
    english_result = cli("--lang", "en", *args)
    assert english_result.err.startswith("signflow: error: "), english_result.err
    assert not VIETNAMESE_LETTERS.search(english_result.err), english_result.err


@pytest.mark.parametrize("args, words", [
    (("convert", "a.docx", "--out", "o", "--jobs", "x"), "'x' không phải số nguyên"),
    (("convert", "a.docx", "--out", "o", "--jobs", "99"), "99 không nằm trong khoảng"),
    (("sign", "a.pdf", "--role", "boss"), "'boss' không phải một trong các giá trị 'head', 'seal'"),
    (("sign", "a.pdf", "--rol", "head"), "Có phải ý bạn là"),
    (("prepare",), "Thiếu đối số 'TỆP_PDF...'"),
    (("sign", "a.pdf"), "Thiếu tùy chọn '--roster'"),
    (("keys", "serve"), "Thiếu đối số 'THƯ_MỤC_PKI'"),
    (("frobnicate",), "Không có lệnh 'frobnicate'"),
])
def test_usage_errors_say_what_is_wrong_in_vietnamese(cli, args, words):
    result = cli(*args)
    assert result.code == 2 and words in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


def test_version_in_vietnamese(cli):
    assert cli("--version").out.startswith("signflow, phiên bản ")
    assert cli("--lang", "en", "--version").out.startswith("signflow, version ")


def test_click_is_left_as_it_was(cli):
    """click's own gettext is used again by anyone else once a command has run."""
    import gettext

    import click.core
    import click.exceptions
    import click.formatting

    cli("sign", "--help")
    cli("sign")
    for module in (click.core, click.exceptions, click.formatting):
        assert module._ is gettext.gettext, module  # type: ignore[attr-defined]
    assert click.core.ngettext is gettext.ngettext  # type: ignore[attr-defined]


def _click_messages() -> set[str]:
    """The messages of click's modules that signflow routes through its catalogue."""
    from signflow.cli import _CLICK_MODULES

    folder = Path(click.__file__).parent
    found: set[str] = set()
    for name in _CLICK_MODULES:
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in ("_", "ngettext"):
                for arg in node.args[:1 if node.func.id == "_" else 2]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.add(arg.value)
    return found


def test_every_message_of_clicks_is_translated_or_meant_for_programmers():
    """A new click version with new messages fails here until they are in the catalogue
    (tools/update_catalog.py: CLICK_MESSAGES) or known to be for programmers only."""
    unknown = _click_messages() - set(CLICK_MESSAGES) - set(CLICK_DEVELOPER_MESSAGES)
    assert not unknown, sorted(unknown)
