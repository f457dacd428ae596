"""What a signflow document has been through: its fields, its signatures, its revisions.

The PDF is the source of truth. This module reads it (with pyHanko) and applies signflow's
strict workflow policy: after the revision that created the signature fields, every
revision must be explained by exactly what the workflow does, namely one signature in one
of our fields, a document timestamp, or validation data (DSS). Anything else (another form
field's value, a new annotation, new page content, a new field) is a problem, even where
generic validators accept it as "form filling".

Each revision is compared with the one before it, once; the result is shared by every
signature that precedes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from asn1crypto import x509

from .errors import InputError, failure_reason
from .fields import parse_field_name
from .i18n import _

LEVEL_NAMES = {0: "none", 1: "lta_updates", 2: "form_filling", 3: "annotations", 4: "other"}


@dataclass(frozen=True)
class RevisionReview:
    """How revision ``revision`` differs from the one before it."""

    revision: int
    level: str  # none | lta_updates | form_filling | annotations | other
    changed_fields: frozenset[str]
    suspicious: str | None = None  # pyHanko could not explain some change


@dataclass
class SignatureRecord:
    field: str
    member: str | None
    role: str | None
    revision: int  # the revision this signature signs
    is_timestamp: bool
    embedded: Any = field(repr=False)  # pyhanko EmbeddedPdfSignature

    @property
    def signer_cert(self) -> x509.Certificate:
        return self.embedded.signer_cert

    @property
    def signer_name(self) -> str:
        return common_name(self.signer_cert)

    @property
    def claimed_time(self) -> dt.datetime | None:
        """The signer's own clock (signingTime attribute); not proof of anything."""
        return self.embedded.self_reported_timestamp


def common_name(cert: x509.Certificate) -> str:
    try:
        return str(cert.subject.native.get("common_name") or cert.subject.human_friendly)[:]
    except Exception:  # malformed names in hostile files
        return "?"


def open_reader(data: bytes, path: Path | str = "") -> Any:
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    from ._speedups import install

    install()
    if not data.startswith(b"%PDF-") and b"%PDF-" not in data[:1024]:
        raise InputError(_("{path}: not a PDF file").format(path=path))
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise InputError(_("{path}: the PDF is encrypted").format(path=path))
        reader.root  # noqa: B018 - forces the trailer and catalogue to parse
        return reader
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(_("{path}: cannot read the PDF: {reason}").format(
            path=path, reason=str(exc)[:160])) from None


class DocumentHistory:
    """Signature fields, signatures and revision reviews of one PDF, computed lazily."""

    def __init__(self, data: bytes, path: Path | str = "") -> None:
        self.data = data
        self.path = path
        self.reader = open_reader(data, path)
        self._reviews: dict[int, RevisionReview] = {}
        self._usage_index: Any = None

    @property
    def total_revisions(self) -> int:
        return self.reader.xrefs.total_revisions

    @cached_property
    def fields(self) -> dict[str, bool]:
        """Every signature field: fully qualified name -> signed?"""
        from pyhanko.sign.fields import enumerate_sig_fields

        return {str(name): value is not None
                for name, value, _ref in enumerate_sig_fields(self.reader)}

    @cached_property
    def our_fields(self) -> dict[tuple[str, str], str]:
        """(member, role) -> field name, for the fields signflow created."""
        result = {}
        for name in self.fields:
            parsed = parse_field_name(name)
            if parsed:
                result[parsed] = name
        return result

    @cached_property
    def fields_revision(self) -> int | None:
        """The revision that created our signature fields (the earliest one holding any)."""
        from pyhanko.sign.fields import enumerate_sig_fields

        revisions = []
        for name, _value, ref in enumerate_sig_fields(self.reader):
            if parse_field_name(name) and ref is not None:
                revisions.append(self.reader.xrefs.get_introducing_revision(ref.reference))
        return min(revisions) if revisions else None

    @cached_property
    def signatures(self) -> list[SignatureRecord]:
        records = []
        for emb in self.reader.embedded_signatures:
            # plain str: pyHanko's string objects carry a reference to the whole reader
            name = str(emb.field_name)
            parsed = parse_field_name(name)
            is_ts = emb.sig_object_type == "/DocTimeStamp"
            records.append(SignatureRecord(
                field=name, member=parsed[0] if parsed else None,
                role=parsed[1] if parsed else None, revision=emb.signed_revision,
                is_timestamp=is_ts, embedded=emb))
        records.sort(key=lambda r: r.revision)
        return records

    def prime_digests(self) -> None:
        """Hash every signature's byte range in one pass over the file.

        Each signature covers the file up to its own revision (minus its own value), so
        hashing each separately reads the file's early part again for every signature:
        signatures x size. One running SHA-256 over the file, copied at each signature's
        gap, gives every digest in one pass; pyHanko then finds them in its digest cache.
        Signatures with unusual byte ranges or another digest algorithm keep pyHanko's
        own computation.
        """
        data = self.data
        spans = []
        for record in self.signatures:
            emb = record.embedded
            try:
                start, first, second_start, second = (int(x) for x in emb.byte_range)
            except (TypeError, ValueError):
                continue
            if (start != 0 or emb.external_md_algorithm != "sha256" or first < 0
                    or second_start < first or second_start + second > len(data)):
                continue
            spans.append((first, second_start, second, emb))
        spans.sort(key=lambda s: s[0])
        running = hashlib.sha256()
        position = 0
        for first, second_start, second, emb in spans:
            if first < position:
                continue  # overlapping ranges: leave it to pyHanko
            running.update(data[position:first])
            position = first
            digest = running.copy()
            digest.update(data[second_start:second_start + second])
            emb.external_digests.setdefault("sha256", digest.digest())

    def signature_for(self, member: str, role: str) -> SignatureRecord | None:
        for record in self.signatures:
            if record.member == member and record.role == role and not record.is_timestamp:
                return record
        return None

    def review(self, revision: int) -> RevisionReview:
        """Revision ``revision`` compared with the one before it (computed once)."""
        from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, SuspiciousModification

        cached = self._reviews.get(revision)
        if cached is not None:
            return cached
        from ._fastdiff import UsageIndex, prime, reviewing

        reader = self.reader
        try:
            old = reader.get_historical_resolver(revision - 1)
            if self._usage_index is None:
                self._usage_index = UsageIndex(reader)
            prime(self._usage_index, old)
            new = reader.get_historical_resolver(revision)
            with reviewing(self._usage_index, old, new):
                diff = DEFAULT_DIFF_POLICY.apply(old, new, None, None)
            result = RevisionReview(revision,
                                    LEVEL_NAMES.get(diff.modification_level.value, "other"),
                                    frozenset(diff.changed_form_fields))
        except SuspiciousModification as exc:
            result = RevisionReview(revision, "other", frozenset(),
                                    str(exc).splitlines()[0][:200])
        except Exception as exc:  # malformed revisions in hostile files
            # pyHanko's internal assertions carry no text: say what failed
            result = RevisionReview(revision, "other", frozenset(), _(
                "the revision could not be analysed ({reason})").format(
                    reason=failure_reason(exc)))
        self._reviews[revision] = result
        return result

    @property
    def reviews(self) -> dict[int, RevisionReview]:
        """Each revision after the first, compared with its predecessor."""
        return {r: self.review(r) for r in range(1, self.total_revisions)}

    def workflow_problems(self, after: int | None = None,
                          known_good: int = 0) -> list[tuple[int, str]]:
        """Revisions after ``after`` (default: the fields revision) that the workflow does not
        explain, as (revision, message). Revisions below ``known_good`` (already checked, per
        the ledger) are not analysed again."""
        start = self.fields_revision if after is None else after
        if start is None:
            return []
        signed_in: dict[int, list[SignatureRecord]] = {}
        for record in self.signatures:
            signed_in.setdefault(record.revision, []).append(record)
        problems: list[tuple[int, str]] = []
        for revision in range(max(start + 1, known_good), self.total_revisions):
            review = self.review(revision)
            records = signed_in.get(revision, [])
            if review.suspicious:
                problems.append((revision, _("unexplained change: {detail}").format(
                    detail=review.suspicious)))
                continue
            if review.level in ("annotations", "other"):
                problems.append((revision, _("changes beyond signing ({level})").format(
                    level=review.level)))
            if len(records) > 1:
                problems.append((revision, _("more than one signature in one revision")))
            allowed = {r.field for r in records}
            for name in sorted(review.changed_fields - allowed):
                problems.append((revision, _("form field '{name}' changed").format(name=name)))
            for record in records:
                # In a signflow document, people sign only in the fields signflow created;
                # in other documents any signature field will do.
                if self.fields_revision is not None and not record.is_timestamp and (
                        record.member is None or record.field not in self.fields):
                    problems.append((revision, _("signature in a field signflow did not "
                                                 "create: {name}").format(name=record.field)))
            if not records and review.level == "form_filling":
                problems.append((revision, _("form filling without a signature")))
        problems += [(self.total_revisions - 1, p) for p in self._new_fields_problems(start)]
        return problems

    def _new_fields_problems(self, start: int) -> list[str]:
        """Fields that appeared after the fields revision and are not document timestamps."""
        before = _field_names(self.reader.get_historical_resolver(start))
        after = _field_names(self.reader.get_historical_resolver(self.total_revisions - 1))
        timestamp_fields = {r.field for r in self.signatures if r.is_timestamp}
        return [_("new form field '{name}' added after the signature fields").format(name=n)
                for n in sorted(after - before - timestamp_fields)]


def _field_names(resolver: Any) -> set[str]:
    """Fully qualified names of every form field as of one revision."""
    names: set[str] = set()
    try:
        root = resolver.root
        acroform = root.get("/AcroForm")
        fields = acroform["/Fields"] if acroform is not None and "/Fields" in acroform else []
    except Exception:
        return names

    def walk(items: Any, prefix: str, depth: int) -> None:
        if depth > 20:
            return
        for item in items:
            try:
                obj = item.get_object()
                part = str(obj["/T"]) if "/T" in obj else ""
                name = f"{prefix}.{part}" if prefix and part else (part or prefix)
                if "/Kids" in obj and any("/T" in k.get_object() for k in obj["/Kids"]):
                    walk(obj["/Kids"], name, depth + 1)
                elif name:
                    names.add(name)
            except Exception:
                continue

    walk(fields, "", 0)
    return names


def read_history(path: Path) -> DocumentHistory:
    from ._files import read_input

    return DocumentHistory(read_input(path), path)
