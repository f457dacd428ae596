"""Shared fixtures: the shipped 2019 example, and a helper to run the CLI in-process."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "signflow" / "documents" / "examples" / "cum-thi-dua-so-2-2019"
ROSTER = EXAMPLE / "roster.toml"
DATA = EXAMPLE / "data.toml"
TEMPLATES = ROOT / "signflow" / "documents" / "templates"
ARTEFACTS = ROOT / "tests" / "artefacts"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def vietnamese_by_default(monkeypatch):
    """Every test starts in Vietnamese, whatever language an earlier test's `--lang en`
    left behind (the library translates with the process's current language)."""
    from signflow import i18n

    monkeypatch.setenv("SIGNFLOW_LANG", "vi")
    monkeypatch.setattr(i18n, "_language", None)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run `signflow ...` in-process; messages in Vietnamese unless --lang says otherwise."""
    from signflow import i18n
    from signflow.cli import main

    monkeypatch.setenv("SIGNFLOW_LANG", "vi")

    def run(*args: str | os.PathLike) -> CliResult:
        capsys.readouterr()
        i18n._language = None
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Files kept after the run for a human to look at (rendered pages, reports)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS


def require_tool(name: str) -> str:
    """The path of an external program the test needs; fail (not skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it")
    return path


CHROMIUM = Path("/usr/bin/chromium")


def chromium() -> str:
    """Debian's chromium, for the pages' tests (Playwright drives it; never a download)."""
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed: install the Debian package `chromium` "
                    "(make test does); the tests never download a browser")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def browser():
    """A headless chromium for the module's page tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def pdf_pack(tmp_path_factory) -> Path:
    """The 2019 pack generated and converted to PDF/A-2b by the real LibreOffice, once."""
    require_tool("soffice")
    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack
    from signflow.roster import load_roster

    out = tmp_path_factory.mktemp("pdfpack")
    generate_pack(load_roster(ROSTER), load_data([DATA]), out, pdf=True)
    return out / "2019"


HSM_MEMBERS = ("ha-nam", "nam-dinh", "quang-ninh")


@pytest.fixture(scope="session")
def demo_pki(tmp_path_factory):
    """The demo PKI for the 2019 roster, created by the test run itself: PKCS#12 files for
    every member, a real SoftHSM2 token for three of them, and test signers outside the
    roster (one revoked, one expired)."""
    require_tool("softhsm2-util")
    from signflow.demo.pki import ExtraSigner, create_demo_pki
    from signflow.roster import load_roster

    return create_demo_pki(
        load_roster(ROSTER), tmp_path_factory.mktemp("pki") / "pki",
        softhsm_members=HSM_MEMBERS,
        extra_signers=(
            ExtraSigner("outsider", "Người Ngoài Cụm", "Công ty Không Liên Quan"),
            ExtraSigner("revoked", "Nguyễn Văn Thu Hồi", "Thanh tra tỉnh Thử Nghiệm",
                        revoked=True),
            ExtraSigner("expired", "Trần Thị Hết Hạn", "Thanh tra tỉnh Thử Nghiệm",
                        expired=True),
            # the first member's head and unit names, another organisation (namesakes)
            ExtraSigner("namesake", "Đinh Văn Hùng", "Thanh tra tỉnh Hòa Bình"),
            ExtraSigner("sealsake", "Thanh tra tỉnh Ninh Bình", "UBND tỉnh Hòa Bình"),
        ))


@pytest.fixture(scope="session")
def pki_roster(demo_pki):
    from signflow.roster import load_roster

    return load_roster(demo_pki.roster_path)


def open_credential(pki, owner: str, role: str):
    """A context manager yielding the signing credential: the SoftHSM2 token for the
    members that have one, the PKCS#12 file otherwise."""
    import contextlib

    from signflow.demo.softhsm import activate_softhsm
    from signflow.signing.credentials import open_pkcs11, open_pkcs12

    if owner in HSM_MEMBERS and role in ("head", "seal"):
        activate_softhsm(pki.softhsm)
        return open_pkcs11(pki.softhsm.module, token_label=pki.softhsm.token_label,
                           key_label=f"{owner}-{role}", pin=pki.softhsm.pin())
    cred = pki.credential(owner, role)
    return contextlib.nullcontext(open_pkcs12(cred.p12, cred.passphrase().encode()))


def sign_all(pdf, pki, roster, members=None, settings=None, ledger=None) -> None:
    """Every member's departments (those with fields: the internal pledge), its head,
    then its seal, in roster order; a member's document that the clerical office numbers
    at issue is numbered between the head and the seal (signflow number)."""
    from signflow.signing.signer import sign_documents
    from signflow.validation.revisions import read_history
    from signflow.validation.status import department_signers

    for m in roster.members:
        if members is not None and m.id not in members:
            continue
        for department in department_signers(read_history(Path(pdf)), m.id, roster):
            with open_credential(pki, department, "head") as cred:
                sign_documents([pdf], roster, department, "head", cred, settings,
                               ledger=ledger)
        for role in ("head", "seal"):
            if role == "seal":
                number_if_needed(pdf, roster, m.id, ledger)
            with open_credential(pki, m.id, role) as cred:
                sign_documents([pdf], roster, m.id, role, cred, settings, ledger=ledger)


def sign_departments(pdfs, pki, roster, member_id, ledger=None) -> None:
    """The member's department heads, on the documents that have their fields (the
    internal pledge): what comes before the member's head."""
    from signflow.signing.signer import sign_documents
    from signflow.validation.revisions import read_history
    from signflow.validation.status import department_signers

    for pdf in pdfs:
        for department in department_signers(read_history(Path(pdf)), member_id, roster):
            with open_credential(pki, department, "head") as cred:
                sign_documents([pdf], roster, department, "head", cred, ledger=ledger)


def number_if_needed(pdf, roster, member_id, ledger=None) -> None:
    """The clerical office's number and date, when the document has fields for them."""
    from signflow.ledger import Ledger
    from signflow.signing.numbering import number_documents
    from signflow.validation.revisions import read_history

    history = read_history(Path(pdf))
    if (member_id, "number") not in history.issue_fields or \
            history.numbering_revision is not None:
        return
    if ledger is not None:
        number_documents([Path(pdf)], roster, ledger)
        return
    with Ledger(Path(pdf).parent / "numbering-ledger.sqlite") as own:
        number_documents([Path(pdf)], roster, own)


@pytest.fixture(scope="session")
def signed_agreement(pdf_pack, demo_pki, pki_roster, tmp_path_factory):
    """The 2019 agreement signed by all nine heads and nine seals (B-B): read-only, copy it
    before changing anything."""
    import shutil

    target = tmp_path_factory.mktemp("signed") / "giao-uoc-thi-dua-2019.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", target)
    sign_all(target, demo_pki, pki_roster)
    target.chmod(0o444)
    return target


@pytest.fixture(scope="session")
def lta_agreement(pdf_pack, demo_pki, pki_roster, tmp_path_factory):
    """The 2019 agreement signed by all members with signature timestamps (B-T), then
    archived (validation data + document timestamp): every signature at B-LTA. The test
    PKI is served on loopback only while signing; every verification below is offline."""
    from signflow.demo.services import serve_pki
    from signflow.ledger import Ledger
    from signflow.signing.archive import archive_document
    from signflow.signing.signer import SignSettings
    from signflow.validation.verify import VerifyPolicy

    folder = tmp_path_factory.mktemp("lta")
    pdf = folder / "agreement.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", pdf)
    with serve_pki(demo_pki), Ledger(folder / "ledger.sqlite") as ledger:
        settings = SignSettings(level="B-T", tsa_url=demo_pki.tsa_url)
        sign_all(pdf, demo_pki, pki_roster, settings=settings, ledger=ledger)
        roots = VerifyPolicy(trust_roots=(demo_pki.root_pem,)).load_roots()
        archive_document(pdf, demo_pki.tsa_url, roots, ledger=ledger)
    pdf.chmod(0o444)
    return pdf


def minimal_pdf(*bodies: bytes, trailer_extra: bytes = b"") -> bytes:
    """A classic one-revision PDF whose objects 1, 2, ... are ``bodies`` (object 1 the
    catalogue), written by hand: for files no PDF library would write."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1, trailer_extra, xref)
    return bytes(out)


def with_object_revision(data: bytes, number: int, body: bytes, size: int) -> bytes:
    """``data`` (a PDF whose newest trailer names /Root 1 0 R) plus an incremental revision
    that writes object ``number`` as ``body`` and nothing else (/Size ``size``)."""
    prev = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    offset = len(data)
    data += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(data)
    data += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (number, offset)
    data += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, prev, xref)
    return data


def append_change(pdf: Path, change) -> None:
    """Append one incremental revision made by ``change(writer)`` (tamper tests)."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf.read_bytes()))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    pdf.write_bytes(out.getvalue())


def add_annotation(writer, subtype: str, rect: tuple[float, ...], contents: str,
                   **extra: str) -> None:
    """A new annotation on the first page (text entries in ``extra``, e.g. DA)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    page_ref, _res = writer.find_page_for_modification(0)
    entries = {
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name(subtype),
        pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
        pdf_name("/Contents"): generic.TextStringObject(contents),
    }
    entries.update({pdf_name(f"/{k}"): generic.TextStringObject(v) for k, v in extra.items()})
    writer.register_annotation(page_ref, writer.add_object(generic.DictionaryObject(entries)))


def sign_args(pdf: Path, pki, member: str, ledger: Path) -> list[str]:
    """`signflow sign` arguments for a member's head with its PKCS#12 file."""
    cred = pki.credential(member, "head")
    return ["sign", str(pdf), "--roster", str(pki.roster_path), "--member", member,
            "--pkcs12", str(cred.p12), "--passphrase-file", str(cred.passphrase_file),
            "--ledger", str(ledger)]


def fresh_agreement_folder(source: Path, folder: Path) -> tuple[Path, Path]:
    """A new folder with a writable copy of ``source`` and where its ledger goes."""
    folder.mkdir()
    pdf = folder / "giao-uoc.pdf"
    shutil.copyfile(source, pdf)
    pdf.chmod(0o644)
    return pdf, folder / "ledger.sqlite"


def fetch_ocsp_response(demo_pki, cert):
    """An OCSP response about ``cert`` (asn1crypto) from the demo PKI's responder, which must
    be serving (``serve_pki``); the demo intermediate is the issuer."""
    import asyncio

    from asn1crypto import pem, x509
    from pyhanko_certvalidator.authority import AuthorityWithCert
    from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

    issuer = x509.Certificate.load(pem.unarmor(demo_pki.intermediate_pem.read_bytes())[2])

    async def fetch():
        backend = AIOHttpFetcherBackend()
        try:
            return await backend.get_fetchers().ocsp_fetcher.fetch(
                cert, AuthorityWithCert(issuer))
        finally:
            await backend.close()

    return asyncio.run(fetch())
