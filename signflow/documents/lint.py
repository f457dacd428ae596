"""`signflow templates check`: find template problems before a secretariat meets them.

Checks, per template: it is a usable .docx; its Jinja syntax is valid (no unknown tags);
every top-level name it uses exists in the data model (all branches, statically); a trial
render with real data succeeds (catches deeper missing keys with the text around them);
nothing is left unrendered; every signature block required for its kind has its anchors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from signflow.documents.context import (
    KINDS,
    document_context,
    registration_departments,
    required_signatures,
)
from signflow.documents.render import docx_text, jinja_environment, open_template, render_bytes
from signflow.errors import SignflowError, TemplateError
from signflow.i18n import _
from signflow.pdf.anchors import anchor
from signflow.roster import Department, Head, Roster, StaffMember

_JINJA_BUILTINS = {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop"}


@dataclass(frozen=True)
class TemplateProblem:
    template: str
    message: str

    def __str__(self) -> str:
        return f"{self.template}: {self.message}"


def _jinja_source(path: Path) -> str:
    """The Jinja source docxtpl would render: body, headers and footers, tags re-joined."""
    tpl = open_template(path)
    parts = [tpl.patch_xml(tpl.get_xml())]
    for uri in (tpl.HEADER_URI, tpl.FOOTER_URI):
        for _rel, part in tpl.get_headers_footers(uri):
            parts.append(tpl.patch_xml(tpl.get_part_xml(part)))
    return "\n".join(parts)


def check_template(
    path: Path, kind: str | None, roster: Roster, data: dict[str, Any]
) -> list[TemplateProblem]:
    name = path.name
    problems: list[TemplateProblem] = []
    try:
        source = _jinja_source(path)
    except TemplateError as exc:
        return [TemplateProblem(name, exc.message)]
    env = jinja_environment()
    try:
        ast = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [TemplateProblem(name, _("template syntax error: {reason}").format(
            reason=exc.message))]
    sample_member = None if kind is None or KINDS[kind].scope == "cluster" else roster.members[0].id
    sample_department = None
    if kind is not None and KINDS[kind].scope == "department":
        roster, sample_member, sample_department = _department_sample(roster)
    context = document_context(
        roster, data, kind or "giao-uoc-thi-dua", sample_member, dt.date(roster.cluster.year, 1, 1),
        sample_department)
    for unknown in sorted(meta.find_undeclared_variables(ast) - set(context) - _JINJA_BUILTINS):
        problems.append(TemplateProblem(
            name, _("uses '{name}', which is not in the data model").format(name=unknown)))
    if kind is None:
        return problems
    try:
        rendered = render_bytes(path, context)
    except SignflowError as exc:
        # render_bytes prefixes the template name already
        problems.append(TemplateProblem(name, exc.message.removeprefix(f"{name}: ")))
        return problems
    text = docx_text(rendered)
    for member_id, role in required_signatures(kind, roster, sample_member):
        if anchor(member_id, role) not in text:
            problems.append(TemplateProblem(
                name, _("the signature anchor {anchor} is missing").format(
                    anchor=anchor(member_id, role))))
    return problems


def _department_sample(roster: Roster) -> tuple[Roster, str, str]:
    """A member's department with staff to try a department's template on: the roster's
    first, or an example one added to the first member when the roster lists none."""
    for member in roster.members:
        for department in member.departments:
            if member.department_staff(department.id):
                return roster, member.id, department.id
    first = roster.members[0]
    sample = Department("van-phong", "Văn phòng", Head("Nguyễn Văn A", "Chánh Văn phòng"),
                        ("Tập thể lao động tiên tiến",))
    staff = (StaffMember("Trần Thị B", "Chuyên viên", sample.id, ("Lao động tiên tiến",)),)
    member = replace(first, departments=(*first.departments, sample), staff=staff)
    members = (member, *roster.members[1:])
    return replace(roster, members=members, _by_id={}), member.id, sample.id


def check_templates(
    templates_dir: Path, roster: Roster, data: dict[str, Any]
) -> list[TemplateProblem]:
    if not templates_dir.is_dir():
        raise SignflowError(_("templates folder not found: {path}").format(path=templates_dir))
    problems: list[TemplateProblem] = []
    per_department = any(registration_departments(data, m) for m in roster.members)
    for kind in KINDS:
        if KINDS[kind].scope == "department" and not per_department:
            continue  # a workspace made before departments had forms needs none until used
        if not (templates_dir / f"{kind}.docx").is_file():
            problems.append(TemplateProblem(
                f"{kind}.docx", _("missing (every kind of document needs its template)")))
    for path in sorted(templates_dir.glob("*.docx")):
        if path.name.startswith(("~$", ".~lock")):
            continue  # Word and LibreOffice lock files
        known = path.stem if path.stem in KINDS else None
        problems.extend(check_template(path, known, roster, data))
    return problems
