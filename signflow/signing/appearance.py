"""What a signature looks like on the page (Decree 30/2020, Appendix I, II.7-8).

- The head's signature: the image of the handwritten signature (blue PNG, transparent
  background), centred in the field between title and name; no text.
- The organisation's signature: the seal image (red PNG, transparent) at the seal's real size;
  the field itself is placed over the left third of the head's signature (see fields.py);
  no text.
- Without an image: a clear text appearance (name, unit, time in ISO 8601 with +07:00) in an
  embedded font with full Vietnamese coverage (Liberation Serif, the metric twin of Times
  New Roman), so the signed PDF stays PDF/A.
"""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

from signflow import vn
from signflow._internal.files import atomic_write_bytes
from signflow.errors import ToolMissingError
from signflow.i18n import _
from signflow.roster import Member, Role

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "signflow"


ITALIC_CANDIDATES = (
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Italic.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Italic.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf",
)


LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "JSTF", "BASE", "kern")


@cache
def stamp_font(italic: bool = False) -> Path:
    """Liberation Serif (or its italic) rescaled to 1000 units per em, cached on disk.

    pyHanko's OpenType embedding computes glyph widths as if the font had 1000 units per em;
    Liberation (2048) would come out with wrong spacing, so the font is rescaled once.
    Its OpenType layout tables (GSUB, GPOS, GDEF; kerning) are left out: the appearance
    text is NFC (every Vietnamese letter one precomposed glyph, nothing to shape or to
    position), and subsetting them took half the time of every text appearance (a
    department head's signature, each number and date).
    """
    source = next((Path(p) for p in (ITALIC_CANDIDATES if italic else FONT_CANDIDATES)
                   if Path(p).is_file()), None)
    if source is None:
        raise ToolMissingError(_("no font with Vietnamese coverage found; install the Debian "
                                 "package fonts-liberation2"))
    target = _cache_dir() / f"{source.stem}-1000upm-v3.ttf"
    if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    import io

    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    font = TTFont(str(source))
    if "FFTM" in font:  # FontForge's timestamp table: the subsetter warns about it
        del font["FFTM"]
    for table in LAYOUT_TABLES:
        if table in font:
            del font[table]
    if font["head"].unitsPerEm != 1000:
        scale_upem(font, 1000)
    buffer = io.BytesIO()
    font.save(buffer)
    atomic_write_bytes(target, buffer.getvalue())
    return target


def _image_style(image: Path, seal: bool) -> Any:
    from PIL import Image
    from pyhanko.pdf_utils import layout
    from pyhanko.pdf_utils.images import PdfImage
    from pyhanko.stamp import StaticStampStyle

    with Image.open(image) as img:
        img.load()
        picture = img.convert("RGBA")
    # The seal fills its field exactly (real size); the signature keeps a small margin.
    margins = layout.Margins.uniform(0 if seal else 2)
    return StaticStampStyle(
        background=PdfImage(picture),
        background_opacity=1.0,
        border_width=0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=margins,
            inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
        ),
    )


def _text_style(role: Role, overlapped: bool = True) -> Any:
    """Text in the part of the field the other role's field does not cover: the seal's
    field overlaps the left third of the head's (fields.py), so the head's text sits in
    the right two thirds and the seal's text left of the head's field. A department head's
    field has no seal over it (``overlapped`` False): its text uses the whole box."""
    from pyhanko.pdf_utils import layout, text
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.stamp import TextStampStyle

    from signflow.pdf.anchors import HEAD_BOX_MM, MM

    overlap = HEAD_BOX_MM[0] * MM / 3
    if not overlapped:  # a department's box: the time line at 8 pt needs nearly all of it
        margins = layout.Margins.uniform(1)
    elif role == "head":
        margins = layout.Margins(left=round(overlap + 2), right=2, top=2, bottom=2)
    else:
        margins = layout.Margins(left=2, right=round(overlap + 2), top=2, bottom=2)

    return TextStampStyle(
        stamp_text="%(line1)s\n%(line2)s\n%(line3)s",
        text_box_style=text.TextBoxStyle(
            font=GlyphAccumulatorFactory(str(stamp_font())),
            font_size=8,
            # stacked Vietnamese accents (ể, ỗ...) need more room than Latin text
            leading=11,
        ),
        border_width=1,
        border_color=(0.1, 0.1, 0.5),
        background=None,
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=margins,
            inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
        ),
    )


def appearance(member: Member, role: Role, signer_name: str,
               when: dt.datetime) -> tuple[Any, dict[str, str]]:
    """(pyHanko stamp style, text parameters) for this member and role."""
    image = member.signature_image if role == "head" else member.seal_image
    if image is not None:
        return _image_style(image, seal=role == "seal"), {}
    if role == "head" and member.department_name:
        line1 = _("Signed by: {name}").format(name=signer_name)
        # the department's name is on the row the field sits in
        line2 = member.head.title
        line3 = _("Time: {time}").format(time=vn.iso_vn(when))
        return _text_style(role, overlapped=False), _nfc({
            "line1": line1, "line2": line2, "line3": line3})
    if role == "head":
        line1 = _("Signed by: {name}").format(name=signer_name)
        line2 = f"{member.head.title} - {member.unit}"
    else:
        line1 = _("Seal of: {unit}").format(unit=member.unit)
        line2 = _("Certificate: {name}").format(name=signer_name)
    line3 = _("Time: {time}").format(time=vn.iso_vn(when))
    return _text_style(role), _nfc({"line1": line1, "line2": line2, "line3": line3})


def _nfc(lines: dict[str, str]) -> dict[str, str]:
    """Precomposed letters: the stamp font has no tables to place combining marks (names
    typed on some systems arrive decomposed)."""
    return {key: unicodedata.normalize("NFC", text) for key, text in lines.items()}
