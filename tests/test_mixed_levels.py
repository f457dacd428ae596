"""A document whose members signed at different PAdES levels: some B-LT (their OCSP
responses in the DSS), others B-B or B-T, one B-LTA (document timestamps) in between.

Offline, pyhanko-certvalidator offered every embedded OCSP response to every signer's
revocation check and took a response from the same CA about another certificate for a
failed check: every B-B and B-T signer of such a document was "not trusted" (it is trusted,
revocation unknown, in a B-B-only document). And the level said B-LT/B-LTA for any
signature followed by validation data, also when none of it was about its signer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import open_credential

# the level each member signs at (head and seal), in roster order
LEVELS = {"ninh-binh": "B-LT", "nam-dinh": "B-B", "ha-nam": "B-T", "thai-binh": "B-LT",
          "hung-yen": "B-B", "hai-duong": "B-LTA", "bac-ninh": "B-T", "vinh-phuc": "B-B",
          "quang-ninh": "B-LT"}
# what verify must say: a signature before hai-duong's document timestamp has a proven time
# (B-T at least); B-LT(A) only with validation data about its own certificate
EXPECTED = {"ninh-binh": "B-LTA", "nam-dinh": "B-T", "ha-nam": "B-T", "thai-binh": "B-LTA",
            "hung-yen": "B-T", "hai-duong": "B-LTA", "bac-ninh": "B-T", "vinh-phuc": "B-B",
            "quang-ninh": "B-LT"}


@pytest.fixture(scope="module")
def mixed(pdf_pack, demo_pki, pki_roster, tmp_path_factory) -> Path:
    from signflow.demo.services import serve_pki
    from signflow.signing.signer import SignSettings, sign_documents

    pdf = tmp_path_factory.mktemp("mixed") / "giao-uoc.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    pdf.chmod(0o644)
    assert [m.id for m in pki_roster.members] == list(LEVELS), "the roster's order changed"
    with serve_pki(demo_pki):
        for member, level in LEVELS.items():
            settings = SignSettings(level=level,  # type: ignore[arg-type]
                                    tsa_url=None if level == "B-B" else demo_pki.tsa_url,
                                    trust_roots=(demo_pki.root_pem,))
            for role in ("head", "seal"):
                with open_credential(demo_pki, member, role) as cred:
                    sign_documents([pdf], pki_roster, member, role, cred, settings)
    return pdf


def _report(cli, pdf: Path, demo_pki, *args: str) -> tuple[int, dict]:
    import json

    result = cli("verify", pdf, "--roster", demo_pki.roster_path, "--trust",
                 demo_pki.root_pem, "--json", *args)
    assert result.out.strip(), result.err
    return result.code, json.loads(result.out)


def test_mixed_levels_verify_offline_with_each_signatures_own_level(cli, mixed, demo_pki):
    code, report = _report(cli, mixed, demo_pki)
    people = [s for s in report["signatures"] if not s["is_timestamp"]]
    not_ok = {s["field"]: s["problems"] for s in people if not s["ok"]}
    assert not not_ok, f"signatures at a lower level than others are not ok: {not_ok}"
    assert code == 0 and report["ok"] and report["complete"], report["problems"]
    levels = {s["member"]: s["level"] for s in people}
    assert levels == EXPECTED, levels
    # trusted, with the revocation status known only where data about them was embedded
    for s in people:
        has_data = EXPECTED[s["member"]] in ("B-LT", "B-LTA")
        assert s["trusted"] and s["revoked"] is (False if has_data else None), s


def test_mixed_levels_verify_online(cli, mixed, demo_pki):
    from signflow.demo.services import serve_pki

    with serve_pki(demo_pki):
        code, report = _report(cli, mixed, demo_pki, "--online")
    assert code == 0 and report["ok"], [s["problems"] for s in report["signatures"]]
    assert all(s["revoked"] is False for s in report["signatures"]), report["signatures"]


def test_plain_certvalidator_takes_another_members_response_for_a_failure(mixed, demo_pki):
    """The upstream behaviour signflow works around (its own revocation manager, a public
    extension point): the same B-B signature with the same embedded data, judged with
    certvalidator's own manager, is not trusted; with signflow's, trusted."""
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from signflow.identity import load_trust_roots
    from signflow.validation import _revinfo
    from signflow.validation.revisions import read_history
    from signflow.validation.verify import _dss_material

    history = read_history(mixed)
    dss, problems = _dss_material(history)
    assert not problems and dss["ocsps"], (problems, dss)
    record = history.signature_for("nam-dinh", "head")
    assert record is not None
    roots = load_trust_roots([demo_pki.root_pem])
    common = dict(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
    plain = ValidationContext(**common, retroactive_revinfo=True, **dss)
    ours = _revinfo.validation_context(**common, moment=None, fetchers=None, **dss)
    assert not validate_pdf_signature(record.embedded, plain, skip_diff=True).trusted, \
        "certvalidator no longer fails on another certificate's response: drop the manager"
    assert validate_pdf_signature(record.embedded, ours, skip_diff=True).trusted


def test_a_response_about_the_certificate_itself_is_always_offered(mixed):
    """The manager leaves out a response only when it is about another certificate of the
    same issuer: every signer's own response stays (a revoked one would be found)."""
    from pyhanko_certvalidator.authority import AuthorityWithCert
    from pyhanko_certvalidator.revinfo.archival import OCSPContainer

    from signflow.validation._revinfo import _other_certificate_of_same_issuer
    from signflow.validation.revisions import read_history
    from signflow.validation.verify import _dss_material

    history = read_history(mixed)
    dss, _problems = _dss_material(history)
    singles = [c for r in dss["ocsps"] for c in OCSPContainer.load_multi(r)]
    records = [r for r in history.signatures if not r.is_timestamp]
    bag = {c.subject.dump(): c for r in records for c in r.embedded.other_embedded_certs}
    own = 0
    for record in records:
        cert = record.signer_cert
        authority = AuthorityWithCert(bag[cert.issuer.dump()])
        for single in singles:
            response = single.ocsp_response_data["response_bytes"]["response"].parsed
            about = response["tbs_response_data"]["responses"][single.index]["cert_id"]
            mine = about["serial_number"].native == cert.serial_number
            own += mine
            assert _other_certificate_of_same_issuer(single, cert, authority) is not mine, \
                (record.field, about["serial_number"].native)
    assert own == sum(EXPECTED[m] in ("B-LT", "B-LTA") for m in LEVELS) * 2, own


def test_data_added_after_the_last_document_timestamp_gives_b_lt(cli, mixed, demo_pki,
                                                                 tmp_path):
    """Nam Định signed B-B before Hải Dương's document timestamps; its OCSP response is
    embedded later, after the last one: validated data, not covered by a document
    timestamp: B-LT, not B-LTA (the first DSS update after it, another member's, was)."""
    from asn1crypto import pem, x509
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    from signflow.demo.services import serve_pki

    from .conftest import append_change, fetch_ocsp_response

    head = x509.Certificate.load(pem.unarmor(
        demo_pki.credential("nam-dinh", "head").cert_pem.read_bytes())[2])
    pdf = tmp_path / "later.pdf"
    shutil.copyfile(mixed, pdf)
    with serve_pki(demo_pki):
        response = fetch_ocsp_response(demo_pki, head)
    append_change(pdf, lambda w: DocumentSecurityStore.supply_dss_in_writer(
        w, None, ocsps=[response]))
    code, report = _report(cli, pdf, demo_pki)
    people = {(s["member"], s["role"]): s for s in report["signatures"]
              if not s["is_timestamp"]}
    assert code == 0 and report["ok"], [s["problems"] for s in people.values()]
    assert people[("nam-dinh", "head")]["level"] == "B-LT", people[("nam-dinh", "head")]
    assert people[("nam-dinh", "head")]["revoked"] is False
    assert people[("nam-dinh", "seal")]["level"] == "B-T"  # nothing about the seal's
    assert people[("ninh-binh", "head")]["level"] == "B-LTA"  # its data before the stamps
