"""A ledger anchored outside itself (issue 12.5): each rewrite an attacker holding the
ledger file can make is detected by `signflow log --verify` (exit 1), which says what
changed; a ledger the workspace used may not vanish or restart; `status` says when the
ledger and the file disagree. Real TSA (certomancer on 127.0.0.1), real SQLite."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from signflow.demo.services import serve_pki
from signflow.ledger import _event_hash

from .conftest import fresh_agreement_folder, sign_args

SIGNERS = ("ninh-binh", "nam-dinh", "ha-nam")


@pytest.fixture(scope="module")
def anchored(pdf_pack, demo_pki, tmp_path_factory):
    """The agreement signed by three heads, three `signflow sign --tsa` calls: a ledger
    with three anchors. Tests work on copies (see ``copy``)."""
    from signflow.cli import main

    folder = tmp_path_factory.mktemp("anchored") / "docs"
    pdf, ledger = fresh_agreement_folder(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf",
                                         folder)
    with serve_pki(demo_pki):
        for member in SIGNERS:
            code = main([*sign_args(pdf, demo_pki, member, ledger), "--tsa",
                         demo_pki.tsa_url])
            assert code == 0, member
    return folder


def copy(anchored: Path, tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "docs"
    shutil.copytree(anchored, folder)
    return folder / "giao-uoc.pdf", folder / "ledger.sqlite"


def audit(cli, ledger: Path, pki, *pdfs: Path, json_out: bool = True):
    args = ["log", "--verify", "--ledger", ledger, "--trust", pki.root_pem, *pdfs]
    result = cli(*args, "--json") if json_out else cli(*args)
    payload = json.loads(result.out) if json_out and result.out.startswith("{") else None
    return result, payload


def rewrite(ledger: Path, sql: str, params: tuple = (), rechain_from: int | None = None):
    """What an attacker with the file does: drop the guards, change rows, recompute the
    chain so that it is consistent again."""
    db = sqlite3.connect(ledger)
    for name in [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE "
                                          "type = 'trigger'")]:
        db.execute(f"DROP TRIGGER {name}")
    db.execute(sql, params)
    if rechain_from is not None:
        rows = db.execute("SELECT seq, at, action, document, path, details, prev_hash FROM "
                          "events ORDER BY seq").fetchall()
        prev = "0" * 64
        for seq, at, action, document, path, details, _prev_hash in rows:
            if seq < rechain_from:
                prev = db.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()[0]
                continue
            digest = _event_hash(prev, seq, at, action, document, path, details)
            db.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?",
                       (prev, digest, seq))
            prev = digest
    # the guards put back, so that the file looks untouched
    from signflow.ledger import _SCHEMA

    db.executescript(_SCHEMA)
    db.commit()
    db.close()


def cut_last_signing(ledger: Path) -> int:
    """Cut the whole last signing off the ledger (its event, anchor and revision row), as
    an attacker would to undo it; returns the number of the revision cut."""
    db = sqlite3.connect(ledger)
    last = db.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    revisions = db.execute("SELECT MAX(number) FROM revisions").fetchone()[0]
    db.close()
    rewrite(ledger, f"DELETE FROM events WHERE seq = {last}")
    rewrite(ledger, f"DELETE FROM anchors WHERE seq = {last}")
    rewrite(ledger, f"DELETE FROM revisions WHERE number = {revisions}")
    return revisions


def workspace(pdf_pack: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(agreement, ledger, signflow.toml) of a fresh workspace whose ledger it names."""
    pdf, ledger = fresh_agreement_folder(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf",
                                         tmp_path / "ws")
    config = tmp_path / "ws" / "signflow.toml"
    config.write_text('[workspace]\nledger = "ledger.sqlite"\n', encoding="utf-8")
    return pdf, ledger, config


def test_an_untouched_ledger_is_intact_with_its_anchors_and_file(cli, anchored, demo_pki,
                                                                   tmp_path):
    pdf, ledger = copy(anchored, tmp_path)
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 0, result.err
    assert payload["problems"] == []
    assert payload["anchors"] == 3 and payload["documents_compared"] == 1
    result, _ = audit(cli, ledger, demo_pki, json_out=False)
    assert "3 dấu thời gian" in result.out and "1 văn bản" in result.out, result.out


def test_an_edited_event_with_a_recomputed_chain_is_detected(cli, anchored, demo_pki, tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    db = sqlite3.connect(ledger)
    seq, details = db.execute("SELECT seq, details FROM events WHERE action = 'signed' "
                              "ORDER BY seq LIMIT 1").fetchone()
    db.close()
    forged = json.loads(details)
    forged["member"] = "quang-ninh"  # the signing is now ascribed to someone else
    rewrite(ledger, "UPDATE events SET details = ? WHERE seq = ?",
            (json.dumps(forged, ensure_ascii=False, sort_keys=True), seq), rechain_from=seq)
    db = sqlite3.connect(ledger)
    assert db.execute("SELECT COUNT(*) FROM events WHERE action = 'signed'").fetchone()[0] == 3
    db.close()
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.out
    # the anchor of the edited event no longer matches the log up to it
    assert any(f"nhật ký đến sự kiện {seq} không phải bản đã được gắn dấu thời gian" in p
               for p in payload["problems"]), payload["problems"]
    # the hash chain alone says nothing: the attacker recomputed it
    assert not any("bị sửa" in p and "sự kiện" in p and "chuỗi" in p
                   for p in payload["problems"]), payload["problems"]


def test_deleting_the_last_event_is_detected(cli, anchored, demo_pki, tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    db = sqlite3.connect(ledger)
    last = db.execute("SELECT MAX(seq) FROM events").fetchone()[0]
    db.close()
    rewrite(ledger, "DELETE FROM events WHERE seq = ?", (last,))
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    # its anchor outlived it
    assert any(f"sự kiện {last} " in p and "nhưng không còn trong nhật ký" in p
               for p in payload["problems"]), payload["problems"]


def test_deleting_the_last_event_its_anchor_and_its_revision_is_seen_in_the_file(
        cli, anchored, demo_pki, tmp_path):
    """The whole last signing cut off the ledger: consistent in itself, but the PDF holds
    a revision the ledger does not."""
    pdf, ledger = copy(anchored, tmp_path)
    revisions = cut_last_signing(ledger)
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    missing = f"lần cập nhật {revisions}-{revisions} của tệp không có trong sổ"
    assert any(missing in p for p in payload["problems"]), payload["problems"]
    # the same with the PDF named on the command line
    result, payload = audit(cli, ledger, demo_pki, pdf)
    assert result.code == 1 and payload["documents_compared"] == 1, result.err
    assert any(missing in p for p in payload["problems"]), payload["problems"]


def test_deleting_a_revision_row_is_detected(cli, anchored, demo_pki, tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    rewrite(ledger, "DELETE FROM revisions WHERE number = (SELECT MAX(number) FROM revisions)")
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any("không có bản ghi" in p and "bản ghi đã bị xoá" in p
               for p in payload["problems"]), payload["problems"]


def test_an_edited_revision_hash_blames_the_ledger_not_the_pdf(cli, anchored, demo_pki,
                                                                tmp_path):
    pdf, ledger = copy(anchored, tmp_path)
    rewrite(ledger, "UPDATE revisions SET sha256 = ? WHERE number = 2", ("0" * 64,))
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any("lần cập nhật 2" in p and "đã bị sửa" in p for p in payload["problems"]), \
        payload["problems"]
    with serve_pki(demo_pki):
        result = cli(*sign_args(pdf, demo_pki, "thai-binh", ledger), "--tsa", demo_pki.tsa_url)
    assert result.code == 2, result.err
    assert "sổ ghi" in result.err and "đã bị sửa" in result.err, result.err
    assert "lịch sử của tệp đã bị viết lại" not in result.err, result.err


def test_a_swapped_token_and_an_edited_token_time_are_detected(cli, anchored, demo_pki,
                                                                tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    db = sqlite3.connect(ledger)
    (first, token1), (second, _token2) = db.execute(
        "SELECT seq, token FROM anchors ORDER BY seq LIMIT 2").fetchall()
    db.close()
    rewrite(ledger, "UPDATE anchors SET token = ? WHERE seq = ?", (token1, second))
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any(f"dấu thời gian của sự kiện {second}:" in p for p in payload["problems"]), \
        payload["problems"]
    _pdf, ledger = copy(anchored, tmp_path / "b")
    rewrite(ledger, "UPDATE anchors SET at = '2019-01-01T00:00:00+00:00' WHERE seq = ?",
            (first,))
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    # the time recorded beside the token is not the token's
    assert any(f"dấu thời gian của sự kiện {first}:" in p and "(2019-01-01T00:00:00+00:00)" in p
               for p in payload["problems"]), payload["problems"]


def test_garbage_in_a_token_is_a_problem_not_a_crash(cli, anchored, demo_pki, tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    rewrite(ledger, "UPDATE anchors SET token = X'3003020100'")
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    unreadable = [p for p in payload["problems"]
                  if "dấu thời gian của sự kiện" in p and "không kiểm tra được" in p]
    assert len(unreadable) == 3, payload["problems"]


def test_the_tsa_must_chain_to_the_trust_roots(cli, anchored, demo_pki, tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    result = cli("log", "--verify", "--ledger", ledger, "--json")
    assert result.code == 1, result.err
    problems = json.loads(result.out)["problems"]
    assert any("--trust" in p for p in problems), problems
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Kẻ giả mạo")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    other = tmp_path / "other-root.pem"
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = cli("log", "--verify", "--ledger", ledger, "--trust", other, "--json")
    assert result.code == 1, result.err
    problems = json.loads(result.out)["problems"]
    assert any("không dẫn về chứng thư gốc tin cậy" in p for p in problems), problems


def test_signing_without_a_tsa_is_reported_until_anchored(cli, pdf_pack, demo_pki, tmp_path):
    pdf, ledger = fresh_agreement_folder(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf",
                                         tmp_path / "docs")
    result = cli(*sign_args(pdf, demo_pki, "ninh-binh", ledger))
    assert result.code == 0 and "--anchor" in result.err, result.err
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any("chưa được gắn dấu thời gian" in p for p in payload["problems"]), payload
    result = cli("log", "--anchor", "--ledger", ledger)
    assert result.code == 2 and "--anchor cần" in result.err and "--tsa" in result.err, \
        result.err
    with serve_pki(demo_pki):
        result = cli("log", "--anchor", "--ledger", ledger, "--tsa", demo_pki.tsa_url)
    assert result.code == 0, result.err
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 0, payload["problems"]


def test_a_zero_byte_ledger_is_not_a_fresh_start(cli, anchored, demo_pki, tmp_path):
    pdf, ledger = copy(anchored, tmp_path)
    ledger.write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        Path(str(ledger) + suffix).unlink(missing_ok=True)
    result = cli(*sign_args(pdf, demo_pki, "thai-binh", ledger))
    assert result.code == 2 and "0 byte" in result.err, result.err
    result = cli("log", "--verify", "--ledger", ledger)
    assert result.code == 2 and "0 byte" in result.err, result.err
    assert ledger.stat().st_size == 0


def test_a_process_killed_while_creating_the_ledger_leaves_none(tmp_path):
    """SQLite makes the database file empty and writes it later: a process killed in
    between left a 0-byte ledger, which every later run refused as a lost history (seen
    in the crash test, a signer killed 0.2-3 s into its run). A new ledger is made whole
    beside it and linked into place: killed before that, there is no ledger at all."""
    import os
    import subprocess
    import sys

    from signflow.ledger import Ledger

    path = tmp_path / "ledger.sqlite"
    code = f"from signflow.ledger import Ledger; Ledger({str(path)!r})"
    env = dict(os.environ, SIGNFLOW_FAULT="ledger-before-link")
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert killed.returncode == -9, f"the fault point was not reached: {killed.stderr!r}"
    assert not path.exists(), "a process killed while creating the ledger left a ledger"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if ".creating." in p.name)
    assert leftovers, "the half-made ledger is not where the next run will clear it"
    with Ledger(path) as ledger:  # the next run creates it, and clears what was left
        assert ledger.created, "the next run did not create the ledger"
        events = ledger.events()
        assert [e.action for e in events] == ["created"], events
        assert events[0].details["ledger"] == str(path.absolute()), events[0].details
        assert not ledger.verify_chain()
    assert not [p.name for p in tmp_path.iterdir() if ".creating." in p.name]
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask(), oct(path.stat().st_mode)
    with Ledger(path) as again:  # and it is a ledger like any other afterwards
        assert not again.created and len(again.events()) == 1


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_ledger_the_workspace_used_may_not_vanish_or_be_replaced(cli, pdf_pack, demo_pki,
                                                                   tmp_path):
    pdf, ledger, config = workspace(pdf_pack, tmp_path)
    args = sign_args(pdf, demo_pki, "ninh-binh", ledger)
    args.remove("--ledger")
    args.remove(str(ledger))
    with serve_pki(demo_pki):
        result = cli("--config", config, *args, "--tsa", demo_pki.tsa_url)
        assert result.code == 0, result.err
        assert ledger.is_file()
        saved = ledger.read_bytes()
        for suffix in ("", "-wal", "-shm"):
            Path(str(ledger) + suffix).unlink(missing_ok=True)
        args = sign_args(pdf, demo_pki, "nam-dinh", ledger)[:-2]
        result = cli("--config", config, *args, "--tsa", demo_pki.tsa_url)
        assert result.code == 2 and "không còn" in result.err, result.err
        assert not ledger.exists(), "a new ledger was created in place of the lost one"
        result = cli("--config", config, "log", "--verify")
        assert result.code == 2 and "không còn" in result.err, result.err
        # another ledger put in its place (a fresh one, made elsewhere)
        from signflow.ledger import Ledger

        Ledger(ledger).close()
        result = cli("--config", config, *args, "--tsa", demo_pki.tsa_url)
        assert result.code == 2 and "không phải sổ ghi" in result.err, result.err
        del saved


def test_status_says_when_the_ledger_and_the_file_disagree(cli, anchored, demo_pki, tmp_path):
    pdf, ledger = copy(anchored, tmp_path)
    result = cli("status", pdf, "--roster", demo_pki.roster_path, "--ledger", ledger, "--json")
    doc = json.loads(result.out)["documents"][0]
    assert doc["ledger"] == {"path": str(ledger), "agrees": True, "problem": None}, doc
    # the file cut back to its state before the last signature
    data = pdf.read_bytes()
    cut = data[: data.rstrip().rfind(b"%%EOF", 0, len(data.rstrip()) - 5) + 5] + b"\n"
    pdf.write_bytes(cut)
    result = cli("status", pdf, "--roster", demo_pki.roster_path, "--ledger", ledger, "--json")
    doc = json.loads(result.out)["documents"][0]
    assert doc["ledger"]["agrees"] is False, doc
    assert "thiếu" in doc["ledger"]["problem"], doc["ledger"]
    result = cli("status", pdf, "--roster", demo_pki.roster_path, "--ledger", ledger)
    assert result.code == 1 and "không khớp" in result.out, result.out


# --- the attacker review's findings (each was a pass before its fix) ---------------------

def test_a_history_rewritten_and_timestamped_again_today_is_detected(cli, anchored, demo_pki,
                                                                     tmp_path):
    """Rewrite a signing, recompute the chain, drop every anchor and have the real TSA
    timestamp the forged head now: a token proves the head existed now, not back then."""
    from signflow.ledger import Ledger
    from signflow.signing.timestamps import tsa_stamp

    _pdf, ledger = copy(anchored, tmp_path)
    db = sqlite3.connect(ledger)
    seq, details = db.execute("SELECT seq, details FROM events WHERE action = 'signed' "
                              "ORDER BY seq LIMIT 1").fetchone()
    db.close()
    forged = json.loads(details)
    forged["member"] = "quang-ninh"
    rewrite(ledger, "UPDATE events SET details = ? WHERE seq = ?",
            (json.dumps(forged, ensure_ascii=False, sort_keys=True), seq))
    # the events claim to be two hours old, as a real history would be
    rewrite(ledger, "UPDATE events SET at = datetime(at, '-2 hours') || '+00:00'",
            rechain_from=1)
    rewrite(ledger, "DELETE FROM anchors")
    with serve_pki(demo_pki), Ledger(ledger) as opened:
        assert opened.anchor(demo_pki.tsa_url, tsa_stamp(demo_pki.tsa_url)) is not None
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    # the forged event was first timestamped two hours after it claims to have happened
    assert any(f"sự kiện {seq} (ký số," in p and "2 giờ sau" in p
               for p in payload["problems"]), payload["problems"]


def test_signings_demoted_to_seen_revisions_after_dropping_the_anchor(cli, anchored, demo_pki,
                                                                      tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    rewrite(ledger, "DELETE FROM anchors WHERE seq = (SELECT MAX(seq) FROM anchors)")
    rewrite(ledger, "UPDATE events SET action = 'revisions-added' WHERE action = 'signed' AND "
                    "seq > (SELECT MAX(seq) FROM anchors)", rechain_from=1)
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any("chưa được gắn dấu thời gian" in p for p in payload["problems"]), payload


def test_a_cut_tail_is_not_hidden_by_redirecting_the_documents_path(cli, anchored, demo_pki,
                                                                    tmp_path):
    """The documents table's path is not in the chain: the audit finds files where the
    chained events saw them, and checks that each file is the document."""
    _pdf, ledger = copy(anchored, tmp_path)
    cut_last_signing(ledger)
    for where in ("path || '.moved'", "'/tmp'"):
        rewrite(ledger, f"UPDATE documents SET path = {where}")
        result, payload = audit(cli, ledger, demo_pki)
        assert result.code == 1, (where, result.err)
        assert any("của tệp không có trong sổ ghi" in p for p in payload["problems"]), \
            (where, payload["problems"])


def test_a_missing_file_is_a_problem(cli, anchored, demo_pki, tmp_path):
    pdf, ledger = copy(anchored, tmp_path)
    pdf.rename(pdf.with_suffix(".moved"))
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any("không tìm thấy" in p for p in payload["problems"]), payload["problems"]
    result, payload = audit(cli, ledger, demo_pki, pdf.with_suffix(".moved"))
    assert result.code == 0, payload["problems"]


def test_status_does_not_trust_a_revision_row_the_chain_does_not_name(cli, anchored, demo_pki,
                                                                       tmp_path):
    import hashlib

    from .conftest import append_change

    pdf, ledger = copy(anchored, tmp_path)

    def change(writer):
        from pyhanko.pdf_utils import generic

        writer.root["/Evil"] = generic.NameObject("/Yes")
        writer.update_root()

    append_change(pdf, change)
    data = pdf.read_bytes()
    db = sqlite3.connect(ledger)
    doc_id, number = db.execute("SELECT document_id, MAX(number) FROM revisions").fetchone()
    db.close()
    rewrite(ledger, "INSERT INTO revisions VALUES (?, ?, ?, ?, '2019-03-15T00:00:00+00:00')",
            (doc_id, number + 1, len(data), hashlib.sha256(data).hexdigest()))
    result = cli("status", pdf, "--roster", demo_pki.roster_path, "--ledger", ledger)
    assert result.code == 1 and "không khớp" in result.out, result.out
    # the appended revision is the file's own, whatever the row slipped into the ledger says
    assert f"lần cập nhật {number + 1}-{number + 1} của tệp không có trong sổ ghi" in \
        result.out, result.out


def test_an_edited_revision_size_blames_the_ledger(cli, anchored, demo_pki, tmp_path):
    pdf, ledger = copy(anchored, tmp_path)
    rewrite(ledger, "UPDATE revisions SET size = size + 1 WHERE number = 2")
    result, payload = audit(cli, ledger, demo_pki)
    assert result.code == 1, result.err
    assert any("lần cập nhật 2 khác với bản ghi" in p for p in payload["problems"]), \
        payload["problems"]
    result = cli(*sign_args(pdf, demo_pki, "thai-binh", ledger))
    assert result.code == 2 and "đã bị sửa" in result.err, result.err
    result = cli("status", pdf, "--roster", demo_pki.roster_path, "--ledger", ledger)
    assert result.code == 1, result.out
    assert "không khớp: lần cập nhật 2 khác với bản ghi" in result.out, result.out


def test_damaged_rows_are_problems_not_crashes(cli, anchored, demo_pki, tmp_path):
    for n, (sql, expected) in enumerate([
        ("INSERT INTO events VALUES (9999, 'x', 'signed', NULL, NULL, '[1, 2]', 'a', 'b')",
         "sự kiện 9999"),
        ("INSERT INTO events VALUES (9999, 'x', 'signed', NULL, NULL, '{not json', 'a', 'b')",
         "sự kiện 9999"),
        ("UPDATE anchors SET token = 'text, not bytes'",
         "một dòng dấu thời gian của sổ ghi bị hỏng"),
        ("UPDATE revisions SET number = 'x' WHERE number = 1", "sổ ghi bị hỏng"),
    ]):
        _pdf, ledger = copy(anchored, tmp_path / str(n))
        rewrite(ledger, sql)
        result, payload = audit(cli, ledger, demo_pki)
        assert result.code == 1, (sql, result.err)
        assert any(expected in p for p in payload["problems"]), (sql, payload["problems"])


def test_a_symlink_in_the_ledgers_place_is_refused(cli, anchored, demo_pki, tmp_path):
    _pdf, ledger = copy(anchored, tmp_path)
    other = tmp_path / "fresh.sqlite"
    from signflow.ledger import Ledger

    Ledger(other).close()
    ledger.unlink()
    ledger.symlink_to(other)
    result = cli("log", "--verify", "--ledger", ledger, "--trust", demo_pki.root_pem)
    assert result.code == 2 and "liên kết" in result.err, result.err


def test_the_workspace_remembers_the_ledgers_timestamps(cli, pdf_pack, demo_pki, tmp_path):
    pdf, ledger, config = workspace(pdf_pack, tmp_path)
    with serve_pki(demo_pki):
        for member in ("ninh-binh", "nam-dinh"):
            args = sign_args(pdf, demo_pki, member, ledger)[:-2]
            result = cli("--config", config, *args, "--tsa", demo_pki.tsa_url)
            assert result.code == 0, result.err
    state = json.loads((tmp_path / "ws" / ".signflow-state.json").read_text())
    assert len(next(iter(state["ledgers"].values()))["anchors"]) == 2, state
    rewrite(ledger, "DELETE FROM anchors WHERE seq = (SELECT MAX(seq) FROM anchors)")
    result = cli("--config", config, "log", "--verify", "--trust", demo_pki.root_pem)
    assert result.code == 2 and "đã mất các dấu thời gian" in result.err, result.err
