"""Fill one Word template with data (docxtpl), safely.

Two docxtpl defaults are wrong for official documents (see DESIGN.md): missing variables
silently render as blanks, and values with ``&`` or ``<`` are not escaped, which makes the
XML re-parser drop whole tables. Here every template renders under StrictUndefined with
autoescape, the result is scanned for leftover tags, and the file is written atomically.

Templates travel between organisations, so they are untrusted code: they render in Jinja's
immutable sandbox (no attribute starting with ``_``, no calls into Python internals, no
mutation of the data), with none of Jinja's helper globals that such escapes start from.
A template that tries is refused with the tag named.
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
import jinja2.sandbox
from docxtpl import DocxTemplate

from signflow._internal.files import atomic_write_bytes
from signflow.errors import TemplateError
from signflow.i18n import _

_TAG = re.compile(r"<[^>]+>")
_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
# Jinja's default globals: `cycler`, `joiner` and `namespace` are classes (the usual start of
# a sandbox escape), `lipsum` generates text, `dict` builds objects; our templates need
# only `range`.
SAFE_GLOBALS = frozenset({"range"})


MAX_REPEAT = 100_000  # longest string or list a template may build with * (a memory bomb)
MAX_POWER = 10**12


class TemplateSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, also refusing arithmetic that exhausts memory or time
    (``'x' * 10**9``, ``9 ** 9 ** 9``), which the stock sandbox lets through."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and isinstance(left, int) and abs(left) > 1 and \
                    right > 64:
                raise jinja2.exceptions.SecurityError("exponent too large")
            result = left**right
        else:
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int) and \
                        len(seq) * count > MAX_REPEAT:
                    raise jinja2.exceptions.SecurityError("repetition too long")
            result = left * right
        if isinstance(result, int) and abs(result) > MAX_POWER * MAX_POWER:
            raise jinja2.exceptions.SecurityError("number too large")
        return result


@cache
def jinja_environment() -> jinja2.Environment:
    # One environment for every render: docxtpl compiles each template part anew anyway,
    # but the environment's own set-up (filters, lexer) is shared.
    env = TemplateSandbox(undefined=jinja2.StrictUndefined, autoescape=True)
    for name in list(env.globals):
        if name not in SAFE_GLOBALS:
            del env.globals[name]
    return env


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


def _failing_tag(tpl: DocxTemplate, exc: BaseException) -> str:
    """The Jinja tag (``{{ ... }}`` or ``{% ... %}``) that the sandbox refused: the one
    naming the refused attribute, else the one on the line where rendering failed."""
    try:
        source = tpl.patch_xml(tpl.get_xml())
    except Exception:  # best effort: the message names the refusal without the tag
        return ""
    tags = [" ".join(_TAG.sub("", t).split()) for t in _JINJA_TAG.findall(source)]
    attribute = re.search(r"attribute '([^']+)'", str(exc))
    wanted = [t for t in tags if attribute and attribute.group(1) in t]
    if not wanted:
        lines = source.splitlines()
        lineno = _template_lineno(exc)
        if lineno is not None and 0 < lineno <= len(lines):
            wanted = [" ".join(_TAG.sub("", t).split())
                      for t in _JINJA_TAG.findall(lines[lineno - 1])]
    if not wanted:
        wanted = [t for t in tags if "*" in t or "." in t]
    return wanted[0][:120] if wanted else ""


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
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(
            _("{template}: unsafe template code refused: {tag} ({reason})").format(
                template=template.name, tag=_failing_tag(tpl, exc) or "?",
                reason=_short(exc))) from None
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
