"""The signing ceremony of the 2019 agreement, in one room: nine heads, each with a USB token
(a SoftHSM2 token "plugged in" by its folder appearing where the module looks, "pulled
out" by its folder going away), each clerical office sealing right after its head, the
PINs typed on a real terminal (a pseudo-terminal). On the way: one wrong PIN, one token
pulled out at the PIN prompt, one head who left the room (skipped with Ctrl+C, asked
again at the end). At the end the agreement is archived and verifies complete at B-LTA."""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, require_tool

pytestmark = pytest.mark.slow

SIGNFLOW = str(ROOT / ".venv" / "bin" / "signflow")
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


@pytest.fixture(scope="module")
def member_tokens(tmp_path_factory, demo_pki):
    """One SoftHSM2 token per member (head and seal keys), each in its own store folder,
    with its own PIN; and an empty folder that stands for the computer's USB ports."""
    require_tool("softhsm2-util")
    from signflow.roster import load_roster

    base = tmp_path_factory.mktemp("ceremony-tokens")
    tokens = {}
    for member in load_roster(demo_pki.roster_path).members:
        store = base / "store" / member.id
        store.mkdir(parents=True)
        conf = base / f"{member.id}.conf"
        conf.write_text(f"directories.tokendir = {store}\nobjectstore.backend = file\n"
                        "log.level = ERROR\n")
        pin = secrets.token_hex(4)
        env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
        label = f"token-{member.id}"
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin",
                        pin, "--so-pin", secrets.token_hex(4)], env=env, check=True,
                       capture_output=True, timeout=60)
        objects = [{"label": f"{member.id}-{role}", "id": f"{i + 1:02x}{n:02x}",
                    "key": str(demo_pki.credential(member.id, role).key_pem),
                    "cert": str(demo_pki.credential(member.id, role).cert_pem)}
                   for n, role in enumerate(("head", "seal"))
                   for i in [list(load_roster(demo_pki.roster_path).member_ids).index(
                       member.id)]]
        done = subprocess.run(
            [sys.executable, "-c", "from signflow.demo.softhsm import _token_import_main; "
                                   "_token_import_main()"],
            input=json.dumps({"module": SOFTHSM_MODULE, "token": label, "pin": pin,
                              "objects": objects}),
            env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        (folder,) = [p for p in store.iterdir() if p.is_dir()]
        tokens[member.id] = {"label": label, "pin": pin, "folder": folder,
                             "head": member.head.name, "unit": member.unit}
    ports = base / "ports"
    ports.mkdir()
    conf = base / "ports.conf"
    conf.write_text(f"directories.tokendir = {ports}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    return tokens, ports, conf


class Room:
    """The ceremony on a pseudo-terminal: what it prints, and the keyboard."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: signflow on the terminal
            os.execve(SIGNFLOW, [SIGNFLOW, *args], env)
        self.text = ""
        self.seen = 0  # what has been looked at already

    def read(self, timeout: float = 0.2) -> None:
        ready, _w, _x = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            self.text += chunk.decode("utf-8", "replace")

    def expect(self, pattern: str, timeout: float = 120) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.compile(pattern).search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            self.read()
        raise AssertionError(f"waited {timeout} s for {pattern!r}; the screen shows:\n"
                             f"{self.text[-3000:]}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def interrupt(self) -> None:
        os.write(self.fd, b"\x03")  # Ctrl+C on the terminal

    def end(self, timeout: float = 600) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                for _ in range(10):
                    self.read(0.05)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"the ceremony did not end; the screen shows:\n{self.text[-3000:]}")


def test_the_ceremony_of_the_2019_agreement(member_tokens, demo_pki, pdf_pack, tmp_path):
    from signflow.demo.services import serve_pki
    from signflow.roster import load_roster
    from signflow.validation.verify import VerifyPolicy, verify_file

    tokens, ports, conf = member_tokens
    roster = load_roster(demo_pki.roster_path)
    agreement = tmp_path / "giao-uoc-thi-dua-2019.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", agreement)
    env = {**os.environ, "SOFTHSM2_CONF": str(conf), "SIGNFLOW_LANG": "vi",
           "COLUMNS": "120"}
    env.pop("SIGNFLOW_PIN", None)

    def pull(folder: Path) -> None:
        # moved away in one step (the module may be reading the folder this very moment,
        # SoftHSM writing its lock file there), then removed
        gone = ports.parent / f"pulled-{secrets.token_hex(4)}"
        os.rename(folder, gone)
        shutil.rmtree(gone, ignore_errors=True)

    def plug(member: str) -> None:
        for old in ports.iterdir():
            pull(old)  # the previous token is pulled out
        staged = ports.parent / f"plugging-{secrets.token_hex(4)}"  # appears whole, at once
        shutil.copytree(tokens[member]["folder"], staged)
        os.rename(staged, ports / tokens[member]["folder"].name)

    ids = roster.member_ids
    wrong_pin, pulled, leaves = ids[1], ids[2], ids[3]
    with serve_pki(demo_pki):
        room = Room(["ceremony", str(agreement), "--roster", str(demo_pki.roster_path),
                     "--pkcs11-lib", SOFTHSM_MODULE, "--level", "B-T", "--tsa",
                     demo_pki.tsa_url, "--trust", str(demo_pki.root_pem), "--report",
                     str(tmp_path / "bien-ban.html"), "--images", str(tmp_path / "anh")],
                    env)
        queue, skipped_once = list(ids), False
        while queue:
            member = queue.pop(0)
            head, unit = tokens[member]["head"], tokens[member]["unit"]
            room.expect(f"Mời đồng chí {re.escape(head)}")
            if member == leaves and not skipped_once:  # the head has left the room
                skipped_once = True
                room.interrupt()
                room.expect(r"s = ")
                room.type("s\n")
                room.expect("hỏi lại")
                queue.append(member)
                continue
            plug(member)
            pin_prompt = f"Mã PIN của thiết bị ký số «{re.escape(tokens[member]['label'])}»"
            room.expect(pin_prompt)
            if member == wrong_pin:
                room.type("00000000\n")
                room.expect("Chưa ký")
                room.expect(pin_prompt)
            if member == pulled:
                pull(ports / tokens[member]["folder"].name)  # pulled out at the prompt
                room.type(tokens[member]["pin"] + "\n")
                room.expect("Chưa ký.*(rút|cắm lại)")
                room.expect(f"Mời đồng chí {re.escape(head)}")
                plug(member)
                room.expect(pin_prompt)
            room.type(tokens[member]["pin"] + "\n")
            room.expect(f"Đã ký: {re.escape(head)}")
            # the clerical office seals right after its head, same room, the seal's key
            room.expect(f"Mời văn thư {re.escape(unit)}")
            room.expect(pin_prompt)
            room.type(tokens[member]["pin"] + "\n")
            room.expect(f"Đã ký: {re.escape(unit)}")
        code = room.end()
    screen = room.text
    assert code == 0, screen[-3000:]
    for token in tokens.values():
        assert token["pin"] not in screen, "a PIN was echoed on the screen"
    assert "Đã lưu trữ" in screen or "B-LTA" in screen, screen[-2000:]
    verdict = verify_file(agreement, VerifyPolicy(trust_roots=(demo_pki.root_pem,),
                                                  roster=roster))
    assert verdict.ok and verdict.complete, (verdict.problems, verdict.missing)
    people = [s for s in verdict.signatures if not s.is_timestamp]
    assert len(people) == 18 and all(s.level == "B-LTA" for s in people), \
        [(s.field, s.level) for s in people]
    assert (tmp_path / "bien-ban.html").is_file()
    assert len(list((tmp_path / "anh").glob("*.png"))) == 18
