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


def test_the_compiled_catalogue_says_what_the_po_says():
    """signflow reads the .mo at run time: it must hold exactly the .po's translations
    (tools/update_catalog.py compiles it; after editing the .po by hand, run it again)."""
    import gettext

    po_path = catalog_path("vi")
    shipped = po_path.with_suffix(".mo")
    assert shipped.is_file(), f"{shipped} is missing: run tools/update_catalog.py"
    expected = {e.msgid: e.msgstr for e in polib.pofile(str(po_path)) if e.translated()}
    shipped_entries = {e.msgid: e.msgstr for e in polib.mofile(str(shipped)) if e.msgid}
    stale = sorted(m for m in expected.keys() | shipped_entries.keys()
                   if expected.get(m) != shipped_entries.get(m))
    assert not stale, f"the .mo differs from the .po (run tools/update_catalog.py): {stale[:5]}"
    # and what the run time reads from it (gettext): every translation
    with shipped.open("rb") as f:
        translations = gettext.GNUTranslations(f)
    wrong = [m for m, text in expected.items() if m and translations.gettext(m) != text]
    assert not wrong, f"gettext reads other texts from the .mo: {wrong[:5]}"


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
