"""The data model templates see (documented in docs/templates.md), and the kinds of document.

Plain dictionaries go to the templates: Jinja reads them naturally and every key listed in
the documentation exists in every context (optional values are None), which keeps
templates simple under StrictUndefined.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from signflow import vn
from signflow.documents.data import deep_merge
from signflow.errors import InputError
from signflow.i18n import _
from signflow.pdf.anchors import DATE_BLANK, NUMBER_BLANK, anchor, issue_anchor
from signflow.roster import (
    ROLES,
    Department,
    Head,
    Member,
    Role,
    Roster,
    StaffMember,
    department_signer,
)


@dataclass(frozen=True)
class DocumentKind:
    name: str
    # who issues one document of this kind: the cluster, a member, or a member for one of
    # its departments (one document per department)
    scope: Literal["cluster", "member", "department"]
    label: str  # Vietnamese name, as on the document
    default_code: str  # document type abbreviation in the symbol (Decree 30, Appendix III)
    # the kind whose data section this one's content starts from (its own section and the
    # member's overrides are merged over it)
    base: str | None = None


REGISTRATION = "dang-ky-thi-dua"
REGISTRATION_PER_DEPARTMENT = "dang-ky-thi-dua-phong"
INTERNAL_PLEDGE = "giao-uoc-noi-bo"

KINDS: dict[str, DocumentKind] = {
    k.name: k
    for k in (
        DocumentKind("giao-uoc-thi-dua", "cluster", "Giao ước thi đua của Cụm", "GƯTĐ"),
        DocumentKind("ke-hoach-phat-dong", "member", "Kế hoạch phát động thi đua", "KH"),
        DocumentKind(REGISTRATION, "member", "Bản đăng ký thi đua", "ĐK"),
        DocumentKind(INTERNAL_PLEDGE, "member", "Giao ước thi đua nội bộ", "GƯ"),
        DocumentKind(REGISTRATION_PER_DEPARTMENT, "department",
                     "Bản đăng ký thi đua của phòng, đơn vị", "ĐK", base=REGISTRATION),
    )
}
CLUSTER_KINDS = tuple(k for k, v in KINDS.items() if v.scope == "cluster")
MEMBER_KINDS = tuple(k for k, v in KINDS.items() if v.scope == "member")
DEPARTMENT_KINDS = tuple(k for k, v in KINDS.items() if v.scope == "department")


def required_signatures(
    kind: str, roster: Roster, member_id: str | None
) -> list[tuple[str, Role]]:
    """(member id, role) of every signature a document of this kind needs, in order."""
    if KINDS[kind].scope == "cluster":
        return [(m.id, role) for m in roster.members for role in ROLES]
    assert member_id is not None
    # the internal pledge: each department's head first (any order), then the member's
    # head confirms and the seal follows; a department's form too is signed by its
    # member's head, then sealed
    first: list[tuple[str, Role]] = []
    if kind == INTERNAL_PLEDGE:
        first = [(department_signer(member_id, d.id), "head")
                 for d in roster.member(member_id).departments]
    return first + [(member_id, role) for role in ROLES]


def member_context(member: Member, roster: Roster) -> dict[str, Any]:
    cluster = roster.cluster
    role = None
    if member.id == cluster.leader:
        role = "Trưởng cụm"
    elif member.id == cluster.deputy:
        role = "Phó Trưởng cụm"
    return {
        "id": member.id,
        "province": member.province,
        "unit": member.unit,
        "unit_upper": vn.upper(member.unit),
        "parent": member.parent,
        "parent_upper": vn.upper(member.parent),
        "place": member.place,
        "symbol": member.symbol,
        "locality": member.locality,
        "locality_name": member.locality_name,
        "head": {
            "name": member.head.name,
            "title": member.head.title,
            "title_upper": vn.upper(member.head.title),
            "honorific": member.head.honorific,
            "introduced": member.head.introduced,
        },
        "cluster_role": role,
        "anchors": {r: anchor(member.id, r) for r in ROLES},
        "departments": [department_context(d, member) for d in member.departments],
        "staff": [staff_context(s, member) for s in member.staff],
    }


def _head_context(head: Head) -> dict[str, Any]:
    return {
        "name": head.name,
        "title": head.title,
        "title_upper": vn.upper(head.title),
        "honorific": head.honorific,
        "introduced": head.introduced,
    }


def department_context(department: Department, member: Member) -> dict[str, Any]:
    return {
        "id": department.id,
        "name": department.name,
        "name_upper": vn.upper(department.name),
        "head": _head_context(department.head),
        "registers": list(department.registers),
        "staff": [staff_context(s, member) for s in member.department_staff(department.id)],
        # where its head signs (the internal pledge)
        "anchor": anchor(department_signer(member.id, department.id), "head"),
    }


def staff_context(person: StaffMember, member: Member) -> dict[str, Any]:
    return {
        "name": person.name,
        "title": person.title,
        "department": person.department,
        "department_name": member.department(person.department).name,
        "registers": list(person.registers),
        "registers_text": "; ".join(person.registers),
    }


def per_department(data: dict[str, Any], member: Member) -> bool:
    """Whether the member's registration comes as one form per department (with its own
    form as the summary): asked for by ``per_department = true`` in the registration's
    data (or the member's override), and possible only when the roster lists its staff."""
    value = kind_content(data, REGISTRATION, member.id).get("per_department", False)
    if not isinstance(value, bool):
        raise InputError(_("data: [{kind}].per_department must be true or false").format(
            kind=REGISTRATION))
    return value and bool(member.staff)


def registration_departments(data: dict[str, Any], member: Member) -> list[Department]:
    """The departments that get a registration form of their own: those with staff, when
    the member registers per department."""
    if not per_department(data, member):
        return []
    return [d for d in member.departments if member.department_staff(d.id)]


def registration_context(data: dict[str, Any], member: Member, content: dict[str, Any],
                         department: Department | None) -> dict[str, Any]:
    """What a registration form lists: the collective titles, the individuals, and the
    summary (how many registered for each title), from the roster's staff when it lists
    them, else from the data (``collective``, ``individuals``)."""
    people = member.department_staff(department.id) if department else member.staff
    units = [department] if department else list(member.departments)
    summary: dict[str, dict[str, Any]] = {}
    for unit in units:
        for title in unit.registers:
            summary.setdefault(title, {"title": title, "collectives": 0, "individuals": 0})
            summary[title]["collectives"] += 1
    for person in people:
        for title in person.registers:
            summary.setdefault(title, {"title": title, "collectives": 0, "individuals": 0})
            summary[title]["individuals"] += 1
    if department is not None:
        collective: Any = [{"title": t, "authority": ""} for t in department.registers]
        listed: list[Any] = []
    else:
        collective = content.get("collective", [])
        # the data's own list (the leaders, people outside the departments) comes first
        listed = content.get("individuals", [])
        if not isinstance(listed, list):
            raise InputError(_("data: [{kind}].individuals must be a list of tables").format(
                kind=REGISTRATION))
        for entry in listed:
            titles = entry.get("title") if isinstance(entry, dict) else None
            for item in (titles.split(";") if isinstance(titles, str) else []):
                if item.strip():
                    key = " ".join(item.split())
                    summary.setdefault(key, {"title": key, "collectives": 0, "individuals": 0})
                    summary[key]["individuals"] += 1
    forms = registration_departments(data, member) if department is None else []
    staff_rows = [] if forms else [{
        "name": p.name, "position": p.title, "title": "; ".join(p.registers),
        "commendation": "", "note": "" if department else member.department(
            p.department).name, "department": member.department(p.department).name,
    } for p in people]
    individuals = [*listed, *staff_rows]
    return {
        "per_department": bool(forms),
        "collective": collective,
        "individuals": individuals,
        # a member without a second level keeps the form it always had
        "summary": list(summary.values()) if member.departments or member.staff else [],
        "registered": sum(1 for p in people if p.registers),
        "staff_count": len(people),
        "department_forms": [d.name for d in forms],
    }


def _data_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime | dt.time):
        raise InputError(_("data: {key}: a date without a time belongs here (YYYY-MM-DD): "
                           "{value}").format(key=where, value=value.isoformat()))
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(_("data: {key}: not a valid date (write it as YYYY-MM-DD): {value!r}").format(
        key=where, value=value))


def _data_number(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(_("data: {key}: a document number must be a whole number from 1").format(
            key=where))
    return value


def kind_content(data: dict[str, Any], kind: str, member_id: str | None) -> dict[str, Any]:
    """The kind's section of the data, with the member's overrides merged over it (a kind
    with a base starts from its base's section and overrides)."""
    base = KINDS[kind].base if kind in KINDS else None
    section = kind_content(data, base, member_id) if base else {}
    own = data.get(kind, {})
    if not isinstance(own, dict):
        raise InputError(_("data: [{kind}] must be a table").format(kind=kind))
    if base:
        # a department's form is numbered when issued; the base's number is the member's
        section = {k: v for k, v in section.items() if k not in ("number", "per_department")}
    section = deep_merge(section, own)
    if member_id is not None:
        overrides = data.get("members", {})
        if not isinstance(overrides, dict):
            raise InputError(_("data: [members] must be a table"))
        member_over = overrides.get(member_id, {})
        if not isinstance(member_over, dict):
            raise InputError(_("data: [members.{id}] must be a table").format(id=member_id))
        kind_over = member_over.get(kind, {})
        if not isinstance(kind_over, dict):
            raise InputError(_("data: [members.{id}.{kind}] must be a table").format(
                id=member_id, kind=kind))
        section = deep_merge(section, kind_over)
    return section


def data_warnings(data: dict[str, Any]) -> list[str]:
    """What in the data still works but should change (each said once per run)."""
    found = isinstance(data.get(INTERNAL_PLEDGE), dict) and \
        "departments" in data[INTERNAL_PLEDGE]
    overrides = data.get("members")
    if isinstance(overrides, dict):
        for sections in overrides.values():
            if isinstance(sections, dict) and isinstance(sections.get(INTERNAL_PLEDGE), dict) \
                    and "departments" in sections[INTERNAL_PLEDGE]:
                found = True
    if not found:
        return []
    return [_("data: [\"{kind}\"].departments is the old form: list each member's departments "
              "in the roster ([[members.departments]]); read from the data for members whose "
              "roster lists none").format(kind=INTERNAL_PLEDGE)]


def _legacy_departments(value: Any, where: str) -> list[dict[str, Any]]:
    """``[["giao-uoc-noi-bo".departments]]`` of the data (name, head, honorific?) in the
    shape of the roster's departments."""
    if not isinstance(value, list):
        raise InputError(_("data: {key}: must be a list of tables").format(key=where))
    departments = []
    for i, entry in enumerate(value, start=1):
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) and entry[k].strip() for k in ("name", "head")):
            raise InputError(_("data: {key}[{n}]: needs a name and a head (text)").format(
                key=where, n=i))
        honorific = entry.get("honorific")
        honorific = honorific.strip() if isinstance(honorific, str) and honorific.strip() \
            else None
        head = Head(name=entry["head"].strip(), title="", honorific=honorific)
        departments.append({
            "id": None, "name": entry["name"].strip(), "name_upper": vn.upper(entry["name"]),
            "head": {**_head_context(head), "title": None, "title_upper": None},
            "registers": [], "staff": [],
            "anchor": "",  # not in the roster: signs by hand on paper, no field
        })
    return departments


# Top-level names of a data file besides the kinds: a section a template may read as
# `data.shared`, the per-member overrides, and the signature grid's width.
DATA_NAMES = ("shared", "members", "signature_columns")


def check_data(data: dict[str, Any], roster: Roster) -> None:
    """Every name in the data means something: a misspelt section or member id would
    otherwise be ignored, and a document generated without the content meant for it."""
    for name in data:
        if name not in KINDS and name not in DATA_NAMES:
            raise InputError(_unknown(_("data: unknown section [{name}]").format(name=name),
                                      name, [*KINDS, *DATA_NAMES]))
    overrides = data.get("members", {})
    if not isinstance(overrides, dict):
        raise InputError(_("data: [members] must be a table"))
    unknown = [k for k in overrides if not roster.has_member(k)]
    if unknown:
        message = _("data: [members] names unknown member id(s): {ids}").format(
            ids=", ".join(unknown))
        raise InputError(_unknown(message, unknown[0], roster.member_ids))
    for member_id, sections in overrides.items():
        if not isinstance(sections, dict):
            raise InputError(_("data: [members.{id}] must be a table").format(id=member_id))
        for name in sections:
            if KINDS.get(name) is None or KINDS[name].scope == "cluster":
                member_kinds = [k for k, v in KINDS.items() if v.scope != "cluster"]
                raise InputError(_unknown(
                    _("data: [members.{id}.{name}] is not a member's kind of document "
                      "(known: {kinds})").format(id=member_id, name=name,
                                                 kinds=", ".join(member_kinds)),
                    name, member_kinds))


def _unknown(message: str, name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not close:
        return message
    return _("{message}; did you mean {name}?").format(message=message, name=close[0])


def signature_rows(members: list[dict[str, Any]], columns: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for start in range(0, len(members), columns):
        row: list[Any] = list(members[start : start + columns])
        row += [None] * (columns - len(row))
        rows.append(row)
    return rows


def document_context(
    roster: Roster,
    data: dict[str, Any],
    kind: str,
    member_id: str | None = None,
    today: dt.date | None = None,
    department_id: str | None = None,
) -> dict[str, Any]:
    """Everything one template sees (docs/templates.md); ``department_id`` names the
    department of a department's document."""
    if kind not in KINDS:
        raise InputError(_("unknown kind of document '{kind}' (known: {kinds})").format(
            kind=kind, kinds=", ".join(KINDS)))
    cluster = roster.cluster
    scope = KINDS[kind].scope
    department: Department | None = None
    if scope != "cluster":
        if member_id is None:
            raise InputError(_("{kind} is a member's document: name the member").format(
                kind=kind))
        issuer = roster.member(member_id)
        if scope == "department":
            if department_id is None:
                raise InputError(_("{kind} is a department's document: name the "
                                   "department").format(kind=kind))
            department = issuer.department(department_id)
    else:
        issuer = roster.member(cluster.leader)
    members = [member_context(m, roster) for m in roster.members]
    by_id = {m["id"]: m for m in members}

    content = kind_content(data, kind, member_id if scope != "cluster" else None)
    where = f"{kind}" if scope == "cluster" else f"members.{member_id}.{kind} / {kind}"
    if scope == "department" and "number" in content:
        raise InputError(_(
            "data: {key}.number: a department's form is numbered by the clerical office "
            "when it is issued: leave the number out").format(key=where))
    if scope == "member" and isinstance(data.get(kind), dict) and "number" in data[kind]:
        raise InputError(_(
            "data: [{kind}].number would give every member the same document number: set "
            "it per member under [members.<id>.{kind}], or leave it out so that the "
            "clerical office numbers the document when it is issued").format(kind=kind))
    date = _data_date(content["date"], f"{where}.date") if "date" in content else cluster.date
    number = _data_number(content.get("number"), f"{where}.number")
    if "symbol" in content:
        symbol = str(content["symbol"])
    else:
        code = str(content.get("code", KINDS[kind].default_code))
        symbol = f"{code}-{issuer.symbol}"
    place = cluster.place if scope == "cluster" else issuer.place
    header = _header_parts(scope != "cluster" and number is None, issuer.id, number, symbol,
                           place, date)

    department_values = department_context(department, issuer) if department else None
    content = fill_roster_values(content, {
        "member": by_id[issuer.id], "cluster": _cluster_values(cluster, by_id),
        "department": department_values}, where)

    issuer_values = by_id[issuer.id]
    if kind == INTERNAL_PLEDGE:
        # the departments come from the roster; the data's old list is read for a member
        # whose roster lists none (generate warns), and old templates reading
        # content.departments see the roster's in that list's shape
        if issuer.departments:
            content = {**content, "departments": [
                {"name": d.name, "head": d.head.name, "honorific": d.head.honorific,
                 "title": d.head.title} for d in issuer.departments]}
        elif "departments" in content:
            issuer_values = {**issuer_values, "departments": _legacy_departments(
                content["departments"], f"{where}.departments")}
    registration = None
    if kind in (REGISTRATION, REGISTRATION_PER_DEPARTMENT):
        registration = registration_context(data, issuer, content, department)

    columns = data.get("signature_columns", 2)
    if isinstance(columns, bool) or not isinstance(columns, int) or not 1 <= columns <= 3:
        raise InputError(_("data: signature_columns must be a whole number from 1 to 3"))

    return {
        "cluster": _cluster_values(cluster, by_id),
        "members": members,
        "signature_rows": signature_rows(members, columns),
        "member": issuer_values,
        "department": department_values,
        "registration": registration,
        "doc": {
            "kind": kind,
            "number": number,
            "symbol": symbol,
            "number_line": vn.number_line(number, symbol),
            "date": date.isoformat(),
            "date_line": vn.date_line(place, date),
            # numbered at issue: the number and the date are form fields that the clerical
            # office fills (signflow number) after the head has signed
            "numbered_at_issue": header["number_anchor"] != "",
            **header,
        },
        "content": content,
        "data": data,
        "today": (today or vn.today_in_vietnam()).isoformat(),
    }


NBSP = "\u00a0"


def _header_parts(at_issue: bool, member_id: str, number: int | None, symbol: str,
                  place: str, date: dt.date) -> dict[str, str]:
    """The number and date lines of the header, around their anchors when the clerical
    office numbers the document at issue (Decree 30/2020, Art. 15), whole otherwise."""
    if not at_issue:
        return {"number_before": vn.number_line(number, symbol), "number_anchor": "",
                "number_after": "", "date_before": vn.date_line(place, date),
                "date_anchor": "", "date_after": ""}
    return {"number_before": "Số: ", "number_anchor": issue_anchor(member_id, "number", symbol),
            "number_after": NBSP * NUMBER_BLANK + "/" + symbol,
            # the date's anchor after its blank: a line's trailing spaces do not count when
            # it is centred, a blank before visible (if white) text does
            "date_before": f"{place}, " + NBSP * DATE_BLANK,
            "date_anchor": issue_anchor(member_id, "date"), "date_after": ""}


def _cluster_values(cluster: Any, by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": cluster.name,
        "name_upper": vn.upper(cluster.name),
        "full_name": cluster.full_name,
        "parent": cluster.parent,
        "parent_upper": vn.upper(cluster.parent) if cluster.parent else None,
        "year": cluster.year,
        "place": cluster.place,
        "date": cluster.date.isoformat(),
        "date_line": vn.date_line(cluster.place, cluster.date),
        "leader": by_id[cluster.leader],
        "deputy": by_id[cluster.deputy] if cluster.deputy else None,
    }


def fill_roster_values(value: Any, names: dict[str, Any], where: str) -> Any:
    """The year's content with roster values filled in: a string of the data may say
    ``{{ member.unit }}``, ``Thanh tra {{ member.locality }}``, ``{{ member.head.title }}``
    or ``{{ cluster.year }}`` so that one sentence serves a province and a city alike.

    Rendered in Jinja's sandbox with strict undefined values: a misspelt name is an error
    naming the key, never an empty string in a signed document."""
    if isinstance(value, dict):
        return {k: fill_roster_values(v, names, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [fill_roster_values(v, names, f"{where}[{i + 1}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(value).render(**names)
    except jinja2.UndefinedError as exc:
        raise InputError(_("data: {key}: {problem} (a data text can use member.… and "
                           "cluster.…, e.g. {{{{ member.unit }}}})").format(
            key=where, problem=exc.message or exc)) from None
    except jinja2.TemplateError as exc:
        raise InputError(_("data: {key}: cannot fill in the roster values: {problem}").format(
            key=where, problem=exc.message or exc)) from None
