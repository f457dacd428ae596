"""Fill one Word template with data (docxtpl), safely.

Two docxtpl defaults are wrong for official documents (see DESIGN.md): missing variables
silently render as blanks, and values with ``&`` or ``<`` are not escaped, which makes the
XML re-parser drop whole tables. Here every template renders under StrictUndefined with
autoescape, the result is scanned for leftover tags, and the file is written atomically.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from docxtpl import DocxTemplate

from ._files import atomic_write_bytes
from .errors import TemplateError
from .i18n import _

_TAG = re.compile(r"<[^>]+>")
_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


@cache
def jinja_environment() -> jinja2.Environment:
    # One environment for every render: docxtpl compiles each template part anew anyway,
    # but the environment's own set-up (filters, lexer) is shared.
    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)


def open_template(path: Path) -> DocxTemplate:
    """Open a .docx template, turning every way of being broken into one clear error."""
    if not path.is_file():
        raise TemplateError(_("template not found: {path}").format(path=path))
    if not zipfile.is_zipfile(path):
        raise TemplateError(_("{path} is not a Word document (.docx)").format(path=path))
    tpl = DocxTemplate(str(path))
    try:
        tpl.init_docx()
    except Exception as exc:  # python-docx raises several unrelated types here
        raise TemplateError(_("{path} is not a usable Word document (.docx): {reason}").format(
            path=path, reason=_short(exc))) from None
    return tpl


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _template_lineno(exc: BaseException) -> int | None:
    """The line of the rendered XML source where Jinja raised, from the traceback."""
    lineno = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _text_of(xml: str) -> str:
    return " ".join(_TAG.sub("", xml).split())


def _context_text(tpl: DocxTemplate, exc: BaseException, name: str | None) -> str:
    """Plain text of the paragraph holding the failing tag, for the error message."""
    try:
        source = tpl.patch_xml(tpl.get_xml())
    except Exception:  # best effort: the message is still useful without the text
        return ""
    lines = re.sub(r"<w:p([ >])", r"\n<w:p\1", source).splitlines()
    lineno = _template_lineno(exc)
    candidates: list[str] = []
    if lineno is not None and 0 < lineno <= len(lines):
        candidates.append(lines[lineno - 1])
    if name:
        word = re.compile(r"\b" + re.escape(name) + r"\b")
        candidates += [line for line in lines if word.search(_text_of(line))]
    for line in candidates:
        text = _text_of(line)
        if text:
            return text[:160]
    return ""


def _undefined_name(exc: jinja2.UndefinedError) -> str | None:
    match = _UNDEFINED_NAME.search(str(exc))
    if not match:
        return None
    return match.group(1) or match.group(2)


def render_bytes(template: Path, context: dict[str, Any]) -> bytes:
    """Render a template and return the .docx bytes; raise TemplateError on any problem."""
    tpl = open_template(template)
    try:
        tpl.render(context, jinja_env=jinja_environment())
    except jinja2.UndefinedError as exc:
        name = _undefined_name(exc)
        around = _context_text(tpl, exc, name)
        raise TemplateError(
            _("{template}: the variable '{name}' is not defined (near: \"{text}\")").format(
                template=template.name, name=name or str(exc), text=around)
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        around = " ".join(getattr(exc, "docx_context", []) or [])
        raise TemplateError(
            _("{template}: template syntax error: {reason} (near: \"{text}\")").format(
                template=template.name, reason=exc.message, text=" ".join(around.split())[:160])
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(_("{template}: cannot render: {reason}").format(
            template=template.name, reason=_short(exc))) from None
    except Exception as exc:  # broken XML inside the package, bad tables, ...
        raise TemplateError(_("{template}: cannot render: {reason}").format(
            template=template.name, reason=_short(exc))) from None
    buffer = io.BytesIO()
    tpl.save(buffer)
    data = buffer.getvalue()
    leftovers = list(leftover_tags(data))
    if leftovers:
        raise TemplateError(_("{template}: tags left unrendered: {text}").format(
            template=template.name, text="; ".join(leftovers[:3])))
    return data


def docx_xml_parts(data: bytes) -> Iterator[tuple[str, str]]:
    """(name, xml) of every Word XML part that holds text: body, headers, footers, notes."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("word/") and name.endswith(".xml"):
                yield name, z.read(name).decode("utf-8", "replace")


def docx_text(data: bytes) -> str:
    """All text of a .docx, paragraphs on lines of their own (runs joined)."""
    parts = []
    for name, xml in docx_xml_parts(data):
        if name.startswith(("word/document", "word/header", "word/footer")):
            xml = re.sub(r"</w:p>", "\n", xml)
            parts.append(_TAG.sub("", xml))
    return "\n".join(parts)


def leftover_tags(data: bytes) -> Iterator[str]:
    """Text around any Jinja delimiter left in the rendered document."""
    for line in docx_text(data).splitlines():
        match = _LEFTOVER.search(line)
        if match:
            start = max(match.start() - 30, 0)
            yield line[start : match.end() + 30].strip()


def render_file(template: Path, context: dict[str, Any], out: Path) -> str:
    """Render to ``out`` atomically; return the SHA-256 of the written file."""
    return atomic_write_bytes(out, render_bytes(template, context))
