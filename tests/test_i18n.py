"""Messages: Vietnamese by default, English on request; the catalogue is complete."""

import re
import string
import subprocess
import sys

import polib

from signflow.i18n import catalog_path, language_from_environment

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from update_catalog import CLICK_MESSAGES, extract, source_files  # noqa: E402


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def test_every_message_has_a_vietnamese_translation():
    po = {e.msgid: e.msgstr for e in polib.pofile(str(catalog_path("vi")))}
    messages = set(extract(source_files())) | set(CLICK_MESSAGES)
    missing = sorted(m for m in messages if not po.get(m))
    assert not missing, f"untranslated (run tools/update_catalog.py): {missing}"
    for msgid in messages:
        assert fields(po[msgid]) == fields(msgid), (msgid, po[msgid])


def test_language_from_environment():
    assert language_from_environment({}) == "vi"
    assert language_from_environment({"LANG": "C.UTF-8"}) == "vi"
    assert language_from_environment({"LANG": "vi_VN.UTF-8"}) == "vi"
    assert language_from_environment({"LANG": "en_US.UTF-8"}) == "en"
    assert language_from_environment({"LANG": "fr_FR.UTF-8"}) == "en"
    assert language_from_environment({"LANG": "en_US.UTF-8", "SIGNFLOW_LANG": "vi"}) == "vi"


def test_lang_option_switches_to_english(cli, tmp_path):
    result = cli("--lang", "en", "generate", "--roster", tmp_path / "nope.toml",
                 "--data", tmp_path / "d.toml", "--out", tmp_path)
    assert result.code == 2, result.err
    assert result.err.startswith("signflow: error: roster not found"), result.err
    result = cli("generate", "--roster", tmp_path / "nope.toml", "--data", tmp_path / "d.toml",
                 "--out", tmp_path)
    assert result.code == 2, result.err
    assert result.err.startswith("signflow: lỗi: không tìm thấy danh sách thành viên"), \
        result.err


def test_console_script_help_in_vietnamese_without_traceback():
    exe = ROOT / ".venv" / "bin" / "signflow"
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=env,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "Cách dùng:" in result.stdout and "Tùy chọn" in result.stdout, result.stdout
    result = subprocess.run([str(exe), "generate", "--bogus"], capture_output=True, text=True,
                            env=env, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert re.search("Không có tùy chọn", result.stderr) and "--bogus" in result.stderr, \
        result.stderr
