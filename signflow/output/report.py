"""The HTML verification report (`signflow verify --report FILE.html`).

One self-contained HTML5 page (inline CSS, no scripts, no external resources) that an
archivist reads on screen, prints on A4 and files with the signed PDFs. It only reads the
verdicts (signflow.verdicts): what was checked, when, against which roster and trust roots,
then one section per file with its overall verdict, completeness, problems and the table of
signatures in document order.

Every value that comes from a file (file names, field names, signer names, problems) is
treated as hostile: HTML-escaped, control characters replaced, and bidirectional-override
characters shown as visible code points, so that a crafted name can neither inject markup
nor disguise itself. Results are marked with symbols and words (✓ / ✗ / ? / !), never with
colour alone, so the report stays readable when printed in black and white.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import unicodedata
from collections.abc import Sequence
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from signflow import __version__
from signflow.i18n import _, get_language
from signflow.validation.verdicts import (
    FileVerdict,
    SignatureVerdict,
    identity_note,
    modification_label,
    revocation_note,
)
from signflow.vn import VN_TZ, iso_vn

GOOD, BAD, UNKNOWN, CAUTION = "✓", "✗", "?", "!"
NONE = "—"

# Bidirectional formatting characters can make "gpj.exe" look like "exe.jpg"; show them.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value: object) -> str:
    """Text safe to display: no lone surrogates, no control or bidi characters hidden."""
    text = _SURROGATE.sub("\ufffd", str(value))
    out = []
    for ch in text:
        if ch in _BIDI:
            out.append(f"⟨U+{ord(ch):04X}⟩")
        elif ch in "\t\n":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def esc(value: object) -> str:
    """HTML-escaped (quotes included) display text of any value."""
    return html.escape(_clean(value), quote=True)


def _css_string(text: str) -> str:
    """A CSS string literal (for @page margin boxes)."""
    return '"' + "".join(ch if ch.isalnum() or ch in " -–:/.,()" else f"\\{ord(ch):x} "
                         for ch in _clean(text)) + '"'


def _mark(symbol: str, word: str, kind: str) -> str:
    return (f'<span class="mark {kind}"><span class="sym" aria-hidden="true">{symbol}</span> '
            f"{esc(word)}</span>")


def _yes_no(value: bool) -> str:
    return _mark(GOOD, _("yes"), "good") if value else _mark(BAD, _("no"), "bad")


def _revoked(value: bool | None) -> str:
    if value is None:
        return _mark(UNKNOWN, _("unknown"), "unknown")
    if value:
        return _mark(BAD, _("revoked"), "bad")
    return _mark(GOOD, _("no"), "good")


def _coverage(value: str) -> str:
    labels = {
        "entire_file": (GOOD, _("entire file"), "good"),
        "entire_revision": (GOOD, _("entire revision"), "good"),
        "partial": (BAD, _("partial"), "bad"),
        "unclear": (UNKNOWN, _("unclear"), "unknown"),
    }
    symbol, word, kind = labels.get(value, (UNKNOWN, value, "unknown"))
    return _mark(symbol, word, kind)


def _modifications(value: str) -> str:
    looks = {
        "none": (GOOD, "good"),
        "lta_updates": (GOOD, "good"),
        "form_filling": (GOOD, "good"),
        "annotations": (CAUTION, "caution"),
        "other": (BAD, "bad"),
    }
    symbol, kind = looks.get(value, (UNKNOWN, "unknown"))
    return _mark(symbol, modification_label(value), kind)


def _role(sig: SignatureVerdict) -> str:
    if sig.is_timestamp:
        return _("document timestamp")
    if sig.role == "head":
        return _("head")
    if sig.role == "seal":
        return _("seal")
    return sig.role or NONE


def _role_label(role: str) -> str:
    return _("head") if role == "head" else _("seal") if role == "seal" else role


def _time(value: str | None) -> str:
    """An ISO 8601 time as date and time on two lines; the offset only when not +07:00."""
    if not value:
        return f'<span class="none">{NONE}</span>'
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return esc(value)
    text = (f'<span class="nw">{moment.date().isoformat()}</span><br>'
            f'<span class="nw">{moment.strftime("%H:%M:%S")}</span>')
    if moment.utcoffset() != dt.timedelta(hours=7):
        offset = moment.strftime("%z") or "?"
        offset = offset[:3] + ":" + offset[3:] if len(offset) == 5 else offset
        text += f' <span class="nw">{esc(offset)}</span>'
    return f'<time datetime="{esc(value)}">{text}</time>'


def _base_name(path: str) -> str:
    pure: PurePath = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    return pure.name or path


def _verdict(v: FileVerdict) -> tuple[str, str, str]:
    """(css class, symbol, words) of a file's overall verdict."""
    if not v.readable:
        return "unknown", UNKNOWN, _("Unreadable")
    if not v.ok:
        return "bad", BAD, _("Problems found")
    if v.complete is False:
        return "caution", CAUTION, _("Valid, but signatures are missing")
    if v.complete is None:
        return "good", GOOD, _("Valid (completeness not checked)")
    return "good", GOOD, _("Valid and complete")


def _counts(v: FileVerdict) -> str:
    stamps = sum(1 for s in v.signatures if s.is_timestamp)
    people = len(v.signatures) - stamps
    return _("{n} signature(s), {t} document timestamp(s)").format(n=people, t=stamps)


# --- page parts ----------------------------------------------------------------------------


def _context(verdicts: Sequence[FileVerdict], roster_name: str | None,
             trust_roots: Sequence[str], generated_at: dt.datetime) -> str:
    rows = [(_("Report generated at"), f'<time datetime="{esc(iso_vn(generated_at))}">'
             f"{esc(iso_vn(generated_at))}</time>")]
    times = {v.validation_time for v in verdicts}
    if len(times) == 1:
        (only,) = times
        rows.append((_("Verdicts as of"), esc(only) if only else NONE))
    elif times:
        rows.append((_("Verdicts as of"), esc(_("given for each file below"))))
    rows.append((_("Roster"), esc(roster_name) if roster_name
                 else esc(_("none: completeness was not checked"))))
    if trust_roots:
        items = "".join(f"<li>{esc(root)}</li>" for root in trust_roots)
        rows.append((_("Trust roots"), f'<ul class="plain">{items}</ul>'))
    else:
        rows.append((_("Trust roots"), esc(_("none given"))))
    rows.append((_("Files verified"), esc(len(verdicts))))
    body = "".join(f'<tr><th scope="row">{esc(k)}</th><td class="wrap">{val}</td></tr>'
                   for k, val in rows)
    return f'<table class="facts">{body}</table>'


def _conclusion(verdicts: Sequence[FileVerdict]) -> str:
    kinds = [_verdict(v) for v in verdicts]
    good = sum(1 for k in kinds if k[0] == "good")
    bad = sum(1 for k in kinds if k[0] in ("bad", "caution"))
    unreadable = sum(1 for k in kinds if k[0] == "unknown")
    if not verdicts:
        text, kind, symbol = _("No file was verified."), "unknown", UNKNOWN
    elif good == len(verdicts):
        text, kind, symbol = _("All {n} file(s) verified: no problem found.").format(
            n=len(verdicts)), "good", GOOD
    else:
        text = _("{good} of {n} file(s) without problems; {bad} with problems; "
                 "{unreadable} unreadable.").format(good=good, n=len(verdicts), bad=bad,
                                                    unreadable=unreadable)
        kind, symbol = ("bad", BAD) if bad else ("unknown", UNKNOWN)
    out = (f'<p class="conclusion {kind}"><span class="sym">{symbol}</span> '
           f"<strong>{esc(_('Conclusion'))}:</strong> {esc(text)}</p>")
    if len(verdicts) > 1:
        rows = []
        for i, v in enumerate(verdicts, 1):
            kind, symbol, words = _verdict(v)
            sigs = _counts(v) if v.readable else NONE
            rows.append(f'<tr><td class="num">{i}</td>'
                        f'<td class="wrap"><a href="#file-{i}">'
                        f"<bdi>{esc(_base_name(v.file))}</bdi></a></td>"
                        f"<td>{esc(sigs)}</td>"
                        f"<td>{_mark(symbol, words, kind)}</td></tr>")
        out += (f'<table class="summary"><thead><tr><th class="num">{esc(_("No."))}</th>'
                f'<th>{esc(_("File"))}</th><th>{esc(_("Signatures"))}</th>'
                f'<th>{esc(_("Result"))}</th></tr></thead>'
                f'<tbody>{"".join(rows)}</tbody></table>')
    return out


COLUMNS = (  # (css class, header)
    ("num", "No."),
    ("field", "Signature field"),
    ("member", "Member"),
    ("role", "Role"),
    ("signer", "Signer"),
    ("time", "Signing time"),
    ("time", "Timestamp"),
    ("level", "Level"),
    ("flag", "Intact"),
    ("flag", "Valid"),
    ("flag", "Trusted"),
    ("rev", "Revoked"),
    ("cov", "Coverage"),
    ("mods", "Changes after signing"),
)


def _headers() -> list[str]:
    # Spelled out so that tools/update_catalog.py finds every header.
    return [_("No."), _("Signature field"), _("Member"), _("Role"), _("Signer"),
            _("Signing time"), _("Timestamp"), _("Level"), _("Intact"), _("Valid"),
            _("Trusted"), _("Revoked"), _("Coverage"), _("Changes after signing")]


def _signature_rows(i: int, sig: SignatureVerdict) -> str:
    kind = "good" if sig.ok else "bad"
    classes = f"sig {kind}" + (" stamp" if sig.is_timestamp else "")
    number = (f'{i} <span class="mark {kind}"><span class="sym">'
              f"{GOOD if sig.ok else BAD}</span></span>")
    cells = [
        number,
        f'<span class="code">{esc(sig.field)}</span>',
        esc(sig.member) if sig.member else NONE,
        esc(_role(sig)),
        f"<bdi>{esc(sig.signer)}</bdi>" if sig.signer else NONE,
        _time(sig.signing_time),
        _time(sig.timestamp),
        esc(sig.level) if sig.level else NONE,
        _yes_no(sig.intact),
        _yes_no(sig.valid),
        _yes_no(sig.trusted),
        _revoked(sig.revoked),
        _coverage(sig.coverage),
        _modifications(sig.modifications),
    ]
    row = "".join(f'<td class="{cls}">{cell}</td>'
                  for (cls, _h), cell in zip(COLUMNS, cells, strict=True))
    out = f'<tr class="main">{row}</tr>'
    if sig.problems:
        items = "".join(f'<li><span class="sym">{BAD}</span> {esc(p)}</li>'
                        for p in sig.problems)
        out += (f'<tr class="problems"><td class="num"></td>'
                f'<td colspan="{len(COLUMNS) - 1}"><ul class="plain">{items}</ul></td></tr>')
    return f'<tbody class="{classes}">{out}</tbody>'


def _signature_table(v: FileVerdict) -> str:
    cols = "".join(f'<col class="c-{cls}">' for cls, _h in COLUMNS)
    head = "".join(f'<th scope="col" class="{cls}">{esc(h)}</th>'
                   for (cls, _h), h in zip(COLUMNS, _headers(), strict=True))
    rows = "".join(_signature_rows(i, s) for i, s in enumerate(v.signatures, 1))
    return (f'<table class="sigs"><colgroup>{cols}</colgroup>'
            f"<thead><tr>{head}</tr></thead>{rows}</table>")


def _file_section(i: int, v: FileVerdict, show_time: bool) -> str:
    kind, symbol, words = _verdict(v)
    name = _base_name(v.file)
    keep = " keep" if v.signatures else ""
    parts = [f'<section class="file" id="file-{i}"><div class="file-head{keep}">',
             f'<h2><span class="idx">{i}.</span> <bdi class="wrap">{esc(name)}</bdi></h2>',
             f'<p class="badge {kind}"><span class="sym">{symbol}</span> {esc(words)}</p>']
    facts = []
    if name != v.file:
        facts.append((_("Path"), f'<span class="code">{esc(v.file)}</span>'))
    if show_time:
        facts.append((_("Verdicts as of"), esc(v.validation_time or NONE)))
    if v.readable:
        facts.append((_("Signatures"), esc(_counts(v))))
        if v.complete is None:
            completeness = esc(_("not checked (no roster)"))
        elif v.complete:
            completeness = _mark(GOOD, _("complete: every expected signature is present"),
                                 "good")
        else:
            present = v.signed_not_ok  # there, but not ok at the validation time
            absent = [m for m in v.missing if m not in present]

            def listed(entries: list[dict[str, str]]) -> str:
                items = "".join(f"<li><bdi>{esc(m.get('member', '?'))}</bdi> – "
                                f"{esc(_role_label(m.get('role', '?')))}</li>"
                                for m in entries)
                return f'<ul class="missing">{items}</ul>' if items else ""

            completeness = ""
            if absent:
                completeness += _mark(BAD, _("incomplete: {n} signature(s) missing").format(
                    n=len(absent)), "bad") + listed(absent)
            if present:
                completeness += _mark(BAD, _(
                    "{n} signature(s) present but not valid or not trusted at the validation "
                    "time").format(n=len(present)), "bad") + listed(present)
        facts.append((_("Completeness"), completeness))
        if v.identities_by_name:
            facts.append((_("Signers"), esc(identity_note())))
    unknown = revocation_note(v)
    if unknown:
        facts.append((_("Revoked"), esc(unknown)))
    if facts:
        parts.append('<table class="facts">' + "".join(
            f'<tr><th scope="row">{esc(k)}</th><td class="wrap">{val}</td></tr>'
            for k, val in facts) + "</table>")
    if v.problems:
        title = _("The file could not be read") if not v.readable else _("Problems")
        items = "".join(f'<li><span class="sym">{BAD}</span> {esc(p)}</li>'
                        for p in v.problems)
        parts.append(f'<div class="problems-box"><p class="label">{esc(title)}:</p>'
                     f'<ul class="plain">{items}</ul></div>')
    parts.append("</div>")
    if v.signatures:
        parts.append(_signature_table(v))
    elif v.readable:
        parts.append(f'<p class="empty">{esc(_("No signature found in this file."))}</p>')
    parts.append("</section>")
    return "".join(parts)


def _notes() -> str:
    items = [
        (_("Intact"), _("the signed bytes are unchanged.")),
        (_("Valid"), _("the cryptographic signature verifies.")),
        (_("Trusted"), _("the certificate chains to one of the trust roots above.")),
        (_("Revoked"), _("whether the certificate had been revoked "
                         "(unknown: no revocation information).")),
        (_("Coverage"), _("what the signature covers: the entire file, or the file as it "
                          "was when signed (later signatures are added after it).")),
        (_("Changes after signing"),
         _("the most significant change made to the file after this signature.")),
        (_("Level"), _("PAdES baseline level reached (B-B, B-T, B-LT, B-LTA).")),
        (_("document timestamp"), _("an RFC 3161 timestamp over the whole file that "
                                    "preserves the signatures for long-term validation.")),
    ]
    symbols = _("{good} good  ·  {bad} failed  ·  {unknown} unknown  ·  {caution} to be "
                "checked").format(good=GOOD, bad=BAD, unknown=UNKNOWN, caution=CAUTION)
    body = "".join(f"<li><strong>{esc(k)}</strong>: {esc(text)}</li>" for k, text in items)
    times = _("Times are Vietnam time (UTC+07:00) unless another offset is shown.")
    return (f'<section class="notes"><h3>{esc(_("Notes"))}</h3>'
            f"<p>{esc(symbols)}. {esc(times)}</p><ul>{body}</ul></section>")


def _sign_off() -> str:
    note = _("Generated by signflow {version} from the signed PDF files.").format(
        version=__version__)
    return ('<div class="sign-off"><div class="tool-note">'
            f'<p>{esc(note)}</p></div><div class="signer-box">'
            f'<p class="who">{esc(_("Verified by"))}</p>'
            f'<p class="how">({esc(_("Signature and full name"))})</p></div></div>')


# --- the document --------------------------------------------------------------------------

CSS = """
@page {
  size: A4;
  margin: 16mm 14mm 18mm 16mm;
  @bottom-left { content: %(footer)s; font: 8pt "Liberation Sans", Arial, sans-serif;
                 color: #444; }
  @bottom-right { content: %(page)s counter(page) " / " counter(pages);
                  font: 8pt "Liberation Sans", Arial, sans-serif; color: #444; }
}
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body {
  margin: 0; background: #d9d9d6; color: #111;
  font: 11.5pt/1.4 "Times New Roman", "Liberation Serif", Tinos, "DejaVu Serif", serif;
}
.sheet {
  max-width: 210mm; margin: 8mm auto; padding: 14mm 14mm 16mm 16mm; background: #fff;
  box-shadow: 0 1px 6px rgba(0, 0, 0, .25);
}
.sym { font-family: "DejaVu Sans", "Segoe UI Symbol", "Liberation Sans", sans-serif;
       font-weight: bold; }
.wrap, .code, bdi { overflow-wrap: anywhere; word-break: break-word; }
.code { font-family: "Liberation Mono", "DejaVu Sans Mono", Consolas, monospace;
        font-size: .92em; }
header.top { text-align: center; margin-bottom: 5mm; }
h1 { font-size: 15pt; margin: 0; text-transform: uppercase; letter-spacing: .02em; }
header.top .subtitle { margin: 1mm 0 0; font-weight: bold; font-size: 12pt; }
header.top .rule { width: 40mm; margin: 2.5mm auto 0; border-top: 1px solid #111; }
h2 { font-size: 12.5pt; margin: 0 0 1.5mm; }
h2 .idx { margin-right: .3em; }
h3 { font-size: 11pt; margin: 0 0 1mm; text-transform: uppercase; }
table { border-collapse: collapse; }
table.facts { width: 100%%; margin: 1mm 0 2mm; }
table.facts th { text-align: left; font-weight: normal; color: #333; width: 42mm;
                 padding: .6mm 3mm .6mm 0; vertical-align: top; }
table.facts td { padding: .6mm 0; vertical-align: top; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.missing { margin: .5mm 0 0; padding-left: 6mm; columns: 2; column-gap: 8mm; }
.conclusion { margin: 3mm 0; padding: 2mm 3mm; border: 1.5pt solid #111; }
.conclusion.good { border-color: #1d6b32; background: #eef7f0; }
.conclusion.bad { border-color: #a11b1b; background: #fbeeee; }
.conclusion.unknown { border-color: #7a5b00; background: #fbf6e6; }
table.summary { width: 100%%; margin: 0 0 4mm; font-size: 10pt; }
table.summary th, table.summary td { border: .6pt solid #777; padding: 1mm 1.5mm;
                                     text-align: left; vertical-align: top; }
table.summary th { background: #eee; }
table.summary a { color: inherit; text-decoration: none; }
section.file { margin-top: 6mm; padding-top: 3mm; border-top: 1.5pt solid #111; }
.file-head { break-inside: avoid; }
.file-head.keep { break-after: avoid; }
.badge { display: inline-block; margin: 0 0 1.5mm; padding: .8mm 3mm; font-weight: bold;
         text-transform: uppercase; border: 1.5pt solid #111; border-radius: 1.5mm; }
.badge.good { color: #1d6b32; border-color: #1d6b32; background: #eef7f0; }
.badge.bad { color: #a11b1b; border-color: #a11b1b; background: #fbeeee;
             border-style: double; border-width: 3pt; }
.badge.unknown, .badge.caution { color: #6b4f00; border-color: #6b4f00; background: #fbf6e6;
                                 border-style: dashed; }
.mark.good { color: #1d6b32; }
.mark.bad { color: #a11b1b; font-weight: bold; }
.mark.unknown, .mark.caution { color: #6b4f00; font-style: italic; }
.problems-box { margin: 1mm 0 2.5mm; padding: 1.5mm 3mm; border-left: 3pt solid #a11b1b;
                background: #fbeeee; }
.problems-box .label { margin: 0 0 .5mm; font-weight: bold; }
.problems-box li .sym, tr.problems li .sym { color: #a11b1b; }
.empty { font-style: italic; }
table.sigs { width: 100%%; table-layout: fixed; font-size: 8pt; line-height: 1.22;
             margin-top: 1mm; }
table.sigs thead { display: table-header-group; }
table.sigs th { background: #e9e9e6; font-weight: bold; font-size: 7pt; text-align: left;
                vertical-align: bottom; overflow-wrap: normal; word-break: normal;
                line-height: 1.15; }
table.sigs th, table.sigs td { border: .5pt solid #666; padding: .7mm .8mm; }
table.sigs td { vertical-align: top; overflow-wrap: anywhere; }
table.sigs tbody { break-inside: avoid; page-break-inside: avoid; }
table.sigs tr { break-inside: avoid; page-break-inside: avoid; }
table.sigs td.num, table.sigs th.num { text-align: center; white-space: nowrap; }
table.sigs td.num .mark { margin-left: .2em; }
table.sigs td.field .code { font-size: 7pt; }
table.sigs td.time { font-size: 7.5pt; overflow-wrap: normal; }
.nw { white-space: nowrap; }
table.sigs td.level { white-space: nowrap; overflow-wrap: normal; }
table.sigs td.flag, table.sigs td.rev, table.sigs td.cov, table.sigs td.mods {
  overflow-wrap: normal; }
table.sigs tbody.bad td { background: #fbeeee; }
table.sigs tbody.bad td.num { border-left: 2.5pt solid #a11b1b; }
table.sigs tbody.stamp td { background: #f0f0f3; font-style: italic; }
table.sigs tbody.stamp .mark { font-style: normal; }
table.sigs tr.main + tr.problems td { border-top: 0; }
table.sigs tr.problems td { padding-top: 0; font-size: 8.5pt; }
table.sigs tr.problems li { font-style: normal; }
col.c-num { width: 5%%; }
col.c-field { width: 10%%; }
col.c-member { width: 8%%; }
col.c-role { width: 7%%; }
col.c-signer { width: 10%%; }
col.c-time { width: 8%%; }
col.c-level { width: 5.5%%; }
col.c-flag { width: 5.5%%; }
col.c-rev { width: 7%%; }
col.c-cov { width: 7.5%%; }
col.c-mods { width: 7.5%%; }
.closing { break-inside: avoid; margin-top: 6mm; }
.notes { font-size: 9pt; color: #222; }
.notes p { margin: 0 0 1mm; }
.notes ul { margin: 0; padding-left: 5mm; }
.sign-off { display: flex; justify-content: space-between; align-items: flex-start;
            margin-top: 5mm; }
.tool-note { font-size: 8.5pt; color: #444; max-width: 55%%; font-style: italic; }
.tool-note p { margin: 0; }
.signer-box { width: 65mm; text-align: center; min-height: 30mm; }
.signer-box .who { margin: 0; font-weight: bold; text-transform: uppercase; }
.signer-box .how { margin: 0; font-style: italic; font-size: 10pt; }
@media print {
  body { background: #fff; font-size: 11pt; }
  .sheet { max-width: none; margin: 0; padding: 0; box-shadow: none; }
  a { color: inherit; text-decoration: none; }
}
@media screen and (min-width: 1000px) {
  .sheet { max-width: 250mm; padding: 14mm 18mm 16mm; }
  table.sigs { font-size: 8.5pt; }
}
@media screen and (max-width: 800px) {
  .sheet { margin: 0; padding: 4mm; }
}
"""


def render_html(
    verdicts: list[FileVerdict],
    *,
    title: str | None = None,
    roster_name: str | None = None,
    trust_roots: Sequence[str] = (),
    generated_at: dt.datetime | None = None,
) -> str:
    """The verification report as one self-contained HTML5 document.

    ``title`` (e.g. the document verified) is shown under the heading and in the page title;
    ``generated_at`` defaults to now and is shown in Vietnam time (a naive value is taken as
    the machine's local time).
    """
    lang = "vi" if get_language() == "vi" else "en"
    if generated_at is None:
        generated_at = dt.datetime.now(VN_TZ)
    elif generated_at.tzinfo is None:
        generated_at = generated_at.astimezone()
    heading = _("Signature verification report")
    page_title = f"{heading} – {title}" if title else heading
    show_time = len({v.validation_time for v in verdicts}) > 1
    css = CSS % {
        "footer": _css_string(f"{heading} – {iso_vn(generated_at)}"),
        "page": _css_string(_("Page") + " "),
    }
    subtitle = f'<p class="subtitle wrap">{esc(title)}</p>' if title else ""
    files = "".join(_file_section(i, v, show_time) for i, v in enumerate(verdicts, 1))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="signflow {esc(__version__)}">\n'
        f"<title>{esc(page_title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        '<main class="sheet">\n'
        '<header class="top">'
        f"<h1>{esc(heading)}</h1>{subtitle}"
        '<div class="rule"></div></header>\n'
        f"{_context(verdicts, roster_name, trust_roots, generated_at)}\n"
        f"{_conclusion(verdicts)}\n{files}\n"
        f'<div class="closing">{_notes()}\n{_sign_off()}</div>\n'
        "</main>\n</body>\n</html>\n"
    )
