"""signflow: documents that several parties must sign, and proof years later that they did.

The library follows the data's path (docs/architecture.md)::

    roster + year data -> documents (render, convert, fields) -> signing -> validation
                                                 ledger beside the flow

Everything a program needs is importable from here; the names load on first use, so that
``import signflow`` stays cheap (a verifier never loads the Word or LibreOffice code)::

    import signflow

    roster = signflow.load_roster("roster.toml")
    verdicts = signflow.verify_files(paths, signflow.VerifyPolicy(roster=roster, ...))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors (each maps to an exit code: signflow.errors)
    "SignflowError": "signflow.errors",
    "InputError": "signflow.errors",
    "TemplateError": "signflow.errors",
    "ConversionError": "signflow.errors",
    "SigningError": "signflow.errors",
    "ToolMissingError": "signflow.errors",
    "CheckFailed": "signflow.errors",
    # the roster
    "load_roster": "signflow.roster",
    "Roster": "signflow.roster",
    "Member": "signflow.roster",
    "Department": "signflow.roster",
    "StaffMember": "signflow.roster",
    "Role": "signflow.roster",
    "ROLES": "signflow.roster",
    # documents: content, rendering, conversion, signature fields
    "load_data": "signflow.documents.data",
    "generate_pack": "signflow.documents.generate",
    "ManifestEntry": "signflow.documents.generate",
    "check_templates": "signflow.documents.lint",
    "convert_documents": "signflow.documents.convert",
    "ConversionJob": "signflow.documents.convert",
    "ConversionReport": "signflow.documents.convert",
    "prepare_fields": "signflow.documents.fields",
    # signing
    "Credential": "signflow.signing.credentials",
    "open_pkcs12": "signflow.signing.credentials",
    "open_pkcs11": "signflow.signing.credentials",
    "open_csc": "signflow.signing.credentials",
    "load_trust_roots": "signflow.identity",
    "sign_documents": "signflow.signing.signer",
    "SignSettings": "signflow.signing.signer",
    "SignOutcome": "signflow.signing.signer",
    "archive_document": "signflow.signing.archive",
    "ArchiveOutcome": "signflow.signing.archive",
    "send_package": "signflow.signing.handoff",
    "SendPackage": "signflow.signing.handoff",
    "receive_files": "signflow.signing.handoff",
    "ReceiveOutcome": "signflow.signing.handoff",
    # validation
    "verify_file": "signflow.validation.verify",
    "verify_files": "signflow.validation.verify",
    "VerifyPolicy": "signflow.validation.verify",
    "FileVerdict": "signflow.validation.verdicts",
    "SignatureVerdict": "signflow.validation.verdicts",
    "PadesLevel": "signflow.validation.verdicts",
    "read_history": "signflow.validation.revisions",
    "DocumentHistory": "signflow.validation.revisions",
    "document_status": "signflow.validation.status",
    "DocumentStatus": "signflow.validation.status",
    # the ledger
    "Ledger": "signflow.ledger",
    "audit_ledger": "signflow.ledger_audit",
    "LedgerAudit": "signflow.ledger_audit",
    # output
    "render_html": "signflow.output.report",
}

# written out (not computed) so that linters and type checkers read it
__all__ = [
    "__version__",
    "SignflowError",
    "InputError",
    "TemplateError",
    "ConversionError",
    "SigningError",
    "ToolMissingError",
    "CheckFailed",
    "load_roster",
    "Roster",
    "Member",
    "Department",
    "StaffMember",
    "Role",
    "ROLES",
    "load_data",
    "generate_pack",
    "ManifestEntry",
    "check_templates",
    "convert_documents",
    "ConversionJob",
    "ConversionReport",
    "prepare_fields",
    "Credential",
    "open_pkcs12",
    "open_pkcs11",
    "open_csc",
    "load_trust_roots",
    "sign_documents",
    "SignSettings",
    "SignOutcome",
    "archive_document",
    "ArchiveOutcome",
    "send_package",
    "SendPackage",
    "receive_files",
    "ReceiveOutcome",
    "verify_file",
    "verify_files",
    "VerifyPolicy",
    "FileVerdict",
    "SignatureVerdict",
    "PadesLevel",
    "read_history",
    "DocumentHistory",
    "document_status",
    "DocumentStatus",
    "Ledger",
    "audit_ledger",
    "LedgerAudit",
    "render_html",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'signflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from signflow.documents.convert import ConversionJob, ConversionReport, convert_documents
    from signflow.documents.data import load_data
    from signflow.documents.fields import prepare_fields
    from signflow.documents.generate import ManifestEntry, generate_pack
    from signflow.documents.lint import check_templates
    from signflow.errors import (
        CheckFailed,
        ConversionError,
        InputError,
        SignflowError,
        SigningError,
        TemplateError,
        ToolMissingError,
    )
    from signflow.identity import load_trust_roots
    from signflow.ledger import Ledger
    from signflow.ledger_audit import LedgerAudit, audit_ledger
    from signflow.output.report import render_html
    from signflow.roster import (
        ROLES,
        Department,
        Member,
        Role,
        Roster,
        StaffMember,
        load_roster,
    )
    from signflow.signing.archive import ArchiveOutcome, archive_document
    from signflow.signing.credentials import Credential, open_csc, open_pkcs11, open_pkcs12
    from signflow.signing.handoff import ReceiveOutcome, SendPackage, receive_files, send_package
    from signflow.signing.signer import SignOutcome, SignSettings, sign_documents
    from signflow.validation.revisions import DocumentHistory, read_history
    from signflow.validation.status import DocumentStatus, document_status
    from signflow.validation.verdicts import FileVerdict, PadesLevel, SignatureVerdict
    from signflow.validation.verify import VerifyPolicy, verify_file, verify_files
