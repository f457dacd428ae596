"""Who has signed, who is pending, what comes next: read from the PDFs themselves."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from signflow import vn
from signflow.roster import ROLES, Role, Roster, is_department, member_of
from signflow.validation.revisions import DocumentHistory, SignatureRecord, read_history


@dataclass(frozen=True)
class FieldStatus:
    member: str
    role: Role
    field: str
    signed: bool
    signer: str | None = None
    time: str | None = None  # timestamp time when there is one, else the signer's claim
    time_source: str | None = None  # "timestamp" | "claimed"


@dataclass
class DocumentStatus:
    file: str
    fields: list[FieldStatus] = field(default_factory=list)
    next: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    # the signing ledger's view: {"path", "agrees", "problem"}; None without a ledger
    ledger: dict[str, Any] | None = None

    @property
    def signed(self) -> int:
        return sum(1 for f in self.fields if f.signed)

    @property
    def complete(self) -> bool:
        return bool(self.fields) and all(f.signed for f in self.fields)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(signed=self.signed, total=len(self.fields), complete=self.complete)
        return data


def signature_time(record: SignatureRecord) -> tuple[dt.datetime | None, str | None]:
    """The RFC 3161 timestamp's time when the signature has one, else the claimed time."""
    try:
        attrs = record.embedded.signer_info["unsigned_attrs"]
        for attr in attrs if attrs.native is not None else []:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0]
                tst_info = token["content"]["encap_content_info"]["content"].parsed
                return tst_info["gen_time"].native, "timestamp"
    except Exception:  # a malformed token simply gives no time
        pass
    claimed = record.claimed_time
    return (claimed, "claimed") if claimed else (None, None)


def next_steps(statuses: list[FieldStatus], roster: Roster | None) -> list[dict[str, str]]:
    """Who may sign now: pending department heads (any order); a member's head once its
    departments have signed (the first waiting one only when the roster fixes the
    order); a seal once its head has signed."""
    signed = {(f.member, f.role) for f in statuses if f.signed}
    pending = [(f.member, f.role) for f in statuses if not f.signed]
    order = roster.cluster.signing_order if roster else "any"
    result = [{"member": m, "role": "head"} for m, r in pending
              if r == "head" and is_department(m) and (member_of(m), "head") not in signed]
    departments_waiting = {member_of(m) for m, r in pending if is_department(m)}
    heads_waiting = [m for m, r in pending if r == "head" and not is_department(m)]
    if order == "roster" and roster is not None and heads_waiting:
        ordered = [m for m in roster.member_ids if m in heads_waiting]
        heads_waiting = ordered[:1]
    result += [{"member": m, "role": "head"} for m in heads_waiting
               if m not in departments_waiting]
    result += [{"member": m, "role": "seal"} for m, r in pending
               if r == "seal" and (m, "head") in signed]
    return result


def department_signers(history: DocumentHistory, member_id: str,
                       roster: Roster | None = None, unsigned: bool = False) -> list[str]:
    """The signer ids ("<member>/<department>") of the member's departments that have a
    signature field in the document (only those not signed yet with ``unsigned``), in
    the roster's order."""
    found = [signer for (signer, role), name in history.our_fields.items()
             if role == "head" and is_department(signer) and member_of(signer) == member_id
             and not (unsigned and history.fields.get(name))]
    return sorted(found, key=lambda s: (roster.order_key(s) if roster else (0, 0), s))


def document_status(path: Path, roster: Roster | None = None,
                    history: DocumentHistory | None = None,
                    ledger: Any = None) -> DocumentStatus:
    """Who has signed and what comes next; ``ledger``: an open ledger to compare the file
    with (its disagreement is reported, the file stays the source of truth)."""
    history = history or read_history(path)
    keys = sorted(history.our_fields, key=lambda k: (
        roster.order_key(k[0]) if roster else (0, 0), k[0], ROLES.index(k[1])))
    statuses = []
    for member, role in keys:
        name = history.our_fields[(member, role)]
        record = history.signature_for(member, role)
        when, source = signature_time(record) if record else (None, None)
        statuses.append(FieldStatus(
            member=member, role=role, field=name, signed=history.fields.get(name, False),
            signer=record.signer_name if record else None,
            time=vn.iso_vn(when) if when else None, time_source=source))
    seen = None
    if ledger is not None:
        problem = ledger.disagreement(history.data)
        seen = {"path": str(ledger.path), "agrees": problem is None, "problem": problem}
    return DocumentStatus(file=str(path), fields=statuses, next=next_steps(statuses, roster),
                          ledger=seen)


def carries_signatures(path: Path) -> bool:
    """The document holds at least one signature (a person's or a document timestamp).
    A file that cannot be read counts as carrying some: the caller's own reading of it
    then says what is wrong, instead of the file being passed over in silence."""
    from signflow.errors import InputError

    try:
        return bool(read_history(path).signatures)
    except InputError:
        return True
