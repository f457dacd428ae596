"""Who may sign what, and when: the checks made before anything is written.

For every document of a signing call: the field for this member and role exists and is
empty; the certificate is the one the roster expects and is valid now, with a strong enough
key; a seal comes only after its own head (Decree 30/2020, Art. 32); the roster's order
rule holds; every earlier signature is intact; and nothing but signatures, timestamps and
validation data was added since the fields were created (judged against what the first
signature covered, ``signflow.validation.workflow``).
"""

from __future__ import annotations

import datetime as dt

from asn1crypto import x509

from signflow.errors import InputError
from signflow.i18n import _, date_text
from signflow.identity import MIN_KEY_BITS, common_name, key_strength_problem, match_certificate
from signflow.roster import (
    Member,
    Role,
    Roster,
    departments_left_out,
    departments_left_out_message,
    is_department,
    member_of,
    png_problem,
)
from signflow.validation.revisions import DocumentHistory, signature_intact


def _role_label(role: Role) -> str:
    return _("head") if role == "head" else _("seal")

def check_signing_image(member: Member, role: Role) -> None:
    """The signer's own image, when the roster names one, must be there now. A roster
    loads without other members' images (an office receives only its own), so this is
    checked when that member signs, before a key or PIN is asked for."""
    image = member.signature_image if role == "head" else member.seal_image
    if image is None:
        return
    if not image.is_file():
        what = _("signature image") if role == "head" else _("seal image")
        raise InputError(_("{path}: the {what} of {member} named in the roster is not "
                           "there").format(path=image, member=member.id, what=what))
    problem = png_problem(image, decode=True)
    if problem is not None:
        raise InputError(problem)


def certificate_problems(cert: x509.Certificate, member: Member, role: Role,
                         now: dt.datetime, organisation_attribute: str = "O") -> list[str]:
    problems = []
    name = common_name(cert)
    if not match_certificate(cert, member, role, organisation_attribute).matches:
        who = member.head.name if role == "head" else member.unit
        problems.append(_("the certificate of {signer} is not the one the roster expects for "
                          "{who} ({member}, {role})").format(
            signer=name, who=who, member=member.id, role=_role_label(role)))
    validity = cert["tbs_certificate"]["validity"]
    not_before = validity["not_before"].native
    not_after = validity["not_after"].native
    if now < not_before:
        problems.append(_("the certificate of {signer} is not valid before {date}").format(
            signer=name, date=date_text(not_before)))
    if now > not_after:
        problems.append(_("the certificate of {signer} expired on {date}").format(
            signer=name, date=date_text(not_after)))
    weak = key_strength_problem(cert)
    if weak:
        problems.append(weak)
    elif cert.public_key.algorithm not in MIN_KEY_BITS:  # signflow signs with RSA or EC
        problems.append(_("unsupported key type {algo}").format(
            algo=cert.public_key.algorithm.upper()))
    return problems

def document_problems(history: DocumentHistory, roster: Roster, member: Member,
                      role: Role, known_good: int = 0) -> list[str]:
    """Why this member may not sign this document in this role now (empty: may sign).

    ``known_good``: the number of leading revisions already checked (the ledger remembers
    them by hash), whose signatures and changes need not be analysed again."""
    problems: list[str] = []
    field = history.our_fields.get((member.id, role))
    if history.fields_revision is None:
        return [_("the document has no signflow signature fields (run `signflow prepare`)")]
    if field is None:
        return [_("the document has no {role} field for {member}").format(
            role=_role_label(role), member=member.id)]
    if history.fields.get(field):
        record = history.signature_for(member.id, role)
        by = record.signer_name if record else "?"
        return [_("the {role} field of {member} is already signed (by {signer})").format(
            role=_role_label(role), member=member.id, signer=by)]
    problems += _history_problems(history, known_good)
    if role == "seal" and not history.fields.get(history.our_fields.get((member.id, "head"), "")):
        problems.append(_("the seal of {member} can only follow the signature of its head "
                          "(Decree 30/2020, Art. 32)").format(member=member.id))
    elif role == "seal" and not signed_as_expected(history, roster, member.id, "head"):
        problems.append(_("the signature in the head's field of {member} is not its head's "
                          "(the roster expects another certificate): no seal over it").format(
            member=member.id))
    if role == "seal" and (member.id, "number") in history.issue_fields and \
            history.numbering_revision is None:
        problems.append(_("the seal of {member} follows the number and date of issue: the "
                          "clerical office gives them first (signflow number)").format(
            member=member.id))
    problems += _department_order_problems(history, roster, member, role)
    if role == "head" and roster.cluster.signing_order == "roster" and \
            not member.is_department:
        for earlier in roster.members:
            if earlier.id == member.id:
                break
            name = history.our_fields.get((earlier.id, "head"))
            if name is not None and not history.fields.get(name):
                problems.append(_("the roster requires signing in order: {earlier} has not "
                                  "signed yet").format(earlier=earlier.id))
                break
    return problems


def signed_as_expected(history: DocumentHistory, roster: Roster, signer_id: str,
                       role: Role) -> bool:
    """The field holds a signature by the certificate the roster expects there (a filled
    field is not enough: an order rule that trusted it would follow a forgery)."""
    record = history.signature_for(signer_id, role)
    if record is None:
        return False
    try:
        return match_certificate(record.signer_cert, roster.member(signer_id), role,
                                 roster.cluster.organisation_attribute).matches
    except Exception:  # an unreadable certificate or an id the roster does not know
        return False


def _department_order_problems(history: DocumentHistory, roster: Roster, member: Member,
                               role: Role) -> list[str]:
    """A member's departments sign first, in any order; its head confirms after all of
    them (the internal pledge), and only when the document names every department the
    roster lists for it."""
    if member.is_department:
        parent = member.department_of or ""
        if history.fields.get(history.our_fields.get((parent, "head"), "")):
            return [_("the head of {member} has already confirmed the document: its "
                      "departments sign before the head").format(member=parent)]
        return []
    if role != "head":
        return []
    problems: list[str] = []
    signers = {signer for signer, _role in history.our_fields}
    omitted = departments_left_out(roster, signers).get(member.id)
    if omitted:
        problems.append(departments_left_out_message(member.id, omitted))
    waiting = sorted(signer for (signer, field_role) in history.our_fields
                     if field_role == "head" and is_department(signer)
                     and member_of(signer) == member.id
                     and not signed_as_expected(history, roster, signer, "head"))
    if waiting:
        problems.append(_("the departments of {member} sign before its head: {ids} not "
                          "yet").format(member=member.id, ids=", ".join(waiting)))
    return problems


def _history_problems(history: DocumentHistory, known_good: int) -> list[str]:
    """Earlier signatures intact, every revision explained, every field on its anchor."""
    problems: list[str] = []
    if known_good < history.total_revisions:  # else: these exact bytes passed before
        history.prime_digests()
        for record in history.signatures:
            if record.revision >= known_good and not signature_intact(record):
                problems.append(_("the earlier signature in {field} is broken: the document "
                                  "was altered").format(field=record.field))
    for revision, message in history.workflow_problems(known_good=known_good):
        problems.append(_("revision {n}: {problem}").format(n=revision + 1, problem=message))
    # the fields where the first signature fixed them (or, before it, where they are now)
    problems += history.geometry_problems()
    return problems


def numbering_problems(history: DocumentHistory, roster: Roster, known_good: int,
                       issued: dt.date) -> tuple[str | None, str | None, list[str]]:
    """(member, symbol, why it may not be numbered now): the clerical office numbers a
    member's document after its head has signed and before its seal, once."""
    from signflow import vn

    if history.fields_revision is None:
        return None, None, [_("the document has no signflow signature fields (run "
                              "`signflow prepare`)")]
    members = sorted({member for member, _part in history.issue_fields})
    if not members:
        return None, None, [_("the document has no number and date fields: its number "
                              "was written when it was generated")]
    if len(members) != 1 or len(history.issue_fields) != 2:
        return None, None, [_("the number and date fields are not one member's pair")]
    member_id = members[0]
    if not roster.has_member(member_id):
        return None, None, [_("unknown member id '{id}'").format(id=member_id)]
    try:
        symbols = [a.symbol for a in history.issue_anchors
                   if a.member == member_id and a.part == "number"]
    except InputError as exc:
        return member_id, None, [exc.message]
    if len(symbols) != 1 or not symbols[0]:
        return member_id, None, [_("the number's anchor cannot be read")]
    problems: list[str] = []
    if history.numbering_revision is not None:
        number = history.field_value(history.issue_fields[(member_id, "number")])
        return member_id, symbols[0], [_("the document is already numbered ({line})").format(
            line=vn.number_line(int(number), symbols[0]) if number and number.isdigit()
            else number)]
    head = history.signature_for(member_id, "head")
    if head is None:
        problems.append(_("the head of {member} has not signed yet: the clerical office "
                          "numbers the document after the head's signature").format(
            member=member_id))
    elif head.claimed_time is not None and \
            issued < head.claimed_time.astimezone(vn.VN_TZ).date():
        problems.append(_("the date of issue {date} is before the head signed").format(
            date=issued.isoformat()))
    if history.signature_for(member_id, "seal") is not None:
        problems.append(_("the seal of {member} is already there: the number and date come "
                          "before it").format(member=member_id))
    problems += _history_problems(history, known_good)
    return member_id, symbols[0], problems
