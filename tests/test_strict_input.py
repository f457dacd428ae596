"""Strict input (issue 12.4): limits, wrong types, contradictions and misspellings are
refused with one clear line naming the file and the key; a seeded fuzz of rosters, data
files and option values never reaches an internal error or a traceback."""

from __future__ import annotations

import json
import random
import shutil
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from signflow.errors import InputError
from signflow.roster import load_roster

from .conftest import DATA, ROSTER

INTERNAL_ERROR_MARKS = ("Traceback", "lỗi nội bộ", "internal error")


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def assert_clean_refusal(result, *expected: str) -> None:
    """Exit 2, and stderr is one error line (plus roster detail lines), naming what."""
    assert result.code == 2, (result.code, result.err)
    lines = result.err.splitlines()
    assert lines and lines[0].startswith("signflow: lỗi:"), result.err
    assert all(line.startswith("  ") for line in lines[1:]), result.err
    for mark in INTERNAL_ERROR_MARKS:
        assert mark not in result.err, result.err
    for text in expected:
        assert text in result.err, (text, result.err)


def test_a_roster_nested_5000_levels_is_refused_by_every_command(cli, tmp_path, pdf_pack):
    deep = "[cluster]\nname = " + "[" * 5000 + "]" * 5000 + "\n"
    roster = _write(tmp_path, "roster.toml", deep)
    pdf = pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf"
    for args in (
        ("generate", "--roster", roster, "--data", DATA, "--out", tmp_path / "o", "--no-pdf"),
        ("status", pdf, "--roster", roster),
        ("verify", pdf, "--roster", roster),
        ("sign", pdf, "--roster", roster, "--member", "ninh-binh", "--pkcs12", roster),
    ):
        assert_clean_refusal(cli(*args), "roster.toml", "lồng nhau quá sâu")
    assert not (tmp_path / "o").exists()


def test_deep_nesting_within_the_parser_limit_is_refused_too(cli, tmp_path):
    """500 levels parse without exhausting the stack, and are still refused (limit 16)."""
    data = _write(tmp_path, "data.json", '{"shared": ' + "[" * 500 + "]" * 500 + "}")
    result = cli("generate", "--roster", ROSTER, "--data", data, "--out", tmp_path / "o",
                 "--no-pdf")
    assert_clean_refusal(result, "data.json", "lồng nhau quá sâu")


def test_a_date_time_where_a_date_belongs(cli, tmp_path):
    text = ROSTER.read_text(encoding="utf-8")
    roster = _write(tmp_path, "roster.toml",
                    text.replace('date = 2019-03-15', 'date = 2019-03-15T08:00:00+07:00'))
    assert roster.read_text(encoding="utf-8") != text, "the example roster changed its date"
    result = cli("generate", "--roster", roster, "--data", DATA, "--out", tmp_path / "o",
                 "--no-pdf")
    assert_clean_refusal(result, "cluster.date", "ngày không kèm giờ")

    data = _write(tmp_path, "data.toml", DATA.read_text(encoding="utf-8") +
                  '\n[members."ninh-binh"."ke-hoach-phat-dong"]\ndate = 2019-03-20T09:00:00\n')
    result = cli("generate", "--roster", ROSTER, "--data", data, "--out", tmp_path / "o",
                 "--no-pdf", "--only", "ke-hoach-phat-dong", "--member", "ninh-binh")
    assert_clean_refusal(result, "ke-hoach-phat-dong.date", "ngày không kèm giờ")


def test_one_certificate_pinned_for_two_signers_is_a_contradiction(tmp_path, monkeypatch):
    from signflow import i18n

    monkeypatch.setattr(i18n, "_language", "vi")  # whatever an earlier test left set
    sha = "ab" * 32
    text = ROSTER.read_text(encoding="utf-8")
    text = text.replace('head.name = "Bùi Thị Yến"',
                        f'head.name = "Bùi Thị Yến"\nhead.certificate = {{ sha256 = "{sha}" }}')
    text = text.replace('id = "ninh-binh"',
                        f'id = "ninh-binh"\nseal_certificate = {{ sha256 = "{sha}" }}')
    roster = _write(tmp_path, "roster.toml", text)
    with pytest.raises(InputError) as caught:
        load_roster(roster)
    assert any("đã được ghim cho ninh-binh (con dấu)" in d for d in caught.value.details), \
        caught.value.details


@pytest.mark.parametrize("subject", [",", " ; ", "O=Thanh tra tỉnh Quảng Ninh", "Bùi Thị Yến"])
def test_a_pin_subject_that_names_nobody_is_refused(tmp_path, subject):
    """An empty subject would match every certificate; one without CN anybody in the unit."""
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"',
        f'head.name = "Bùi Thị Yến"\nhead.certificate = {{ subject = "{subject}" }}')
    with pytest.raises(InputError) as caught:
        load_roster(_write(tmp_path, "roster.toml", text))
    assert any("head.certificate.subject" in d for d in caught.value.details), \
        caught.value.details


def test_an_unknown_data_section_is_refused_with_a_did_you_mean(cli, tmp_path):
    text = DATA.read_text(encoding="utf-8")
    data = _write(tmp_path, "data.toml", text + '\n["giao-uoc-thi-dau"]\ntitle = "x"\n')
    result = cli("generate", "--roster", ROSTER, "--data", data, "--out", tmp_path / "o",
                 "--no-pdf")
    assert_clean_refusal(result, "[giao-uoc-thi-dau]", "giao-uoc-thi-dua?")
    data = _write(tmp_path, "data.toml", text + '\n["bogus-kind"]\ntitle = "x"\n')
    assert_clean_refusal(cli("generate", "--roster", ROSTER, "--data", data, "--out",
                             tmp_path / "o", "--no-pdf"), "[bogus-kind]")
    data = _write(tmp_path, "data.toml",
                  text + '\n[members."ninh-binh"."dang-ky-thi-du"]\ntitle = "x"\n')
    assert_clean_refusal(cli("generate", "--roster", ROSTER, "--data", data, "--out",
                             tmp_path / "o", "--no-pdf"), "dang-ky-thi-dua?")
    data = _write(tmp_path, "data.toml", text + '\n[members."ninh-bihn"]\n')
    assert_clean_refusal(cli("generate", "--roster", ROSTER, "--data", data, "--out",
                             tmp_path / "o", "--no-pdf"), "ninh-bihn", "ninh-binh?")
    assert not (tmp_path / "o").exists()


def test_a_shared_section_is_known(cli, tmp_path):
    data = _write(tmp_path, "data.toml",
                  DATA.read_text(encoding="utf-8") + '\n[shared]\nmotto = "Thi đua"\n')
    result = cli("generate", "--roster", ROSTER, "--data", data, "--out", tmp_path / "o",
                 "--no-pdf", "--only", "giao-uoc-thi-dua")
    assert result.code == 0, result.err


@pytest.mark.parametrize("content", [
    b"root:x:0:0:root:/root:/bin/bash\n",              # /etc/passwd-like text
    b"\x89PNG\r\n\x1a\n",                               # a PNG signature, nothing after
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",                 # a JPEG header
])
def test_images_are_checked_as_png_when_the_roster_loads(cli, tmp_path, content):
    image = _write(tmp_path, "chu-ky.png", content)
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"', f'head.name = "Bùi Thị Yến"\nsignature_image = "{image}"')
    roster = _write(tmp_path, "roster.toml", text)
    result = cli("status", "--roster", roster, roster)
    assert_clean_refusal(result, "signature_image", "PNG")


def test_etc_passwd_as_a_signature_image(cli, tmp_path):
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"', 'head.name = "Bùi Thị Yến"\nsignature_image = "/etc/passwd"')
    roster = _write(tmp_path, "roster.toml", text)
    assert_clean_refusal(cli("status", "--roster", roster, roster),
                         "/etc/passwd không phải ảnh PNG")


def test_a_real_png_is_accepted(tmp_path):
    Image.new("RGBA", (300, 120), (0, 0, 160, 255)).save(tmp_path / "chu-ky.png")
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"', 'head.name = "Bùi Thị Yến"\nsignature_image = "chu-ky.png"')
    roster = load_roster(_write(tmp_path, "roster.toml", text))
    assert roster.member("quang-ninh").signature_image == tmp_path / "chu-ky.png"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_nan_and_infinities_are_refused_in_files(cli, tmp_path, value):
    text = ROSTER.read_text(encoding="utf-8").replace(
        'head.name = "Bùi Thị Yến"', f'head.name = "Bùi Thị Yến"\nseal_diameter_mm = {value}')
    roster = _write(tmp_path, "roster.toml", text)
    assert_clean_refusal(cli("status", "--roster", roster, roster), "seal_diameter_mm")
    data = _write(tmp_path, "data.toml",
                  DATA.read_text(encoding="utf-8").replace("signature_columns = 2",
                                                           f"signature_columns = {value}"))
    assert_clean_refusal(cli("generate", "--roster", ROSTER, "--data", data, "--out",
                             tmp_path / "o", "--no-pdf"), "signature_columns")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_literals_are_refused(cli, tmp_path, literal):
    data = _write(tmp_path, "data.json", f'{{"signature_columns": {literal}}}')
    assert_clean_refusal(cli("generate", "--roster", ROSTER, "--data", data, "--out",
                             tmp_path / "o", "--no-pdf"), "data.json", literal)


@pytest.mark.parametrize("args", [
    ("convert", "x.docx", "--out", "o", "--timeout", "nan"),
    ("convert", "x.docx", "--out", "o", "--timeout", "inf"),
    ("convert", "x.docx", "--out", "o", "--timeout", "-inf"),
    ("convert", "x.docx", "--out", "o", "--jobs", "nan"),
    ("sign", "x.pdf", "--roster", "r", "--member", "m", "--slot", "inf"),
    ("verify", "x.pdf", "--at", "nan"),
    ("keys", "demo", "--roster", "r", "--out", "o", "--valid-days", "nan"),
])
def test_nan_and_infinities_are_refused_by_options(cli, args):
    result = cli(*args)
    assert result.code == 2, result
    assert len(result.err.splitlines()) == 1, result.err
    for mark in INTERNAL_ERROR_MARKS:
        assert mark not in result.err, result.err
    # refused for the value of that option, not for the file that does not exist
    option, value = args[-2:]
    assert option in result.err and value in result.err, result.err


def test_a_too_large_roster_is_refused(cli, tmp_path):
    roster = _write(tmp_path, "roster.toml", ROSTER.read_text(encoding="utf-8") +
                    "# " + "x" * (5 * 1024 * 1024) + "\n")
    assert_clean_refusal(cli("status", "--roster", roster, roster), "quá lớn")


# --- the seeded fuzz -------------------------------------------------------------------

FUZZ_SEED = 20191212
FUZZ_VALUES = [
    "nan", "inf", "-inf", "1e309", "-1", "0", "99999999999999999999", "true", "[]", "{}",
    '""', '" "', '"\\u0000"', "1979-05-27T07:32:00Z", "07:32:00", "2019-02-30",
    '"/etc/passwd"', '"../../../../etc/shadow"', '"' + "ẽ" * 20000 + '"',
    "[" * 3000 + "]" * 3000, "{a = " * 40 + "1" + "}" * 40, '[1, "a", 2.5]',
    '{ sha256 = "zz", subject = "," }', '{ sha256 = "' + "ab" * 32 + '" }',
    '"CN=,O="', '"ninh-binh"', '"quang-ninh"', '"x"',
]


def _mutate_toml(text: str, rng: random.Random) -> str | bytes:
    lines = text.splitlines()
    for _step in range(rng.randint(1, 3)):
        op = rng.randrange(9)
        i = rng.randrange(len(lines))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])  # duplicate keys and tables
        elif op in (2, 3, 4) and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {rng.choice(FUZZ_VALUES)}"
        elif op == 5 and "=" in lines[i]:
            key, value = lines[i].split("=", 1)
            lines[i] = f"{key.rstrip()[:-1] or 'k'}x ={value}"  # a misspelt key
        elif op == 6:
            lines.insert(i, rng.choice(['["bogus-kind"]', "[members.nobody]", "[cluster]",
                                        "[[members]]", '[members."ninh-binh".bogus]', "[shared]"]))
        elif op == 7:
            cut = "\n".join(lines)
            return cut[: rng.randrange(len(cut))]
        else:
            raw = "\n".join(lines).encode("utf-8")
            at = rng.randrange(len(raw))
            return raw[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + \
                raw[at:]
    return "\n".join(lines) + "\n"


def _mutate_json(value: object, rng: random.Random) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    choice = rng.randrange(4)
    if choice == 0:
        return text.replace("2", "NaN", 1)
    if choice == 1:
        return '{"shared": ' + "[" * rng.randint(20, 50000) + "]" * 50000 + "}"
    if choice == 2:
        return text[: rng.randrange(len(text))]
    return "[" + text + "]"


FUZZ_OPTIONS = [
    ("convert", "{doc}", "--out", "{tmp}/c", "--timeout", "{value}"),
    ("convert", "{doc}", "--out", "{tmp}/c", "--jobs", "{value}"),
    ("verify", "{pdf}", "--at", "{value}"),
    ("verify", "{pdf}", "--trust", "{value}"),
    ("verify", "{value}"),
    ("status", "{value}"),
    ("status", "{pdf}", "--roster", "{value}"),
    ("sign", "{pdf}", "--roster", "{roster}", "--member", "{value}", "--pkcs12", "{roster}"),
    ("sign", "{pdf}", "--roster", "{roster}", "--member", "ninh-binh", "--level", "{value}"),
    ("sign", "{pdf}", "--roster", "{roster}", "--member", "ninh-binh", "--slot", "{value}",
     "--pkcs11-lib", "/nonexistent.so"),
    ("sign", "{pdf}", "--roster", "{roster}", "--member", "ninh-binh", "--pkcs12", "{value}"),
    ("log", "--ledger", "{value}", "--verify"),
    ("generate", "--roster", "{roster}", "--data", "{value}", "--out", "{tmp}/g"),
    ("generate", "--roster", "{roster}", "--data", "{data}", "--out", "{tmp}/g",
     "--member", "{value}"),
    ("templates", "check", "--roster", "{value}"),
    ("render", "{value}", "--data", "{data}", "--out", "{tmp}/r.docx"),
]
FUZZ_OPTION_VALUES = [
    "nan", "inf", "-inf", "-1", "0", "1e400", "", " ", "\x00", "ẽ" * 5000, "/", "/etc/passwd",
    "/dev/null", "/proc/self/mem", "../../..", "--", "-", "--help=x", "2019-13-45",
    "9999-12-31T23:59:59", "0001-01-01", "B-X", "0x10", "1_000", "１２", "%s%n", "{}",
    "'; DROP TABLE events; --",
]


def test_fuzz_rosters_data_and_options_never_reach_an_internal_error(cli, tmp_path, pdf_pack):
    rng = random.Random(FUZZ_SEED)
    roster_text = ROSTER.read_text(encoding="utf-8")
    data_text = DATA.read_text(encoding="utf-8")
    data_value = tomllib.loads(data_text)
    pdf = tmp_path / "doc.pdf"
    shutil.copyfile(pdf_pack / "ha-nam" / "ke-hoach-phat-dong-ha-nam-2019.pdf", pdf)
    doc = _write(tmp_path, "doc.docx", b"PK\x03\x04 not really")
    cases: list[tuple[str, tuple[str, ...]]] = []
    for n in range(150):
        roster = _write(tmp_path, f"roster-{n}.toml", _mutate_toml(roster_text, rng))
        command = rng.choice([
            ("generate", "--roster", str(roster), "--data", str(DATA), "--out",
             str(tmp_path / f"g{n}"), "--no-pdf", "--only", "giao-uoc-thi-dua"),
            ("status", str(pdf), "--roster", str(roster)),
            ("verify", str(pdf), "--roster", str(roster)),
            ("templates", "check", "--roster", str(roster)),
        ])
        cases.append((f"roster-{n}", command))
    for n in range(100):
        if rng.random() < 0.3:
            data = _write(tmp_path, f"data-{n}.json", _mutate_json(data_value, rng))
        else:
            data = _write(tmp_path, f"data-{n}.toml", _mutate_toml(data_text, rng))
        cases.append((f"data-{n}", ("generate", "--roster", str(ROSTER), "--data", str(data),
                                    "--out", str(tmp_path / f"d{n}"), "--no-pdf", "--member",
                                    "ninh-binh")))
    for n in range(100):
        template = rng.choice(FUZZ_OPTIONS)
        value = rng.choice(FUZZ_OPTION_VALUES)
        args = tuple(a.format(tmp=tmp_path, pdf=pdf, doc=doc, roster=ROSTER, data=DATA,
                              value=value) for a in template)
        cases.append((f"option-{n}", args))

    outcomes: dict[int, int] = {}
    for name, args in cases:
        result = cli(*args)
        outcomes[result.code] = outcomes.get(result.code, 0) + 1
        for mark in INTERNAL_ERROR_MARKS:
            assert mark not in result.err, (name, args[:6], result.err[-2000:])
        assert result.code in (0, 1, 2), (name, result.code)
        if result.code == 2 and result.err:
            first = result.err.splitlines()[0]
            assert first.startswith("signflow: lỗi:"), (name, args[:6], result.err[-2000:])
        elif result.code == 2:  # status and verify report a file's error in their output
            assert args[0] in ("status", "verify") and result.out.strip(), \
                (name, args[:6], result.out[-2000:])
        assert result.code != 2 or (result.err + result.out).strip(), (name, "said nothing")
    # the fuzz must mostly exercise refusals, and some mutations stay valid input
    assert outcomes.get(2, 0) > len(cases) // 2, outcomes
    assert outcomes.get(0, 0) > 0, outcomes
