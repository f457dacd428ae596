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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._files import atomic_output
from ._pdfium import PDFIUM_LOCK
from .context import ANCHOR_RE
from .errors import InputError
from .i18n import _
from .roster import ROLES, Roster

if TYPE_CHECKING:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

MM = 72 / 25.4
HEAD_BOX_MM = (44.0, 24.0)  # width, height of the head's signature area
HEAD_GAP_MM = 1.0  # between the anchor and the top of the head's box

FIELD_RE = re.compile(r"^sf-(head|seal)-([a-z0-9]+(?:-[a-z0-9]+)*)$")


def field_name(member_id: str, role: str) -> str:
    return f"sf-{role}-{member_id}"


def parse_field_name(name: str) -> tuple[str, str] | None:
    """(member id, role) of one of our signature fields, or None for any other field."""
    match = FIELD_RE.match(name)
    return (match.group(2), match.group(1)) if match else None


@dataclass(frozen=True)
class Anchor:
    member: str
    role: str
    page: int  # 0-based
    box: tuple[float, float, float, float]  # PDF user space: left, bottom, right, top

    @property
    def centre_x(self) -> float:
        return (self.box[0] + self.box[2]) / 2


@dataclass(frozen=True)
class FieldPlacement:
    name: str
    member: str
    role: str
    page: int
    box: tuple[float, float, float, float]


def find_anchors(pdf: Path | bytes, name: str = "") -> list[Anchor]:
    """Every [[sf:member:role]] anchor with its position, in document order, from a file
    or from the bytes of a PDF (such as the part of a file a signature covers)."""
    import pypdfium2

    anchors: list[Anchor] = []
    with PDFIUM_LOCK:
        try:
            doc = pypdfium2.PdfDocument(pdf if isinstance(pdf, bytes) else str(pdf))
        except pypdfium2.PdfiumError as exc:
            raise InputError(_("{path}: cannot read the PDF: {reason}").format(
                path=name or pdf, reason=exc)) from None
        try:
            for page_index in range(len(doc)):
                page = doc[page_index]
                textpage = page.get_textpage()
                searcher = textpage.search("[[sf:", match_case=True)
                while (hit := searcher.get_next()) is not None:
                    index, _count = hit
                    text = textpage.get_text_range(index, 80)
                    match = ANCHOR_RE.match(text)
                    if not match:
                        continue
                    n = textpage.count_rects(index, len(match.group(0)))
                    rects = [textpage.get_rect(i) for i in range(n)]
                    box = (min(r[0] for r in rects), min(r[1] for r in rects),
                           max(r[2] for r in rects), max(r[3] for r in rects))
                    anchors.append(Anchor(match.group(1), match.group(2), page_index, box))
                searcher.close()
                textpage.close()
                page.close()
        finally:
            doc.close()
    return anchors


def placements(anchors: list[Anchor], roster: Roster) -> list[FieldPlacement]:
    """Where each field goes; every anchor must belong to a roster member, with both roles."""
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
    members = sorted({m for m, _r in by_key}, key=lambda m: roster.member_ids.index(m)
                     if roster.has_member(m) else 0)
    for member in members:
        for role in ROLES:
            if (member, role) not in by_key:
                problems.append(_("no {role} anchor for {member}").format(role=role,
                                                                         member=member))
    if problems:
        raise InputError(_("the signature anchors do not match the roster"), details=problems)
    if not by_key:
        raise InputError(_("no signature anchors found (is this a signflow document?)"))

    result: list[FieldPlacement] = []
    for member in members:
        head_anchor = by_key[(member, "head")]
        w, h = HEAD_BOX_MM[0] * MM, HEAD_BOX_MM[1] * MM
        left = head_anchor.centre_x - w / 2
        top = head_anchor.box[1] - HEAD_GAP_MM * MM
        head_box = (left, top - h, left + w, top)
        result.append(FieldPlacement(field_name(member, "head"), member, "head",
                                     head_anchor.page, head_box))
        d = roster.member(member).seal_diameter_mm * MM
        seal_right = left + w / 3
        centre_y = top - h / 2
        seal_box = (seal_right - d, centre_y - d / 2, seal_right, centre_y + d / 2)
        result.append(FieldPlacement(field_name(member, "seal"), member, "seal",
                                     by_key[(member, "seal")].page, seal_box))
    return result


def signature_fields(pdf: Path) -> dict[str, bool]:
    """Every signature field in the file (ours or not): name -> signed?"""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    with pdf.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        return {name: value is not None for name, value, _ref in enumerate_sig_fields(reader)}


def prepare(pdf: Path, roster: Roster, out: Path | None = None) -> list[FieldPlacement]:
    """Create the signature fields in one incremental revision (in place unless ``out``).

    Returns the fields created; an empty list when the document was already prepared.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field, ensure_sig_flags

    out = out or pdf
    existing = _fields_or_error(pdf)
    anchors = find_anchors(pdf)
    wanted = placements(anchors, roster)
    if existing:
        if any(existing.values()):
            raise InputError(_("{path} is already being signed; fields cannot be added "
                               "any more").format(path=pdf))
        if {p.name for p in wanted} != set(existing):
            raise InputError(_("{path} has signature fields that do not match its "
                               "anchors").format(path=pdf))
        foreign = _foreign_field_problems(pdf, wanted, anchors)
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
    # SignaturesExist | AppendOnly now, as the first signature would set them: then every
    # signing revision changes nothing but its own field.
    ensure_sig_flags(writer, lock_sig_flags=True)
    with atomic_output(out) as f:
        writer.write(f)
    return wanted


def _foreign_field_problems(pdf: Path, wanted: list[FieldPlacement],
                            anchors: list[Anchor]) -> list[str]:
    """Fields that carry our names but not our making: another page, another box, hidden,
    not a signature field. A PDF prepared elsewhere must not be taken for ours."""
    from .history import DocumentHistory
    from .shape import geometry_problems

    history = DocumentHistory(pdf.read_bytes(), pdf)
    shape = history.shape(history.total_revisions - 1)
    problems = list(shape.problems) + geometry_problems(shape, anchors)
    names = {p.name for p in wanted}
    problems += [_("the field '{name}' has no anchor in the signed content").format(name=name)
                 for name in sorted(set(shape.fields) - names)]
    for p in wanted:
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
