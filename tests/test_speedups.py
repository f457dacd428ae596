"""signflow's pyHanko speed-ups are its own: importing or using signflow replaces nothing in
pyHanko, asn1crypto or click; signflow's reader reads exactly the objects pyHanko reads;
verification gives the same verdicts with the speed-ups on and with plain pyHanko
(SIGNFLOW_PLAIN_PYHANKO=1); and an unknown pyHanko version turns them all off."""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509

from .conftest import ROOT, minimal_pdf, with_object_revision
from .test_verify import CORPUS, MUST_FLAG, MUST_PASS

# --- nothing patched -----------------------------------------------------------------------

# Run in a fresh interpreter: every module of pyHanko, certvalidator, asn1crypto and click is
# imported first and every function, class and class attribute recorded; then signflow is
# imported (every module of it) or used, and every recorded object must still be the same
# object.
_SNAPSHOT = r'''
import importlib, json, pkgutil, sys

LIBRARIES = ("pyhanko", "pyhanko_certvalidator", "asn1crypto", "click")


def library_modules():
    found = []
    for name in LIBRARIES:
        package = importlib.import_module(name)
        found.append(package)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            try:
                found.append(importlib.import_module(info.name))
            except Exception:  # optional parts (another extra, a missing program)
                pass
    return found


def snapshot(modules):
    seen = {}
    for module in modules:
        for attr, value in list(vars(module).items()):
            seen[f"{module.__name__}.{attr}"] = value
            if isinstance(value, type) and value.__module__ == module.__name__:
                for class_attr, class_value in list(vars(value).items()):
                    seen[f"{module.__name__}.{attr}.{class_attr}"] = class_value
    return seen


def changed(before, prefixes=LIBRARIES):
    modules = [sys.modules[n] for n in {k.rsplit(".", 1)[0] for k in before}
               if n in sys.modules]
    after = snapshot([m for m in modules if m.__name__.startswith(prefixes)])
    return sorted(k for k, v in before.items()
                  if k.startswith(prefixes) and k in after and after[k] is not v
                  and not k.endswith(".__dict__"))


def named_originals():
    """The objects signflow used to replace, by name (a readable failure)."""
    from asn1crypto import x509
    from pyhanko.pdf_utils import generic, reader, xref
    from pyhanko.sign import attributes, general
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, form_rules_api, policies
    return {
        "generic.read_hex_string_from_stream": generic.read_hex_string_from_stream,
        "generic.read_object": generic.read_object,
        "PdfFileReader.get_object": vars(reader.PdfFileReader)["get_object"],
        "PdfFileReader._read_object": vars(reader.PdfFileReader)["_read_object"],
        "PdfFileReader.embedded_signatures": vars(reader.PdfFileReader)["embedded_signatures"],
        "HistoricalResolver._load_reverse_xref_cache":
            vars(reader.HistoricalResolver)["_load_reverse_xref_cache"],
        "XRefCache.get_last_change": vars(xref.XRefCache)["get_last_change"],
        "XRefCache.get_historical_ref": vars(xref.XRefCache)["get_historical_ref"],
        "XRefCache.get_introducing_revision": vars(xref.XRefCache)["get_introducing_revision"],
        "XRefCache.explicit_refs_in_revision": vars(xref.XRefCache)["explicit_refs_in_revision"],
        "NameTypeAndValue._ldap_string_prep": vars(x509.NameTypeAndValue)["_ldap_string_prep"],
        "Name.__eq__": vars(x509.Name)["__eq__"],
        "Name.hashable": vars(x509.Name)["hashable"],
        "attributes.as_signing_certificate_v2": attributes.as_signing_certificate_v2,
        "general.as_signing_certificate_v2": general.as_signing_certificate_v2,
        "form_rules_api._list_fields": form_rules_api._list_fields,
        "FormUpdatingRule.apply": vars(form_rules_api.FormUpdatingRule)["apply"],
        "StandardDiffPolicy.apply": vars(policies.StandardDiffPolicy)["apply"],
        "DEFAULT_DIFF_POLICY": DEFAULT_DIFF_POLICY,
        "DEFAULT_DIFF_POLICY.form_rule": DEFAULT_DIFF_POLICY.form_rule,
    }


def renamed(before_named):
    now = named_originals()
    return sorted(k for k, v in before_named.items() if now[k] is not v)


before = snapshot(library_modules())
before_named = named_originals()
'''

_IMPORT_EVERYTHING = _SNAPSHOT + r'''
import signflow
names = []
for info in pkgutil.walk_packages(signflow.__path__, "signflow."):
    # Alembic's migration environment runs only inside Alembic (it reads its context)
    if info.name.startswith("signflow.portal.migrations.env"):
        continue
    if info.name != "signflow.__main__":  # runs the command: imported last, below
        importlib.import_module(info.name)
        names.append(info.name)
report = {"modules": names, "changed": changed(before), "renamed": renamed(before_named)}
# `python -m signflow`: importing it runs the command (here --help); the command may set up
# click's translations when it runs (that is the application's business), pyHanko and
# asn1crypto stay untouched
sys.argv = ["signflow", "--help"]
try:
    importlib.import_module("signflow.__main__")
except SystemExit as exc:
    report["main_exit"] = exc.code
report["main_changed"] = changed(before, ("pyhanko", "pyhanko_certvalidator", "asn1crypto"))
report["main_renamed"] = renamed(before_named)
print("REPORT" + json.dumps(report))
'''


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> dict:
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                            text=True, cwd=ROOT, timeout=600,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next((x for x in result.stdout.splitlines() if x.startswith("REPORT")), None)
    assert line is not None, f"no report from the subprocess: {result.stdout[-2000:]}"
    return json.loads(line[len("REPORT"):])


def test_importing_signflow_replaces_nothing_in_pyhanko_asn1crypto_or_click():
    report = _run(_IMPORT_EVERYTHING)
    expected = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
                .removesuffix(".__init__") for p in (ROOT / "signflow").rglob("*.py")}
    # Alembic's environment module runs only inside Alembic (the portal's migrations)
    expected -= {"signflow", "signflow.__main__", "signflow.portal.migrations.env"}
    missing = expected - set(report["modules"])
    assert not missing, f"modules the walk did not import: {sorted(missing)}"
    assert not report["renamed"], \
        f"importing signflow replaced pyHanko/asn1crypto objects: {report['renamed']}"
    assert not report["changed"], \
        f"importing signflow changed library attributes: {report['changed'][:20]}"
    assert report.get("main_exit") in (0, None), report
    assert not report["main_renamed"] and not report["main_changed"], \
        f"running `python -m signflow` replaced library objects: {report['main_changed'][:20]}"


_USE_SIGNFLOW = _SNAPSHOT + r'''
import hashlib, io
from pathlib import Path
from typing import Any


def digest_of_every_object(data):
    """A digest of every object of every revision as a plain pyHanko reader parses them
    (types, values, references), to compare one process with another."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader

    def canon(obj):
        if isinstance(obj, generic.DictionaryObject):
            body = [[k, canon(dict.__getitem__(obj, k))] for k in dict.keys(obj)]
            if isinstance(obj, generic.StreamObject):
                body.append(hashlib.sha256(obj.encoded_data).hexdigest())
            return [type(obj).__name__, body]
        if isinstance(obj, generic.ArrayObject):
            return [type(obj).__name__, [canon(x) for x in list.__iter__(obj)]]
        if isinstance(obj, generic.IndirectObject):
            return ["ref", obj.idnum, obj.generation]
        if isinstance(obj, (generic.TextStringObject, generic.ByteStringObject)):
            return [type(obj).__name__, obj.original_bytes.hex()]
        if isinstance(obj, generic.NullObject):  # (its repr is its address)
            return ["NullObject"]
        return [type(obj).__name__, repr(obj)]

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    assert type(reader) is PdfFileReader
    h = hashlib.sha256()
    for revision in range(reader.xrefs.total_revisions):
        for ref in sorted(reader.xrefs.explicit_refs_in_revision(revision),
                          key=lambda r: (r.idnum, r.generation)):
            h.update(json.dumps([revision, ref.idnum, canon(reader.get_object(ref, revision))])
                     .encode())
    return h.hexdigest(), sum(1 for _ in range(reader.xrefs.total_revisions))


config = json.loads(sys.argv[1])
data = Path(config["pdf"]).read_bytes()
report = {}
if config["use"]:
    import signflow  # noqa: F401
    from signflow.roster import load_roster
    from signflow.validation.verify import VerifyPolicy, verify_file
    from signflow.signing.credentials import open_pkcs12
    from signflow.signing.signer import sign_documents

    verdict = verify_file(Path(config["pdf"]), VerifyPolicy(
        trust_roots=(Path(config["root"]),), roster=load_roster(Path(config["roster"]))))
    report["verified"] = verdict.ok
    roster = load_roster(Path(config["roster"]))
    credential = open_pkcs12(Path(config["p12"]), config["passphrase"].encode())
    outcomes = sign_documents([Path(config["to_sign"])], roster, config["member"], "head",
                              credential)
    report["signed"] = [str(getattr(o, "status", o)) for o in outcomes]
    report["renamed"] = renamed(before_named)
    report["changed"] = changed(before)
report["digest"] = digest_of_every_object(data)
print("REPORT" + json.dumps(report))
'''


def test_after_signflow_verifies_and_signs_other_readers_are_plain_pyhanko(
        lta_agreement, pdf_pack, demo_pki, pki_roster, tmp_path):
    """In a process where signflow has verified and signed, nothing in the libraries has
    been replaced, and a plain PdfFileReader reads every object of every revision of an
    archived agreement exactly as it does in a process that never imported signflow."""
    member = next(m.id for m in pki_roster.members
                  if m.id not in ("ha-nam", "nam-dinh", "quang-ninh"))  # a PKCS#12 member
    to_sign = tmp_path / "agreement.pdf"
    shutil.copyfile(pdf_pack / "cluster" / "giao-uoc-thi-dua-2019.pdf", to_sign)
    to_sign.chmod(0o644)
    credential = demo_pki.credential(member, "head")
    config = {"pdf": str(lta_agreement), "root": str(demo_pki.root_pem),
              "roster": str(demo_pki.roster_path), "to_sign": str(to_sign),
              "p12": str(credential.p12), "passphrase": credential.passphrase(),
              "member": member}
    used = _run(_USE_SIGNFLOW, json.dumps({**config, "use": True}))
    clean = _run(_USE_SIGNFLOW, json.dumps({**config, "use": False}))
    assert used["verified"] is True, "the archived agreement should verify (else the test " \
                                     "exercises less than it should)"
    assert len(used["signed"]) == 1, used["signed"]
    assert not used["renamed"], f"signflow replaced library objects while working: " \
                                f"{used['renamed']}"
    assert not used["changed"], f"signflow changed library attributes while working: " \
                                f"{used['changed'][:20]}"
    assert used["digest"] == clean["digest"], \
        "a plain PdfFileReader read the file differently after signflow had worked"
    assert clean["digest"][1] >= 20, clean  # the archived agreement: 20+ revisions


# --- signflow's reader reads what pyHanko reads ----------------------------------------------


def _same(a, b, path: str = "object") -> None:
    """Two parsed objects are the same: types, values, references, container references."""
    from pyhanko.pdf_utils import generic

    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    ca, cb = getattr(a, "container_ref", None), getattr(b, "container_ref", None)
    assert (type(ca), getattr(ca, "idnum", None), getattr(ca, "generation", None)) == \
        (type(cb), getattr(cb, "idnum", None), getattr(cb, "generation", None)), \
        f"{path}: container {ca!r} != {cb!r}"
    if isinstance(a, generic.DictionaryObject):
        assert list(dict.keys(a)) == list(dict.keys(b)), f"{path}: keys differ"
        for key in dict.keys(a):
            _same(dict.__getitem__(a, key), dict.__getitem__(b, key), f"{path}{key}")
        if isinstance(a, generic.StreamObject):
            assert a.encoded_data == b.encoded_data, f"{path}: stream data differ"
    elif isinstance(a, generic.ArrayObject):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(list.__iter__(a), list.__iter__(b), strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, generic.IndirectObject):
        assert (a.idnum, a.generation) == (b.idnum, b.generation), path
    elif isinstance(a, generic.TextStringObject | generic.ByteStringObject):
        assert a.original_bytes == b.original_bytes and str(a) == str(b), f"{path}: strings"
        assert getattr(a, "autodetected_encoding", None) == \
            getattr(b, "autodetected_encoding", None), f"{path}: string encodings"
    else:
        assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"


def _outcome(read):
    try:
        return read(), None
    except Exception as exc:
        return None, (type(exc).__name__, str(exc))


def _compare_readers(data: bytes) -> int:
    """Every object of every revision, historical and current, and every cross-reference
    answer: SignflowPdfReader against PdfFileReader. Returns the number of objects."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signflow._internal.pyhanko.reader import SignflowPdfReader, SignflowXRefCache

    ours = SignflowPdfReader(io.BytesIO(data), strict=False)
    theirs = PdfFileReader(io.BytesIO(data), strict=False)
    assert isinstance(ours.xrefs, SignflowXRefCache)
    total = theirs.xrefs.total_revisions
    compared = 0
    for revision in range(-total, total + 1):  # (negative: counted from the newest)
        for _twice in range(2):  # the second answer from signflow's memory
            mine, my_error = _outcome(lambda r=revision: ours.xrefs.explicit_refs_in_revision(r))
            pyhankos, error = _outcome(
                lambda r=revision: theirs.xrefs.explicit_refs_in_revision(r))
            assert (mine, my_error) == (pyhankos, error), ("explicit refs", revision)
            assert error is not None or type(mine) is set
    mine = ours.xrefs.explicit_refs_in_revision(0)
    mine.clear()  # a caller's own set: signflow's memory is not changed through it
    assert ours.xrefs.explicit_refs_in_revision(0) == theirs.xrefs.explicit_refs_in_revision(0)
    for revision in range(total):
        refs = sorted(theirs.xrefs.explicit_refs_in_revision(revision)
                      | theirs.xrefs.refs_freed_in_revision(revision),
                      key=lambda r: (r.idnum, r.generation))
        for ref in refs:
            for at in (revision, None):
                mine, my_error = _outcome(lambda ref=ref, at=at: ours.get_object(ref, at))
                pyhankos, error = _outcome(lambda ref=ref, at=at: theirs.get_object(ref, at))
                where = f"{ref.idnum} {ref.generation} at revision {at}"
                assert my_error == error, f"{where}: {my_error} != {error}"
                if error is None:
                    _same(mine, pyhankos, where)
                compared += 1
            for name in ("get_last_change", "get_introducing_revision"):
                mine, my_error = _outcome(lambda n=name, ref=ref: getattr(ours.xrefs, n)(ref))
                pyhankos, error = _outcome(lambda n=name, ref=ref: getattr(theirs.xrefs, n)(ref))
                assert (mine, my_error) == (pyhankos, error), (name, ref)
            for at in range(-2, total + 1):
                assert ours.xrefs.get_historical_ref(ref, at) == \
                    theirs.xrefs.get_historical_ref(ref, at), (ref, at)
    return compared


@pytest.fixture
def elided_reads(monkeypatch):
    """Counts the objects SignflowPdfReader parsed with their /Contents digits elided."""
    from signflow._internal.pyhanko.reader import SignflowPdfReader

    counts = {"elided": 0}
    original = SignflowPdfReader._read_with_contents_elided

    def counted(self, *args):
        obj = original(self, *args)
        counts["elided"] += obj is not None
        return obj

    monkeypatch.setattr(SignflowPdfReader, "_read_with_contents_elided", counted)
    return counts


def test_signflow_reader_reads_what_pyhanko_reads_in_signed_agreements(
        signed_agreement, lta_agreement, elided_reads):
    assert _compare_readers(signed_agreement.read_bytes()) > 300
    assert elided_reads["elided"] >= 18, \
        f"the 18 signature values should take the fast path: {elided_reads}"
    assert _compare_readers(lta_agreement.read_bytes()) > 300
    assert elided_reads["elided"] >= 18 + 19, elided_reads  # 18 signatures, 1 timestamp


@pytest.mark.parametrize("name", MUST_FLAG + MUST_PASS)
def test_signflow_reader_reads_what_pyhanko_reads_in_the_corpus(name):
    _compare_readers((CORPUS / name).read_bytes())


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [] /Count 0 >>"
_HEX = b"3082" + b"0a1B" * 700  # 2804 digits: long enough for the fast path


@pytest.mark.parametrize(("body", "elided"), [
    (b"<< /Type /Sig /Contents <" + _HEX + b"> /M (D:20190315) >>", True),
    (b"<< /Type /Sig /Contents <" + _HEX + b"7> >>", True),  # odd: pyHanko pads a 0
    (b"<< /Contents <" + _HEX + b"> /Contents <00> /Contents (x) >>", True),  # keys twice
    (b"<< /Contents  \n<" + _HEX + b">/Kids [1 0 R <" + _HEX + b">] >>", True),  # two
    (b"<< /T (/Contents <" + _HEX + b">) /V 3 >>", False),  # inside a literal string
    (b"<< /A 1 % /Contents <" + _HEX + b">\n/B 2 >>", False),  # inside a comment
    (b"<< /Length 20 /Contents <" + _HEX + b"> >>\nstream\n/Contents <0102> 12 \nendstream",
     True),
    (b"<< /Length 5 0 R /Contents <" + _HEX + b"> >>\nstream\nabc\nendstream", True),
    (b"<< /Contents <" + _HEX + b"X> >>", False),  # not a hex digit: pyHanko's error
    (b"<< /Contents <" + _HEX, False),  # cut short
    (b"[ /Contents <" + _HEX + b"> ]", True),
    (b"<< /Contents <" + _HEX + b"> /Next << /Contents <" + _HEX[:-4] + b"> >> >>", True),
])
def test_the_fast_signature_value_path_changes_nothing(body, elided, caplog, elided_reads):
    """Objects holding a long /Contents hex string, well-formed or not: the same object (or
    the same error) and the same warnings, at the same byte offsets, as plain pyHanko."""
    from pyhanko.pdf_utils.generic import Reference
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signflow._internal.pyhanko.reader import SignflowPdfReader

    data = minimal_pdf(_CATALOG, _PAGES, body, b"<< /Page 1 >>", b"4")
    results = []
    for cls in (SignflowPdfReader, PdfFileReader):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pyhanko"):
            reader = cls(io.BytesIO(data), strict=False)
            obj, error = _outcome(lambda reader=reader: reader.get_object(Reference(3, 0)))
            position = reader.stream.tell()
        results.append((obj, error, [r.getMessage() for r in caplog.records], position))
    (mine, my_error, my_warnings, my_position), (theirs, error, warnings, position) = results
    assert my_error == error, f"{my_error} != {error}"
    assert my_warnings == warnings, f"warnings differ: {my_warnings} != {warnings}"
    assert my_position == position, "the reader's stream is left elsewhere"
    if error is None:
        _same(mine, theirs)
    assert elided_reads["elided"] == int(elided), "the fast path was (not) taken"


def test_a_reference_into_the_signature_value_reads_as_pyhanko_reads_it():
    """A stream whose /Length is an object the cross-reference table places amid the
    digits of its own signature value: while the value is elided, that place does not
    exist, and the object is read the plain way (same error or object as pyHanko)."""
    from pyhanko.pdf_utils.generic import Reference
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signflow._internal.pyhanko.reader import SignflowPdfReader

    signature = b"<< /Length 4 0 R /Contents <" + _HEX + b"> >>\nstream\nabc\nendstream"
    data = minimal_pdf(_CATALOG, _PAGES, signature, b"3")
    fourth = data.index(b"4 0 obj\n3")
    inside = data.index(_HEX) + 1000
    data = data.replace(b"%010d 00000 n \n" % fourth, b"%010d 00000 n \n" % inside)
    outcomes = []
    for cls in (SignflowPdfReader, PdfFileReader):
        reader = cls(io.BytesIO(data), strict=False)
        outcomes.append([_outcome(lambda n=n, reader=reader: reader.get_object(Reference(n, 0)))
                         for n in (3, 4)])
    assert outcomes[1][0][1] is not None, "pyHanko should fail on this /Length"
    for (mine, my_error), (theirs, error) in zip(*outcomes, strict=True):
        assert my_error == error, f"{my_error} != {error}"
        if error is None:
            _same(mine, theirs)


# --- certificate names --------------------------------------------------------------------


def _name(cn: str, org: str, kind: str = "utf8_string") -> x509.Name:
    rdns = [
        x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": "country_name", "value": x509.DirectoryString(name="printable_string",
                                                                  value="VN")})]),
        x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": "organization_name", "value": x509.DirectoryString(name=kind, value=org)})]),
        x509.RelativeDistinguishedName([x509.NameTypeAndValue({
            "type": "common_name", "value": x509.DirectoryString(name=kind, value=cn)})]),
    ]
    # parsed back, as names met in signatures are
    return x509.Name.load(x509.Name(name="", value=x509.RDNSequence(rdns)).dump())


def test_signflow_names_compare_as_asn1crypto_compares():
    """RFC 5280 7.1: case-insensitive, whitespace-folded, whatever the string type; the
    remembered answers are asn1crypto's, on either side of ==."""
    from signflow._internal.pyhanko.names import SignflowName

    names = [
        _name("Lê Thị Thu Hường", "Thanh tra tỉnh Hà Nam"),
        _name("Lê Thị Thu Hường", "Thanh tra tỉnh Hà Nam"),  # same bytes, another object
        _name("LÊ THỊ THU HƯỜNG", "Thanh tra tỉnh Hà Nam"),  # case differs: equal names
        _name("Lê  Thị Thu Hường ", "Thanh tra tỉnh Hà Nam"),  # spaces fold: equal
        _name("Le Thi Thu Huong", "Thanh tra tinh Ha Nam", "printable_string"),
        _name("Le Thi Thu Huong", "Thanh tra tinh Ha Nam", "utf8_string"),  # type differs
        _name("Trần Quốc Việt", "Thanh tra tỉnh Nam Định"),
    ]
    expected = {(i, j): a == b for (i, a), (j, b) in itertools.product(enumerate(names),
                                                                       repeat=2)}
    hashables = [n.hashable for n in names]
    assert expected[(0, 1)] and expected[(0, 2)] and expected[(0, 3)] and expected[(4, 5)]
    assert not expected[(0, 6)] and not expected[(0, 4)]
    ours = [x509.Name.load(n.dump()) for n in names]  # fresh: nothing prepared yet
    for n in ours:
        n.__class__ = SignflowName
    plain = [x509.Name.load(n.dump()) for n in names]
    for _round in range(2):  # computed, then remembered
        for (i, a), (j, b) in itertools.product(enumerate(ours), repeat=2):
            assert (a == b) == expected[(i, j)], (i, j)
            assert (a != b) != expected[(i, j)], (i, j)
            assert (a == plain[j]) == expected[(i, j)] == (plain[j] == a), (i, j)
            assert (plain[j] != a) != expected[(i, j)], (i, j)
    assert [n.hashable for n in ours] == hashables
    assert ours[0] != "not a name" and (ours[0] == 42) is False


def test_the_signatures_signflow_reads_carry_signflow_names(signed_agreement):
    """The issuer each SignerInfo names is a SignflowName in signflow's reader and an
    x509.Name in any other; pyHanko finds the same signer and other certificates."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from signflow._internal.pyhanko.names import SignflowName
    from signflow.pdf.reader import open_reader

    data = signed_agreement.read_bytes()
    ours = open_reader(data).embedded_signatures
    theirs = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
    assert len(ours) == len(theirs) == 18
    for mine, plain in zip(ours, theirs, strict=True):
        issuer = mine.signer_info["sid"].chosen["issuer"]
        assert type(issuer) is SignflowName, type(issuer)
        assert type(plain.signer_info["sid"].chosen["issuer"]) is x509.Name
        assert issuer == plain.signer_cert.issuer and plain.signer_cert.issuer == issuer
        assert mine.signer_cert.dump() == plain.signer_cert.dump()
        assert [c.dump() for c in mine.other_embedded_certs] == \
            [c.dump() for c in plain.other_embedded_certs]


# --- the version guard -----------------------------------------------------------------------


def test_plain_pyhanko_when_asked_or_on_an_unknown_version(monkeypatch, signed_agreement):
    from pyhanko import version as pyhanko_version
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
    from pyhanko.sign.signers import SimpleSigner

    import signflow._internal.pyhanko as guard
    from signflow._internal.pyhanko.fastdiff import SignflowDiffPolicy, diff_policy
    from signflow._internal.pyhanko.reader import SignflowPdfReader
    from signflow.pdf.reader import open_reader
    from signflow.signing.credentials import _simple_signer_class

    data = signed_agreement.read_bytes()
    monkeypatch.delenv(guard.PLAIN_ENV, raising=False)
    assert guard.supported(), "pyHanko 0.38 / asn1crypto 1.5 are what the tests run with"
    reader = open_reader(data)
    assert type(reader) is SignflowPdfReader
    assert isinstance(diff_policy(reader), SignflowDiffPolicy)
    assert _simple_signer_class() is not SimpleSigner

    def plain_everywhere(why: str) -> None:
        assert not guard.supported(), why
        reader = open_reader(data)
        assert type(reader) is PdfFileReader, why
        assert diff_policy(reader) is DEFAULT_DIFF_POLICY, why
        assert _simple_signer_class() is SimpleSigner, why
        names = reader.embedded_signatures[0].signer_info["sid"].chosen["issuer"]
        assert type(names) is x509.Name, why

    monkeypatch.setenv(guard.PLAIN_ENV, "1")
    plain_everywhere("SIGNFLOW_PLAIN_PYHANKO=1")
    monkeypatch.delenv(guard.PLAIN_ENV)
    for version in ("0.39.0", "0.37.2", "1.0.0", "0.38rc1", ""):
        monkeypatch.setattr(pyhanko_version, "__version__", version)
        guard.versions_supported.cache_clear()
        try:
            plain_everywhere(f"pyHanko {version!r}")
        finally:
            guard.versions_supported.cache_clear()
    monkeypatch.undo()
    assert guard.supported()


# --- same verdicts with and without the speed-ups --------------------------------------------

_VERIFY = r'''
import json, re, sys
from pathlib import Path
from typing import Any
import datetime as dt
from signflow.pdf.reader import open_reader
from signflow.roster import load_roster
from signflow.validation.verify import VerifyPolicy, verify_file


def stable(value):
    """pyHanko puts sets into some messages ("used in multiple contexts: {...}", "Fields
    {...} were deleted"): their order, and the object addresses in them, change from one
    run to the next whatever the code. Their contents are left out of the comparison."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"\{[^{}]*(\}|$)", "{...}", value)
    return value


config = json.loads(sys.argv[1])
out = {}
for job in config:
    roster = load_roster(Path(job["roster"])) if job["roster"] else None
    at = dt.datetime.fromisoformat(job["at"]) if job["at"] else None
    policy = VerifyPolicy(trust_roots=tuple(Path(t) for t in job["trust"]), roster=roster,
                          at=at)
    verdict = verify_file(Path(job["pdf"]), policy).as_json()
    verdict.pop("validation_time", None)  # "now" when no --at: differs from run to run
    verdict = stable(verdict)
    reader = type(open_reader(Path(job["pdf"]).read_bytes())).__name__
    out[job["pdf"]] = {"verdict": verdict, "reader": reader}
print("REPORT" + json.dumps(out, sort_keys=True, default=str))
'''


def test_verification_gives_the_same_verdicts_with_plain_pyhanko(signed_agreement,
                                                                 lta_agreement, demo_pki):
    """The signed and the archived agreement (DSS, document timestamp), and files of the
    attack corpus that must be flagged or pass: the whole JSON verdict is the same with the
    speed-ups and with SIGNFLOW_PLAIN_PYHANKO=1."""
    ours = {"roster": str(demo_pki.roster_path), "trust": [str(demo_pki.root_pem)], "at": None}
    corpus_trust = [str(CORPUS / "trust-anchors" / "ALL-anchors.pem"),
                    *map(str, sorted((CORPUS / "pyhanko-testdata" / "trust").glob("*.pem")))]
    jobs = [{**ours, "pdf": str(signed_agreement)}, {**ours, "pdf": str(lta_agreement)}]
    jobs += [{"pdf": str(CORPUS / name), "roster": None, "trust": corpus_trust,
              "at": "2020-12-01T00:00:00+00:00"} for name in MUST_FLAG[::3] + MUST_PASS[::3]]
    fast = _run(_VERIFY, json.dumps(jobs), env={"SIGNFLOW_PLAIN_PYHANKO": "0"})
    plain = _run(_VERIFY, json.dumps(jobs), env={"SIGNFLOW_PLAIN_PYHANKO": "1"})
    assert {v["reader"] for v in fast.values()} == {"SignflowPdfReader"}
    assert {v["reader"] for v in plain.values()} == {"PdfFileReader"}
    assert fast[str(signed_agreement)]["verdict"]["ok"] is True
    assert fast[str(lta_agreement)]["verdict"]["ok"] is True
    assert any(not v["verdict"]["ok"] for v in fast.values()), "some corpus file must fail"
    for pdf in fast:
        assert fast[pdf]["verdict"] == plain[pdf]["verdict"], \
            f"{Path(pdf).name}: the verdict changes with plain pyHanko: " + \
            _differences(fast[pdf]["verdict"], plain[pdf]["verdict"])


def _differences(ours: object, theirs: object, where: str = "") -> str:
    """Where two JSON verdicts differ, key by key (the assertion says what, not only that)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return "; ".join(filter(None, (_differences(ours.get(k), theirs.get(k), f"{where}.{k}")
                                       for k in sorted(set(ours) | set(theirs)))))
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return "; ".join(filter(None, (_differences(a, b, f"{where}[{i}]")
                                       for i, (a, b) in enumerate(zip(ours, theirs, strict=True)))))
    return "" if ours == theirs else f"{where}: {ours!r} != {theirs!r}"


# --- logging --------------------------------------------------------------------------------


def _logging_state() -> dict:
    manager = logging.Logger.manager
    state = {"": (logging.root.level, tuple(logging.root.handlers), logging.root.propagate,
                  tuple(logging.root.filters)), "disable": manager.disable}
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            state[name] = (logger.level, tuple(logger.handlers), logger.propagate,
                           tuple(logger.filters), logger.disabled)
    return state


def test_verifying_leaves_logging_as_it_found_it(lta_agreement, demo_pki):
    """The library configures no logging: levels, handlers, filters and propagation of
    every logger are what they were (signflow's CLI decides what the terminal shows)."""
    from signflow.validation.verify import VerifyPolicy, verify_file

    quiet = logging.getLogger("pyhanko.pdf_utils.generic")  # the duplicate-key listener's
    quiet.setLevel(logging.ERROR)  # an application's choice, to be kept
    try:
        before = _logging_state()
        assert verify_file(lta_agreement, VerifyPolicy(trust_roots=(demo_pki.root_pem,))).ok
        after = _logging_state()
    finally:
        quiet.setLevel(logging.NOTSET)
    changed = {k: (before.get(k), v) for k, v in after.items()
               if k in before and before[k] != v}
    assert not changed, f"verification changed logging settings: {changed}"


def _with_revision(body: bytes) -> tuple[bytes, list[int]]:
    """A one-revision PDF plus a revision that writes object 3 as ``body``; and where each
    revision ends."""
    data = minimal_pdf(_CATALOG, _PAGES)
    first_end = len(data)
    data = with_object_revision(data, 3, body, size=4)
    return data, [first_end, len(data)]


@pytest.mark.parametrize("body", [
    b"<< /Contents <" + _HEX + b"> /A 1 /A 2 >>",  # the fast path
    b"<< /T (/Contents <" + _HEX + b">) /A 1 /A 2 >>",  # the fast path gives up: parsed twice
])
def test_duplicate_keys_are_found_once_as_with_plain_pyhanko(body, monkeypatch):
    from signflow._internal.pyhanko import PLAIN_ENV
    from signflow.validation.workflow import duplicate_key_problems

    data, ends = _with_revision(body)
    monkeypatch.delenv(PLAIN_ENV, raising=False)
    ours = duplicate_key_problems(data, ends, 1)
    monkeypatch.setenv(PLAIN_ENV, "1")
    plain = duplicate_key_problems(data, ends, 1)
    assert len(plain) == 1 and "/A" in plain[0][1], plain
    assert ours == plain


@pytest.mark.parametrize("body", [
    b"<< /Contents <" + _HEX + b"> /A 1 /A 2 >>",
    b"<< /T (/Contents <" + _HEX + b">) /A 1 /A 2 >>",
    b"<< /A 1 /A 2 >>",
])
def test_duplicate_keys_are_found_through_the_historys_reader_after_it_read_them(body):
    """The scan parses the objects anew through the document's own reader, also one that
    reader read (and kept) before anyone listened: pyHanko's warning comes again. Its later
    reads get an object equal to a plain reader's."""
    from pyhanko.pdf_utils import generic, reader

    from signflow.validation.revisions import DocumentHistory
    from signflow.validation.workflow import duplicate_key_problems

    data, ends = _with_revision(body)
    history = DocumentHistory(data, "dup.pdf")
    ref = generic.Reference(3, 0)
    earlier = history.reader.get_object(ref)  # read before the scan: no warning heard
    found = duplicate_key_problems(data, ends, 1, history.reader)
    assert found == duplicate_key_problems(data, ends, 1), "not as with a reader of its own"
    assert len(found) == 1 and "/A" in found[0][1], found
    assert history.duplicate_key_problems(1) == found
    assert history.reader.get_object(ref) is earlier, "the scan replaced an object read before"
    # an object first read after the scan: the scan's parse, equal to a plain reader's
    fresh = DocumentHistory(data, "dup.pdf")
    duplicate_key_problems(data, ends, 1, fresh.reader)
    plain = reader.PdfFileReader(io.BytesIO(data), strict=False)

    def canon(obj: Any) -> tuple:
        return type(obj).__name__, {k: repr(dict.__getitem__(obj, k)) for k in dict.keys(obj)}

    assert canon(fresh.reader.get_object(ref)) == canon(plain.get_object(ref))


def test_the_duplicate_key_listener_still_hears_when_pyhanko_is_quiet():
    """pyHanko's parser logger set to ERROR by the application: duplicate keys are still
    found (the listener lowers the level for itself) and nothing reaches the application's
    handlers."""
    from signflow.validation.workflow import duplicate_key_problems

    data, ends = _with_revision(b"<< /A 1 /A 2 >>")
    seen: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("pyhanko.pdf_utils.generic")
    catch = Catch()
    logging.getLogger().addHandler(catch)
    logger.setLevel(logging.ERROR)
    try:
        problems = duplicate_key_problems(data, ends, 1)
        kept = (logger.level, logger.propagate, list(logger.handlers))
    finally:
        logging.getLogger().removeHandler(catch)
        logger.setLevel(logging.NOTSET)
    assert problems and all(r == 1 for r, _m in problems), problems
    assert "/A" in problems[0][1], problems
    leaked = [r.getMessage() for r in seen if r.name == "pyhanko.pdf_utils.generic"]
    assert not leaked, f"warnings the application silenced reached its handlers: {leaked}"
    assert kept == (logging.ERROR, True, []), f"the listener left the logger as {kept}"


def test_one_early_duplicate_key_scan_answers_as_a_scan_from_each_revision():
    """verify scans every revision after the first before it reads anything else (each
    object is then parsed once); what it reports from the first signature on must be what
    a scan that started there reports, on every file of the corpus, from every revision."""
    from signflow.validation.revisions import DocumentHistory

    compared = 0
    for name in sorted(set(MUST_FLAG) | set(MUST_PASS)):
        data = (CORPUS / name).read_bytes()
        early = DocumentHistory(data, name)
        early.scan_duplicate_keys()
        for first in range(1, early.total_revisions):
            fresh = DocumentHistory(data, name)
            assert early.duplicate_key_problems(first) == \
                fresh.duplicate_key_problems(first), (name, first)
            compared += 1
    assert compared > 20, compared


def test_a_duplicate_key_scan_cannot_answer_for_revisions_it_did_not_read():
    from signflow.validation.workflow import scan_duplicate_keys

    data, ends = _with_revision(b"<< /A 1 /A 2 >>")
    scan = scan_duplicate_keys(data, ends, 1)
    assert [message for _r, message in scan.problems(1)] and scan.problems(2) == []
    with pytest.raises(ValueError):
        scan.problems(0)
