"""Revocation data that counts: signflow's own revocation manager (validation/_revinfo.py)
leaves out exactly the responses certvalidator would take for "serial number does not
match", never one about the certificate itself; "not revoked" and the level B-LT rest on
data certvalidator itself validated for the signer's certificate, not on data that only
names its issuer (an attacker's forged delta CRL, found by an attacker's review)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from .conftest import append_change, fetch_ocsp_response, open_credential
from .test_attacks import _pyhanko_sign


def _good():
    from asn1crypto import core, ocsp

    return ocsp.CertStatus(name="good", value=core.Null())


def _report(cli, pdf: Path, demo_pki, *args: str) -> dict:
    result = cli("verify", pdf, "--trust", demo_pki.root_pem, "--json", *args)
    assert "Traceback" not in result.err, result.err
    return json.loads(result.out)


def _interm(demo_pki):
    from asn1crypto import pem, x509

    return x509.Certificate.load(pem.unarmor(demo_pki.intermediate_pem.read_bytes())[2])


def _forged_delta_crl(issuer_cert):
    """A delta CRL 'from' the signer's CA: its name, a garbage signature. certvalidator
    only uses a delta CRL next to a complete CRL of the same issuer, so it never looks at
    this one (no match: offline soft-fail goes on), but its issuer name is the signer's."""
    from asn1crypto import crl, x509

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    tbs = crl.TbsCertList({
        "version": "v2", "signature": {"algorithm": "sha256_rsa"},
        "issuer": issuer_cert.subject,
        "this_update": x509.Time({"utc_time": now}),
        "next_update": x509.Time({"utc_time": now + dt.timedelta(days=7)}),
        "crl_extensions": [
            {"extn_id": "crl_number", "critical": False, "extn_value": 4242},
            {"extn_id": "delta_crl_indicator", "critical": True, "extn_value": 4241},
        ]})
    forged = crl.CertificateList({"tbs_cert_list": tbs,
                                  "signature_algorithm": {"algorithm": "sha256_rsa"},
                                  "signature": b"\x01" * 256})
    forged.native  # noqa: B018 - well formed
    return crl.CertificateList.load(forged.dump())


def _sign_revoked_b_t(pdf: Path, demo_pki) -> Path:
    """The REVOKED test signer signs Ninh Bình's head field with a trusted signature
    timestamp (B-T), pyHanko directly, no validation data."""
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from signflow.demo.services import serve_pki

    with serve_pki(demo_pki), open_credential(demo_pki, "revoked", "extra") as cred:
        _pyhanko_sign(pdf, "sf-head-ninh-binh", cred.signer,
                      HTTPTimeStamper(demo_pki.tsa_url))
    return pdf


def test_forged_delta_crl_reports_a_revoked_certificate_as_not_revoked_b_lt(
        cli, pdf_pack, demo_pki, tmp_path):
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    pdf = tmp_path / "a.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    pdf.chmod(0o644)
    _sign_revoked_b_t(pdf, demo_pki)
    before = _report(cli, pdf, demo_pki)["signatures"][0]
    # no data about it: status unknown, B-T (what 36cff3f promises)
    assert before["trusted"] and before["revoked"] is None and before["level"] == "B-T", before

    forged = _forged_delta_crl(_interm(demo_pki))
    append_change(pdf, lambda w: DocumentSecurityStore.supply_dss_in_writer(
        w, None, crls=[forged]))
    after = _report(cli, pdf, demo_pki)
    sig = after["signatures"][0]
    # a garbage CRL nobody checked must not say "not revoked" nor give B-LT
    assert sig["revoked"] is None, f"revoked certificate reported not revoked: {sig}"
    assert sig["level"] == "B-T", sig


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha384", "sha512", "md5"])
def test_filter_drops_exactly_certvalidators_serial_mismatches(demo_pki, algorithm):
    """For every CertID variant (own serial, another serial, wrong name/key hash, one
    response with several singles), the manager leaves a single response out iff
    certvalidator would call it 'serial number does not match'."""
    import hashlib

    from asn1crypto import ocsp, pem, x509
    from pyhanko_certvalidator.authority import AuthorityWithCert
    from pyhanko_certvalidator.revinfo.archival import OCSPContainer
    from pyhanko_certvalidator.revinfo.validate_ocsp import _match_ocsp_certid, _OCSPErrs

    from signflow.validation._revinfo import _other_certificate_of_same_issuer

    interm = _interm(demo_pki)
    cert = x509.Certificate.load(pem.unarmor(
        demo_pki.credential("revoked").cert_pem.read_bytes())[2])
    authority = AuthorityWithCert(interm)
    h = lambda data: hashlib.new(algorithm, data).digest()  # noqa: E731
    good_name, good_key = h(cert.issuer.dump()), h(interm.public_key["public_key"].contents)
    now = dt.datetime.now(dt.UTC)
    singles = []
    for name in (good_name, b"\x00" * len(good_name)):
        for key in (good_key, b"\x00" * len(good_key)):
            for serial in (cert.serial_number, cert.serial_number + 1):
                singles.append({"cert_id": {"hash_algorithm": {"algorithm": algorithm},
                                            "issuer_name_hash": name,
                                            "issuer_key_hash": key,
                                            "serial_number": serial},
                                "cert_status": _good(), "this_update": now})
    basic = ocsp.BasicOCSPResponse({
        "tbs_response_data": {"responder_id": {"by_key": b"\x00" * 20}, "produced_at": now,
                              "responses": singles},
        "signature_algorithm": {"algorithm": "sha256_rsa"}, "signature": b"\x00"})
    response = ocsp.OCSPResponse({"response_status": "successful", "response_bytes": {
        "response_type": "basic_ocsp_response", "response": basic}})
    response = ocsp.OCSPResponse.load(response.dump())
    for container in OCSPContainer.load_multi(response):
        errs = _OCSPErrs()
        try:
            _match_ocsp_certid(cert, authority, container, errs)
            serial_mismatch = any("serial number does not match" in f[0]
                                  for f in errs.failures)
        except AttributeError:  # certvalidator cannot hash with md5/sha384/sha512
            serial_mismatch = False
        dropped = _other_certificate_of_same_issuer(container, cert, authority)
        assert dropped == serial_mismatch, (algorithm, container.index)


def test_garbage_sha512_certid_fails_closed(cli, signed_agreement, demo_pki, tmp_path):
    """A CertID hashed with SHA-512 makes certvalidator raise (no Name.sha512): the
    signatures must end not ok, with no traceback."""
    from asn1crypto import ocsp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    now = dt.datetime.now(dt.UTC)
    basic = ocsp.BasicOCSPResponse({
        "tbs_response_data": {"responder_id": {"by_key": b"\x00" * 20}, "produced_at": now,
                              "responses": [{"cert_id": {
                                  "hash_algorithm": {"algorithm": "sha512"},
                                  "issuer_name_hash": b"\x00" * 64,
                                  "issuer_key_hash": b"\x00" * 64, "serial_number": 1},
                                  "cert_status": _good(), "this_update": now}]},
        "signature_algorithm": {"algorithm": "sha256_rsa"}, "signature": b"\x00"})
    response = ocsp.OCSPResponse.load(ocsp.OCSPResponse({
        "response_status": "successful", "response_bytes": {
            "response_type": "basic_ocsp_response", "response": basic}}).dump())
    pdf = tmp_path / "t.pdf"
    shutil.copyfile(signed_agreement, pdf)
    pdf.chmod(0o644)
    append_change(pdf, lambda w: DocumentSecurityStore.supply_dss_in_writer(
        w, None, ocsps=[response]))
    report = _report(cli, pdf, demo_pki)
    assert report["ok"] is False, report
    people = [s for s in report["signatures"] if not s["is_timestamp"]]
    for s in people:
        assert not s["ok"] and any("không xác minh được chữ ký" in p for p in s["problems"]), s
        # the signature value was never judged: it is not said to be wrong either
        assert not any("giá trị chữ ký không khớp" in p for p in s["problems"]), s


def test_revoked_signer_among_other_members_responses_is_still_revoked(
        cli, pdf_pack, demo_pki, pki_roster, tmp_path):
    """A member signs at B-LT (its OCSP response in the DSS), then the revoked signer at
    B-T, then its own (revoked) OCSP response is added: offline and online, revoked."""
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    from signflow.demo.services import serve_pki
    from signflow.signing.signer import SignSettings, sign_documents

    pdf = tmp_path / "a.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    pdf.chmod(0o644)
    with serve_pki(demo_pki):
        settings = SignSettings(level="B-LT", tsa_url=demo_pki.tsa_url,
                                trust_roots=(demo_pki.root_pem,))
        with open_credential(demo_pki, "nam-dinh", "head") as cred:
            sign_documents([pdf], pki_roster, "nam-dinh", "head", cred, settings)
    from asn1crypto import pem, x509

    revoked_cert = x509.Certificate.load(pem.unarmor(
        demo_pki.credential("revoked").cert_pem.read_bytes())[2])
    _sign_revoked_b_t(pdf, demo_pki)
    with serve_pki(demo_pki):
        only_siblings = _report(cli, pdf, demo_pki)
        own = fetch_ocsp_response(demo_pki, revoked_cert)
        online_siblings = _report(cli, pdf, demo_pki, "--online")
    sig = [s for s in only_siblings["signatures"] if s["field"] == "sf-head-ninh-binh"][0]
    assert sig["revoked"] is None  # no data about it offline: unknown (by design)
    osig = [s for s in online_siblings["signatures"] if s["field"] == "sf-head-ninh-binh"][0]
    assert osig["revoked"] is True and not osig["ok"], osig

    append_change(pdf, lambda w: DocumentSecurityStore.supply_dss_in_writer(
        w, None, ocsps=[own]))
    report = _report(cli, pdf, demo_pki)
    sig = [s for s in report["signatures"] if s["field"] == "sf-head-ninh-binh"][0]
    assert sig["revoked"] is True and not sig["ok"], sig
    member = [s for s in report["signatures"] if s["field"] == "sf-head-nam-dinh"][0]
    assert member["ok"] and member["revoked"] is False, member


def test_online_a_certificate_naming_no_revocation_source_is_not_called_not_revoked(
        cli, pdf_pack, demo_pki, tmp_path):
    """The cluster's CA issues a certificate naming neither an OCSP responder nor a CRL:
    online there is nothing to ask, so nothing says it is not revoked (it was `false`)."""
    from cryptography import x509

    from signflow.demo.services import serve_pki

    from .test_attacks import _pyhanko_sign, _simple_signer, cluster_ca_certificate

    cert, key, interm = cluster_ca_certificate(
        demo_pki, "ninh-binh", "head", bits=2048,
        without=(x509.AuthorityInformationAccess, x509.CRLDistributionPoints))
    pdf = tmp_path / "a.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    pdf.chmod(0o644)
    _pyhanko_sign(pdf, "sf-head-ninh-binh", _simple_signer(cert, key, [interm]))
    with serve_pki(demo_pki):
        report = _report(cli, pdf, demo_pki, "--online")
    sig = report["signatures"][0]
    assert sig["trusted"] and sig["revoked"] is None, sig
