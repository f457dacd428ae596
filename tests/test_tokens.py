"""USB tokens, with SoftHSM2 standing in: two tokens behind one module (two slots), keys
found by their certificate without labels, `signflow keys list`, and a message for every
way a token fails (wrong key label, wrong PIN, a PIN pad the token does not have, a locked
PIN, a token pulled out while signing), each saying what to do."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, ROSTER, require_tool

SIGNFLOW = str(ROOT / ".venv" / "bin" / "signflow")
SECOND_TOKEN = "token-hai"
SECOND_PIN = "2468-1357"


@pytest.fixture(scope="module")
def two_tokens(tmp_path_factory):
    """One SoftHSM2 folder with two tokens: the demo token with ha-nam's keys, and a
    second one with nam-dinh's keys and its own PIN."""
    require_tool("softhsm2-util")
    from signflow.demo.pki import create_demo_pki
    from signflow.roster import load_roster

    base = tmp_path_factory.mktemp("tokens")
    pki = create_demo_pki(load_roster(ROSTER), base / "pki", softhsm_members=["ha-nam"])
    assert pki.softhsm is not None
    env = {**os.environ, "SOFTHSM2_CONF": str(pki.softhsm.conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", SECOND_TOKEN,
                    "--pin", SECOND_PIN, "--so-pin", "9753-8642"], env=env, check=True,
                   capture_output=True, timeout=60)
    objects = [{"label": f"nd-{role}", "id": f"5{i}", "key": str(pki.credential("nam-dinh",
                                                                              role).key_pem),
                "cert": str(pki.credential("nam-dinh", role).cert_pem)}
               for i, role in enumerate(("head", "seal"))]
    request = {"module": str(pki.softhsm.module), "token": SECOND_TOKEN, "pin": SECOND_PIN,
               "objects": objects}
    done = subprocess.run([sys.executable, "-c", "from signflow.demo.softhsm import "
                           "_token_import_main; _token_import_main()"],
                          input=json.dumps(request), env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return pki


def _run(pki, *args, pin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SOFTHSM2_CONF": str(pki.softhsm.conf), "SIGNFLOW_LANG": "vi"}
    env.pop("SIGNFLOW_PIN", None)
    if pin is not None:
        env["SIGNFLOW_PIN"] = pin
    return subprocess.run([SIGNFLOW, *map(str, args)], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=300)


def _doc(pdf_pack: Path, tmp_path: Path, member: str) -> Path:
    target = tmp_path / f"dk-{member}.pdf"
    shutil.copyfile(pdf_pack / member / f"dang-ky-thi-dua-{member}-2019.pdf", target)
    return target


def test_keys_list_shows_both_tokens_and_whose_each_key_is(two_tokens):
    pki = two_tokens
    result = _run(pki, "keys", "list", "--pkcs11-lib", pki.softhsm.module, "--roster",
                  pki.roster_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"«{pki.softhsm.token_label}»" in out and f"«{SECOND_TOKEN}»" in out, out
    assert "Lê Thị Thu Hường" in out and "Trần Quốc Việt" in out, out
    assert "Hà Nam (Chánh Thanh tra)" in out or "Hà Nam (người đứng đầu)" in out or \
        "Hà Nam (" in out, out
    assert "Nam Định (" in out, out
    assert "5" + "0" in out and "51" in out, "the key ids are listed"


def test_keys_are_found_without_labels_on_whichever_token_holds_them(two_tokens, pdf_pack,
                                                                      tmp_path):
    pki = two_tokens
    for member, pin in (("ha-nam", pki.softhsm.pin()), ("nam-dinh", SECOND_PIN)):
        pdf = _doc(pdf_pack, tmp_path, member)
        for role in ("head", "seal"):
            if role == "seal":  # the clerical office's number and date come first
                numbered = _run(pki, "number", pdf, "--roster", pki.roster_path)
                assert numbered.returncode == 0, numbered.stderr
            result = _run(pki, "sign", pdf, "--roster", pki.roster_path, "--member", member,
                          "--role", role, "--pkcs11-lib", pki.softhsm.module, pin=pin)
            assert result.returncode == 0, f"{member} {role}: {result.stderr}"
            assert pin not in result.stdout + result.stderr


def test_a_key_label_without_a_token_on_a_two_token_module_names_the_tokens(two_tokens,
                                                                            pdf_pack, tmp_path):
    pki = two_tokens
    pdf = _doc(pdf_pack, tmp_path, "ha-nam")
    before = pdf.read_bytes()
    result = _run(pki, "sign", pdf, "--roster", pki.roster_path, "--member", "ha-nam",
                  "--pkcs11-lib", pki.softhsm.module, "--key-label", "ha-nam-head",
                  pin=pki.softhsm.pin())
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"«{SECOND_TOKEN}»" in lines[0] and "--token-label" in lines[0], lines[0]
    assert "PKCS11Error" not in lines[0], "the cause must be said in words"
    assert pdf.read_bytes() == before


def test_a_mistyped_key_label_says_which_key_and_where_to_look(two_tokens, pdf_pack, tmp_path):
    pki = two_tokens
    pdf = _doc(pdf_pack, tmp_path, "ha-nam")
    result = _run(pki, "sign", pdf, "--roster", pki.roster_path, "--member", "ha-nam",
                  "--pkcs11-lib", pki.softhsm.module, "--token-label",
                  pki.softhsm.token_label, "--key-label", "ha-nam-haed", pin=pki.softhsm.pin())
    assert result.returncode == 2, result
    assert "«ha-nam-haed»" in result.stderr and "keys list" in result.stderr, result.stderr


def test_a_wrong_pin_is_refused_by_the_token_and_nothing_is_signed(two_tokens, pdf_pack,
                                                                   tmp_path):
    pki = two_tokens
    pdf = _doc(pdf_pack, tmp_path, "nam-dinh")
    before = pdf.read_bytes()
    result = _run(pki, "sign", pdf, "--roster", pki.roster_path, "--member", "nam-dinh",
                  "--pkcs11-lib", pki.softhsm.module, pin="0000-0000")
    assert result.returncode == 2, result
    assert f"«{SECOND_TOKEN}»" in result.stderr and "PIN" in result.stderr, result.stderr
    assert "0000-0000" not in result.stderr
    assert pdf.read_bytes() == before


def test_a_pin_pad_the_token_does_not_have(two_tokens, pdf_pack, tmp_path):
    pki = two_tokens
    pdf = _doc(pdf_pack, tmp_path, "ha-nam")
    result = _run(pki, "sign", pdf, "--roster", pki.roster_path, "--member", "ha-nam",
                  "--pkcs11-lib", pki.softhsm.module, "--pinpad")
    assert result.returncode == 2, result
    assert "--pinpad" in result.stderr and f"«{pki.softhsm.token_label}»" in result.stderr, \
        result.stderr


def test_no_pin_and_no_terminal_names_the_token_and_the_person(two_tokens, pdf_pack, tmp_path):
    pki = two_tokens
    pdf = _doc(pdf_pack, tmp_path, "nam-dinh")
    result = _run(pki, "sign", pdf, "--roster", pki.roster_path, "--member", "nam-dinh",
                  "--pkcs11-lib", pki.softhsm.module)
    assert result.returncode == 2, result
    assert f"«{SECOND_TOKEN}»" in result.stderr and "Trần Quốc Việt" in result.stderr, \
        result.stderr
    assert "SIGNFLOW_PIN" in result.stderr, result.stderr


def test_the_pin_prompt_says_which_token_whose_key_and_how_many_documents(two_tokens,
                                                                          pdf_pack, tmp_path):
    """A real terminal (a pseudo-terminal): the prompt is read, the PIN typed, not echoed."""
    pki = two_tokens
    docs = []
    for kind in ("dang-ky-thi-dua", "ke-hoach-phat-dong"):  # two documents, one login
        docs.append(tmp_path / f"{kind}.pdf")
        shutil.copyfile(pdf_pack / "nam-dinh" / f"{kind}-nam-dinh-2019.pdf", docs[-1])
    env = {**os.environ, "SOFTHSM2_CONF": str(pki.softhsm.conf), "SIGNFLOW_LANG": "vi"}
    env.pop("SIGNFLOW_PIN", None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: signflow on the terminal
        os.execve(SIGNFLOW, [SIGNFLOW, "sign", *map(str, docs), "--roster",
                             str(pki.roster_path), "--member", "nam-dinh", "--pkcs11-lib",
                             str(pki.softhsm.module)], env)
    seen = b""
    deadline = time.monotonic() + 120
    typed = False
    while time.monotonic() < deadline:
        ready, _w, _x = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not typed and b":" in seen.split(b"PIN", 1)[-1] and b"PIN" in seen:
            os.write(fd, SECOND_PIN.encode() + b"\n")
            typed = True
    _pid, status = os.waitpid(pid, 0)
    text = seen.decode("utf-8", "replace")
    assert typed, f"no PIN prompt appeared: {text!r}"
    assert f"«{SECOND_TOKEN}»" in text and "Trần Quốc Việt" in text and "2 văn bản" in text, text
    assert SECOND_PIN not in text, "the PIN was echoed"
    assert os.waitstatus_to_exitcode(status) == 0, text


def test_a_locked_pin_says_how_to_unlock_it(pdf_pack, demo_pki, tmp_path, monkeypatch):
    """SoftHSM2 never locks a PIN (it counts no wrong tries), so the token's CKR_PIN_LOCKED
    answer cannot be produced on this machine: pyHanko's session opener is replaced by one
    raising python-pkcs11's PinLocked, the exception a locked token gives."""
    import pkcs11
    from pyhanko.sign import pkcs11 as hanko_p11

    from signflow.errors import SigningError
    from signflow.signing.credentials import open_pkcs11

    def locked(*_args, **_kwargs):
        raise pkcs11.PinLocked()

    from signflow.demo.softhsm import activate_softhsm

    activate_softhsm(demo_pki.softhsm)
    monkeypatch.setattr(hanko_p11, "open_pkcs11_session", locked)
    with pytest.raises(SigningError) as caught, open_pkcs11(
            demo_pki.softhsm.module, token_label=demo_pki.softhsm.token_label,
            key_label="ha-nam-head", pin="1111"):
        pass
    message = caught.value.message
    assert "khóa" in message and "mở khóa" in message, message


def test_a_token_pulled_out_while_signing_leaves_the_rest_unsigned(tmp_path_factory, pdf_pack,
                                                                   tmp_path):
    """The token's folder is deleted between two documents of one signing call: SoftHSM
    then answers as a removed token does (the key's handle is gone)."""
    require_tool("softhsm2-util")
    from signflow.demo.pki import create_demo_pki
    from signflow.demo.softhsm import activate_softhsm
    from signflow.errors import SigningError
    from signflow.roster import load_roster
    from signflow.signing.credentials import open_pkcs11
    from signflow.signing.signer import sign_documents

    pki = create_demo_pki(load_roster(ROSTER), tmp_path_factory.mktemp("pulled") / "pki",
                          softhsm_members=["hung-yen"])
    roster = load_roster(pki.roster_path)
    first = _doc(pdf_pack, tmp_path, "hung-yen")
    second = tmp_path / "second.pdf"
    shutil.copyfile(pdf_pack / "hung-yen" / "ke-hoach-phat-dong-hung-yen-2019.pdf", second)
    before = second.read_bytes()
    activate_softhsm(pki.softhsm)
    with open_pkcs11(pki.softhsm.module, token_label=pki.softhsm.token_label,
                     key_label="hung-yen-head", pin=pki.softhsm.pin()) as credential:
        sign_documents([first], roster, "hung-yen", "head", credential)
        shutil.rmtree(pki.softhsm.conf.parent / "tokens")  # the token is gone
        with pytest.raises(SigningError) as caught:
            sign_documents([second], roster, "hung-yen", "head", credential)
    message = " ".join([caught.value.message, *caught.value.details])
    assert "cắm lại" in message, message
    assert second.read_bytes() == before, "the document was changed"
