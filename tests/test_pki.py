"""The demo PKI: real keys, real certificates, real OCSP/CRL/TSA answers over loopback HTTP,
and a real SoftHSM2 token. No mocks: what the signing code will meet is what is tested."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
)
from PIL import Image

from signflow.demo.pki import ARCH, DemoPki, ExtraSigner, create_demo_pki, load_demo_pki
from signflow.demo.services import check_exports, serve_pki
from signflow.demo.softhsm import activate_softhsm
from signflow.errors import InputError, SigningError, ToolMissingError
from signflow.roster import load_roster

from .conftest import ROSTER

HSM_MEMBERS = ("ninh-binh", "nam-dinh")
EXTRAS = (
    ExtraSigner("outsider", "Người Ngoài Cụm", "Công ty Không Liên Quan"),
    ExtraSigner("revoked", "Nguyễn Văn Thu Hồi", "Thanh tra tỉnh Thử Nghiệm", revoked=True),
    ExtraSigner("expired", "Trần Thị Hết Hạn", "Thanh tra tỉnh Thử Nghiệm", expired=True),
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    """One PKI for the whole 2019 roster. The token is made when SoftHSM2 is installed;
    test_softhsm_token fails (not skips) when it is not, the other tests still run."""
    hsm = HSM_MEMBERS if shutil.which("softhsm2-util") else ()
    out = tmp_path_factory.mktemp("pki") / "demo"
    return create_demo_pki(load_roster(ROSTER), out, softhsm_members=hsm,
                           extra_signers=EXTRAS)


@pytest.fixture(scope="module")
def served(pki: DemoPki) -> Iterator[str]:
    with serve_pki(pki.dir) as url:
        yield url


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    return name.get_attributes_for_oid(oid)[0].value


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --------------------------------------------------------------------------------------
# Files


def test_layout_and_private_files(pki: DemoPki) -> None:
    d = pki.dir
    for rel in ("pki.json", "certomancer.yml", "roster.toml", "trust/root.pem",
                "certs/intermediate.pem", "certs/tsa.pem", "certs/ocsp.pem"):
        assert (d / rel).is_file(), rel
    assert _mode(d / "private") == 0o700
    keys = list((d / "private").glob("*.key.pem"))
    departments = sum(len(m.departments) for m in load_roster(ROSTER).members)
    assert departments == 35, departments  # the 2019 roster's department heads sign too
    assert len(keys) == 4 + 2 * 9 + departments + len(EXTRAS)
    assert all(_mode(k) == 0o600 for k in keys)
    assert len(pki.credentials) == 2 * 9 + departments + len(EXTRAS)
    for cred in pki.credentials.values():
        assert _mode(cred.p12) == 0o600
        assert _mode(cred.passphrase_file) == 0o600
        raw = cred.passphrase_file.read_bytes()
        assert raw and not raw.endswith(b"\n") and raw.decode() == cred.passphrase()
    # Every passphrase is its own.
    assert len({c.passphrase() for c in pki.credentials.values()}) == len(pki.credentials)


def test_pki_json_reads_back(pki: DemoPki) -> None:
    assert load_demo_pki(pki.dir) == pki
    data = json.loads((pki.dir / "pki.json").read_text(encoding="utf-8"))
    # Relative paths: the folder can be moved (except the SoftHSM token's own config).
    assert not Path(data["root_pem"]).is_absolute()
    assert pki.tsa_url == f"{pki.url}/{ARCH}/tsa/tsa"
    assert pki.ocsp_url == f"{pki.url}/{ARCH}/ocsp/interm"


@pytest.fixture
def vietnamese(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages in Vietnamese, whatever language an earlier test left set."""
    from signflow import i18n

    monkeypatch.setattr(i18n, "_language", "vi")


def test_load_demo_pki_refuses_other_folders(tmp_path: Path, vietnamese) -> None:
    with pytest.raises(InputError, match="không phải thư mục PKI thử nghiệm") as info:
        load_demo_pki(tmp_path)
    assert str(tmp_path) in info.value.message and "pki.json" in info.value.message, \
        info.value.message


# --------------------------------------------------------------------------------------
# Certificates


def test_p12_files_hold_key_certificate_and_chain(pki: DemoPki) -> None:
    roster = load_roster(ROSTER)
    root, interm = _cert(pki.root_pem), _cert(pki.intermediate_pem)
    for member in roster.members:
        for role in ("head", "seal"):
            cred = pki.credentials[(member.id, role)]
            key, cert, chain = pkcs12.load_key_and_certificates(
                cred.p12.read_bytes(), cred.passphrase().encode())
            assert key is not None and cert is not None
            assert key.public_key().public_numbers() == cert.public_key().public_numbers()
            assert key.key_size == 2048
            assert chain == [interm, root]
            assert cert == _cert(cred.cert_pem)
            der = cert.public_bytes(serialization.Encoding.DER)
            assert cred.sha256 == hashlib.sha256(der).hexdigest()
            assert cred.subject == cert.subject.rfc4514_string()
            subject = cert.subject
            assert _attr(subject, NameOID.COUNTRY_NAME) == "VN"
            if role == "head":
                assert _attr(subject, NameOID.COMMON_NAME) == member.head.name
                assert _attr(subject, NameOID.ORGANIZATION_NAME) == member.unit
                assert _attr(subject, NameOID.TITLE) == member.head.title
            else:
                assert _attr(subject, NameOID.COMMON_NAME) == member.unit
                assert _attr(subject, NameOID.ORGANIZATION_NAME) == member.parent
    with pytest.raises(ValueError, match="password"):
        cred = pki.credentials[("ninh-binh", "head")]
        pkcs12.load_key_and_certificates(cred.p12.read_bytes(), b"wrong")


def test_certificate_profiles(pki: DemoPki) -> None:
    root, interm = _cert(pki.root_pem), _cert(pki.intermediate_pem)
    root.verify_directly_issued_by(root)
    interm.verify_directly_issued_by(root)
    for ca in (root, interm):
        bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        ku = ca.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert interm.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    # About 20 years for the CAs.
    assert root.not_valid_after_utc - root.not_valid_before_utc > dt.timedelta(days=7000)

    tsa = _cert(pki.dir / "certs" / "tsa.pem")
    tsa.verify_directly_issued_by(root)
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    responder = _cert(pki.dir / "certs" / "ocsp.pem")
    responder.verify_directly_issued_by(interm)
    eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)

    now = pki.created
    for (owner, _role), cred in pki.credentials.items():
        cert = _cert(cred.cert_pem)
        cert.verify_directly_issued_by(interm)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
        assert not ku.value.key_cert_sign
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_urls = [a.access_location.value for a in aia
                     if a.access_method == AuthorityInformationAccessOID.OCSP]
        assert ocsp_urls == [pki.ocsp_url]
        dps = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [n.value for dp in dps for n in dp.full_name] == [pki.crl_urls["interm"]]
        if owner == "expired":
            assert cert.not_valid_after_utc < now - dt.timedelta(days=1)
        else:
            assert cert.not_valid_before_utc == now - dt.timedelta(days=1)
            assert cert.not_valid_after_utc == now + dt.timedelta(days=729)
    # Serial numbers are random, not certomancer's 0x1000, 0x1001, ...
    serials = {_cert(c.cert_pem).serial_number for c in pki.credentials.values()}
    assert len(serials) == len(pki.credentials) and min(serials) > 2**32


def test_certomancer_rebuilds_the_exported_certificates_byte_for_byte(pki: DemoPki) -> None:
    """Certomancer regenerates every certificate from certomancer.yml when it starts; OCSP
    and CRL answers are about those. They must be the very ones in the .p12 files."""
    from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig

    config = CertomancerConfig.from_file(str(pki.config_path))
    arch = config.get_pki_arch(ArchLabel(ARCH))
    for cred in pki.credentials.values():
        exported = _cert(cred.cert_pem).public_bytes(serialization.Encoding.DER)
        assert arch.get_cert(CertLabel(cred.label)).dump() == exported
        _, cert, _ = pkcs12.load_key_and_certificates(cred.p12.read_bytes(),
                                                      cred.passphrase().encode())
        assert cert is not None
        assert cert.public_bytes(serialization.Encoding.DER) == exported
    check_exports(pki)


# --------------------------------------------------------------------------------------
# Roster and images


def test_written_roster_loads_with_fingerprints_and_images(pki: DemoPki) -> None:
    assert pki.roster_path is not None
    written = load_roster(pki.roster_path)
    original = load_roster(ROSTER)
    assert written.cluster == original.cluster
    assert written.member_ids == original.member_ids
    for member in written.members:
        head = pki.credentials[(member.id, "head")]
        seal = pki.credentials[(member.id, "seal")]
        assert member.head.certificate is not None
        assert member.head.certificate.sha256 == head.sha256
        assert member.seal_certificate is not None
        assert member.seal_certificate.sha256 == seal.sha256
        assert member.signature_image == pki.dir / "images" / f"{member.id}-signature.png"
        assert member.seal_image == pki.dir / "images" / f"{member.id}-seal.png"
        for department in member.departments:
            pin = department.head.certificate
            assert pin is not None and pin.sha256 == pki.credentials[
                (f"{member.id}/{department.id}", "head")].sha256, (member.id, department.id)
    # Every key of the input survives.
    raw_in = tomllib.loads(ROSTER.read_text(encoding="utf-8"))
    raw_out = tomllib.loads(pki.roster_path.read_text(encoding="utf-8"))
    assert raw_out["cluster"] == raw_in["cluster"]
    for m_in, m_out in zip(raw_in["members"], raw_out["members"], strict=True):
        for key, value in m_in.items():
            if key == "head":
                assert {k: v for k, v in m_out["head"].items() if k != "certificate"} == value
            elif key == "departments":  # each department head's pin added, nothing else
                assert [{**d, "head": {k: v for k, v in d["head"].items()
                                       if k != "certificate"}} for d in m_out[key]] == value
            else:
                assert m_out[key] == value


def test_images_are_transparent_pngs_of_the_right_colour_and_size(pki: DemoPki) -> None:
    sig = Image.open(pki.dir / "images" / "ha-nam-signature.png")
    seal = Image.open(pki.dir / "images" / "ha-nam-seal.png")
    assert sig.format == seal.format == "PNG"
    assert sig.mode == seal.mode == "RGBA"
    assert sig.size == (600, 260)
    # 34 mm at 300 dpi, and the file says 300 dpi so it can be placed at its real size.
    assert seal.size == (402, 402)
    assert round(seal.info["dpi"][0]) == 300
    for img, want in ((sig, "blue"), (seal, "red")):
        alpha = img.getchannel("A")
        assert alpha.getextrema() == (0, 255)  # transparent background, solid ink
        assert img.getpixel((0, 0))[3] == 0
        r, g, b = (sum(img.getpixel((x, y))[i] * img.getpixel((x, y))[3]
                       for x in range(0, img.width, 3) for y in range(0, img.height, 3))
                   for i in range(3))
        assert (b > 2 * r) if want == "blue" else (r > 3 * b and r > 3 * g)


# --------------------------------------------------------------------------------------
# Services over loopback HTTP


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read()


def _ocsp_status(pki: DemoPki, label_owner: str, role: str) -> ocsp.OCSPResponse:
    cert = _cert(pki.credentials[(label_owner, role)].cert_pem)
    issuer = _cert(pki.intermediate_pem)
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    http = urllib.request.Request(
        pki.ocsp_url, data=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"}, method="POST")
    with urllib.request.urlopen(http, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/ocsp-response"
        answer = ocsp.load_der_ocsp_response(resp.read())
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.serial_number == cert.serial_number
    # Signed by the responder certificate we exported, which the intermediate issued.
    responder = _cert(pki.dir / "certs" / "ocsp.pem")
    assert answer.certificates == [responder]
    responder.public_key().verify(answer.signature, answer.tbs_response_bytes,
                                  padding.PKCS1v15(), answer.signature_hash_algorithm)
    return answer


def test_ocsp_says_good_for_members_and_revoked_for_the_revoked_signer(
    pki: DemoPki, served: str
) -> None:
    assert served == pki.url
    good = _ocsp_status(pki, "quang-ninh", "seal")
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
    revoked = _ocsp_status(pki, "revoked", "extra")
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    assert revoked.revocation_time_utc < pki.created


def test_a_second_server_on_the_same_port_is_refused(pki: DemoPki, served: str,
                                                    vietnamese) -> None:
    with pytest.raises(SigningError, match="không khởi chạy được") as info, serve_pki(pki):
        pass
    # the port is taken (by the first server), not some other failure
    assert pki.url in info.value.message, info.value.message
    assert f"[Errno {errno.EADDRINUSE}]" in info.value.message, info.value.message


def test_crls_are_signed_and_list_the_revoked_signer(pki: DemoPki, served: str) -> None:
    interm, root = _cert(pki.intermediate_pem), _cert(pki.root_pem)
    crl = x509.load_der_x509_crl(_get(pki.crl_urls["interm"]))
    assert crl.is_signature_valid(interm.public_key())
    revoked = _cert(pki.credentials[("revoked", "extra")].cert_pem)
    member = _cert(pki.credentials[("ninh-binh", "head")].cert_pem)
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(member.serial_number) is None
    root_crl = x509.load_der_x509_crl(_get(pki.crl_urls["root"]))
    assert root_crl.is_signature_valid(root.public_key())
    # The certificates served for chain building are the exported ones.
    assert _get(f"{pki.url}/{ARCH}/certs/root/ca.crt") == root.public_bytes(
        serialization.Encoding.DER)
    assert _get(f"{pki.url}/{ARCH}/certs/interm/issued/ninh-binh-head.crt") == (
        member.public_bytes(serialization.Encoding.DER))


def test_timestamp_authority_answers_rfc3161(pki: DemoPki, served: str) -> None:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    digest = hashlib.sha256(b"signflow").digest()
    token = asyncio.run(HTTPTimeStamper(pki.tsa_url).async_timestamp(digest, "sha256"))
    signed = token["content"]
    tst_info = signed["encap_content_info"]["content"].parsed
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    gen_time = tst_info["gen_time"].native
    assert abs(gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    tsa_der = _cert(pki.dir / "certs" / "tsa.pem").public_bytes(serialization.Encoding.DER)
    assert tsa_der in [c.chosen.dump() for c in signed["certificates"]]


def _blank_pdf() -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        generic.NameObject("/Resources"): generic.DictionaryObject(),
    }))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _sign_and_validate(pki: DemoPki, signer: object) -> object:
    """Sign a blank PDF (PAdES, timestamped by the demo TSA) and validate it as a
    verifier would: trusting only the root, fetching OCSP/CRLs from the demo server."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(_blank_pdf())),
        signers.PdfSignatureMetadata(field_name="Sig1",
                                     subfilter=fields.SigSeedSubFilter.PADES),
        signer=signer, timestamper=HTTPTimeStamper(pki.tsa_url),
    )
    root = asn1_x509.Certificate.load(
        _cert(pki.root_pem).public_bytes(serialization.Encoding.DER))
    vc = ValidationContext(trust_roots=[root], allow_fetching=True,
                           revocation_mode="hard-fail")
    sig = PdfFileReader(out).embedded_signatures[0]
    return validate_pdf_signature(sig, vc)


def test_pyhanko_signs_and_validates_with_a_p12(pki: DemoPki, served: str) -> None:
    from pyhanko.sign import signers

    cred = pki.credentials[("ha-nam", "head")]
    signer = signers.SimpleSigner.load_pkcs12(
        str(cred.p12), passphrase=cred.passphrase().encode())
    status = _sign_and_validate(pki, signer)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted


def test_pyhanko_reports_the_revoked_signer(pki: DemoPki, served: str) -> None:
    from pyhanko.sign import signers

    cred = pki.credentials[("revoked", "extra")]
    signer = signers.SimpleSigner.load_pkcs12(
        str(cred.p12), passphrase=cred.passphrase().encode())
    status = _sign_and_validate(pki, signer)
    assert status.intact and status.valid
    assert status.revoked and not status.trusted


# --------------------------------------------------------------------------------------
# SoftHSM2


def test_softhsm_token_signs_with_imported_keys(pki: DemoPki, served: str) -> None:
    if shutil.which("softhsm2-util") is None:
        pytest.fail("softhsm2-util is not installed: install the Debian package softhsm2 "
                    "(`make test` installs it)")
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    token = pki.softhsm
    assert token is not None
    assert _mode(token.pin_file) == 0o600
    assert _mode(token.conf.parent) == 0o700
    conf = token.conf.read_text(encoding="utf-8")
    assert f"directories.tokendir = {token.conf.parent / 'tokens'}" in conf
    assert "objectstore.backend = file" in conf
    activate_softhsm(token)
    session = open_pkcs11_session(str(token.module), token_criteria=TokenCriteria(
        label="signflow-demo"), user_pin=token.pin())
    try:
        ids = set()
        for member in HSM_MEMBERS:
            for role in ("head", "seal"):
                cred = pki.credentials[(member, role)]
                assert cred.key_label == f"{member}-{role}" and cred.key_id
                ids.add(cred.key_id)
        assert len(ids) == 4  # a distinct CKA_ID per key
        # Not on the token: members outside softhsm_members.
        assert pki.credentials[("ha-nam", "head")].key_label is None

        cred = pki.credentials[("ninh-binh", "head")]
        cert = _cert(cred.cert_pem)
        by_label = PKCS11Signer(session, key_label="ninh-binh-head",
                                cert_label="ninh-binh-head")
        raw = asyncio.run(by_label.async_sign_raw(b"signflow", "sha256"))
        cert.public_key().verify(raw, b"signflow", padding.PKCS1v15(), hashes.SHA256())
        # Selection by CKA_ID (tokens whose key and certificate labels differ).
        key_id = bytes.fromhex(pki.credentials[("nam-dinh", "seal")].key_id or "")
        by_id = PKCS11Signer(session, key_id=key_id, cert_id=key_id)
        raw = asyncio.run(by_id.async_sign_raw(b"seal", "sha256"))
        seal_cert = _cert(pki.credentials[("nam-dinh", "seal")].cert_pem)
        seal_cert.public_key().verify(raw, b"seal", padding.PKCS1v15(), hashes.SHA256())
        # And a whole PAdES signature, validated against the root.
        status = _sign_and_validate(pki, by_label)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    finally:
        session.close()


def test_softhsm_missing_is_reported_with_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without softhsm2-util
    with pytest.raises(ToolMissingError, match="softhsm2"):
        create_demo_pki(load_roster(ROSTER), tmp_path / "out",
                        softhsm_members=("ninh-binh",))
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------
# Refusals


def test_bad_requests_are_refused_before_any_work(tmp_path: Path, vietnamese) -> None:
    roster = load_roster(ROSTER)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something").write_text("x")
    with pytest.raises(InputError, match=f"{re.escape(str(busy))} không trống"):
        create_demo_pki(roster, busy)
    with pytest.raises(InputError, match="không có đơn vị mã 'atlantis'"):
        create_demo_pki(roster, tmp_path / "a", softhsm_members=("atlantis",))
    with pytest.raises(InputError, match="không thể dùng 'root' làm tên người ký bổ sung"):
        create_demo_pki(roster, tmp_path / "b", extra_signers=[ExtraSigner("root", "X", "Y")])
    with pytest.raises(InputError,
                       match="không thể dùng 'ninh-binh-head' làm tên người ký bổ sung"):
        create_demo_pki(roster, tmp_path / "c",
                        extra_signers=[ExtraSigner("ninh-binh-head", "X", "Y")])
    with pytest.raises(InputError, match=f"phải có dạng.*{re.escape('https://ca.example/x')}"):
        create_demo_pki(roster, tmp_path / "d", url="https://ca.example/x")
    with pytest.raises(InputError, match="thời hạn hiệu lực phải từ 1 đến"):
        create_demo_pki(roster, tmp_path / "e", valid_days=0)
    assert sorted(os.listdir(tmp_path)) == ["busy"]
