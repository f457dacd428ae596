"""The clerical office's number and date (issue 17, item 4): `signflow number` after the
head and before the seal, the register of outgoing documents in the ledger, and the
verifier accepting exactly that update and nothing else."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import append_change, open_credential

MEMBER = "bac-ninh"  # PKCS#12 keys (no token needed)
PLAN = f"ke-hoach-phat-dong-{MEMBER}-2019.pdf"
PLEDGE = f"giao-uoc-noi-bo-{MEMBER}-2019.pdf"


@pytest.fixture
def workspace(pdf_pack, tmp_path):
    """A writable copy of one member's launch plan and internal pledge (both numbered at
    issue: the 2019 example gives them no number), with the ledger beside them."""
    folder = tmp_path / "ws"
    folder.mkdir()
    for name in (PLAN, PLEDGE):
        shutil.copyfile(pdf_pack / MEMBER / name, folder / name)
        (folder / name).chmod(0o644)
    return folder


def sign(pdf: Path, pki, roster, role: str, ledger) -> None:
    """The member's head (after its departments, on the internal pledge) or its seal."""
    from signflow.signing.signer import sign_documents
    from signflow.validation.revisions import read_history
    from signflow.validation.status import department_signers

    if role == "head":
        for department in department_signers(read_history(pdf), MEMBER, roster):
            with open_credential(pki, department, "head") as cred:
                sign_documents([pdf], roster, department, "head", cred, ledger=ledger)
    with open_credential(pki, MEMBER, role) as cred:
        sign_documents([pdf], roster, MEMBER, role, cred, ledger=ledger)


def verdict(pdf: Path, pki, roster):
    from signflow.validation.verify import VerifyPolicy, verify_file

    policy = VerifyPolicy(trust_roots=(pki.root_pem,), roster=roster)
    return verify_file(pdf, policy, policy.load_roots())


def all_problems(v) -> list[str]:
    found = list(v.problems)
    for s in v.signatures:
        found += list(s.problems)
    return found


def test_the_fields_are_made_with_the_signature_fields_on_their_anchors(workspace):
    from signflow.validation.revisions import read_history

    history = read_history(workspace / PLAN)
    assert set(history.issue_fields) == {(MEMBER, "number"), (MEMBER, "date")}, \
        history.issue_fields
    anchors = history.issue_anchors
    assert [a.symbol for a in anchors if a.part == "number"] == ["KH-TTr"], anchors
    assert history.geometry_problems() == [], history.geometry_problems()
    shape = history.shape(history.total_revisions - 1)
    for name in history.issue_fields.values():
        assert shape.fields[name].field_type == "/Tx" and shape.fields[name].visible, name
        assert history.field_value(name) is None, f"{name} must start empty"


def test_number_after_the_head_then_the_seal_verifies_complete(workspace, demo_pki,
                                                               pki_roster, cli, artefacts):
    from signflow.ledger import Ledger
    from signflow.signing.numbering import number_documents, register_gaps, register_rows
    from signflow.signing.signer import SigningError
    from signflow.vn import number_text

    plan, pledge = workspace / PLAN, workspace / PLEDGE
    with Ledger(workspace / "signflow-ledger.sqlite") as ledger:
        # before the head: refused, the file unchanged
        before = plan.read_bytes()
        with pytest.raises(SigningError) as refused:
            number_documents([plan], pki_roster, ledger)
        assert "chưa ký" in " ".join(refused.value.details), refused.value.details
        assert plan.read_bytes() == before

        for pdf in (plan, pledge):
            sign(pdf, demo_pki, pki_roster, "head", ledger)
        # the seal before the number: refused, unchanged
        before = plan.read_bytes()
        with pytest.raises(SigningError) as refused:
            sign(plan, demo_pki, pki_roster, "seal", ledger)
        assert "signflow number" in " ".join(refused.value.details), refused.value.details
        assert plan.read_bytes() == before

        outcomes = number_documents([plan, pledge], pki_roster, ledger)
        assert [(o.number, o.symbol) for o in outcomes] == [(1, "KH-TTr"), (2, "GƯ-TTr")] \
            or [(o.number, o.symbol) for o in outcomes] == [(1, "GƯ-TTr"), (1, "KH-TTr")] \
            or [o.number for o in outcomes] == [1, 1], outcomes
        # twice: nothing to number, the document left as it is
        from signflow.errors import InputError

        with pytest.raises(InputError) as again:
            number_documents([plan], pki_roster, ledger)
        assert "đã được cấp số" in " ".join(again.value.details), again.value.details

        for pdf in (plan, pledge):
            sign(pdf, demo_pki, pki_roster, "seal", ledger)
        rows = register_rows(ledger, MEMBER)
        assert register_gaps(rows) == [], rows
        assert sorted((r["symbol"], r["number"]) for r in rows) == \
            sorted((o.symbol, o.number) for o in outcomes), rows

    for pdf, outcome in zip((plan, pledge), outcomes, strict=True):
        v = verdict(pdf, demo_pki, pki_roster)
        assert v.ok and v.complete, (pdf.name, all_problems(v))
        from signflow.validation.revisions import read_history

        history = read_history(pdf)
        assert history.field_value(f"sf-number-{MEMBER}") == number_text(outcome.number)
        # an independent reader sees the numbered revision and both signatures intact
        pdfsig = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True)
        people = len([s for s in history.signatures if not s.is_timestamp])
        assert people >= 2 and pdfsig.stdout.count("Signature is Valid") == people, \
            pdfsig.stdout

    # the page as people see it: "Số: 01/KH-TTr" and the date in the header
    out = artefacts / "numbered-plan"
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", str(plan), str(out)],
                   check=True)
    text = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(plan), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "Số:" in text  # the field's text is drawn by an appearance, not in page text

    # the register, printed, as CSV and as HTML
    result = cli("register", str(workspace), "--roster", str(demo_pki.roster_path))
    assert result.code == 0, result.err
    assert "01/" in result.out, result.out
    result = cli("register", str(workspace), "--csv", str(workspace / "so.csv"),
                 "--html", str(workspace / "so.html"))
    assert result.code == 0, result.err
    rows_csv = list(csv.reader(io.StringIO((workspace / "so.csv").read_text("utf-8-sig"))))
    assert len(rows_csv) == 3 and rows_csv[1][0] == MEMBER, rows_csv
    assert "Sổ" in (workspace / "so.html").read_text("utf-8") or \
        "SỔ" in (workspace / "so.html").read_text("utf-8")


def test_the_register_counts_on_without_gaps_across_processes(workspace, demo_pki,
                                                              pki_roster, cli):
    """Two launch plans numbered by two commands: 01 then 02 in the same series."""
    from signflow.ledger import Ledger

    copies = []
    with Ledger(workspace / "signflow-ledger.sqlite") as ledger:
        for i in range(2):
            target = workspace / f"plan-{i}.pdf"
            data = bytearray((workspace / PLAN).read_bytes())
            # another document for the ledger: the binary comment of the header differs
            # (same length, so every offset stays right)
            assert data[:10] == b"%PDF-1.6\n%", bytes(data[:10])
            data[10] = 0x80 + i
            target.write_bytes(bytes(data))
            sign(target, demo_pki, pki_roster, "head", ledger)
            copies.append(target)
    for target in copies:
        result = cli("number", str(target), "--roster", str(demo_pki.roster_path))
        assert result.code == 0, result.err
    result = cli("register", str(workspace))
    assert result.code == 0, result.err
    assert "01/KH-TTr" in result.out and "02/KH-TTr" in result.out, result.out


def _head_signed(workspace, demo_pki, pki_roster) -> Path:
    from signflow.ledger import Ledger

    plan = workspace / PLAN
    with Ledger(workspace / "signflow-ledger.sqlite") as ledger:
        sign(plan, demo_pki, pki_roster, "head", ledger)
    return plan


def _fill(pdf: Path, number: int = 7, extra=None) -> None:
    """Fill the fields the way signflow does (optionally with another change in the same
    revision), without the register: what an attacker's tool could write."""
    from signflow.signing.numbering import fill_issue_fields
    from signflow.validation.revisions import read_history
    from signflow.vn import today_in_vietnam

    # the date of issue in Vietnam, as signflow gives it (the machine's date is UTC: from
    # 17:00 to midnight it is the day before the head's signing day in Vietnam)
    data = fill_issue_fields(read_history(pdf), MEMBER, number, today_in_vietnam())
    pdf.write_bytes(data)
    if extra is not None:
        append_change(pdf, extra)


def test_a_number_before_the_head_is_flagged(workspace, demo_pki, pki_roster):
    plan = workspace / PLAN
    _fill(plan)  # before anyone signed: the head would sign a number given in advance
    with pytest.raises(Exception) as refused:
        sign(plan, demo_pki, pki_roster, "head", None)
    said = " ".join(getattr(refused.value, "details", []))
    assert "trước khi thủ trưởng của bac-ninh ký" in said, said


def test_a_seal_without_a_number_is_flagged(workspace, demo_pki, pki_roster):
    """A seal added by another tool, skipping the clerical office."""
    import asyncio

    from signflow.signing.signer import SignSettings, _sign_bytes

    plan = _head_signed(workspace, demo_pki, pki_roster)
    member = pki_roster.member(MEMBER)
    import datetime as now_dt

    with open_credential(demo_pki, MEMBER, "seal") as cred:
        signed = asyncio.run(_sign_bytes(plan.read_bytes(), f"sf-seal-{MEMBER}", member, "seal",
                                         cred, SignSettings(), now_dt.datetime.now(now_dt.UTC),
                                         None, None))
    plan.write_bytes(signed)
    v = verdict(plan, demo_pki, pki_roster)
    assert not v.ok
    assert any("trước khi cấp số và ngày" in p for p in all_problems(v)), all_problems(v)


def test_a_second_numbering_is_flagged(workspace, demo_pki, pki_roster):
    plan = _head_signed(workspace, demo_pki, pki_roster)
    _fill(plan, 3)
    first = verdict(plan, demo_pki, pki_roster)
    assert all_problems(first) == [], "one numbering after the head is fine"
    _fill(plan, 4)  # the number changed afterwards
    v = verdict(plan, demo_pki, pki_roster)
    # the second fill rewrites the two field objects the first one gave their values
    assert not v.ok and any("149 0" in p or "ghi đè" in p for p in all_problems(v)) and \
        any("sf-number-bac-ninh" in p for p in all_problems(v)), all_problems(v)


def _numbered_with(plan: Path, number: int, change, demo_pki, pki_roster, monkeypatch):
    """The verdict on ``plan`` numbered (after its head) with ``change(writer)`` made in the
    same incremental update as the number and date."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from signflow.signing import numbering
    from signflow.validation.revisions import read_history
    from signflow.vn import today_in_vietnam

    history = read_history(plan)
    original = IncrementalPdfFileWriter.write

    def write_with_change(self, stream):
        change(self)
        self.update_root()
        return original(self, stream)

    with monkeypatch.context() as patched:  # only for this one numbering
        patched.setattr(IncrementalPdfFileWriter, "write", write_with_change)
        data = numbering.fill_issue_fields(history, MEMBER, number, today_in_vietnam())
    plan.write_bytes(data)
    return verdict(plan, demo_pki, pki_roster)


def test_a_number_with_a_title_change_in_the_same_revision_is_flagged(workspace, demo_pki,
                                                                     pki_roster, monkeypatch):
    from pyhanko.pdf_utils import generic

    def language(writer):
        writer.root[generic.NameObject("/Lang")] = generic.TextStringObject("en")

    plan = _head_signed(workspace, demo_pki, pki_roster)
    v = _numbered_with(plan, 5, language, demo_pki, pki_roster, monkeypatch)
    assert not v.ok, "a numbering revision that also changes the catalogue must be flagged"
    assert any("/Lang" in p for p in all_problems(v)), all_problems(v)


def test_a_number_with_validation_data_in_the_same_revision_is_flagged(workspace, demo_pki,
                                                                      pki_roster, monkeypatch):
    """DSS slipped into the numbering revision would be judged by no rule: flagged."""
    from pyhanko.pdf_utils import generic

    def dss(writer):
        writer.root[generic.NameObject("/DSS")] = writer.add_object(generic.DictionaryObject({
            generic.NameObject("/Certs"): generic.ArrayObject()}))

    plan = _head_signed(workspace, demo_pki, pki_roster)
    v = _numbered_with(plan, 6, dss, demo_pki, pki_roster, monkeypatch)
    assert not v.ok and any("(DSS)" in p for p in all_problems(v)), all_problems(v)


def test_an_appearance_that_draws_more_than_text_is_flagged(workspace, demo_pki, pki_roster,
                                                            monkeypatch):
    """The numbering revision itself carries an appearance painting an XObject (which
    could cover the header): the values are right, the appearance is not."""
    from pyhanko.pdf_utils import generic

    from signflow.signing import numbering

    plan = _head_signed(workspace, demo_pki, pki_roster)
    real = numbering._appearance

    def painting(writer, value, part, width, height):
        ref = real(writer, value, part, width, height)
        stream = ref.get_object()
        resources = stream["/Resources"]
        resources[generic.NameObject("/XObject")] = generic.DictionaryObject()
        return ref

    monkeypatch.setattr(numbering, "_appearance", painting)
    _fill(plan)
    v = verdict(plan, demo_pki, pki_roster)
    assert not v.ok and any("không chỉ dùng phông chữ" in p for p in all_problems(v)), \
        all_problems(v)


def test_number_needs_a_document_numbered_at_issue(cli, pdf_pack, demo_pki, tmp_path):
    """The cluster agreement has no number fields: a clear refusal, exit 2... or 1."""
    pdf = tmp_path / "a.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    pdf.chmod(0o644)
    result = cli("number", str(pdf), "--roster", str(demo_pki.roster_path))
    assert result.code == 2, (result.out, result.err)
    assert "không có ô số" in result.err, result.err
    assert "Traceback" not in result.err
    json.dumps(result.err)
