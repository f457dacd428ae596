"""Mutation test: a few hundred incremental edits, drawn with a fixed seed from a grammar of
what an attacker can append to a complete agreement. None of them is in the allowed set
(later signatures into signflow's fields, validation data, document timestamps), so verify
must never call one ok; the honest continuations (the remaining signatures, the archive)
must always pass. The counts are printed (pytest -s, or the captured output on failure).
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import open_credential

pytestmark = pytest.mark.slow  # long end-to-end runs: `pytest -m "not slow"` skips them

SEED = 20191
CASES = 240
LAST = "quang-ninh"


# --- the grammar: each production changes one writer ----------------------------------------


def _g():
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name

    return generic, pdf_name


def _page_count(writer) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _random_page(writer, rng: random.Random):
    page_ref, _res = writer.find_page_for_modification(rng.randrange(_page_count(writer)))
    return page_ref, page_ref.get_object()


def _rect(rng: random.Random):
    generic, _n = _g()
    x, y = rng.uniform(30, 400), rng.uniform(30, 700)
    return generic.ArrayObject([generic.FloatObject(round(v, 2))
                                for v in (x, y, x + rng.uniform(5, 150), y + rng.uniform(5, 60))])


def add_annotation(writer, rng: random.Random) -> None:
    generic, n = _g()
    page_ref, _res = writer.find_page_for_modification(rng.randrange(_page_count(writer)))
    subtype = rng.choice(["/Text", "/FreeText", "/Square", "/Link", "/Stamp", "/Ink",
                          "/Highlight", "/Widget", "/Popup", "/Redact"])
    annot = generic.DictionaryObject({
        n("/Type"): n("/Annot"), n("/Subtype"): n(subtype), n("/Rect"): _rect(rng),
        n("/Contents"): generic.TextStringObject("Đã sửa chỉ tiêu"),
        n("/F"): generic.NumberObject(4)})
    if subtype == "/FreeText":
        annot[n("/DA")] = generic.TextStringObject("/Helv 12 Tf 0 g")
    writer.register_annotation(page_ref, writer.add_object(annot))


def _our_fields(writer) -> list:
    return [ref for ref in writer.root["/AcroForm"].raw_get("/Fields")
            if str(ref.get_object().get("/T", "")).startswith("sf-")]


def change_widget(writer, rng: random.Random) -> None:
    """An existing signature field's widget changed in place: moved, resized, hidden,
    re-drawn, renamed, sent to another page, or its value removed."""
    generic, n = _g()
    ref = rng.choice(_our_fields(writer))
    field = writer.get_object(ref.reference)
    how = rng.choice(["rect", "zero", "hidden", "noview", "ap", "rename", "page", "mk",
                      "unsign", "ft", "lock"])
    if how == "rect":
        field[n("/Rect")] = _rect(rng)
    elif how == "zero":
        field[n("/Rect")] = generic.ArrayObject([generic.FloatObject(0)] * 4)
    elif how == "hidden":
        field[n("/F")] = generic.NumberObject(2 | 4)
    elif how == "noview":
        field[n("/F")] = generic.NumberObject(32 | 4)
    elif how == "ap":
        stream = generic.StreamObject({n("/BBox"): _rect(rng), n("/Subtype"): n("/Form"),
                                       n("/Type"): n("/XObject")},
                                      stream_data=b"0 0 1 rg 0 0 50 20 re f")
        field[n("/AP")] = generic.DictionaryObject({n("/N"): writer.add_object(stream)})
    elif how == "rename":
        field[n("/T")] = generic.TextStringObject(f"sf-head-gia-mao-{rng.randrange(99)}")
    elif how == "page":
        page_ref, _res = writer.find_page_for_modification(0)
        field[n("/P")] = page_ref
    elif how == "mk":
        field[n("/MK")] = generic.DictionaryObject({
            n("/BG"): generic.ArrayObject([generic.FloatObject(1)] * 3)})
    elif how == "unsign":
        if "/V" in field:
            del field["/V"]
        else:
            field[n("/F")] = generic.NumberObject(0)
    elif how == "ft":
        field[n("/FT")] = n("/Tx")
    else:
        field[n("/Ff")] = generic.NumberObject(1)
    writer.update_container(field)


def recreate_field(writer, rng: random.Random) -> None:
    """One signature field copied into a new object; the old one dropped from /Fields and
    the page's /Annots (or kept as well)."""
    generic, n = _g()
    ref = rng.choice(_our_fields(writer))
    old = ref.get_object()
    new = writer.add_object(generic.DictionaryObject(dict(old.items())))
    keep_old = rng.random() < 0.3
    acroform = writer.root["/AcroForm"]
    fields = generic.ArrayObject()
    for f in acroform.raw_get("/Fields"):
        if f.reference != ref.reference or keep_old:
            fields.append(f)
    fields.append(new)
    acroform[n("/Fields")] = fields
    _update_acroform(writer, acroform)
    page = old.raw_get("/P").get_object()
    annots = generic.ArrayObject(a for a in page.raw_get("/Annots")
                                 if a.reference != ref.reference or keep_old)
    annots.append(new)
    page[n("/Annots")] = annots
    writer.update_container(page)


def _update_acroform(writer, acroform) -> None:
    if acroform.container_ref is not None:
        writer.update_container(acroform)
    writer.update_root()


def rewrite_acroform(writer, rng: random.Random) -> None:
    generic, n = _g()
    acroform = writer.root["/AcroForm"]
    # (lowering /SigFlags is not drawn: a signature carrying it raises them again)
    how = rng.choice(["needappearances", "da", "drop-field", "reorder", "xfa", "new-dict"])
    fields = generic.ArrayObject(acroform.raw_get("/Fields"))
    if how == "needappearances":
        acroform[n("/NeedAppearances")] = generic.BooleanObject(True)
    elif how == "da":
        acroform[n("/DA")] = generic.TextStringObject("/Helv 0 Tf 1 0 0 rg")
    elif how == "drop-field":
        fields.pop(rng.randrange(len(fields)))
        acroform[n("/Fields")] = fields
    elif how == "reorder":
        fields.reverse()
        fields.append(fields[0])  # and one twice
        acroform[n("/Fields")] = fields
    elif how == "xfa":
        acroform[n("/XFA")] = writer.add_object(generic.StreamObject(
            stream_data=b"<xdp:xdp xmlns:xdp='http://ns.adobe.com/xdp/'/>"))
    else:
        # a new form dictionary object (an identical copy would change nothing)
        copy = generic.DictionaryObject(dict(acroform.items()))
        copy[n("/DR")] = generic.DictionaryObject()
        writer.root[n("/AcroForm")] = writer.add_object(copy)
        writer.update_root()
        return
    _update_acroform(writer, acroform)


def rewrite_annots(writer, rng: random.Random) -> None:
    generic, n = _g()
    pages = [i for i in range(_page_count(writer))
             if "/Annots" in writer.find_page_for_modification(i)[0].get_object()]
    page_ref, _res = writer.find_page_for_modification(rng.choice(pages))
    page = page_ref.get_object()
    annots = list(page.raw_get("/Annots"))
    how = rng.choice(["reverse", "remove", "empty", "duplicate"])
    if how == "reverse":
        annots.reverse()
    elif how == "remove":
        annots.pop(rng.randrange(len(annots)))
    elif how == "empty":
        annots = []
    else:
        annots.append(annots[0])
    page[n("/Annots")] = generic.ArrayObject(annots)
    writer.update_container(page)


def add_content(writer, rng: random.Random) -> None:
    generic, n = _g()
    page_ref, page = _random_page(writer, rng)
    contents = page.raw_get("/Contents")
    old = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    data = rng.choice([b"q 1 1 1 rg 60 560 480 40 re f Q",
                       b"BT /Helv 14 Tf 70 575 Td (50%) Tj ET",
                       b"q 0 0 0 rg 0 0 1 1 re f Q", b" "])
    stream = writer.add_object(generic.StreamObject(stream_data=data))
    new = [stream, *old] if rng.random() < 0.5 else [*old, stream]
    page[n("/Contents")] = generic.ArrayObject(new)
    writer.update_container(page)


def replace_content(writer, rng: random.Random) -> None:
    generic, n = _g()
    page_ref, page = _random_page(writer, rng)
    if rng.random() < 0.5:
        page[n("/Contents")] = writer.add_object(
            generic.StreamObject(stream_data=b"BT /Helv 12 Tf 72 700 Td (Gia mao) Tj ET"))
        writer.update_container(page)
    else:  # the same stream object number, other bytes
        contents = page.raw_get("/Contents")
        first = contents[0] if isinstance(contents, generic.ArrayObject) else contents
        writer.mark_update(first)
        writer.objects[(first.reference.generation, first.reference.idnum)] = \
            generic.StreamObject(stream_data=b"BT /Helv 12 Tf 72 700 Td (Gia mao) Tj ET")


def change_resources(writer, rng: random.Random) -> None:
    generic, n = _g()
    page_ref, page = _random_page(writer, rng)
    how = rng.choice(["mediabox", "rotate", "cropbox", "resources", "userunit"])
    if how == "mediabox":
        page[n("/MediaBox")] = generic.ArrayObject(
            [generic.FloatObject(v) for v in (0, 0, 300, 400)])
    elif how == "rotate":
        page[n("/Rotate")] = generic.NumberObject(90)
    elif how == "cropbox":
        page[n("/CropBox")] = generic.ArrayObject(
            [generic.FloatObject(v) for v in (0, 400, 595, 842)])
    elif how == "userunit":
        page[n("/UserUnit")] = generic.FloatObject(3)
    else:
        page[n("/Resources")] = generic.DictionaryObject()
    writer.update_container(page)


def add_page(writer, rng: random.Random) -> None:
    generic, n = _g()
    pages = writer.root["/Pages"]
    page = generic.DictionaryObject({
        n("/Type"): n("/Page"), n("/Parent"): writer.root.raw_get("/Pages"),
        n("/MediaBox"): generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, 595, 842)]),
        n("/Contents"): writer.add_object(generic.StreamObject(
            stream_data=b"BT /Helv 12 Tf 72 700 Td (Phu luc gia mao) Tj ET"))})
    kids = pages["/Kids"]
    kids.insert(rng.randrange(len(kids) + 1), writer.add_object(page))
    pages[n("/Count")] = generic.NumberObject(int(pages["/Count"]) + 1)
    writer.update_container(pages)


def remove_page(writer, rng: random.Random) -> None:
    generic, n = _g()
    pages = writer.root["/Pages"]
    kids = pages["/Kids"]
    kids.pop(rng.randrange(len(kids)))
    pages[n("/Count")] = generic.NumberObject(int(pages["/Count"]) - 1)
    writer.update_container(pages)


def open_action(writer, rng: random.Random) -> None:
    generic, n = _g()
    action = generic.DictionaryObject({
        n("/S"): n("/JavaScript"), n("/JS"): generic.TextStringObject("app.alert('x')")})
    key = rng.choice(["/OpenAction", "/AA"])
    if key == "/AA":
        action = generic.DictionaryObject({n("/WC"): action})
    writer.root[n(key)] = writer.add_object(action)
    writer.update_root()


def names(writer, rng: random.Random) -> None:
    generic, n = _g()
    how = rng.choice(["javascript", "embedded", "dests"])
    if how == "javascript":
        tree = {n("/JavaScript"): generic.DictionaryObject({n("/Names"): generic.ArrayObject([
            generic.TextStringObject("a"), writer.add_object(generic.DictionaryObject({
                n("/S"): n("/JavaScript"), n("/JS"): generic.TextStringObject("1")}))])})}
    elif how == "embedded":
        tree = {n("/EmbeddedFiles"): generic.DictionaryObject({n("/Names"): generic.ArrayObject([
            generic.TextStringObject("phu-luc.txt"), _filespec(writer)])})}
    else:
        tree = {n("/Dests"): generic.DictionaryObject({n("/Names"): generic.ArrayObject([
            generic.TextStringObject("d"), generic.ArrayObject([
                writer.find_page_for_modification(0)[0], n("/Fit")])])})}
    writer.root[n("/Names")] = writer.add_object(generic.DictionaryObject(tree))
    writer.update_root()


def _filespec(writer):
    generic, n = _g()
    embedded = writer.add_object(generic.StreamObject(
        {n("/Type"): n("/EmbeddedFile")}, stream_data=b"noi dung an"))
    return writer.add_object(generic.DictionaryObject({
        n("/Type"): n("/Filespec"), n("/F"): generic.TextStringObject("phu-luc.txt"),
        n("/EF"): generic.DictionaryObject({n("/F"): embedded})}))


def file_attachment(writer, rng: random.Random) -> None:
    generic, n = _g()
    page_ref, _res = writer.find_page_for_modification(rng.randrange(_page_count(writer)))
    annot = generic.DictionaryObject({
        n("/Type"): n("/Annot"), n("/Subtype"): n("/FileAttachment"), n("/Rect"): _rect(rng),
        n("/FS"): _filespec(writer)})
    writer.register_annotation(page_ref, writer.add_object(annot))


def metadata(writer, rng: random.Random) -> None:
    generic, n = _g()
    how = rng.choice(["xmp", "info", "lang", "outlines", "viewer"])
    if how == "xmp":
        xmp = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:'
               b'meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
               b'</x:xmpmeta><?xpacket end="w"?>')
        writer.root[n("/Metadata")] = writer.add_object(generic.StreamObject(
            {n("/Type"): n("/Metadata"), n("/Subtype"): n("/XML")}, stream_data=xmp))
    elif how == "info":
        info = generic.DictionaryObject({n("/Title"): generic.TextStringObject("Giả mạo")})
        writer._info = writer.add_object(info)
        writer.trailer[n("/Info")] = writer._info
        return
    elif how == "lang":
        writer.root[n("/Lang")] = generic.TextStringObject("en")
    elif how == "outlines":
        writer.root[n("/Outlines")] = writer.add_object(generic.DictionaryObject({
            n("/Type"): n("/Outlines"), n("/Count"): generic.NumberObject(0)}))
    else:
        writer.root[n("/ViewerPreferences")] = generic.DictionaryObject({
            n("/HideToolbar"): generic.BooleanObject(True)})
    writer.update_root()


def dss_extra(writer, rng: random.Random) -> None:
    """Validation data that carries more than validation data."""
    generic, n = _g()
    how = rng.choice(["foreign-key", "page-in-certs", "js", "garbage-crl", "vri-extra"])
    entries = {}
    if how == "foreign-key":
        entries[n("/Foo")] = writer.add_object(generic.StreamObject(stream_data=b"x"))
    elif how == "page-in-certs":
        entries[n("/Certs")] = generic.ArrayObject([writer.find_page_for_modification(0)[0]])
    elif how == "js":
        entries[n("/OCSPs")] = generic.ArrayObject([writer.add_object(generic.DictionaryObject({
            n("/S"): n("/JavaScript"), n("/JS"): generic.TextStringObject("1")}))])
    elif how == "garbage-crl":
        entries[n("/CRLs")] = generic.ArrayObject([writer.add_object(
            generic.StreamObject(stream_data=b"\x30\x03\x02\x01\x00"))])
    else:
        entries[n("/VRI")] = generic.DictionaryObject({n("/" + "A" * 40): generic.DictionaryObject({
            n("/TU"): generic.TextStringObject("x"),
            n("/Annot"): writer.find_page_for_modification(0)[0]})})
    writer.root[n("/DSS")] = writer.add_object(generic.DictionaryObject(entries))
    writer.update_root()


GRAMMAR: dict[str, Callable] = {
    "annotation": add_annotation, "widget": change_widget, "field-recreated": recreate_field,
    "acroform": rewrite_acroform, "annots": rewrite_annots, "content-added": add_content,
    "content-replaced": replace_content, "page-resources": change_resources,
    "page-added": add_page, "page-removed": remove_page, "open-action": open_action,
    "names": names, "file-attachment": file_attachment, "metadata": metadata,
    "dss-extra": dss_extra,
}


# How the edits reach the file: alone, or carried by a revision the workflow allows (the
# attacker may be a member with its own key, and anyone can add validation data or a
# document timestamp from a genuine TSA).
CARRIERS = ("revision", "dss", "timestamp", "signature")


@dataclass
class Carriers:
    """What the honest carriers need: the TSA, a certificate for the DSS, the last
    member's seal key, and the file before that seal."""

    tsa_url: str
    dss_cert: object
    seal_signer: object
    before_last_seal: bytes


def _writer(data: bytes, stream_xrefs: bool):
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    if stream_xrefs:
        # xref stream and object stream, as other tools write them
        writer.stream_xrefs = True
        stream = writer.prepare_object_stream()
        original = writer.add_object

        def add_object(obj, obj_stream=None, idnum=None):
            from pyhanko.pdf_utils import generic

            if obj_stream is None and not isinstance(obj, generic.StreamObject):
                obj_stream = stream
            return original(obj, obj_stream=obj_stream, idnum=idnum)

        writer.add_object = add_object
    return writer


def _finish(writer, carrier: str, carriers: Carriers) -> bytes:
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.timestamps import HTTPTimeStamper
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    if "add_object" in vars(writer):
        del writer.add_object  # signature dictionaries never go into an object stream
    out = io.BytesIO()
    if carrier == "dss":
        DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[carriers.dss_cert])
    if carrier == "timestamp":
        signers.PdfTimeStamper(HTTPTimeStamper(carriers.tsa_url)).timestamp_pdf(
            writer, "sha256", output=out)
    elif carrier == "signature":
        signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name=f"sf-seal-{LAST}",
                                         subfilter=SigSeedSubFilter.PADES),
            signer=carriers.seal_signer).sign_pdf(writer, output=out)
    else:
        writer.write(out)
    return out.getvalue()


def build_case(data: bytes, rng: random.Random, carriers: Carriers) -> tuple[bytes, str, bool]:
    """One case: 0-3 productions (0: an honest control), each in its own revision or all in
    one, carried by a plain revision or an allowed one. Returns (file, label, honest)."""
    count = rng.choice([0, 1, 1, 1, 1, 2, 2, 3])
    picks = [rng.choice(sorted(GRAMMAR)) for _ in range(count)]
    carrier = rng.choice(CARRIERS)
    together = rng.random() < 0.5
    stream_xrefs = rng.random() < 0.3
    if carrier == "signature":
        data = carriers.before_last_seal
    seeds = [rng.randrange(2**32) for _ in picks]
    if not picks and carrier == "revision":
        carrier = "dss"  # an empty revision is not honest: a control carries something
    if together or not picks:
        writer = _writer(data, stream_xrefs)
        for pick, seed in zip(picks, seeds, strict=True):
            GRAMMAR[pick](writer, random.Random(seed))
        data = _finish(writer, carrier, carriers)
    else:  # one revision per edit, the last one carried
        for i, (pick, seed) in enumerate(zip(picks, seeds, strict=True)):
            writer = _writer(data, stream_xrefs)
            GRAMMAR[pick](writer, random.Random(seed))
            data = _finish(writer, carrier if i == len(picks) - 1 else "revision", carriers)
    label = ("+".join(picks) or "control") + f" via {carrier}" + (
        " (one revision)" if together and len(picks) > 1 else "") + (
        " [xref stream]" if stream_xrefs else "")
    return data, label, not picks


# --- running the cases in worker processes --------------------------------------------------

_WORK: dict = {}


def _init(roster_path: str, root_pem: str) -> None:
    from signflow.roster import load_roster
    from signflow.validation.verify import VerifyPolicy

    policy = VerifyPolicy(trust_roots=(Path(root_pem),), roster=load_roster(roster_path))
    _WORK.update(policy=policy, roots=policy.load_roots())


def _verify_case(args: tuple[int, str, str]) -> tuple[int, str, bool, str]:
    from signflow.validation.verify import verify_file

    index, path, label = args
    try:
        verdict = verify_file(Path(path), _WORK["policy"], _WORK["roots"])
    except BaseException as exc:  # an exception is a finding too: it must not happen
        return index, label, False, f"EXCEPTION {type(exc).__name__}: {exc}"
    reasons = verdict.problems + [p for s in verdict.signatures for p in s.problems]
    return index, label, verdict.ok, (reasons[0] if reasons else "")


@pytest.fixture(scope="module")
def mutants(signed_agreement, demo_pki, tmp_path_factory) -> list[tuple[int, Path, str, bool]]:
    from asn1crypto import pem, x509

    from signflow.demo.services import serve_pki
    from signflow.pdf.reader import revision_ends
    from signflow.signing.credentials import open_pkcs12

    folder = tmp_path_factory.mktemp("mutants")
    rng = random.Random(SEED)
    data = signed_agreement.read_bytes()
    seal = demo_pki.credential(LAST, "seal")
    carriers = Carriers(
        tsa_url=demo_pki.tsa_url,
        dss_cert=x509.Certificate.load(pem.unarmor(seal.cert_pem.read_bytes())[2]),
        seal_signer=open_pkcs12(seal.p12, seal.passphrase().encode()).signer,
        before_last_seal=data[:revision_ends(data)[-2]])
    cases = []
    skipped: Counter = Counter()
    with serve_pki(demo_pki):
        while len(cases) < CASES:
            try:
                mutated, label, honest = build_case(data, rng, carriers)
            except Exception as exc:  # the grammar drew an edit this file cannot take
                skipped[type(exc).__name__] += 1
                assert sum(skipped.values()) < CASES // 4, f"the grammar fails often: {skipped}"
                continue
            path = folder / f"m{len(cases):03d}.pdf"
            path.write_bytes(mutated)
            cases.append((len(cases), path, label, honest))
    print(f"\nmutants built: {len(cases)}; draws the file could not take: {dict(skipped)}")
    return cases


def test_no_edit_outside_the_allowed_set_verifies(mutants, demo_pki):
    with ProcessPoolExecutor(max_workers=2, initializer=_init,
                             initargs=(str(demo_pki.roster_path), str(demo_pki.root_pem))) as pool:
        results = list(pool.map(_verify_case, [(i, str(p), label) for i, p, label, _h in mutants],
                                chunksize=4))
    honest = {i for i, _p, _label, h in mutants if h}
    productions: Counter = Counter()
    carriers: Counter = Counter()
    for _i, _p, label, _h in mutants:
        edits, _sep, rest = label.partition(" via ")
        productions.update(edits.split("+"))
        carriers[rest.split(" ")[0]] += 1
    forged_ok = [(i, label, reason) for i, label, ok, reason in results
                 if ok and i not in honest]
    controls_failed = [(i, label, reason) for i, label, ok, reason in results
                       if not ok and i in honest]
    errors = [(i, label, reason) for i, label, ok, reason in results
              if reason.startswith("EXCEPTION")]
    unexplained = [(i, label) for i, label, ok, reason in results if not ok and not reason]
    print(f"\nmutation test: {len(results)} cases, seed {SEED}; productions: "
          + ", ".join(f"{k} {v}" for k, v in sorted(productions.items()))
          + "; carried by: " + ", ".join(f"{k} {v}" for k, v in sorted(carriers.items())))
    print(f"edits outside the allowed set: {len(results) - len(honest)}, flagged "
          f"{len(results) - len(honest) - len(forged_ok)}, verified ok {len(forged_ok)} "
          f"(must be 0); honest controls: {len(honest)}, failed {len(controls_failed)} "
          f"(must be 0); exceptions: {len(errors)} (must be 0)")
    assert len(results) == CASES
    assert set(productions) - {"control"} == set(GRAMMAR), "every production was drawn"
    assert set(carriers) == set(CARRIERS), "every carrier was drawn"
    assert len(honest) >= 10, "enough honest controls to show the check is not blind"
    assert not forged_ok, f"edits outside the allowed set verified ok: {forged_ok[:10]}"
    assert not controls_failed, f"honest controls failed: {controls_failed[:10]}"
    assert not errors, errors[:5]
    assert not unexplained, f"flagged without a reason: {unexplained[:10]}"


def test_honest_continuations_pass(signed_agreement, demo_pki, pki_roster, tmp_path):
    """From the hand-over before the last member: its two signatures (one with a signature
    timestamp), then the archive, each step verifying ok; and an archive of the complete
    agreement."""
    from signflow.demo.services import serve_pki
    from signflow.pdf.reader import revision_ends
    from signflow.signing.archive import archive_document
    from signflow.signing.signer import SignSettings, sign_documents
    from signflow.validation.verify import VerifyPolicy, verify_file

    policy = VerifyPolicy(trust_roots=(demo_pki.root_pem,), roster=pki_roster)
    roots = policy.load_roots()
    data = signed_agreement.read_bytes()
    ends = revision_ends(data)
    counts: Counter = Counter()
    with serve_pki(demo_pki):
        for start in (ends[-3], ends[-2], len(data)):
            pdf = tmp_path / f"from-{start}.pdf"
            pdf.write_bytes(data[:start])
            for role, level in (("head", "B-B"), ("seal", "B-T")):
                signed = {s.role for s in _history(pdf).signatures if s.member == LAST}
                if role in signed:
                    continue
                with open_credential(demo_pki, LAST, role) as cred:
                    sign_documents([pdf], pki_roster, LAST, role, cred,
                                   SignSettings(level=level, tsa_url=demo_pki.tsa_url))
                verdict = verify_file(pdf, policy, roots)
                step_ok = all(s.ok for s in verdict.signatures)
                assert step_ok, (start, role, [s.problems for s in verdict.signatures
                                               if not s.ok])
                counts["signature"] += 1
            archive_document(pdf, demo_pki.tsa_url, roots)
            verdict = verify_file(pdf, policy, roots)
            assert verdict.ok and verdict.complete, verdict.problems
            counts["archive"] += 1
            archive_document(pdf, demo_pki.tsa_url, roots)  # a second archive on top
            verdict = verify_file(pdf, policy, roots)
            assert verdict.ok and verdict.complete, verdict.problems
            counts["archive"] += 1
    print(f"\nhonest continuations: {sum(counts.values())} steps ({dict(counts)}), 0 failed")


def _history(pdf: Path):
    from signflow.validation.revisions import read_history

    return read_history(pdf)


def test_mutants_are_real_pdf_revisions(mutants):
    """The cases are appended revisions of the signed agreement, not broken files."""
    from signflow.validation.revisions import read_history

    for _i, path, label, _honest in mutants[:20]:
        history = read_history(path)
        assert history.total_revisions > 19, label
        assert len([s for s in history.signatures if not s.is_timestamp]) >= 17, label
