#!/usr/bin/env python3
"""Build signflow's four Word templates (layout of Decree 30/2020/NĐ-CP, Appendix I).

Run from the repository root::

    python tools/build_templates.py            # writes signflow/documents/templates/*.docx
    python tools/build_templates.py --out DIR  # writes them somewhere else

The templates are the product: a secretariat opens and edits them in Word or LibreOffice
Writer. This script only makes them reproducibly (same input, same bytes). The data model
the Jinja tags use is documented in docs/templates.md.

Layout (Decree 30/2020, Appendix I): A4 portrait, margins 20/20/30/15 mm (top, bottom,
left, right), Times New Roman, black. Header: a borderless two-column table with the
issuing body on the left and the national title, motto and date line on the right.
Signature blocks carry the signature anchors ``[[sf:<member>:head]]`` and
``[[sf:<member>:seal]]`` as 1 pt white paragraphs with exact 1 pt line spacing, followed
by at least 30 mm of empty space before the signer's name.

Every paragraph uses a named style ("SF ..."), so the secretariat can restyle a whole
template from the style list instead of paragraph by paragraph.
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import (
    WD_CELL_VERTICAL_ALIGNMENT,
    WD_ROW_HEIGHT_RULE,
    WD_TABLE_ALIGNMENT,
)
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Length, Mm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

from signflow.pdf.anchors import SIGNATURE_SPACE_MM

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "signflow" / "documents" / "templates"

# Fixed timestamp for the document properties and the zip entries, so that rebuilding
# an unchanged template gives the same bytes.
BUILD_TIMESTAMP = datetime(2020, 1, 1, 0, 0, 0)

# --------------------------------------------------------------------------------------
# Page geometry (mm)
# --------------------------------------------------------------------------------------

PAGE_WIDTH_MM = 210
PAGE_HEIGHT_MM = 297
MARGIN_TOP_MM = 20
MARGIN_BOTTOM_MM = 20
MARGIN_LEFT_MM = 30
MARGIN_RIGHT_MM = 15
TEXT_WIDTH_MM = PAGE_WIDTH_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM  # 165

# Header table: the right column must hold "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in bold
# 12 pt on one line (88 mm in Times New Roman); the left one a body name such as
# "THANH TRA TỈNH QUẢNG NINH" in bold 13 pt (72 mm). Longer names wrap, as usual.
HEADER_COLUMNS_MM = (74.0, 91.0)
HEADER_CELL_MARGIN_MM = 0.5
# Rule under the issuing body: 1/3 to 1/2 of the body's name, centred.
BODY_RULE_MM = 26.0
# Rule under the motto: as long as "Độc lập - Tự do - Hạnh phúc" in bold 13 pt.
MOTTO_RULE_MM = 56.0
# Rule under the title block (trích yếu): about a third of the subtitle line.
TITLE_RULE_MM = 35.0

# Signature block of a member document: "Nơi nhận" on the left, the signer on the right.
SIGNATURE_COLUMNS_MM = (70.0, 95.0)
# Signature grid of the cluster agreement: `signature_columns` (2) equal columns, wide
# enough for a real-size seal over the left third of each head's signature.
GRID_COLUMNS = 2
# Empty space between the anchors and the signer's name (at least 30 mm): room for the
# head's signature box and, over its left third, the organisation's seal at its real size
# (up to MAX_SEAL_DIAMETER_MM), clear of the title above and the name below. The field
# geometry (signflow.pdf.anchors) is computed from the same figure.
SIGNATURE_SPACE_PT = SIGNATURE_SPACE_MM * 72 / 25.4
# Rows of the department heads' hand signatures (internal pledge), no anchors.
# a department head's signature box (17 mm) under its anchor, with the cell's margins
DEPARTMENT_SIGNATURE_ROW_MM = 21.0

FONT = "Times New Roman"
BLACK = RGBColor(0x00, 0x00, 0x00)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
CONTROL_GREY = RGBColor(0x80, 0x80, 0x80)

# --------------------------------------------------------------------------------------
# Style names
# --------------------------------------------------------------------------------------

S_BODY = "SF Body"
S_LEGAL = "SF Legal Basis"
S_HEADING = "SF Heading"
S_TITLE = "SF Title"
S_SUBTITLE = "SF Subtitle"
S_ADDRESSEE = "SF Addressee"
S_RULE = "SF Rule"
S_HDR = "SF Header"
S_HDR_BOLD = "SF Header Bold"
S_HDR_NATION = "SF Header Nation"
S_HDR_NUMBER = "SF Header Number"
S_HDR_DATE = "SF Header Date"
S_RECIP_HEAD = "SF Recipients Heading"
S_RECIP = "SF Recipients"
S_SIGN_HEADING = "SF Signature Heading"
S_SIGN_TITLE = "SF Signer Title"
S_ANCHOR = "SF Anchor"
S_SIGN_SPACE = "SF Signature Space"
S_SIGN_NAME = "SF Signer Name"
S_TABLE_HEAD = "SF Table Head"
S_TABLE = "SF Table Text"
S_PAGE_NUMBER = "SF Page Number"
S_SPACER = "SF Spacer"
S_CONTROL = "SF Template Control"

# --------------------------------------------------------------------------------------
# OOXML helpers
# --------------------------------------------------------------------------------------

# Child order of the property elements we touch (ECMA-376 schema sequences).
P_PR_ORDER = (
    "w:pStyle", "w:keepNext", "w:keepLines", "w:pageBreakBefore", "w:framePr",
    "w:widowControl", "w:numPr", "w:suppressLineNumbers", "w:pBdr", "w:shd", "w:tabs",
    "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
    "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
    "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents",
    "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
    "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
    "w:pPrChange",
)  # fmt: skip
TBL_PR_ORDER = (
    "w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual", "w:tblStyleRowBandSize",
    "w:tblStyleColBandSize", "w:tblW", "w:jc", "w:tblCellSpacing", "w:tblInd",
    "w:tblBorders", "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption",
    "w:tblDescription", "w:tblPrChange",
)  # fmt: skip
R_PR_ORDER = (
    "w:rStyle", "w:rFonts", "w:b", "w:bCs", "w:i", "w:iCs", "w:caps", "w:smallCaps",
    "w:strike", "w:dstrike", "w:outline", "w:shadow", "w:emboss", "w:imprint",
    "w:noProof", "w:snapToGrid", "w:vanish", "w:webHidden", "w:color", "w:spacing",
    "w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect",
    "w:bdr", "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang",
    "w:eastAsianLayout", "w:specVanish", "w:oMath",
)  # fmt: skip
THEME_FONT_ATTRS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")
FONT_ATTRS = ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs")


def _element(tag: str, **attrs: str) -> OxmlElement:
    """A new `w:` element with `w:` attributes (keyword `val` becomes `w:val`)."""
    el = OxmlElement(tag)
    for name, value in attrs.items():
        el.set(qn(f"w:{name}"), value)
    return el


def _set_child(parent: OxmlElement, child: OxmlElement, order: Sequence[str]) -> None:
    """Put `child` into `parent` at its schema position, replacing one of the same tag."""
    for old in parent.findall(child.tag):
        parent.remove(old)
    tags = [qn(t) for t in order]
    later = set(tags[tags.index(child.tag) + 1 :])
    for existing in parent:
        if existing.tag in later:
            existing.addprevious(child)
            return
    parent.append(child)


def _mm_to_twips(mm: float) -> str:
    return str(round(mm / 25.4 * 1440))


def _set_fonts(rpr: OxmlElement) -> None:
    """Times New Roman for every script; drop theme fonts (they would win otherwise)."""
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = _element("w:rFonts")
        _set_child(rpr, rfonts, R_PR_ORDER)
    for attr in THEME_FONT_ATTRS:
        rfonts.attrib.pop(qn(attr), None)
    for attr in FONT_ATTRS:
        rfonts.set(qn(attr), FONT)


def _bottom_border() -> OxmlElement:
    pbdr = _element("w:pBdr")
    pbdr.append(_element("w:bottom", val="single", sz="6", space="0", color="000000"))
    return pbdr


# --------------------------------------------------------------------------------------
# Document and styles
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StyleSpec:
    """Formatting of one paragraph style (None = inherit from the base style)."""

    name: str
    size: float | None = None
    bold: bool | None = None
    italic: bool | None = None
    color: RGBColor | None = None
    align: WD_ALIGN_PARAGRAPH | None = None
    first_line_mm: float | None = None
    before_pt: float | None = None
    after_pt: float | None = None
    line: float | Length | None = None  # float: multiple of single; Length: exact
    keep_with_next: bool | None = None
    bottom_border: bool = False
    base: str = "Normal"


STYLE_SPECS: tuple[StyleSpec, ...] = (
    # Body text: 14 pt, justified, first line 1.27 cm, 6 pt after.
    StyleSpec(S_BODY, size=14, align=WD_ALIGN_PARAGRAPH.JUSTIFY, first_line_mm=12.7,
              after_pt=6, line=1.0),
    StyleSpec(S_LEGAL, italic=True, base=S_BODY),
    StyleSpec(S_HEADING, bold=True, before_pt=6, keep_with_next=True, base=S_BODY),
    # Title block.
    StyleSpec(S_TITLE, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, before_pt=24,
              keep_with_next=True),
    StyleSpec(S_SUBTITLE, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
              keep_with_next=True),
    StyleSpec(S_ADDRESSEE, size=14, align=WD_ALIGN_PARAGRAPH.CENTER, before_pt=6,
              after_pt=12, keep_with_next=True),
    # Short centred rule: an empty paragraph with a bottom border; its width is set by
    # the left/right indents of each paragraph.
    StyleSpec(S_RULE, size=2, align=WD_ALIGN_PARAGRAPH.CENTER, line=Pt(5),
              keep_with_next=True, bottom_border=True),
    # Header table. Exact line height so both columns stay aligned line by line.
    StyleSpec(S_HDR, size=13, align=WD_ALIGN_PARAGRAPH.CENTER, line=Pt(17)),
    StyleSpec(S_HDR_BOLD, bold=True, base=S_HDR),
    StyleSpec(S_HDR_NATION, size=12, bold=True, base=S_HDR),
    StyleSpec(S_HDR_NUMBER, before_pt=6, base=S_HDR),
    StyleSpec(S_HDR_DATE, size=14, italic=True, before_pt=6, base=S_HDR),
    # "Nơi nhận" and the recipients.
    StyleSpec(S_RECIP_HEAD, size=12, bold=True, italic=True, before_pt=6),
    StyleSpec(S_RECIP, size=11),
    # Signature blocks.
    StyleSpec(S_SIGN_HEADING, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
              before_pt=12, after_pt=6, keep_with_next=True),
    # No "keep with next" inside signature cells: Word and LibreOffice would chain the
    # table rows to whatever follows. Rows are kept whole with cantSplit instead.
    StyleSpec(S_SIGN_TITLE, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER),
    StyleSpec(S_ANCHOR, size=1, color=WHITE, align=WD_ALIGN_PARAGRAPH.CENTER, line=Pt(1)),
    StyleSpec(S_SIGN_SPACE, size=14, align=WD_ALIGN_PARAGRAPH.CENTER,
              line=Pt(SIGNATURE_SPACE_PT)),
    StyleSpec(S_SIGN_NAME, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER,
              after_pt=6),
    # Bordered tables.
    StyleSpec(S_TABLE, size=13, before_pt=2, after_pt=2, line=1.0),
    StyleSpec(S_TABLE_HEAD, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, base=S_TABLE),
    StyleSpec(S_PAGE_NUMBER, size=13, align=WD_ALIGN_PARAGRAPH.CENTER),
    # Small empty paragraph between two tables: without it Word and LibreOffice join
    # adjacent tables into one (and the second loses its own borders).
    StyleSpec(S_SPACER, size=6, line=Pt(6)),
    # Template logic ({%p ...%}, {%tr ...%}): removed when rendering; grey so that the
    # people editing the template tell it apart from the text.
    StyleSpec(S_CONTROL, size=10, color=CONTROL_GREY, align=WD_ALIGN_PARAGRAPH.LEFT),
)  # fmt: skip


def _apply_style_spec(style: ParagraphStyle, spec: StyleSpec) -> None:
    font, pf = style.font, style.paragraph_format
    if spec.size is not None:
        font.size = Pt(spec.size)
    if spec.bold is not None:
        font.bold = spec.bold
    if spec.italic is not None:
        font.italic = spec.italic
    if spec.color is not None:
        font.color.rgb = spec.color
    if spec.align is not None:
        pf.alignment = spec.align
    if spec.first_line_mm is not None:
        pf.first_line_indent = Mm(spec.first_line_mm)
    if spec.before_pt is not None:
        pf.space_before = Pt(spec.before_pt)
    if spec.after_pt is not None:
        pf.space_after = Pt(spec.after_pt)
    if spec.line is not None:
        pf.line_spacing = spec.line
    if spec.keep_with_next is not None:
        pf.keep_with_next = spec.keep_with_next
    if spec.bottom_border:
        _set_child(style.element.get_or_add_pPr(), _bottom_border(), P_PR_ORDER)


def _setup_styles(doc: DocxDocument) -> None:
    styles = doc.styles

    # Document defaults: Times New Roman 14, black, Vietnamese, no spacing.
    defaults = styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr)
    _set_child(rpr, _element("w:color", val="000000"), R_PR_ORDER)
    _set_child(rpr, _element("w:sz", val="28"), R_PR_ORDER)
    _set_child(rpr, _element("w:szCs", val="28"), R_PR_ORDER)
    _set_child(rpr, _element("w:lang", val="vi-VN", eastAsia="en-US", bidi="ar-SA"),
               R_PR_ORDER)  # fmt: skip
    ppr = defaults.find(qn("w:pPrDefault")).find(qn("w:pPr"))
    _set_child(ppr, _element("w:spacing", after="0", line="240", lineRule="auto"),
               P_PR_ORDER)  # fmt: skip

    # Every built-in style, table styles included: Times New Roman. The text styles
    # (paragraph and character) also become black: the stock headings are blue Cambria.
    for rfonts in styles.element.iter(qn("w:rFonts")):
        _set_fonts(rfonts.getparent())
    for style_el in styles.element.findall(qn("w:style")):
        style_rpr = style_el.find(qn("w:rPr"))
        if style_el.get(qn("w:type")) == "table" or style_rpr is None:
            continue
        color = style_rpr.find(qn("w:color"))
        if color is not None:
            for attr in ("w:themeColor", "w:themeShade", "w:themeTint"):
                color.attrib.pop(qn(attr), None)
            color.set(qn("w:val"), "000000")

    normal = styles["Normal"]
    normal.font.size = Pt(14)
    normal.font.color.rgb = BLACK
    _set_fonts(normal.element.get_or_add_rPr())
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.0
    normal.paragraph_format.widow_control = True

    for spec in STYLE_SPECS:
        style = styles.add_style(spec.name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles[spec.base]
        style.quick_style = spec.name != S_CONTROL
        _apply_style_spec(style, spec)


def _add_page_numbers(doc: DocxDocument) -> None:
    """Page number centred in the header from page 2 on (Decree 30/2020)."""
    section = doc.sections[0]
    section.different_first_page_header_footer = True
    first = section.first_page_header.paragraphs[0]
    first.style = doc.styles[S_PAGE_NUMBER]
    paragraph = section.header.paragraphs[0]
    paragraph.style = doc.styles[S_PAGE_NUMBER]
    field = _element("w:fldSimple", instr=" PAGE ")
    run = _element("w:r")
    text = _element("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)


def new_document(title: str) -> DocxDocument:
    """An empty A4 portrait document with the Decree 30/2020 margins and our styles."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width = Mm(PAGE_WIDTH_MM)
    section.page_height = Mm(PAGE_HEIGHT_MM)
    section.top_margin = Mm(MARGIN_TOP_MM)
    section.bottom_margin = Mm(MARGIN_BOTTOM_MM)
    section.left_margin = Mm(MARGIN_LEFT_MM)
    section.right_margin = Mm(MARGIN_RIGHT_MM)
    section.header_distance = Mm(10)
    section.footer_distance = Mm(10)
    section.gutter = Mm(0)
    _setup_styles(doc)
    _add_page_numbers(doc)

    # The stock python-docx thumbnail shows an unrelated page: drop it.
    package = doc.part.package
    for rel_id, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del package.rels[rel_id]

    props = doc.core_properties
    props.title = title
    props.subject = "signflow template"
    props.author = "signflow"
    props.last_modified_by = "signflow"
    props.comments = "Generated by tools/build_templates.py; tags: docs/templates.md."
    props.keywords = "signflow"
    props.category = ""
    props.language = "vi-VN"
    props.created = BUILD_TIMESTAMP
    props.modified = BUILD_TIMESTAMP
    props.last_printed = BUILD_TIMESTAMP
    props.revision = 1
    return doc


# --------------------------------------------------------------------------------------
# Paragraph and table helpers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A run with its own formatting inside a paragraph (None = as the style)."""

    text: str
    bold: bool | None = None
    italic: bool | None = None
    # 1 pt white text: an anchor inside a line of text (the number's and the date's)
    anchor: bool = False


Text = str | Span
Container = DocxDocument | _Cell


def par(
    container: Container,
    style: str,
    *parts: Text,
    size: float | None = None,
    align: WD_ALIGN_PARAGRAPH | None = None,
    after_pt: float | None = None,
    line: float | Length | None = None,
) -> Paragraph:
    """Add a paragraph in `style`; each part becomes exactly one run (tags stay whole)."""
    paragraph = container.add_paragraph(style=style)
    for part in parts:
        span = part if isinstance(part, Span) else Span(part)
        run = paragraph.add_run(span.text)
        if span.bold is not None:
            run.bold = span.bold
        if span.italic is not None:
            run.italic = span.italic
        if span.anchor:
            run.font.size = Pt(1)
            run.font.color.rgb = RGBColor(0xFF, 0xFF, 0xFF)
        if size is not None:
            run.font.size = Pt(size)
    if size is not None:
        # Size of the paragraph mark too, so empty paragraphs get the same height.
        mark = _element("w:rPr")
        mark.append(_element("w:sz", val=str(round(size * 2))))
        _set_child(paragraph._p.get_or_add_pPr(), mark, P_PR_ORDER)
    pf = paragraph.paragraph_format
    if align is not None:
        pf.alignment = align
    if after_pt is not None:
        pf.space_after = Pt(after_pt)
    if line is not None:
        pf.line_spacing = line
    return paragraph


def control(container: Container, tag: str) -> Paragraph:
    """A paragraph holding only a docxtpl paragraph tag such as ``{%p for ... %}``."""
    return par(container, S_CONTROL, tag)


def rule(container: Container, width_mm: float, available_mm: float,
         after_pt: float = 0) -> Paragraph:  # fmt: skip
    """A short centred horizontal rule `width_mm` long in a space `available_mm` wide."""
    paragraph = par(container, S_RULE, after_pt=after_pt)
    indent = Mm(max(available_mm - width_mm, 0) / 2)
    paragraph.paragraph_format.left_indent = indent
    paragraph.paragraph_format.right_indent = indent
    return paragraph


def anchors(container: Container, member: str) -> None:
    """The head and seal anchors of `member` (a Jinja expression), one paragraph each."""
    par(container, S_ANCHOR, "{{ " + member + ".anchors.head }}")
    par(container, S_ANCHOR, "{{ " + member + ".anchors.seal }}")


def table(
    container: Container,
    widths_mm: Sequence[float],
    rows: int = 1,
    *,
    borders: bool = False,
    cell_margin_mm: float = 1.0,
) -> Table:
    """A fixed-layout table, centred, with these column widths and empty cells."""
    tbl = container.add_table(rows=rows, cols=len(widths_mm))
    tbl.alignment = WD_TABLE_ALIGNMENT.CENTER
    tbl.autofit = False
    tbl_pr = tbl._tbl.tblPr
    total = sum(widths_mm)
    _set_child(tbl_pr, _element("w:tblW", w=_mm_to_twips(total), type="dxa"), TBL_PR_ORDER)

    edge = {"val": "single", "sz": "4", "space": "0", "color": "000000"}
    if not borders:
        edge = {"val": "nil"}
    tbl_borders = _element("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        tbl_borders.append(_element(f"w:{side}", **edge))
    _set_child(tbl_pr, tbl_borders, TBL_PR_ORDER)

    margins = _element("w:tblCellMar")
    for side, mm in (("top", 0), ("left", cell_margin_mm), ("bottom", 0),
                     ("right", cell_margin_mm)):  # fmt: skip
        margins.append(_element(f"w:{side}", w=_mm_to_twips(mm), type="dxa"))
    _set_child(tbl_pr, margins, TBL_PR_ORDER)

    for column, width in zip(tbl.columns, widths_mm, strict=True):
        column.width = Mm(width)
    for row in tbl.rows:
        for cell, width in zip(row.cells, widths_mm, strict=True):
            cell.width = Mm(width)
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
            # Start empty: every helper adds its own paragraphs.
            for p in list(cell._tc.iterchildren(qn("w:p"))):
                cell._tc.remove(p)
    return tbl


def ensure_paragraphs(tbl: Table) -> None:
    """Word requires a paragraph in every cell: add an empty one where there is none."""
    for tc in tbl._tbl.iter(qn("w:tc")):
        if tc.find(qn("w:p")) is None:
            tc.append(_element("w:p"))


def control_row(row: _Row, tag: str) -> None:
    """Turn `row` into a docxtpl row tag (``{%tr ... %}``) spanning the whole table."""
    for tc in row._tr.iter(qn("w:tc")):
        if tc.find(qn("w:p")) is None:
            tc.append(_element("w:p"))
    cells = row.cells
    if len(cells) > 1:
        cells[0].merge(cells[-1])
        for p in list(cells[0]._tc.iterchildren(qn("w:p"))):
            cells[0]._tc.remove(p)
    control(row.cells[0], tag)


def _row_flag(row: _Row, tag: str) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    if tr_pr.find(qn(tag)) is None:
        tr_pr.append(_element(tag))


def cant_split(row: _Row) -> None:
    """Keep the row on one page."""
    _row_flag(row, "w:cantSplit")


def repeat_header(row: _Row) -> None:
    """Repeat the row at the top of every page the table runs over."""
    _row_flag(row, "w:tblHeader")


# --------------------------------------------------------------------------------------
# Building blocks shared by the templates
# --------------------------------------------------------------------------------------


def header_block(doc: DocxDocument, parent: str, body: str, member: str | None = None
                 ) -> None:
    """Issuing body (left) and national title, motto and date line (right).

    `parent` and `body` are Jinja expressions; the parent line is left out when the
    value is None. With `member` (a Jinja expression), its province name never breaks
    across lines in either.
    """
    shown_parent = unbroken(parent, member) if member else parent
    shown_body = unbroken(body, member) if member else body
    tbl = table(doc, HEADER_COLUMNS_MM, cell_margin_mm=HEADER_CELL_MARGIN_MM)
    left, right = tbl.rows[0].cells
    left_width = HEADER_COLUMNS_MM[0] - 2 * HEADER_CELL_MARGIN_MM
    right_width = HEADER_COLUMNS_MM[1] - 2 * HEADER_CELL_MARGIN_MM

    control(left, "{%p if " + parent + " %}")
    par(left, S_HDR, "{{ " + shown_parent + " }}")
    control(left, "{%p endif %}")
    par(left, S_HDR_BOLD, "{{ " + shown_body + " }}")
    rule(left, BODY_RULE_MM, left_width)
    # "Số: " [number anchor] "      /KH-TTr" when the clerical office numbers the document
    # at issue (signflow number), else the whole line; the date line likewise
    par(left, S_HDR_NUMBER, "{{ doc.number_before }}",
        Span("{{ doc.number_anchor }}", anchor=True), "{{ doc.number_after }}")

    par(right, S_HDR_NATION, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    par(right, S_HDR_BOLD, "Độc lập - Tự do - Hạnh phúc")
    rule(right, MOTTO_RULE_MM, right_width)
    par(right, S_HDR_DATE, "{{ doc.date_before }}", Span("{{ doc.date_anchor }}", anchor=True),
        "{{ doc.date_after }}")


def title_block(doc: DocxDocument) -> None:
    """Kind of document and its summary (trích yếu), with a short rule under them."""
    par(doc, S_TITLE, "{{ content.title }}")
    par(doc, S_SUBTITLE, "{{ content.subtitle }}")
    rule(doc, TITLE_RULE_MM, TEXT_WIDTH_MM, after_pt=12)


def recipients(container: Container, keep_together: bool = False) -> None:
    """The "Nơi nhận:" heading and the list ``- X;`` ... ``- Lưu: VT.`` from content.recipients.

    ``keep_together`` (outside a table): the heading and the lines keep with each other, so
    the list never splits across pages."""
    paragraphs = [par(container, S_RECIP_HEAD, "Nơi nhận:"),
                  control(container, "{%p for r in content.recipients %}"),
                  par(container, S_RECIP, "- {{ r }}{{ '.' if loop.last else ';' }}"),
                  control(container, "{%p endfor %}")]
    if keep_together:
        for paragraph in paragraphs:
            paragraph.paragraph_format.keep_with_next = True


def unbroken(expr: str, member: str) -> str:
    """Jinja expression: `expr` (a name in capitals) with no line break inside `member`'s
    province name.

    In a narrow column "THANH TRA THÀNH PHỐ HẢI PHÒNG" must wrap; this makes it wrap as
    "THANH TRA THÀNH PHỐ / HẢI PHÒNG" rather than "… HẢI / PHÒNG" (the spaces of the
    province name become no-break spaces).
    """
    province = f"{member}.province|upper"
    kept = f"{province}|replace(' ', '\\u00a0')"  # Jinja literal: no-break space
    return f"{expr}|replace({province}, {kept})"


def unbroken_province(member: str) -> str:
    """Tag printing `member`'s unit in capitals with no line break inside the province."""
    return "{{ " + unbroken(f"{member}.unit_upper", member) + " }}"


def signer(
    container: Container,
    member: str,
    titles: Sequence[str],
    *,
    title_size: float | None = None,
    name_size: float | None = None,
    after_pt: float | None = None,
) -> None:
    """Signature of `member` (a Jinja expression): titles, anchors, 30+ mm, name."""
    for title in titles:
        par(container, S_SIGN_TITLE, title, size=title_size)
    anchors(container, member)
    par(container, S_SIGN_SPACE)
    name = "{{ " + member + ".head.name }}"
    par(container, S_SIGN_NAME, name, size=name_size, after_pt=after_pt)


def signature_block(doc: DocxDocument, title: str, *, title_size: float | None = None) -> None:
    """Recipients on the left, the issuing member's head on the right."""
    par(doc, S_SPACER)
    tbl = table(doc, SIGNATURE_COLUMNS_MM)
    row = tbl.rows[0]
    cant_split(row)
    left, right = row.cells
    recipients(left)
    signer(right, "member", [title], title_size=title_size)
    right.paragraphs[0].paragraph_format.space_before = Pt(6)
    ensure_paragraphs(tbl)


def numbered_items(doc: DocxDocument, loop: str, heading: str, text: str) -> None:
    """A numbered bold heading paragraph and a body paragraph for each item of `loop`."""
    control(doc, "{%p for " + loop + " %}")
    par(doc, S_HEADING, "{{ loop.index }}. {{ " + heading + " }}")
    par(doc, S_BODY, "{{ " + text + " }}")
    control(doc, "{%p endfor %}")


def dash_items(doc: DocxDocument, items: str) -> None:
    """``- item`` body paragraphs, one per entry of the list `items`."""
    control(doc, "{%p for item in " + items + " %}")
    par(doc, S_BODY, "- {{ item }}")
    control(doc, "{%p endfor %}")


# --------------------------------------------------------------------------------------
# The templates
# --------------------------------------------------------------------------------------


def build_giao_uoc_thi_dua() -> DocxDocument:
    """Cluster agreement: issued by the cluster, signed by every member (grid)."""
    doc = new_document("Giao ước thi đua của Cụm")
    header_block(doc, "cluster.parent_upper", "cluster.name_upper")
    title_block(doc)

    control(doc, "{%p for basis in content.legal_basis %}")
    par(doc, S_LEGAL, "{{ basis }}")
    control(doc, "{%p endfor %}")
    par(doc, S_BODY, "{{ content.intro }}")

    par(doc, S_HEADING, "I. CÁC ĐƠN VỊ THAM GIA GIAO ƯỚC")
    control(doc, "{%p for m in members %}")
    par(
        doc,
        S_BODY,
        "{{ loop.index }}. {{ m.unit }}, đại diện là {{ m.head.introduced }}, "
        "{{ m.head.title }}"
        "{{ ' (' ~ m.cluster_role ~ ')' if m.cluster_role else '' }}"
        "{{ '.' if loop.last else ';' }}",
    )
    control(doc, "{%p endfor %}")

    par(doc, S_HEADING, "II. NỘI DUNG GIAO ƯỚC")
    numbered_items(doc, "p in content.pledges", "p.heading", "p.text")

    par(doc, S_HEADING, "III. TỔ CHỨC THỰC HIỆN")
    control(doc, "{%p for c in content.closing %}")
    par(doc, S_BODY, "{{ c }}")
    control(doc, "{%p endfor %}")

    # Signature grid: one row per `signature_rows` entry, one member (or None) per cell.
    # The last row is a loop of its own whose paragraphs keep with the next one, so that
    # "Nơi nhận" never starts a page alone: the last signatures move along with it.
    par(doc, S_SIGN_HEADING, "ĐẠI DIỆN CÁC ĐƠN VỊ KÝ GIAO ƯỚC")
    width = TEXT_WIDTH_MM / GRID_COLUMNS
    grid = table(doc, [width] * GRID_COLUMNS, rows=6, cell_margin_mm=1.0)
    control_row(grid.rows[0], "{%tr for row in signature_rows[:-1] %}")
    grid_signers(grid.rows[1])
    control_row(grid.rows[2], "{%tr endfor %}")
    control_row(grid.rows[3], "{%tr for row in signature_rows[-1:] %}")
    grid_signers(grid.rows[4], keep_with_next=True)
    control_row(grid.rows[5], "{%tr endfor %}")
    ensure_paragraphs(grid)

    recipients(doc, keep_together=True)
    return doc


def grid_signers(row: _Row, keep_with_next: bool = False) -> None:
    """One row of the agreement's signature grid: a member (or nothing) per cell.

    Cells are aligned at the bottom: a unit name on three lines pushes its own title up,
    not its anchors and name down, so the names of a row share one baseline."""
    cant_split(row)
    for i, cell in enumerate(row.cells):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM
        m = f"row[{i}]"
        # "is defined" keeps a shorter row (signature_columns < 3) from failing.
        control(cell, "{%p if " + m + " is defined and " + m + " %}")
        titles = [unbroken_province(m), "{{ " + m + ".head.title_upper }}"]
        signer(cell, m, titles, title_size=13, name_size=13, after_pt=18)
        control(cell, "{%p else %}")
        par(cell, S_SIGN_NAME)
        control(cell, "{%p endif %}")
        if keep_with_next:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.keep_with_next = True


def build_ke_hoach_phat_dong() -> DocxDocument:
    """Launch plan of one member."""
    doc = new_document("Kế hoạch phát động phong trào thi đua")
    header_block(doc, "member.parent_upper", "member.unit_upper", "member")
    title_block(doc)
    par(doc, S_BODY, "{{ content.legal_basis }}")

    par(doc, S_HEADING, "I. MỤC ĐÍCH, YÊU CẦU")
    par(doc, S_HEADING, "1. Mục đích")
    dash_items(doc, "content.purpose")
    par(doc, S_HEADING, "2. Yêu cầu")
    dash_items(doc, "content.requirements")

    par(doc, S_HEADING, "II. ĐỐI TƯỢNG, NỘI DUNG VÀ CHỈ TIÊU THI ĐUA")
    par(doc, S_HEADING, "1. Đối tượng thi đua")
    par(doc, S_BODY, "{{ content.participants }}")
    par(doc, S_HEADING, "2. Nội dung và chỉ tiêu thi đua")
    control(doc, "{%p for c in content.contents %}")
    par(
        doc,
        S_BODY,
        # Points a), b), c)... in the Vietnamese order (Decree 30/2020).
        "{{ 'abcdđeghiklmnopqrstuvxy'[loop.index0] }}) ",
        Span("{{ c.heading }}:", bold=True),
        " {{ c.text }}",
    )
    control(doc, "{%p endfor %}")

    par(doc, S_HEADING, "III. DANH HIỆU THI ĐUA VÀ HÌNH THỨC KHEN THƯỞNG")
    dash_items(doc, "content.titles")

    par(doc, S_HEADING, "IV. TỔ CHỨC THỰC HIỆN")
    control(doc, "{%p for o in content.organisation %}")
    par(doc, S_BODY, "{{ loop.index }}. {{ o }}")
    control(doc, "{%p endfor %}")

    signature_block(doc, "{{ member.head.title_upper }}")
    return doc


def _bordered_table(
    doc: DocxDocument,
    widths_mm: Sequence[float],
    headings: Sequence[str],
    loop: str,
    cells: Sequence[str],
    centred: Sequence[int] = (0,),
    row_height_mm: float | None = None,
) -> Table:
    """Header row (repeated on each page) and one row per item of `loop`."""
    tbl = table(doc, widths_mm, rows=4, borders=True, cell_margin_mm=1.5)
    head = tbl.rows[0]
    repeat_header(head)
    cant_split(head)
    for cell, heading in zip(head.cells, headings, strict=True):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        par(cell, S_TABLE_HEAD, heading)
    control_row(tbl.rows[1], "{%tr for " + loop + " %}")
    cant_split(tbl.rows[2])
    if row_height_mm is not None:
        tbl.rows[2].height = Mm(row_height_mm)
        tbl.rows[2].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    for i, (cell, text) in enumerate(zip(tbl.rows[2].cells, cells, strict=True)):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        align = WD_ALIGN_PARAGRAPH.CENTER if i in centred else None
        par(cell, S_TABLE, text, align=align)
    control_row(tbl.rows[3], "{%tr endfor %}")
    ensure_paragraphs(tbl)
    return tbl


def _collective_table(doc: DocxDocument) -> None:
    _bordered_table(
        doc,
        (13, 97, 55),
        ("STT", "Danh hiệu / hình thức khen thưởng", "Cấp đề nghị"),
        "c in registration.collective",
        ("{{ loop.index }}", "{{ c.title }}", "{{ c.authority }}"),
    )


def build_dang_ky_thi_dua() -> DocxDocument:
    """Registration of emulation titles of one member: its collective titles, then its
    individuals (the roster's staff, or the data's list), or, when it registers per
    department, the list of the departments' forms; and the summary per title."""
    doc = new_document("Bản đăng ký thi đua")
    header_block(doc, "member.parent_upper", "member.unit_upper", "member")
    title_block(doc)
    par(doc, S_ADDRESSEE, "Kính gửi: {{ content.addressee }}")
    par(doc, S_BODY, "{{ content.intro }}")

    par(doc, S_HEADING, "1. Đăng ký danh hiệu thi đua tập thể")
    _collective_table(doc)

    par(doc, S_HEADING, "2. Đăng ký danh hiệu thi đua cá nhân").paragraph_format \
        .space_before = Pt(12)  # fmt: skip
    control(doc, "{%p if registration.per_department %}")
    par(doc, S_BODY,
        "Các phòng, đơn vị đăng ký danh hiệu thi đua cá nhân theo các bản đăng ký kèm theo "
        "({{ registration.department_forms|join(', ') }}); tổng số "
        "{{ registration.registered }}/{{ registration.staff_count }} cán bộ, công chức, "
        "người lao động đăng ký.")  # fmt: skip
    control(doc, "{%p endif %}")
    control(doc, "{%p if registration.individuals or not registration.per_department %}")
    _bordered_table(
        doc,
        (13, 37, 30, 32, 33, 20),
        ("STT", "Họ và tên", "Chức vụ", "Danh hiệu thi đua", "Hình thức khen thưởng",
         "Ghi chú"),
        "p in registration.individuals",
        ("{{ loop.index }}", "{{ p.name }}", "{{ p.position }}", "{{ p.title }}",
         "{{ p.commendation }}", "{{ p.note }}"),
    )  # fmt: skip
    control(doc, "{%p endif %}")

    control(doc, "{%p if registration.summary %}")
    par(doc, S_HEADING, "3. Tổng hợp đăng ký danh hiệu thi đua").paragraph_format \
        .space_before = Pt(12)  # fmt: skip
    _summary_table(doc)
    control(doc, "{%p endif %}")

    par(doc, S_BODY, "{{ content.closing }}").paragraph_format.space_before = Pt(12)
    signature_block(doc, "{{ member.head.title_upper }}")
    return doc


def _summary_table(doc: DocxDocument) -> None:
    """How many departments and people registered for each title."""
    _bordered_table(
        doc,
        (13, 102, 25, 25),
        ("STT", "Danh hiệu thi đua", "Số tập thể", "Số cá nhân"),
        "s in registration.summary",
        ("{{ loop.index }}", "{{ s.title }}", "{{ s.collectives or '' }}",
         "{{ s.individuals or '' }}"),
        centred=(0, 2, 3),
    )


def build_dang_ky_thi_dua_phong() -> DocxDocument:
    """Registration of one department of a member: its staff and the titles each registers
    for; signed by the member's head (the member issues it)."""
    doc = new_document("Bản đăng ký thi đua của phòng, đơn vị")
    header_block(doc, "member.parent_upper", "member.unit_upper", "member")
    par(doc, S_TITLE, "{{ content.title }}")
    par(doc, S_SUBTITLE, "{{ department.name }} - {{ content.subtitle }}")
    rule(doc, TITLE_RULE_MM, TEXT_WIDTH_MM, after_pt=12)
    par(doc, S_ADDRESSEE, "Kính gửi: {{ content.addressee }}")
    par(doc, S_BODY, "{{ content.intro }}")
    par(doc, S_BODY, "Phòng, đơn vị: {{ department.name }}; người phụ trách: "
        "{{ department.head.introduced }}, {{ department.head.title }}.")  # fmt: skip

    par(doc, S_HEADING, "1. Đăng ký danh hiệu thi đua tập thể")
    control(doc, "{%p if registration.collective %}")
    _bordered_table(
        doc,
        (13, 152),
        ("STT", "Danh hiệu thi đua"),
        "c in registration.collective",
        ("{{ loop.index }}", "{{ c.title }}"),
    )
    control(doc, "{%p else %}")
    par(doc, S_BODY, "Không đăng ký.")
    control(doc, "{%p endif %}")

    par(doc, S_HEADING, "2. Đăng ký danh hiệu thi đua cá nhân").paragraph_format \
        .space_before = Pt(12)  # fmt: skip
    _bordered_table(
        doc,
        (13, 45, 40, 47, 20),
        ("STT", "Họ và tên", "Chức vụ", "Danh hiệu thi đua đăng ký", "Ghi chú"),
        "p in registration.individuals",
        ("{{ loop.index }}", "{{ p.name }}", "{{ p.position }}", "{{ p.title }}",
         "{{ p.note }}"),
    )  # fmt: skip
    par(doc, S_BODY, "Tổng số: {{ registration.staff_count }} người, trong đó "
        "{{ registration.registered }} người đăng ký danh hiệu thi đua.").paragraph_format \
        .space_before = Pt(6)  # fmt: skip

    par(doc, S_BODY, "{{ content.closing }}").paragraph_format.space_before = Pt(12)
    signature_block(doc, "{{ member.head.title_upper }}")
    return doc


def build_giao_uoc_noi_bo() -> DocxDocument:
    """Internal pledge among the departments of one member (the roster's departments)."""
    doc = new_document("Giao ước thi đua nội bộ")
    header_block(doc, "member.parent_upper", "member.unit_upper", "member")
    title_block(doc)
    par(doc, S_BODY, "{{ content.intro }}")

    par(doc, S_HEADING, "I. CÁC PHÒNG, ĐƠN VỊ THAM GIA GIAO ƯỚC")
    control(doc, "{%p for d in member.departments %}")
    par(doc, S_BODY,
        "{{ loop.index }}. {{ d.name }}, đại diện là {{ d.head.introduced }}"
        "{{ ', ' ~ d.head.title if d.head.title else '' }}"
        "{{ '.' if loop.last else ';' }}")  # fmt: skip
    control(doc, "{%p endfor %}")

    par(doc, S_HEADING, "II. NỘI DUNG GIAO ƯỚC")
    numbered_items(doc, "p in content.pledges", "p.heading", "p.text")

    par(doc, S_HEADING, "III. TỔ CHỨC THỰC HIỆN")
    par(doc, S_BODY, "{{ content.closing }}")

    # Each department's head signs in the last column: the anchor at the top of the cell
    # (1 pt white), the signature field under it (signflow.pdf.anchors.DEPARTMENT_BOX_MM);
    # then the member's head confirms and the seal follows. Departments that the data
    # lists (the old form, not in the roster) have no anchor: they sign on paper.
    par(doc, S_SIGN_HEADING, "ĐẠI DIỆN CÁC PHÒNG, ĐƠN VỊ KÝ GIAO ƯỚC")
    tbl = _bordered_table(
        doc,
        (13, 54, 50, 48),
        ("STT", "Phòng, đơn vị", "Người đại diện", "Chữ ký"),
        "d in member.departments",
        ("{{ loop.index }}", "{{ d.name }}",
         "{{ d.head.name }}{{ ', ' ~ d.head.title if d.head.title else '' }}", ""),
        row_height_mm=DEPARTMENT_SIGNATURE_ROW_MM,
    )
    signature_cell = tbl.rows[2].cells[3]
    signature_cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.TOP
    anchor_paragraph = signature_cell.paragraphs[0]
    anchor_paragraph.style = doc.styles[S_ANCHOR]
    anchor_paragraph.add_run("{{ d.anchor }}")

    signature_block(doc, "XÁC NHẬN CỦA {{ member.head.title_upper }}", title_size=13)
    return doc


TEMPLATES: dict[str, Callable[[], DocxDocument]] = {
    "giao-uoc-thi-dua": build_giao_uoc_thi_dua,
    "ke-hoach-phat-dong": build_ke_hoach_phat_dong,
    "dang-ky-thi-dua": build_dang_ky_thi_dua,
    "giao-uoc-noi-bo": build_giao_uoc_noi_bo,
    "dang-ky-thi-dua-phong": build_dang_ky_thi_dua_phong,
}


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def _normalise_zip(path: Path) -> None:
    """Rewrite the .docx with fixed entry timestamps, so rebuilds are byte-identical."""
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=BUILD_TIMESTAMP.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)


def build_all(out_dir: Path) -> list[Path]:
    """Write every template into `out_dir`; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, build in TEMPLATES.items():
        path = out_dir / f"{kind}.docx"
        build().save(str(path))
        _normalise_zip(path)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output directory (default: {DEFAULT_OUT})")  # fmt: skip
    args = parser.parse_args(argv)
    for path in build_all(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
