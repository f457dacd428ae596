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
from signflow.pdf.anchors import anchor
from signflow.roster import ROLES, Member, Role, Roster


@dataclass(frozen=True)
class DocumentKind:
    name: str
    scope: Literal["cluster", "member"]
    label: str  # Vietnamese name, as on the document
    default_code: str  # document type abbreviation in the symbol (Decree 30, Appendix III)


KINDS: dict[str, DocumentKind] = {
    k.name: k
    for k in (
        DocumentKind("giao-uoc-thi-dua", "cluster", "Giao ước thi đua của Cụm", "GƯTĐ"),
        DocumentKind("ke-hoach-phat-dong", "member", "Kế hoạch phát động thi đua", "KH"),
        DocumentKind("dang-ky-thi-dua", "member", "Bản đăng ký thi đua", "ĐK"),
        DocumentKind("giao-uoc-noi-bo", "member", "Giao ước thi đua nội bộ", "GƯ"),
    )
}
CLUSTER_KINDS = tuple(k for k, v in KINDS.items() if v.scope == "cluster")
MEMBER_KINDS = tuple(k for k, v in KINDS.items() if v.scope == "member")





def required_signatures(
    kind: str, roster: Roster, member_id: str | None
) -> list[tuple[str, Role]]:
    """(member id, role) of every signature a document of this kind needs, in order."""
    if KINDS[kind].scope == "cluster":
        return [(m.id, role) for m in roster.members for role in ROLES]
    assert member_id is not None
    return [(member_id, role) for role in ROLES]


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
    """The kind's section of the data, with the member's overrides merged over it."""
    section = data.get(kind, {})
    if not isinstance(section, dict):
        raise InputError(_("data: [{kind}] must be a table").format(kind=kind))
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
            if KINDS.get(name) is None or KINDS[name].scope != "member":
                member_kinds = [k for k, v in KINDS.items() if v.scope == "member"]
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
) -> dict[str, Any]:
    """Everything one template sees (docs/templates.md)."""
    if kind not in KINDS:
        raise InputError(_("unknown kind of document '{kind}' (known: {kinds})").format(
            kind=kind, kinds=", ".join(KINDS)))
    cluster = roster.cluster
    scope = KINDS[kind].scope
    if scope == "member":
        if member_id is None:
            raise InputError(_("{kind} is a member's document: name the member").format(
                kind=kind))
        issuer = roster.member(member_id)
    else:
        issuer = roster.member(cluster.leader)
    members = [member_context(m, roster) for m in roster.members]
    by_id = {m["id"]: m for m in members}

    content = kind_content(data, kind, member_id if scope == "member" else None)
    where = f"{kind}" if scope == "cluster" else f"members.{member_id}.{kind} / {kind}"
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

    content = fill_roster_values(content, {
        "member": by_id[issuer.id], "cluster": _cluster_values(cluster, by_id)}, where)

    columns = data.get("signature_columns", 2)
    if isinstance(columns, bool) or not isinstance(columns, int) or not 1 <= columns <= 3:
        raise InputError(_("data: signature_columns must be a whole number from 1 to 3"))

    return {
        "cluster": _cluster_values(cluster, by_id),
        "members": members,
        "signature_rows": signature_rows(members, columns),
        "member": by_id[issuer.id],
        "doc": {
            "kind": kind,
            "number": number,
            "symbol": symbol,
            "number_line": vn.number_line(number, symbol),
            "date": date.isoformat(),
            "date_line": vn.date_line(place, date),
        },
        "content": content,
        "data": data,
        "today": (today or dt.date.today()).isoformat(),
    }


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
