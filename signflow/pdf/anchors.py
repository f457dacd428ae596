"""Signature anchors and signflow's signature fields: the names, the syntax and the geometry
that every stage agrees on.

A template writes an anchor ``[[sf:<member-id>:<role>]]`` (1 pt white text) in each
signature block, and ``[[sf:<member-id>/<department-id>:head]]`` where a member's
department head signs (docs/templates.md); the converted PDF keeps it in its page content, where
every signature covers it. Fields are created at the anchors (``signflow.documents.fields``),
checked against them before signing (``signflow.signing.policy``) and when verifying
(``signflow.validation``). Field names are ``sf-<role>-<member-id>`` and
``sf-head-<member-id>/<department-id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from signflow._internal.pdfium import PDFIUM_LOCK
from signflow.errors import InputError
from signflow.i18n import _
from signflow.roster import MAX_SEAL_DIAMETER_MM, Role

MM = 72 / 25.4  # PDF points per millimetre
HEAD_BOX_MM = (44.0, 24.0)  # width, height of the head's signature area
# a department head's box, in the signature column of a table (the internal pledge):
# the templates give that column and row room for it under the anchor
DEPARTMENT_BOX_MM = (40.0, 17.0)
# The templates leave this much empty space between the anchors and the signer's name
# (tools/build_templates.py). The head's box and the seal are centred in it, so that a
# seal up to MAX_SEAL_DIAMETER_MM covers the left third of the signature and neither the
# title above nor the name below (Decree 30/2020, Appendix I).
SIGNATURE_SPACE_MM = 44.0
assert SIGNATURE_SPACE_MM >= MAX_SEAL_DIAMETER_MM + 2  # a margin above and below the seal

# The anchor written (in 1 pt white text) in every signature block; see docs/templates.md.
# A member's department head signs as "<member>/<department>", with a head anchor only
# (a department has no seal of its own).
_ID = r"[a-z0-9]+(?:-[a-z0-9]+)*"
ANCHOR_RE = re.compile(rf"\[\[sf:({_ID}/{_ID}(?=:head\]\])|{_ID}):(head|seal)\]\]")
FIELD_RE = re.compile(rf"sf-(?:(head)-({_ID}/{_ID})|(head|seal)-({_ID}))")  # fullmatch
# Where the clerical office's number and date go (Decree 30/2020, Art. 15: numbered when
# the document is issued, after the head has signed and before the seal): the number's
# anchor carries the symbol written after it ("KH-TTr"), for the register.
ISSUE_ANCHOR_RE = re.compile(
    r"\[\[sf:([a-z0-9]+(?:-[a-z0-9]+)*):(number|date)(?::([^\[\]\s]{1,40}))?\]\]")
ISSUE_FIELD_RE = re.compile(r"sf-(number|date)-([a-z0-9]+(?:-[a-z0-9]+)*)")  # fullmatch
# the longest anchor: two ids of signflow.roster.MAX_ID and the rest, or a number's with a
# 40-character symbol; the text after "[[sf:" is read this far, and an anchor that does not
# parse within it is an error, never skipped (a signer nobody would wait for)
MAX_ANCHOR = 160
IssuePart = Literal["number", "date"]


def anchor(member_id: str, role: Role) -> str:
    """The anchor text a template writes in ``member_id``'s signature block for ``role``."""
    return f"[[sf:{member_id}:{role}]]"


def field_name(member_id: str, role: Role) -> str:
    return f"sf-{role}-{member_id}"


def issue_anchor(member_id: str, part: IssuePart, symbol: str | None = None) -> str:
    """The anchor of the number (with its symbol) or the date of a member's document."""
    return f"[[sf:{member_id}:number:{symbol}]]" if part == "number" else \
        f"[[sf:{member_id}:date]]"


def issue_field_name(member_id: str, part: IssuePart) -> str:
    return f"sf-{part}-{member_id}"


def parse_issue_field_name(name: str) -> tuple[str, IssuePart] | None:
    """(member id, "number"|"date") of a number or date field signflow makes, else None."""
    match = ISSUE_FIELD_RE.fullmatch(name)
    return (match.group(2), cast(IssuePart, match.group(1))) if match else None


def parse_field_name(name: str) -> tuple[str, Role] | None:
    """(member id, role) of one of our signature fields, or None for any other field."""
    match = FIELD_RE.fullmatch(name)
    if not match:
        return None
    # the pattern admits head|seal only, and head only for a department
    if match.group(1):
        return match.group(2), cast(Role, match.group(1))
    return match.group(4), cast(Role, match.group(3))


@dataclass(frozen=True)
class Anchor:
    member: str
    role: Role
    page: int  # 0-based
    box: tuple[float, float, float, float]  # PDF user space: left, bottom, right, top

    @property
    def centre_x(self) -> float:
        return (self.box[0] + self.box[2]) / 2


@dataclass(frozen=True)
class IssueAnchor:
    """Where the clerical office's number or date of a member's document goes."""

    member: str
    part: IssuePart
    symbol: str | None  # the number's: the text after "Số: NN/" ("KH-TTr")
    page: int
    box: tuple[float, float, float, float]


# The header leaves blanks (non-breaking spaces) after the number's and the date's anchors
# (signflow.documents.context); their fields cover the anchor and the blank.
NUMBER_BLANK = 8  # spaces at 13 pt: about 9 mm, for "05" up to "1234"
DATE_BLANK = 46  # spaces at 14 pt: about 57 mm, for "ngày 05 tháng 12 năm 2026"
NUMBER_SIZE_PT, DATE_SIZE_PT = 13.0, 14.0
NBSP_EM = 0.25  # the width of a space in Times New Roman / Liberation Serif


def issue_field_box(anchor: IssueAnchor) -> tuple[float, float, float, float]:
    """The number's or the date's field, one line high around the anchor's baseline: the
    number's from its anchor over the blank after it, the date's over the blank before its
    anchor (signflow.documents.context)."""
    baseline = anchor.box[1]
    if anchor.part == "number":
        size = NUMBER_SIZE_PT
        left, right = anchor.box[0] - 1, anchor.box[2] + NUMBER_BLANK * NBSP_EM * size
    else:
        size = DATE_SIZE_PT
        left, right = anchor.box[0] - DATE_BLANK * NBSP_EM * size, anchor.box[2] + 1
    # pyHanko's text box puts the baseline about 0.85 em above the box's bottom
    return (round(left, 2), round(baseline - 0.85 * size, 2), round(right, 2),
            round(baseline + 1.0 * size, 2))


def find_anchors(pdf: Path | bytes, name: str = "") -> list[Anchor]:
    """Every [[sf:member:role]] anchor with its position, in document order, from a file
    or from the bytes of a PDF (such as the part of a file a signature covers)."""
    return scan_anchors(pdf, name)[0]


def scan_anchors(pdf: Path | bytes, name: str = "") -> tuple[list[Anchor], list[IssueAnchor]]:
    """The signature anchors and the number/date anchors, in one pass over the text."""
    import pypdfium2

    anchors: list[Anchor] = []
    issue: list[IssueAnchor] = []
    unreadable: list[str] = []
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
                    text = textpage.get_text_range(index, MAX_ANCHOR)
                    match = ANCHOR_RE.match(text) or ISSUE_ANCHOR_RE.match(text)
                    if not match:
                        unreadable.append(text.split("]]", 1)[0][:MAX_ANCHOR] + "]]")
                        continue
                    n = textpage.count_rects(index, len(match.group(0)))
                    rects = [textpage.get_rect(i) for i in range(n)]
                    if not rects:
                        continue
                    box = (min(r[0] for r in rects), min(r[1] for r in rects),
                           max(r[2] for r in rects), max(r[3] for r in rects))
                    if match.re is ISSUE_ANCHOR_RE:
                        part = cast(IssuePart, match.group(2))
                        issue.append(IssueAnchor(match.group(1), part, match.group(3),
                                                 page_index, box))
                        continue
                    role = cast(Role, match.group(2))  # the pattern admits head|seal only
                    anchors.append(Anchor(match.group(1), role, page_index, box))
                searcher.close()
                textpage.close()
                page.close()
        finally:
            doc.close()
    if unreadable:
        raise InputError(_("{path}: signature anchors that cannot be read: {anchors}").format(
            path=name or pdf if not isinstance(pdf, bytes) else name or "PDF",
            anchors=", ".join(sorted(set(unreadable))[:5])))
    return anchors, issue
