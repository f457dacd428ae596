"""Demo appearance images: a blue handwritten-looking signature and a red round seal.

Decree 30/2020 wants the competent person's signature as the image of their handwritten
signature (blue, PNG, transparent background) and the organisation's signature as the image
of its seal (red, PNG, transparent background, at the seal's real size). Real images come
from scans; these stand-ins let the demo and the tests exercise the same placement code.

Everything is drawn on a canvas several times larger than the output and scaled down with
a Lanczos filter: Pillow's own drawing primitives are not antialiased, supersampling is.
The drawings are derived from the text alone (no global randomness), so the same name
always gives the same picture and test artefacts do not churn.
"""

from __future__ import annotations

import hashlib
import math
import random
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from signflow.errors import ToolMissingError
from signflow.i18n import _

SIGNATURE_BLUE = (26, 63, 168)
SEAL_RED = (208, 20, 30)
SIGNATURE_SIZE = (600, 260)
_SUPERSAMPLE = 4

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/liberation2"),
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/truetype/dejavu"),
)
# The signature's capitals: a hairline sans has the even stroke of a ballpoint once slanted
# (a printed italic's thick stems never come out of a pen); all cover Vietnamese.
_SIGNATURE_FONTS = ("DejaVuSans-ExtraLight.ttf", "LiberationSerif-Italic.ttf",
                    "DejaVuSerif-Italic.ttf")
# The seal needs bold capitals with stacked Vietnamese accents (Ỉ, Ấ, Ộ ...).
_SEAL_FONTS = ("LiberationSerif-Bold.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf")

Point = tuple[float, float]


def _find_font(names: Sequence[str]) -> Path:
    for name in names:
        for folder in _FONT_DIRS:
            path = folder / name
            if path.is_file():
                return path
    raise ToolMissingError(
        _("no suitable font found for the demo images ({fonts}): install the Debian "
          "packages fonts-liberation2 and fonts-dejavu-core").format(fonts=", ".join(names))
    )


def _rng(*parts: str) -> random.Random:
    """A random generator seeded by the text, so a name always draws the same way."""
    seed = hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point, steps: int) -> list[Point]:
    out = []
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        out.append((
            u**3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t**3 * p3[0],
            u**3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t**3 * p3[1],
        ))
    return out


def _catmull_rom(points: Sequence[Point], steps: int = 24) -> list[Point]:
    """A smooth curve through every point (a pen does not draw corners)."""
    if len(points) < 3:
        return list(points)
    pts = [points[0], *points, points[-1]]
    out: list[Point] = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        # Catmull-Rom segment expressed as a cubic Bezier.
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        seg = _bezier(p1, c1, c2, p2, steps)
        out.extend(seg if not out else seg[1:])
    return out


def _pen_stroke(
    draw: ImageDraw.ImageDraw, path: Sequence[Point], width: float, *, taper: float = 0.35
) -> None:
    """Draw a path with a pen whose pressure rises and falls: thin ends, full middle."""
    n = len(path)
    if n < 2:
        return
    for i in range(n - 1):
        t = i / (n - 1)
        # Pressure ramps up over the first and down over the last ``taper`` of the stroke.
        ramp = min(1.0, t / taper if taper else 1.0, (1 - t) / taper if taper else 1.0)
        w = width * (0.35 + 0.65 * math.sin(ramp * math.pi / 2))
        (x0, y0), (x1, y1) = path[i], path[i + 1]
        draw.line((x0, y0, x1, y1), fill=255, width=max(1, round(w)))
        r = w / 2
        draw.ellipse((x1 - r, y1 - r, x1 + r, y1 + r), fill=255)


def _colourise(
    mask: Image.Image, colour: tuple[int, int, int], size: tuple[int, int]
) -> Image.Image:
    """Scale the supersampled coverage mask down and turn it into coloured RGBA."""
    alpha = mask.resize(size, Image.Resampling.LANCZOS)
    out = Image.new("RGBA", size, (*colour, 0))
    out.putalpha(alpha)
    return out


def _save_png(image: Image.Image, path: Path, dpi: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"dpi": (dpi, dpi)} if dpi else {}
    image.save(path, format="PNG", **kwargs)  # optimize=True costs 0.2 s an image
    return path


def _signature_word(name: str) -> tuple[str, str]:
    """What a Vietnamese official writes: usually the given name, led by the surname's
    initial (Đinh Văn Hùng -> "Đ", "Hùng")."""
    words = [w for w in unicodedata.normalize("NFC", name).split() if w]
    if not words:
        return "", "X"
    return (words[0][0] if len(words) > 1 else ""), words[-1]


def draw_signature(name: str, path: str | Path, size: tuple[int, int] = SIGNATURE_SIZE) -> Path:
    """Draw a blue, handwritten-looking signature for ``name`` as an RGBA PNG.

    Like most signatures it is legible only at its start: the surname's initial and the
    given name's capital come from a hairline font, slanted; the rest of the given
    name is a running cursive line whose arches, loops, ascenders and descenders follow
    its letters, with ticks for the accents; a flourish swings back under the whole. The
    lines are drawn with a pen whose pressure rises and falls.
    """
    rng = _rng("signature", name)
    # Drawn at twice the output size on a canvas twice as large again (room for the
    # flourish), cropped and fitted at the end: 4x supersampling in all.
    s = _SUPERSAMPLE // 2
    w, h = size[0] * s * 2, size[1] * s * 2
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    font_path = _find_font(_SIGNATURE_FONTS)
    initial, word = _signature_word(name)
    pen = 6.0 * s
    baseline = h * 0.55
    xh = 58.0 * s  # x-height of the cursive line
    slant = 0.35
    x = 80.0 * s

    def lean(points: Sequence[Point]) -> list[Point]:
        return [(px + slant * (baseline - py), py) for px, py in points]

    # 1. The capitals: the surname's initial, then the given name's own capital.
    capitals = (initial + word[:1]) if word[:1].isupper() else initial
    rest = word[1:] if word[:1].isupper() else word
    cap_font = ImageFont.truetype(str(font_path), int(200 * s))
    for i, ch in enumerate(capitals):
        glyph = _slanted_text(ch, cap_font, slant=0.45)
        # Condensed: hands write capitals narrower than a printed face draws them.
        glyph = glyph.resize((int(glyph.width * 0.74), glyph.height), Image.Resampling.LANCZOS)
        glyph = glyph.rotate(rng.uniform(-3, 3), resample=Image.Resampling.BICUBIC, expand=True)
        top = int(baseline - glyph.height * 0.80 + rng.uniform(-6, 6) * s)
        if i == 0:
            # The lead-in: the pen comes up from below the line into the first capital.
            _pen_stroke(draw, _catmull_rom([
                (x - 40 * s, baseline + 26 * s),
                (x + 0.05 * glyph.width, baseline + 6 * s),
                (x + 0.45 * glyph.width, top + 0.45 * glyph.height),
                (x + 0.75 * glyph.width, top + 0.06 * glyph.height),
            ]), pen * 0.9, taper=0.4)
        mask.paste(255, (int(x), top), glyph)
        # The next letter tucks under the right of this one, as a quick hand does.
        x += glyph.width * (0.66 if i < len(capitals) - 1 else 0.80)

    # 2. The rest of the given name as one running cursive line.
    start_x = x
    line: list[Point] = [(x - 20 * s, baseline - 4 * s)]
    ticks: list[Point] = []
    for ch in rest:
        base = _fold(ch)
        step = xh * rng.uniform(0.78, 0.92)
        jit = rng.uniform(-4, 4) * s
        y0 = baseline + jit
        if base in "bdfhklt":  # ascender: a tall loop
            line += [(x + 0.2 * step, y0 - xh), (x + 0.5 * step, y0 - 2.3 * xh),
                     (x + 0.25 * step, y0 - 2.2 * xh), (x + 0.35 * step, y0),
                     (x + 0.9 * step, y0 - 0.7 * xh)]
        elif base in "gjpqyz":  # descender: a loop below the line
            line += [(x + 0.4 * step, y0 - xh), (x + 0.6 * step, y0 + 0.2 * xh),
                     (x + 0.45 * step, y0 + 1.3 * xh), (x + 0.2 * step, y0 + 1.0 * xh),
                     (x + 0.9 * step, y0 - 0.3 * xh)]
        elif base in "aoecdg":  # a small closed bowl
            line += [(x + 0.7 * step, y0 - xh), (x + 0.2 * step, y0 - 0.8 * xh),
                     (x + 0.25 * step, y0), (x + 0.75 * step, y0 - 0.6 * xh),
                     (x + 1.0 * step, y0 - 0.2 * xh)]
        elif base in "mnrhx":  # arches
            arches = 2 if base == "m" else 1
            for k in range(arches):
                ax = x + k * 0.6 * step
                line += [(ax + 0.15 * step, y0 - xh), (ax + 0.45 * step, y0 - 0.9 * xh),
                         (ax + 0.6 * step, y0)]
            x += (arches - 1) * 0.6 * step
        else:  # i, u, v, w, s and the rest: a cup
            line += [(x + 0.2 * step, y0 - xh), (x + 0.45 * step, y0),
                     (x + 0.8 * step, y0 - 0.9 * xh)]
        if base != ch.lower():  # an accented letter: a short stroke above it
            ticks.append((x + 0.5 * step, y0 - 1.7 * xh))
        x += step
    end_x = x
    if len(line) > 1:
        _pen_stroke(draw, _catmull_rom(lean(line), steps=16), pen, taper=0.15)
    for tx, ty in ticks:
        _pen_stroke(draw, lean([(tx - 8 * s, ty + 10 * s), (tx + 10 * s, ty - 8 * s)]), pen * 0.8)

    # 3. The flourish: out of the last letter, down, and back under the whole name.
    low = baseline + 55 * s
    flourish = [
        (end_x, baseline - 0.3 * xh),
        (end_x + 40 * s, baseline + 20 * s),
        (end_x + 10 * s, low),
        ((start_x + end_x) / 2, low + 16 * s + rng.uniform(-6, 6) * s),
        (start_x - 120 * s, low + 4 * s),
        (start_x - 220 * s, low - 24 * s),
    ]
    _pen_stroke(draw, _catmull_rom(flourish), pen * 1.05, taper=0.3)

    mask = _fit(mask, margin=28 * s)
    return _save_png(_colourise(mask, SIGNATURE_BLUE, size), Path(path))


def _fold(ch: str) -> str:
    """The base Latin letter of a Vietnamese one (ù -> u, đ -> d)."""
    if ch in "đĐ":
        return "d"
    decomposed = unicodedata.normalize("NFD", ch.lower())
    return decomposed[0] if decomposed else ch


def _slanted_text(text: str, font: ImageFont.FreeTypeFont, slant: float) -> Image.Image:
    """The text as a coverage mask, sheared to the right by ``slant`` (x per y)."""
    left, top, right, bottom = font.getbbox(text)
    height = bottom - top + 8
    lean = int(height * slant) + 4
    img = Image.new("L", (int(right - left + lean + 8), int(height)), 0)
    ImageDraw.Draw(img).text((-left + 4, -top + 4), text, font=font, fill=255)
    # Output (x, y) samples input (x - slant * (height - y), y): the top moves right by
    # slant * height, the bottom stays put, hence the room left on the right.
    return img.transform(
        img.size, Image.Transform.AFFINE,
        (1, slant, -slant * height, 0, 1, 0), resample=Image.Resampling.BICUBIC,
    )


def _fit(mask: Image.Image, margin: int) -> Image.Image:
    """Scale the drawing to fill the canvas (keeping its proportions), centred."""
    box = mask.getbbox()
    if box is None:
        return mask
    crop = mask.crop(box)
    avail_w, avail_h = mask.width - 2 * margin, mask.height - 2 * margin
    scale = min(avail_w / crop.width, avail_h / crop.height)
    crop = crop.resize(
        (max(1, int(crop.width * scale)), max(1, int(crop.height * scale))),
        Image.Resampling.LANCZOS,
    )
    out = Image.new("L", mask.size, 0)
    out.paste(crop, ((mask.width - crop.width) // 2, (mask.height - crop.height) // 2))
    return out


def seal_size_px(diameter_mm: float, dpi: int) -> int:
    return max(16, round(diameter_mm / 25.4 * dpi))


def draw_seal(
    unit_upper: str,
    path: str | Path,
    diameter_mm: float = 34,
    dpi: int = 300,
    *,
    lower_text: str | None = None,
) -> Path:
    """Draw a red round seal ``diameter_mm`` across at ``dpi`` as an RGBA PNG.

    A thick outer ring and a thin inner circle; ``unit_upper`` set in bold capitals along
    the upper rim between them, each glyph turned to follow the circle; optionally
    ``lower_text`` along the lower rim, read left to right; a five-pointed star in the
    centre. The PNG records ``dpi`` so that placing it at its real size is a division.
    """
    size = seal_size_px(diameter_mm, dpi)
    s = _SUPERSAMPLE
    big = size * s
    c = big / 2
    radius = big / 2 - 2 * s  # keep the ring clear of the image edge
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)

    outer_w = radius * 0.055
    _ring(draw, c, radius - outer_w / 2, outer_w)
    inner_r = radius * 0.60
    inner_w = radius * 0.022
    _ring(draw, c, inner_r, inner_w)

    font_path = _find_font(_SEAL_FONTS)
    band_inner = inner_r + inner_w / 2
    band_outer = radius - outer_w
    text = unicodedata.normalize("NFC", unit_upper.upper()).strip()
    _text_on_arc(mask, text, font_path, c, band_inner, band_outer, upper=True,
                 max_sweep=math.radians(250 if lower_text is None else 200))
    if lower_text:
        low = unicodedata.normalize("NFC", lower_text.upper()).strip()
        _text_on_arc(mask, low, font_path, c, band_inner, band_outer, upper=False,
                     max_sweep=math.radians(110))

    _star(draw, c, c, radius * 0.36)
    return _save_png(_colourise(mask, SEAL_RED, (size, size)), Path(path), dpi=dpi)


def _ring(draw: ImageDraw.ImageDraw, c: float, r: float, width: float) -> None:
    outer, inner = r + width / 2, r - width / 2
    draw.ellipse((c - outer, c - outer, c + outer, c + outer), fill=255)
    draw.ellipse((c - inner, c - inner, c + inner, c + inner), fill=0)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
    points = []
    for i in range(10):
        rr = r if i % 2 == 0 else r * 0.382  # the golden ratio gives the regular star
        a = -math.pi / 2 + i * math.pi / 5
        points.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    draw.polygon(points, fill=255)


def _text_on_arc(
    mask: Image.Image,
    text: str,
    font_path: Path,
    c: float,
    band_inner: float,
    band_outer: float,
    *,
    upper: bool,
    max_sweep: float,
) -> None:
    """Set ``text`` along a circle inside the band, centred on the top (or the bottom).

    On the upper rim the tops of the letters face outwards and the text runs clockwise;
    on the lower rim the tops face the centre and it runs anticlockwise, so both read
    left to right. The size is the largest that fits the band (accents included) and
    the sweep.
    """
    if not text:
        return
    band = band_outer - band_inner
    # Size: capitals plus stacked accents must fit the band with a little air.
    # A first guess from one measurement (ink and sweep grow with the size), then down
    # in small steps until it fits.
    size = 100
    probe = ImageFont.truetype(str(font_path), size)
    ink = max(probe.getbbox(ch, anchor="ls")[3] for ch in text) - min(
        probe.getbbox(ch, anchor="ls")[1] for ch in text)
    length = sum(probe.getlength(ch) * 1.12 for ch in text)
    mid_r = (band_inner + band_outer) / 2
    size = max(9, int(1.1 * size * min(band * 0.92 / max(ink, 1), max_sweep * mid_r / length, 10)))
    while size > 8:
        font = ImageFont.truetype(str(font_path), size)
        asc_top = min(font.getbbox(ch, anchor="ls")[1] for ch in text)  # negative: above
        desc_bottom = max(font.getbbox(ch, anchor="ls")[3] for ch in text)
        ink_h = desc_bottom - asc_top
        # Base the baseline so the ink sits centred in the band.
        if upper:
            base_r = band_inner + (band - ink_h) / 2 + max(desc_bottom, 0)
        else:
            base_r = band_outer - (band - ink_h) / 2 - max(desc_bottom, 0)
        tracking = size * 0.12
        advances = [font.getlength(ch) + tracking for ch in text]
        sweep = (sum(advances) - tracking) / base_r
        if ink_h <= band * 0.92 and sweep <= max_sweep:
            break
        size -= max(1, size // 40)
    else:
        font = ImageFont.truetype(str(font_path), 8)
        base_r = (band_inner + band_outer) / 2
        tracking = 1.0
        advances = [font.getlength(ch) + tracking for ch in text]
        sweep = sum(advances) / base_r

    # Spread the letters evenly over the sweep, centred at 12 (or 6) o'clock.
    centre = -math.pi / 2 if upper else math.pi / 2
    direction = 1 if upper else -1
    angle = centre - direction * sweep / 2
    for ch, adv in zip(text, advances, strict=True):
        glyph_w = font.getlength(ch)
        mid = angle + direction * (glyph_w / 2) / base_r
        angle += direction * adv / base_r
        if ch.isspace():
            continue
        left, top, right, bottom = font.getbbox(ch, anchor="ls")
        pad = 4
        gw, gh = right - left + 2 * pad, bottom - top + 2 * pad
        glyph = Image.new("L", (int(gw), int(gh)), 0)
        ImageDraw.Draw(glyph).text((pad - left, pad - top), ch, font=font, fill=255, anchor="ls")
        # Anchor point: the glyph's horizontal middle on its baseline.
        ax, ay = pad - left + glyph_w / 2, pad - top
        # Upper rim: the letter's "up" points away from the centre; lower: towards it.
        rot = math.degrees(mid + math.pi / 2) if upper else math.degrees(mid - math.pi / 2)
        rotated, (rx, ry) = _rotate_about(glyph, (ax, ay), -rot)
        px = c + base_r * math.cos(mid)
        py = c + base_r * math.sin(mid)
        ox, oy = round(px - rx), round(py - ry)
        # Ink over what is there: the glyph is the mask of a solid fill.
        mask.paste(255, (ox, oy, ox + rotated.width, oy + rotated.height), rotated)


def _rotate_about(
    img: Image.Image, anchor: Point, degrees: float
) -> tuple[Image.Image, Point]:
    """Rotate ``img`` anticlockwise by ``degrees`` (Pillow's convention) with expansion,
    and report where ``anchor`` ends up."""
    rotated = img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True)
    a = math.radians(degrees)
    cx, cy = img.width / 2, img.height / 2
    dx, dy = anchor[0] - cx, anchor[1] - cy
    # Image y grows downwards, so an anticlockwise turn on screen is this matrix.
    nx = dx * math.cos(a) + dy * math.sin(a)
    ny = -dx * math.sin(a) + dy * math.cos(a)
    return rotated, (rotated.width / 2 + nx, rotated.height / 2 + ny)
