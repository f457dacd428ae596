"""What a signflow document has been through: its fields, its signatures, its revisions.

The PDF is the source of truth. This module reads it (with pyHanko) and applies signflow's
strict workflow policy. The first signature covers the prepared document; every later
revision is judged against *that* shape (shape.py), never against the latest state, and
must be exactly what the workflow does: one signature in one of the signflow fields the
first signature covered, a document timestamp in a new invisible field, or validation
data (DSS). Anything else (another form field's value, a new annotation, new page content,
a re-created field, a rewritten catalogue entry) is a problem, even where generic
validators accept it as "form filling". Documents without signflow fields get pyHanko's
difference analysis, read strictly.

Each revision is compared with the one before it, once; the result is shared by every
signature that precedes it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from asn1crypto import x509

from signflow.errors import InputError, failure_reason
from signflow.i18n import _
from signflow.identity import common_name
from signflow.pdf.anchors import parse_field_name
from signflow.pdf.reader import open_reader
from signflow.roster import Role
from signflow.validation.workflow import DocumentShape

LEVEL_NAMES = {0: "none", 1: "lta_updates", 2: "form_filling", 3: "annotations", 4: "other"}


@dataclass(frozen=True)
class RevisionReview:
    """How revision ``revision`` differs from the one before it."""

    revision: int
    level: str  # none | lta_updates | form_filling | annotations | other
    changed_fields: frozenset[str]
    suspicious: str | None = None  # pyHanko could not explain some change


# what a child process computes on the same bytes and hands back (signflow.validation._split):
# revision -> review, first revision -> duplicate-key problems, geometry problems, the
# anchors in what the first signature covers (None: not computed there)
Findings = tuple[dict[int, RevisionReview], dict[int, list[tuple[int, str]]], list[str] | None,
                 tuple[list[Any], list[Any]] | None]


@dataclass
class SignatureRecord:
    field: str
    member: str | None
    role: Role | None
    revision: int  # the revision this signature signs
    is_timestamp: bool
    embedded: Any = dataclasses.field(repr=False)  # pyhanko EmbeddedPdfSignature

    @property
    def signer_cert(self) -> x509.Certificate:
        return self.embedded.signer_cert

    @property
    def signer_name(self) -> str:
        return common_name(self.signer_cert)

    @property
    def has_signature_timestamp(self) -> bool:
        """The CMS carries an RFC 3161 signature timestamp (B-T and up); says nothing of
        whether it is valid or trusted (signflow.validation.verify judges that)."""
        try:
            attrs = self.embedded.signer_info["unsigned_attrs"]
            return any(attr["type"].native == "signature_time_stamp_token" for attr in attrs)
        except (KeyError, TypeError, ValueError, AttributeError):
            return False  # no unsigned attributes at all, or malformed ones

    @property
    def claimed_time(self) -> dt.datetime | None:
        """The signer's own clock (signingTime attribute); not proof of anything."""
        return self.embedded.self_reported_timestamp






class DocumentHistory:
    """Signature fields, signatures and revision reviews of one PDF, computed lazily."""

    def __init__(self, data: bytes, path: Path | str = "") -> None:
        self.data = data
        self.path = path
        self.reader = open_reader(data, path)
        self._reviews: dict[int, RevisionReview] = {}
        self._duplicate_keys: dict[int, list[tuple[int, str]]] = {}
        # the scan itself (workflow.DuplicateKeyScan), or why it failed
        self._duplicate_scan: Any = None
        self._own_findings: dict[tuple[int, int], list[str]] = {}
        self._geometry: list[str] | None = None
        self._shapes: dict[int, DocumentShape] = {}
        self._diff_policy: Any = None

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
    def our_fields(self) -> dict[tuple[str, Role], str]:
        """(member, role) -> field name, for the fields signflow created."""
        result: dict[tuple[str, Role], str] = {}
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

    def signature_for(self, member: str, role: Role) -> SignatureRecord | None:
        for record in self.signatures:
            if record.member == member and record.role == role and not record.is_timestamp:
                return record
        return None

    def review(self, revision: int) -> RevisionReview:
        """Revision ``revision`` compared with the one before it (computed once)."""
        from pyhanko.sign.diff_analysis import SuspiciousModification

        cached = self._reviews.get(revision)
        if cached is not None:
            return cached
        from signflow._internal.pyhanko.fastdiff import diff_policy

        reader = self.reader
        try:
            old = reader.get_historical_resolver(revision - 1)
            new = reader.get_historical_resolver(revision)
            if self._diff_policy is None:
                # pyHanko's default policy; signflow's incremental form of it for its own
                # readers (the same verdicts, tests/test_fastdiff.py)
                self._diff_policy = diff_policy(reader)
            diff = self._diff_policy.apply(old, new, None, None)
            result = RevisionReview(revision,
                                    LEVEL_NAMES.get(diff.modification_level.value, "other"),
                                    frozenset(str(name) for name in diff.changed_form_fields))
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

    def shareable_findings(self) -> Findings:
        """The revision reviews, duplicate-key findings, geometry problems and anchors
        computed so far: plain data, what another process working on the same bytes can
        hand back."""
        scan = self.__dict__.get("_anchor_scan")  # (the cached property, if it was read)
        return dict(self._reviews), dict(self._duplicate_keys), \
            None if self._geometry is None else list(self._geometry), \
            None if scan is None else (list(scan[0]), list(scan[1]))

    def adopt_findings(self, findings: Findings) -> None:
        """Findings on these same bytes computed elsewhere (signflow.validation._split)."""
        reviews, duplicate_keys, geometry, scan = findings
        if scan is not None:
            self.__dict__.setdefault("_anchor_scan", scan)
        for revision, review in reviews.items():
            self._reviews.setdefault(revision, review)
        for first, found in duplicate_keys.items():
            self._duplicate_keys.setdefault(first, found)
        if self._geometry is None and geometry is not None:
            self._geometry = list(geometry)

    @property
    def reviews(self) -> dict[int, RevisionReview]:
        """Each revision after the first, compared with its predecessor."""
        return {r: self.review(r) for r in range(1, self.total_revisions)}

    # --- the shape the first signature fixed ---------------------------------------------

    @cached_property
    def baseline_revision(self) -> int | None:
        """The revision of the first signature (of any kind): it covers the prepared
        document, and every later revision is judged against it. None when unsigned."""
        return min((r.revision for r in self.signatures), default=None)

    def shape(self, revision: int) -> DocumentShape:
        """Pages, fields and annotations as of ``revision`` (read once)."""
        from signflow.validation.workflow import read_shape

        cached = self._shapes.get(revision)
        if cached is None:
            cached = self._shapes[revision] = read_shape(
                self.reader.get_historical_resolver(revision), revision)
        return cached

    @cached_property
    def reference_revision(self) -> int | None:
        """What later revisions are compared with: the first signature's revision, or for
        a document nobody has signed yet, the revision that created its signflow fields."""
        return self.baseline_revision if self.baseline_revision is not None \
            else self.fields_revision

    @cached_property
    def is_signflow(self) -> bool:
        """Does the reference revision hold signflow fields? (Decided on what the first
        signature covers, so a later revision cannot turn the strict rules off.)"""
        revision = self.reference_revision
        if revision is None:
            return False
        return any(parse_field_name(n) for n in self.shape(revision).fields)

    @cached_property
    def covered_bytes(self) -> bytes:
        """The part of the file the first signature covers (the whole file when unsigned):
        its page content holds the anchors that say who must sign."""
        if self.baseline_revision is None:
            return self.data
        first = next(r for r in self.signatures if r.revision == self.baseline_revision)
        try:
            start, first_len, second_start, second_len = (int(x) for x in
                                                          first.embedded.byte_range)
        except (TypeError, ValueError) as exc:
            raise InputError(_("the first signature's byte range cannot be read")) from exc
        end = second_start + second_len
        if start != 0 or not 0 < first_len <= second_start or end > len(self.data):
            raise InputError(_("the first signature's byte range is not usable"))
        return self.data[:end]

    @cached_property
    def _anchor_scan(self) -> tuple[list[Any], list[Any]]:
        from signflow.pdf.anchors import scan_anchors

        return scan_anchors(self.covered_bytes, str(self.path))

    @property
    def anchors(self) -> list[Any]:
        """The signature anchors in the content the first signature covers (InputError
        when they cannot be read)."""
        return self._anchor_scan[0]

    @property
    def issue_anchors(self) -> list[Any]:
        """The number's and the date's anchors in that content (documents the clerical
        office numbers at issue)."""
        return self._anchor_scan[1]

    @cached_property
    def issue_fields(self) -> dict[tuple[str, str], str]:
        """(member, "number"|"date") -> field name, for the number and date fields the
        reference revision holds (created with the signature fields)."""
        from signflow.pdf.anchors import parse_issue_field_name

        revision = self.reference_revision
        if revision is None:
            return {}
        return {parsed: name for name in self.shape(revision).fields
                if (parsed := parse_issue_field_name(name)) is not None}

    def field_value(self, name: str, revision: int | None = None) -> str | None:
        """A text field's value (/V) at a revision (the latest by default); None if empty."""
        from pyhanko.pdf_utils import generic

        revision = self.total_revisions - 1 if revision is None else revision
        fixed = self.shape(revision).fields.get(name)
        if fixed is None or fixed.ref is None:
            return None
        field = self.reader.get_historical_resolver(revision)(fixed.ref)
        if not isinstance(field, generic.DictionaryObject) or "/V" not in field:
            return None
        value = field["/V"]
        if not isinstance(value, generic.TextStringObject | generic.ByteStringObject):
            return "?"
        text = str(value)
        return text or None

    @cached_property
    def numbering_revision(self) -> int | None:
        """The revision that filled the number and date fields (the first one that
        rewrote either field object), None when not numbered."""
        start = self.reference_revision
        if start is None or not self.issue_fields:
            return None
        refs = {self.shape(start).fields[name].ref for name in self.issue_fields.values()}
        refs.discard(None)
        if not refs:
            return None
        for revision in range(start + 1, self.total_revisions):
            if refs & set(self.reader.xrefs.explicit_refs_in_revision(revision)):
                return revision
        return None

    def geometry_problems(self) -> list[str]:
        """Each signflow field of the reference revision on its anchor, visible (empty for
        documents without signflow fields; computed once)."""
        if self._geometry is None:
            self._geometry = self._find_geometry_problems()
        return list(self._geometry)

    def _find_geometry_problems(self) -> list[str]:
        from signflow.validation.workflow import geometry_problems

        if not self.is_signflow:
            return []
        assert self.reference_revision is not None
        try:
            anchors = self.anchors
        except InputError as exc:
            return [_("the signature anchors cannot be read: {reason}").format(
                reason=exc.message)]
        shape = self.shape(self.reference_revision)
        return list(shape.problems) + geometry_problems(shape, anchors) + \
            self._issue_geometry_problems(shape)

    def _issue_geometry_problems(self, shape: DocumentShape) -> list[str]:
        """Each number or date field exactly where its anchor puts it, a visible text
        field; each anchor with its field, each field with its anchor."""
        from signflow.pdf.anchors import issue_field_box, issue_field_name

        problems = []
        expected = {issue_field_name(a.member, a.part): a for a in self.issue_anchors}
        for name in sorted(set(self.issue_fields.values()) - set(expected)):
            problems.append(_("the field '{name}' has no anchor in the signed content")
                            .format(name=name))
        for name, anchor in sorted(expected.items()):
            fixed = shape.fields.get(name)
            if fixed is None:
                problems.append(_("no field for the anchor of {member} ({role})").format(
                    member=anchor.member, role=anchor.part))
                continue
            box = issue_field_box(anchor)
            if fixed.field_type != "/Tx" or len(fixed.widgets) != 1 or not fixed.visible \
                    or fixed.page != anchor.page or fixed.rect is None or any(
                        abs(a - b) > 1.0 for a, b in zip(fixed.rect, box, strict=True)):
                problems.append(_("the field '{name}' is not where its anchor is").format(
                    name=name))
            elif self.field_value(name, self.reference_revision) is not None:
                # the first signature covered a number already there: not Decree 30's order
                problems.append(_("the field '{name}' was filled before the first "
                                  "signature").format(name=name))
        return problems

    # --- the workflow after it ------------------------------------------------------------

    def workflow_problems(self, known_good: int = 0,
                          since: int | None = None) -> list[tuple[int, str]]:
        """Revisions after the reference revision that the workflow does not explain, as
        (revision, message). Revisions below ``known_good`` (already checked, per the
        ledger) are not analysed again. ``since``: a revision a record outside the file
        vouches for (the ledger's newest, for ``signflow receive``); when it comes before
        the first signature, every later revision is judged against it, the first
        signature's own revision included (which nothing else judges)."""
        start = self.reference_revision
        if start is None:
            return []
        if since is not None and since < start:
            start = since
        signed_in = self._signed_in
        problems: list[tuple[int, str]] = []
        # first: the scan parses every object written since, and the analyses below then
        # read those parses instead of parsing them again (its problems are listed last)
        duplicates = self.duplicate_key_problems(max(start + 1, known_good))
        numbering = self.numbering_revision if self.is_signflow else None
        for revision in range(max(start + 1, known_good), self.total_revisions):
            records = signed_in.get(revision, [])
            if revision == numbering and not records:
                try:
                    found = self._numbering_problems(start, revision)
                except Exception as exc:  # an unreadable revision is not an explained one
                    found = [_("the revision could not be analysed ({reason})").format(
                        reason=failure_reason(exc))]
                problems += [(revision, message) for message in found]
                continue
            found = self._generic_problems(revision, records)
            if self.is_signflow:
                found += self._own_rules(start, revision)
            problems += [(revision, message) for message in found]
        problems += duplicates
        if numbering is None and self.is_signflow:
            for (member, part), _name in self.issue_fields.items():
                seal = self.signature_for(member, "seal") if part == "number" else None
                if seal is not None:
                    problems.append((seal.revision, _(
                        "the seal of {member} came before the number and date of issue"
                    ).format(member=member)))
        if not self.is_signflow:
            try:
                problems += [(self.total_revisions - 1, p)
                             for p in self._new_fields_problems(start)]
            except Exception as exc:
                problems.append((self.total_revisions - 1, _(
                    "the form fields cannot be read ({reason})").format(
                        reason=failure_reason(exc))))
        return problems

    def scan_duplicate_keys(self, start: int = 1) -> None:
        """The duplicate-key scan from revision ``start`` on, now (unless done from there
        or earlier). Run before anything else reads the file's objects, each is parsed
        once: the scan's parses are the ones later reads use."""
        from signflow.pdf.reader import revision_ends
        from signflow.validation.workflow import scan_duplicate_keys

        scan = self._duplicate_scan
        if isinstance(scan, str) or (scan is not None and scan.start <= start):
            return
        try:
            self._duplicate_scan = scan_duplicate_keys(
                self.data, revision_ends(self.data, self.reader), start, self.reader)
        except Exception as exc:  # unreadable: nothing after the first signature is proven
            self._duplicate_scan = failure_reason(exc)

    def duplicate_key_problems(self, first: int) -> list[tuple[int, str]]:
        """Keys defined twice in the trailers and objects of revision ``first`` and later,
        as (revision, message) (computed once)."""
        if first >= self.total_revisions:
            return []
        cached = self._duplicate_keys.get(first)
        if cached is not None:
            return list(cached)
        self.scan_duplicate_keys(first)
        scan = self._duplicate_scan
        if scan is None or isinstance(scan, str):
            found = [(first, _("the revision could not be analysed ({reason})").format(
                reason=scan or "?"))]
        else:
            found = scan.problems(first)
        self._duplicate_keys[first] = found
        return list(found)

    @cached_property
    def _signed_in(self) -> dict[int, list[SignatureRecord]]:
        """The signatures of each revision (more than one is a problem, named elsewhere)."""
        signed_in: dict[int, list[SignatureRecord]] = {}
        for record in self.signatures:
            signed_in.setdefault(record.revision, []).append(record)
        return signed_in

    def apply_own_rules(self) -> None:
        """signflow's own rules for every revision after the reference revision that
        ``workflow_problems`` will judge by them (computed now, used then): the part of
        the analysis that needs no difference analysis."""
        start = self.reference_revision
        if start is None or not self.is_signflow:
            return
        numbering = self.numbering_revision
        for revision in range(start + 1, self.total_revisions):
            if not (revision == numbering and revision not in self._signed_in):
                self._own_rules(start, revision)

    def _own_rules(self, start: int, revision: int) -> list[str]:
        """``_signflow_problems`` of ``revision`` against ``start`` (computed once)."""
        cached = self._own_findings.get((start, revision))
        if cached is None:
            try:
                cached = self._signflow_problems(start, revision,
                                                 self._signed_in.get(revision, []))
            except Exception as exc:  # an unreadable revision is not an explained one
                cached = [_("the revision could not be analysed ({reason})").format(
                    reason=failure_reason(exc))]
            self._own_findings[(start, revision)] = cached
        return list(cached)

    def _generic_problems(self, revision: int, records: list[SignatureRecord]) -> list[str]:
        """pyHanko's difference analysis, read strictly: only signing may change fields."""
        review = self.review(revision)
        if review.suspicious:
            return [_("unexplained change: {detail}").format(detail=review.suspicious)]
        problems = []
        if review.level in ("annotations", "other"):
            problems.append(_("changes beyond signing ({level})").format(level=review.level))
        if len(records) > 1:
            problems.append(_("more than one signature in one revision"))
        allowed = {r.field for r in records}
        if self.is_signflow and self.issue_fields:
            # pyHanko names every filled text field as "updated" in a revision that adds a
            # document timestamp's field; signflow judges the number and date fields by
            # their objects: not rewritten in this revision, not changed (a rewrite is
            # judged in _signflow_problems / _numbering_problems)
            rewritten = set(self.reader.xrefs.explicit_refs_in_revision(revision))
            reference = self.shape(self.reference_revision or 0)
            allowed |= {name for name in self.issue_fields.values()
                        if reference.fields[name].ref not in rewritten}
        for name in sorted(review.changed_fields - allowed):
            problems.append(_("form field '{name}' changed").format(name=name))
        if not records and review.level == "form_filling":
            problems.append(_("form filling without a signature"))
        return problems

    def _signflow_problems(self, start: int, revision: int,
                           records: list[SignatureRecord]) -> list[str]:
        """signflow's own rules, against the shape of the reference revision."""
        from signflow.validation.workflow import (
            RevisionContent,
            compare_shapes,
            dss_objects,
            dss_problems,
            rewritten_objects_problems,
            timestamp_field_problems,
        )

        baseline = self.shape(start)
        problems = list(baseline.problems)
        previous = self.shape(revision - 1)
        regular = frozenset(r.field for r in records if not r.is_timestamp)
        stamps = frozenset(r.field for r in records if r.is_timestamp)
        for name in sorted(regular):
            if parse_field_name(name) is None or name not in baseline.fields:
                problems.append(_("signature in a field signflow did not create: {name}")
                                .format(name=name))
        for name in sorted(stamps):
            if name in previous.fields:
                problems.append(_("a document timestamp in an existing field: {name}")
                                .format(name=name))
        old = self.reader.get_historical_resolver(revision - 1)
        new = self.reader.get_historical_resolver(revision)
        old_dss, new_dss = dss_objects(old), dss_objects(new)
        dss_changed = old_dss != new_dss or bool(
            new_dss & set(self.reader.xrefs.explicit_refs_in_revision(revision)))
        if not records and not dss_changed:
            problems.append(_("the revision adds no signature, document timestamp or "
                              "validation data"))
        if dss_changed:
            problems += dss_problems(new)
        problems += rewritten_objects_problems(self.reader, revision, baseline,
                                               RevisionContent(regular, stamps))
        timestamps = {r.field for r in self.signatures
                      if r.is_timestamp and r.revision <= revision}
        now = self.shape(revision)
        problems += compare_shapes(baseline, now, timestamps)
        for name in sorted(stamps):
            problems += timestamp_field_problems(new, now, name)
        return problems

    def _numbering_problems(self, start: int, revision: int) -> list[str]:
        """The clerical office's update (signflow.signing.numbering), exactly: the number
        and date fields of the member who issues the document get a value and an
        appearance, after its head has signed and before its seal, once; nothing else."""
        from signflow import vn
        from signflow.validation.workflow import (
            RevisionContent,
            compare_shapes,
            dss_objects,
            issue_appearance_problems,
            rewritten_objects_problems,
        )

        problems: list[str] = []
        review = self.review(revision)
        members = {member for member, _part in self.issue_fields}
        if len(members) != 1 or len(self.issue_fields) != 2:
            return [_("the number and date fields are not one member's pair")]
        member = next(iter(members))
        names = {part: name for (_m, part), name in self.issue_fields.items()}
        if review.suspicious:
            problems.append(_("unexplained change: {detail}").format(detail=review.suspicious))
        if review.level in ("annotations", "other"):
            problems.append(_("changes beyond numbering ({level})").format(level=review.level))
        if review.changed_fields != frozenset(names.values()):
            problems.append(_("the numbering must fill exactly the number and the date "
                              "(changed: {fields})").format(
                fields=", ".join(sorted(review.changed_fields)) or "-"))
        head = self.signature_for(member, "head")
        seal = self.signature_for(member, "seal")
        if head is None or head.revision >= revision:
            problems.append(_("the number and date were given before the head of {member} "
                              "signed").format(member=member))
        if seal is not None and seal.revision < revision:
            problems.append(_("the number and date were given after the seal of {member}")
                            .format(member=member))
        number = self.field_value(names["number"], revision)
        date = self.field_value(names["date"], revision)
        if number is None or not number.isdigit() or len(number) > 6 or \
                vn.number_text(int(number)) != number or int(number) < 1:
            problems.append(_("the document number '{value}' is not a number as Decree 30 "
                              "writes it").format(value=number or ""))
        issued = vn.parse_date_words(date or "")
        if issued is None:
            problems.append(_("the date of issue '{value}' is not a date").format(
                value=date or ""))
        elif head is not None and head.claimed_time is not None and \
                issued < head.claimed_time.astimezone(vn.VN_TZ).date():
            problems.append(_("the date of issue {date} is before the head signed").format(
                date=issued.isoformat()))
        # validation data has its own revisions: here it would go unjudged (the DSS objects
        # are skipped by the rewrite rules and judged only in signing revisions)
        old_dss = dss_objects(self.reader.get_historical_resolver(revision - 1))
        new_dss = dss_objects(self.reader.get_historical_resolver(revision))
        if old_dss != new_dss or new_dss & set(
                self.reader.xrefs.explicit_refs_in_revision(revision)):
            problems.append(_("the numbering also changes the validation data (DSS)"))
        baseline = self.shape(start)
        problems += list(baseline.problems)
        problems += rewritten_objects_problems(
            self.reader, revision, baseline,
            RevisionContent(frozenset(), frozenset(), frozenset(names.values())))
        # document timestamps added earlier (a B-LTA head signature) are part of the shape
        timestamps = {r.field for r in self.signatures
                      if r.is_timestamp and r.revision < revision}
        problems += compare_shapes(baseline, self.shape(revision), timestamps)
        new = self.reader.get_historical_resolver(revision)
        for name in names.values():
            problems += issue_appearance_problems(new, self.shape(revision).fields[name])
        return problems

    def _new_fields_problems(self, start: int) -> list[str]:
        """Fields that appeared after the reference revision and hold no signature
        (documents without signflow fields)."""
        before = self.shape(start)
        after = self.shape(self.total_revisions - 1)
        problems = list(before.problems) + list(after.problems)
        # generic signing tools create a signature's field as they sign in it
        signed_fields = {r.field for r in self.signatures}
        return problems + [
            _("new form field '{name}' added after the signature fields").format(name=n)
            for n in sorted(set(after.fields) - set(before.fields) - signed_fields)]


def read_history(path: Path) -> DocumentHistory:
    from signflow._internal.files import read_input

    return DocumentHistory(read_input(path), path)


def signature_intact(record: SignatureRecord) -> bool:
    """The bytes a signature covers still hash to what was signed, the signature value
    verifies, and it covers its whole revision."""
    from pyhanko.sign.general import SignedDataCerts  # noqa: F401 - ensures pyhanko loaded
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity
    from pyhanko.sign.validation.pdf_embedded import SignatureCoverageLevel

    emb = record.embedded
    try:
        digest = emb.compute_digest()
        if record.is_timestamp:
            # A document timestamp signs its TSTInfo, whose message imprint is the
            # document's digest: check both links.
            eci = emb.signed_data["encap_content_info"]["content"]
            if eci.parsed["message_imprint"]["hashed_message"].native != digest:
                return False
            digest = hashlib.new(emb.md_algorithm, eci.contents).digest()
        intact, valid = validate_sig_integrity(
            emb.signer_info, emb.signer_cert,
            expected_content_type="tst_info" if record.is_timestamp else "data",
            actual_digest=digest)
        coverage = emb.evaluate_signature_coverage()
    except Exception:  # malformed CMS in a hostile file is simply not intact
        return False
    return bool(intact and valid and coverage >= SignatureCoverageLevel.ENTIRE_REVISION)
