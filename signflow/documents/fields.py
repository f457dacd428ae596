"""Signature fields: find the anchors in a converted PDF and create one empty signature field
per member and role, all in one incremental revision, before anyone signs.

Geometry (Decree 30/2020, Appendix I): the head's field is a box centred under the anchor,
between the signer's title and name; the seal's field is a square the size of the real seal,
whose right edge covers the left third of the head's box, vertically centred on it. The seal
widget comes after the head widget in the page's annotation list so that it is drawn on top,
as a real seal is stamped over the signature.

The anchors themselves stay in the page content as 1 pt white text: invisible, and part of
the original content that every signature covers (removing them later would be a change
after signing).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from signflow._internal.files import atomic_output
from signflow.errors import InputError
from signflow.i18n import _
from signflow.pdf.anchors import (
    DEPARTMENT_BOX_MM,
    HEAD_BOX_MM,
    MM,
    SIGNATURE_SPACE_MM,
    Anchor,
    IssueAnchor,
    field_name,
    issue_field_box,
    issue_field_name,
    scan_anchors,
)
from signflow.roster import (
    ROLES,
    Role,
    Roster,
    departments_left_out,
    departments_left_out_message,
    is_department,
    member_of,
)

if TYPE_CHECKING:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter










@dataclass(frozen=True)
class FieldPlacement:
    name: str
    member: str
    role: Role
    page: int
    box: tuple[float, float, float, float]




def placements(anchors: list[Anchor], roster: Roster) -> list[FieldPlacement]:
    """Where each field goes; every anchor must belong to a roster member (with both
    roles) or to one of its departments (its head only)."""
    by_key: dict[tuple[str, str], Anchor] = {}
    problems: list[str] = []
    for a in anchors:
        if not roster.has_member(a.member):
            problems.append(_("anchor for a member not in the roster: {id}").format(id=a.member))
        elif (a.member, a.role) in by_key:
            problems.append(_("anchor {member}/{role} appears more than once").format(
                member=a.member, role=a.role))
        else:
            by_key[(a.member, a.role)] = a
    signers = sorted({m for m, _r in by_key}, key=roster.order_key)
    for member, omitted in departments_left_out(roster, signers).items():
        problems.append(departments_left_out_message(member, omitted))
    for member in signers:
        for role in ("head",) if is_department(member) else ROLES:
            if (member, role) not in by_key:
                problems.append(_("no {role} anchor for {member}").format(role=role,
                                                                         member=member))
        # a department signs before its member's head confirms: not without that head
        if is_department(member) and (member_of(member), "head") not in by_key:
            problems.append(_("the departments of {member} sign a document its head does "
                              "not confirm").format(member=member_of(member)))
    if problems:
        raise InputError(_("the signature anchors do not match the roster"), details=problems)
    if not by_key:
        raise InputError(_("no signature anchors found (is this a signflow document?)"))

    result: list[FieldPlacement] = []
    for member in signers:
        head_anchor = by_key[(member, "head")]
        if is_department(member):
            # a table cell: the box right under the anchor, centred on it
            w, h = DEPARTMENT_BOX_MM[0] * MM, DEPARTMENT_BOX_MM[1] * MM
            left, top = head_anchor.centre_x - w / 2, head_anchor.box[1] - 1
            result.append(FieldPlacement(field_name(member, "head"), member, "head",
                                         head_anchor.page, (left, top - h, left + w, top)))
            continue
        seal_anchor = by_key[(member, "seal")]
        # The empty space starts under the two anchor lines; both boxes are centred in it.
        space_top = (min(head_anchor.box[1], seal_anchor.box[1])
                     if seal_anchor.page == head_anchor.page else head_anchor.box[1])
        centre_y = space_top - SIGNATURE_SPACE_MM * MM / 2
        w, h = HEAD_BOX_MM[0] * MM, HEAD_BOX_MM[1] * MM
        left = head_anchor.centre_x - w / 2
        head_box = (left, centre_y - h / 2, left + w, centre_y + h / 2)
        result.append(FieldPlacement(field_name(member, "head"), member, "head",
                                     head_anchor.page, head_box))
        d = roster.member(member).seal_diameter_mm * MM
        seal_right = left + w / 3  # the seal covers the left third of the signature
        seal_box = (seal_right - d, centre_y - d / 2, seal_right, centre_y + d / 2)
        result.append(FieldPlacement(field_name(member, "seal"), member, "seal",
                                     by_key[(member, "seal")].page, seal_box))
    return result


@dataclass(frozen=True)
class IssueFieldPlacement:
    """The number's or the date's field, filled by the clerical office at issue."""

    name: str
    member: str
    part: str  # "number" | "date"
    symbol: str | None
    page: int
    box: tuple[float, float, float, float]


def issue_placements(issue: list[IssueAnchor], signers: list[FieldPlacement],
                     roster: Roster) -> list[IssueFieldPlacement]:
    """The number and date fields of a member's document numbered at issue: both or
    neither, once each, for the member who signs the document (its issuer)."""
    if not issue:
        return []
    problems: list[str] = []
    # the issuer: the member whose head and seal sign (its departments sign before it)
    members = {p.member for p in signers if not is_department(p.member)}
    seen: dict[tuple[str, str], IssueAnchor] = {}
    for a in issue:
        if (a.member, a.part) in seen:
            problems.append(_("anchor {member}/{role} appears more than once").format(
                member=a.member, role=a.part))
        elif not roster.has_member(a.member) or members != {a.member}:
            problems.append(_("the number and date anchors of {id} are in a document that "
                              "{id} does not issue alone").format(id=a.member))
        elif a.part == "number" and not a.symbol:
            problems.append(_("the number anchor of {id} names no symbol").format(id=a.member))
        seen[(a.member, a.part)] = a
    for member in {a.member for a in issue}:
        for part in ("number", "date"):
            if (member, part) not in seen:
                problems.append(_("no {role} anchor for {member}").format(role=part,
                                                                         member=member))
    if problems:
        raise InputError(_("the number and date anchors do not match the document"),
                         details=problems)
    return [IssueFieldPlacement(issue_field_name(a.member, a.part), a.member,
                                a.part, a.symbol, a.page, issue_field_box(a))
            for a in sorted(seen.values(), key=lambda a: a.part != "number")]


def add_issue_fields(writer: IncrementalPdfFileWriter,
                     wanted: list[IssueFieldPlacement]) -> None:
    """Empty, read-only text fields (an empty appearance each, as PDF/A wants): only
    ``signflow number`` fills them, and the verifier accepts only that change."""
    from pyhanko.pdf_utils import generic

    if not wanted:
        return
    form = writer.root["/AcroForm"]
    fields = form["/Fields"]
    resources = generic.DictionaryObject({generic.NameObject("/Font"): generic.DictionaryObject({
        generic.NameObject("/Helv"): writer.add_object(generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding")}))})})
    if "/DR" not in form:
        form[generic.NameObject("/DR")] = resources
    for p in wanted:
        page_ref, _resources = writer.find_page_for_modification(p.page)
        width, height = p.box[2] - p.box[0], p.box[3] - p.box[1]
        empty = generic.StreamObject({
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject(
                [generic.FloatObject(0), generic.FloatObject(0),
                 generic.FloatObject(round(width, 2)), generic.FloatObject(round(height, 2))]),
        }, stream_data=b"")
        label = _("Document number") if p.part == "number" else _("Date of issue")
        widget = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Widget"),
            generic.NameObject("/FT"): generic.NameObject("/Tx"),
            generic.NameObject("/T"): generic.TextStringObject(p.name),
            generic.NameObject("/TU"): generic.TextStringObject(label),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(c) for c in p.box]),
            generic.NameObject("/F"): generic.NumberObject(4),  # print
            generic.NameObject("/Ff"): generic.NumberObject(1),  # read-only
            generic.NameObject("/DA"): generic.TextStringObject("/Helv 0 Tf 0 g"),
            generic.NameObject("/Q"): generic.NumberObject(2 if p.part == "number" else 0),
            generic.NameObject("/P"): page_ref,
            generic.NameObject("/AP"): generic.DictionaryObject(
                {generic.NameObject("/N"): writer.add_object(empty)}),
        })
        ref = writer.add_object(widget)
        fields.append(ref)
        writer.register_annotation(page_ref, ref)
    acroform = writer.root.raw_get("/AcroForm")
    if isinstance(acroform, generic.IndirectObject):
        writer.mark_update(acroform)
    else:
        writer.update_root()
    listed = form.raw_get("/Fields")
    if isinstance(listed, generic.IndirectObject):
        writer.mark_update(listed)


def signature_fields(pdf: Path) -> dict[str, bool]:
    """Every signature field in the file (ours or not): name -> signed?"""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    with pdf.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        return {name: value is not None for name, value, _ref in enumerate_sig_fields(reader)}


def prepare_fields(pdf: Path, roster: Roster, out: Path | None = None) -> list[FieldPlacement]:
    """Create the signature fields in one incremental revision (in place unless ``out``).

    Returns the fields created; an empty list when the document was already prepared.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field, ensure_sig_flags

    out = out or pdf
    existing = _fields_or_error(pdf)
    anchors, issue = scan_anchors(pdf)
    wanted = placements(anchors, roster)
    issue_wanted = issue_placements(issue, wanted, roster)
    if existing:
        if any(existing.values()):
            raise InputError(_("{path} is already being signed; fields cannot be added "
                               "any more").format(path=pdf))
        if {p.name for p in wanted} != set(existing):
            raise InputError(_("{path} has signature fields that do not match its "
                               "anchors").format(path=pdf))
        foreign = _foreign_field_problems(pdf, wanted, anchors, issue_wanted)
        if foreign:
            raise InputError(_("{path} has signature fields signflow did not make: "
                               "{reason}").format(path=pdf, reason=foreign[0]))
        if out != pdf:
            atomic_copy(pdf, out)
        return []
    data = pdf.read_bytes()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    except (PdfReadError, ValueError) as exc:
        raise InputError(_("{path}: cannot read the PDF: {reason}").format(
            path=pdf, reason=exc)) from None
    _align_producer(writer)
    for p in wanted:
        member = roster.member(p.member)
        label = (member.head.title if p.role == "head" else _("Seal")) + " - " + member.unit
        append_signature_field(writer, SigFieldSpec(
            sig_field_name=p.name, on_page=p.page,
            box=tuple(round(c, 2) for c in p.box),  # type: ignore[arg-type]
            readable_field_name=label))
    add_issue_fields(writer, issue_wanted)
    # SignaturesExist | AppendOnly now, as the first signature would set them: then every
    # signing revision changes nothing but its own field.
    ensure_sig_flags(writer, lock_sig_flags=True)
    with atomic_output(out) as f:
        writer.write(f)
    return wanted


def _foreign_field_problems(pdf: Path, wanted: list[FieldPlacement],
                            anchors: list[Anchor],
                            issue_wanted: list[IssueFieldPlacement]) -> list[str]:
    """Fields that carry our names but not our making: another page, another box, hidden,
    not a signature field. A PDF prepared elsewhere must not be taken for ours."""
    from signflow.validation.revisions import DocumentHistory
    from signflow.validation.workflow import geometry_problems

    history = DocumentHistory(pdf.read_bytes(), pdf)
    shape = history.shape(history.total_revisions - 1)
    problems = list(shape.problems) + geometry_problems(shape, anchors)
    names = {p.name for p in wanted} | {p.name for p in issue_wanted}
    problems += [_("the field '{name}' has no anchor in the signed content").format(name=name)
                 for name in sorted(set(shape.fields) - names)]
    placed: list[FieldPlacement | IssueFieldPlacement] = [*wanted, *issue_wanted]
    for p in placed:
        fixed = shape.fields.get(p.name)
        if fixed is None or fixed.rect is None:
            problems.append(_("the field '{name}' is on no page").format(name=p.name))
            continue
        moved = any(abs(a - b) > 1.0 for a, b in zip(fixed.rect, p.box, strict=True))
        if fixed.page != p.page or moved:
            problems.append(_("the field '{name}' is not where its anchor is").format(
                name=p.name))
    return problems


def _align_producer(writer: IncrementalPdfFileWriter) -> None:
    """Keep the PDF/A metadata consistent across every later revision.

    pyHanko sets the XMP producer to "pyHanko x.y" but appends itself to an existing Info
    producer ("LibreOffice 7.4; pyHanko x.y"), and PDF/A requires the two to agree. Dropping
    the Info producer here lets pyHanko write the same value in both, in this revision and in
    every signature after it.
    """
    from pyhanko.pdf_utils import generic

    info_ref = writer.trailer_view.get_value_as_reference("/Info", optional=True) \
        if "/Info" in writer.trailer_view else None
    if info_ref is None:
        return
    info = info_ref.get_object()
    if isinstance(info, generic.DictionaryObject) and "/Producer" in info:
        del info["/Producer"]
        writer.mark_update(info_ref)


def _fields_or_error(pdf: Path) -> dict[str, bool]:
    from pyhanko.pdf_utils.misc import PdfReadError

    if not pdf.is_file():
        raise InputError(_("{path}: file not found").format(path=pdf))
    try:
        return signature_fields(pdf)
    except (PdfReadError, ValueError, KeyError) as exc:
        raise InputError(_("{path}: cannot read the PDF: {reason}").format(
            path=pdf, reason=exc)) from None


def atomic_copy(src: Path, dst: Path) -> None:
    with atomic_output(dst) as f:
        f.write(src.read_bytes())
