"""Department signatures on the internal pledge (issue 17, item 2): a field per department
head at the anchor [[sf:<member>/<department>:head]], departments in any order, then the
member's head confirms, then the seal; refused by sign and flagged by verify otherwise."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from signflow.pdf.anchors import ANCHOR_RE, field_name, parse_field_name

from .conftest import number_if_needed, open_credential
from .test_attacks import _pyhanko_sign, all_problems, flagged

MEMBER = "bac-ninh"  # PKCS#12 keys for its head, seal and departments
PLEDGE = f"giao-uoc-noi-bo-{MEMBER}-2019.pdf"


@pytest.fixture
def pledge(pdf_pack, tmp_path) -> Path:
    target = tmp_path / PLEDGE
    shutil.copyfile(pdf_pack / MEMBER / PLEDGE, target)
    target.chmod(0o644)
    return target


def departments(roster) -> list[str]:
    return [f"{MEMBER}/{d.id}" for d in roster.member(MEMBER).departments]


def sign(pdf: Path, pki, roster, signer: str, role: str = "head") -> None:
    from signflow.signing.signer import sign_documents

    with open_credential(pki, signer, role) as cred:
        sign_documents([pdf], roster, signer, role, cred)


def refusal(pdf: Path, pki, roster, signer: str, role: str = "head") -> str:
    """Why sign refuses (it must), with the file unchanged."""
    from signflow.signing.signer import SigningError

    before = pdf.read_bytes()
    with pytest.raises(SigningError) as refused:
        sign(pdf, pki, roster, signer, role)
    assert pdf.read_bytes() == before, "a refused signature changed the file"
    return " ".join(refused.value.details)


def test_anchor_and_field_names_of_the_second_level():
    assert ANCHOR_RE.match("[[sf:bac-ninh/van-phong:head]]").groups() == (
        "bac-ninh/van-phong", "head")
    # a department has no seal, and there is no third level
    assert ANCHOR_RE.match("[[sf:bac-ninh/van-phong:seal]]") is None
    assert ANCHOR_RE.match("[[sf:bac-ninh/van-phong/x:head]]") is None
    assert field_name("bac-ninh/van-phong", "head") == "sf-head-bac-ninh/van-phong"
    assert parse_field_name("sf-head-bac-ninh/van-phong") == ("bac-ninh/van-phong", "head")
    assert parse_field_name("sf-seal-bac-ninh/van-phong") is None


def test_the_pledge_has_a_field_per_department_in_its_row(pledge, pki_roster):
    from signflow.validation.revisions import read_history
    from signflow.validation.status import department_signers

    history = read_history(pledge)
    assert department_signers(history, MEMBER, pki_roster) == departments(pki_roster)
    assert (MEMBER, "head") in history.our_fields and (MEMBER, "seal") in history.our_fields
    assert history.geometry_problems() == [], history.geometry_problems()
    shape = history.shape(history.total_revisions - 1)
    boxes = [shape.fields[field_name(s, "head")].rect for s in departments(pki_roster)]
    # one under the other in the signature column, none overlapping
    assert all(boxes), boxes
    lefts = {round(b[0]) for b in boxes if b}
    assert len(lefts) == 1, boxes
    tops = sorted((b[3], b[1]) for b in boxes if b)
    assert all(a[0] <= b[1] + 0.5 for a, b in zip(tops, tops[1:], strict=False)), tops


def test_order_departments_then_head_then_seal(pledge, demo_pki, pki_roster, cli):
    from signflow.validation.status import document_status

    first, *others = departments(pki_roster)
    status = document_status(pledge, pki_roster)
    # every department may sign now; the head only after all of them
    assert {n["member"] for n in status.next} == set(departments(pki_roster)), status.next
    why = refusal(pledge, demo_pki, pki_roster, MEMBER)
    assert "các phòng, đơn vị của bac-ninh ký trước thủ trưởng" in why, why
    # any order: the last department first
    sign(pledge, demo_pki, pki_roster, others[-1])
    sign(pledge, demo_pki, pki_roster, first)
    for signer in others[:-1]:
        sign(pledge, demo_pki, pki_roster, signer)
    status = document_status(pledge, pki_roster)
    assert status.next == [{"member": MEMBER, "role": "head"}], status.next
    sign(pledge, demo_pki, pki_roster, MEMBER)
    # the same department cannot sign again, nor after the head
    why = refusal(pledge, demo_pki, pki_roster, first)
    assert "đã được ký" in why, why
    number_if_needed(pledge, pki_roster, MEMBER)
    sign(pledge, demo_pki, pki_roster, MEMBER, "seal")
    result = cli("verify", pledge, "--roster", demo_pki.roster_path, "--trust",
                 demo_pki.root_pem, "--json")
    assert result.code == 0, result.out[-3000:]
    report = json.loads(result.out)
    assert report["ok"] and report["complete"], all_problems(report)
    signed = [s["member"] for s in report["signatures"] if s.get("role") == "head"]
    assert sorted(signed) == sorted([*departments(pki_roster), MEMBER]), signed


def test_verify_flags_a_department_after_the_head(pledge, demo_pki, pki_roster, cli):
    """The attacker's signer skips the order rule: the head confirms first, a department
    signs afterwards. verify names the order, and counts nothing as missing."""
    *before, late = departments(pki_roster)
    for signer in before:
        sign(pledge, demo_pki, pki_roster, signer)
    assert late.split("/")[1] in refusal(pledge, demo_pki, pki_roster, MEMBER)
    with open_credential(demo_pki, MEMBER, "head") as head:
        _pyhanko_sign(pledge, f"sf-head-{MEMBER}", head.signer)
    # sign refuses the department now
    why = refusal(pledge, demo_pki, pki_roster, late)
    assert "thủ trưởng của bac-ninh đã xác nhận văn bản" in why, why
    with open_credential(demo_pki, late, "head") as department:
        _pyhanko_sign(pledge, f"sf-head-{late}", department.signer)
    report = flagged(cli, pledge, demo_pki)
    assert any(late in p and "sau khi" in p for p in report["problems"]), report["problems"]


def test_another_departments_head_cannot_sign_for_a_department(pledge, demo_pki, pki_roster,
                                                               cli):
    """Same CA, same organisation, same member: still not this department's head."""
    first, second, *_rest = departments(pki_roster)
    from signflow.signing.signer import SigningError, sign_documents

    with open_credential(demo_pki, second, "head") as cred, \
            pytest.raises(SigningError) as refused:
        sign_documents([pledge], pki_roster, first, "head", cred)
    assert "không phải chứng thư số" in str(refused.value.details), refused.value.details
    with open_credential(demo_pki, second, "head") as cred:
        _pyhanko_sign(pledge, f"sf-head-{first}", cred.signer)
    report = flagged(cli, pledge, demo_pki)
    problems = report["signatures"][0]["problems"]
    assert any(first in p for p in problems), problems
    # and the member's head's key is not a department's either
    with open_credential(demo_pki, MEMBER, "head") as cred, \
            pytest.raises(SigningError):
        sign_documents([pledge], pki_roster, second, "head", cred)


def test_a_department_pin_is_written_and_decides(tmp_path, demo_pki, pki_roster):
    from signflow.identity import load_certificate, match_certificate, subject_text
    from signflow.roster import load_roster, pin_certificate

    roster_file = tmp_path / "roster.toml"
    shutil.copyfile(demo_pki.roster_path, roster_file)
    # the demo roster keeps its images relative to itself
    shutil.copytree(demo_pki.roster_path.parent / "images", tmp_path / "images")
    first, second, *_rest = departments(pki_roster)
    from signflow.roster import RosterError

    # another department head's certificate, pinned already for that head: refused
    theirs = demo_pki.credential(second, "head")
    with pytest.raises(RosterError) as refused:
        pin_certificate(roster_file, first, "head", theirs.sha256,
                        subject_text(load_certificate(theirs.cert_pem)))
    assert any("departments[2].head.certificate.sha256" in d and "đã được ghim cho" in d
               for d in refused.value.details), refused.value.details
    # a new certificate (here: the outsider's) pinned to the department decides alone
    other_files = demo_pki.credential("outsider")
    other = load_certificate(other_files.cert_pem)
    pinned = pin_certificate(roster_file, first, "head", other_files.sha256,
                             subject_text(other))
    assert match_certificate(other, pinned.member(first), "head").matches
    own = load_certificate(demo_pki.credential(first, "head").cert_pem)
    assert not match_certificate(own, pinned.member(first), "head").matches
    assert load_roster(roster_file).member(first).head.certificate.sha256 == \
        other_files.sha256
    from signflow.errors import InputError

    with pytest.raises(InputError):
        pin_certificate(roster_file, first, "seal", "0" * 64, "CN=x")


def test_send_lists_the_departments_first(pledge, demo_pki, pki_roster, tmp_path):
    from signflow.signing.handoff import send_package

    package = send_package(pledge, demo_pki.roster_path, MEMBER, tmp_path / "out")
    assert package.departments == departments(pki_roster)
    text = package.instructions.read_text(encoding="utf-8-sig")
    for signer in departments(pki_roster):
        assert f"--member {signer} --role head" in text, text
    lines = text.splitlines()
    first_department = next(i for i, line in enumerate(lines) if "--member " + MEMBER + "/"
                            in line)
    head = next(i for i, line in enumerate(lines) if f"--member {MEMBER} --role head" in line)
    assert first_department < head, text


def test_the_ceremony_asks_the_departments_first(pledge, demo_pki, pki_roster):
    """The order the conference ceremony (and the agent's ceremony page) follows: the
    member's departments, then its head, then its seal. Keys are not needed to ask."""
    from signflow.ceremony import Ceremony

    ceremony = Ceremony(pledge, pki_roster, [demo_pki.softhsm.module])
    keys = [t.key for t in ceremony.pending()]
    assert keys == [(s, "head") for s in departments(pki_roster)] + [
        (MEMBER, "head"), (MEMBER, "seal")], keys
    turn = ceremony.next_turn()
    assert turn is not None and turn.key == (departments(pki_roster)[0], "head")
    department = pki_roster.member(departments(pki_roster)[0])
    assert f"{department.head.name}, {department.head.title} {department.department_name} " \
           f"(Thanh tra tỉnh Bắc Ninh)" in turn.invitation(), turn.invitation()
    head = next(t for t in ceremony.pending() if t.key == (MEMBER, "head"))
    assert not ceremony.allowed(head), "the head was allowed before its departments"
    for signer in departments(pki_roster):
        sign(pledge, demo_pki, pki_roster, signer)
    turn = ceremony.next_turn()
    assert turn is not None and turn.key == (MEMBER, "head"), turn


def test_roster_pin_and_status_on_the_command_line(cli, pledge, demo_pki, pki_roster, tmp_path):
    roster_file = tmp_path / "roster.toml"
    shutil.copyfile(demo_pki.roster_path, roster_file)
    shutil.copytree(demo_pki.roster_path.parent / "images", tmp_path / "images")
    first = departments(pki_roster)[0]
    own = demo_pki.credential(first, "head")
    result = cli("roster", "pin", roster_file, "--member", first, "--cert", own.cert_pem,
                 "--yes")
    assert result.code == 0, result.err
    assert "Văn phòng, Thanh tra tỉnh Bắc Ninh (người đứng đầu)" in result.out, result.out
    refused = cli("roster", "pin", roster_file, "--member", first, "--role", "seal",
                  "--cert", own.cert_pem, "--yes")
    assert refused.code == 2 and "không có con dấu riêng" in refused.err, refused.err
    # the wide status: each department's column before its member's, named by the department
    status = cli("status", pledge, "--roster", roster_file, "--wide")
    assert status.code in (0, 1), status.err
    header = status.out.splitlines()[0]
    names = [d.name for d in pki_roster.member(MEMBER).departments]
    positions = [header.index(name) for name in names]
    assert positions == sorted(positions) and positions[-1] < header.index("Bắc Ninh"), header


# --- found by an attacker's review ----------------------------------------------------------


def _pdf_with_text(text: str) -> bytes:
    """A one-page PDF whose content shows ``text`` (Helvetica), made with pyHanko."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica")}))
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = writer.add_object(generic.StreamObject(
        stream_data=f"BT /F1 4 Tf 10 400 Td ({escaped}) Tj ET".encode("latin-1")))
    page = generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        generic.NameObject("/Resources"): generic.DictionaryObject({
            generic.NameObject("/Font"): generic.DictionaryObject({
                generic.NameObject("/F1"): font})}),
        generic.NameObject("/Contents"): content})
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("text", [
    "[[sf:bac-ninh/" + "x" * 200 + ":head]]",  # longer than any anchor is read
    "[[sf:bac-ninh/van-phong:seal]]",  # a department has no seal
    "[[sf:bac-ninh/van-phong/x:head]]",  # no third level
])
def test_an_anchor_that_cannot_be_read_is_an_error_not_skipped(text):
    """An anchor skipped would be a signer nobody waits for and no verdict requires."""
    from signflow.errors import InputError
    from signflow.pdf.anchors import scan_anchors

    good = scan_anchors(_pdf_with_text("[[sf:bac-ninh/van-phong:head]]"))[0]
    assert [(a.member, a.role) for a in good] == [("bac-ninh/van-phong", "head")], good
    with pytest.raises(InputError) as refused:
        scan_anchors(_pdf_with_text(text), "t.pdf")
    assert "không đọc được" in refused.value.message, refused.value.message


def test_ids_are_short_and_field_names_exact(tmp_path):
    from signflow.roster import MAX_ID, RosterError, load_roster

    assert parse_field_name("sf-head-bac-ninh/van-phong\n") is None
    assert parse_field_name("sf-head-bac-ninh\n") is None
    text = (Path(__file__).parent.parent / "signflow" / "documents" / "examples" /
            "cum-thi-dua-so-2-2019" / "roster.toml").read_text(encoding="utf-8")
    long_id = "phong-" + "a" * (MAX_ID - 5)
    roster = tmp_path / "roster.toml"
    roster.write_text(text.replace('id = "van-phong"', f'id = "{long_id}"', 1),
                      encoding="utf-8")
    with pytest.raises(RosterError) as refused:
        load_roster(roster)
    assert any("quá dài" in d for d in refused.value.details), refused.value.details


@pytest.fixture(scope="module")
def partial_pledge(tmp_path_factory):
    """bac-ninh's pledge generated from a roster that gives it only its first department
    (as bac-ninh itself could, or anyone holding the file before its first signature)."""
    from dataclasses import replace

    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack
    from signflow.roster import Roster, load_roster

    from .conftest import DATA, ROSTER

    full = load_roster(ROSTER)
    members = tuple(
        replace(m, departments=m.departments[:1],
                staff=tuple(s for s in m.staff if s.department == m.departments[0].id))
        if m.id == MEMBER else m for m in full.members)
    out = tmp_path_factory.mktemp("partial")
    generate_pack(Roster(full.path, full.cluster, members), load_data([DATA]), out,
                  only=["giao-uoc-noi-bo"], members=[MEMBER], pdf=True)
    return out / "2019" / MEMBER / PLEDGE


def test_a_pledge_naming_only_some_departments(partial_pledge, demo_pki, pki_roster, cli,
                                               tmp_path):
    from signflow.documents.fields import placements
    from signflow.errors import InputError
    from signflow.validation.revisions import read_history

    pdf = tmp_path / PLEDGE
    shutil.copyfile(partial_pledge, pdf)
    pdf.chmod(0o644)
    first, *others = departments(pki_roster)
    with pytest.raises(InputError) as refused:  # prepare, with the real roster
        placements(read_history(pdf).anchors, pki_roster)
    assert any("chỉ nêu một số phòng, đơn vị của bac-ninh" in d
               for d in refused.value.details), refused.value.details
    sign(pdf, demo_pki, pki_roster, first)
    why = refusal(pdf, demo_pki, pki_roster, MEMBER)
    assert f"không có điểm neo cho {', '.join(others)}" in why, why
    # signed anyway (pyHanko directly): not complete, the others missing, and why
    with open_credential(demo_pki, MEMBER, "head") as head:
        _pyhanko_sign(pdf, f"sf-head-{MEMBER}", head.signer)
    report = flagged(cli, pdf, demo_pki)
    assert report["complete"] is False, report
    assert {(m["member"], m["role"]) for m in report["missing"]} >= {
        (o, "head") for o in others}, report["missing"]
    assert any("chỉ nêu một số phòng, đơn vị của bac-ninh" in p for p in report["problems"]), \
        report["problems"]


def test_an_order_rule_trusts_a_signature_only_by_the_expected_certificate(
        pledge, demo_pki, pki_roster):
    """Department fields filled by the member head's own key (pyHanko directly): the head
    may not confirm over them; a head field filled by an outsider: no seal over it."""
    for signer in departments(pki_roster):
        with open_credential(demo_pki, MEMBER, "head") as head:
            _pyhanko_sign(pledge, f"sf-head-{signer}", head.signer)
    why = refusal(pledge, demo_pki, pki_roster, MEMBER)
    assert "các phòng, đơn vị của bac-ninh ký trước thủ trưởng" in why, why
    with open_credential(demo_pki, "outsider", "extra") as outsider:
        _pyhanko_sign(pledge, f"sf-head-{MEMBER}", outsider.signer)
    number_if_needed(pledge, pki_roster, MEMBER)
    why = refusal(pledge, demo_pki, pki_roster, MEMBER, "seal")
    assert "không phải của thủ trưởng" in why, why
