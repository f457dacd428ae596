"""Plain data produced by verification: one FileVerdict per file, one SignatureVerdict per
signature. This is the stable JSON schema of `signflow verify --json` (documented in the
README); renderers (terminal table, HTML report) only read it."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from signflow.roster import Role

SCHEMA_VERSION = 1

Coverage = Literal["entire_file", "entire_revision", "partial", "unclear"]
# the worst change after a signature, from none to anything else
Modification = Literal["none", "lta_updates", "form_filling", "annotations", "other"]
# PAdES baseline levels (ETSI EN 319 142-1)
PadesLevel = Literal["B-B", "B-T", "B-LT", "B-LTA"]
COVERAGE_VALUES: tuple[Coverage, ...] = get_args(Coverage)
MODIFICATION_VALUES: tuple[Modification, ...] = get_args(Modification)
LEVEL_VALUES: tuple[PadesLevel, ...] = get_args(PadesLevel)


def modification_label(value: str) -> str:
    """The words people read for a ``modifications`` value (JSON keeps the value)."""
    from signflow.i18n import _

    return {
        "none": _("none"),
        "lta_updates": _("LTA updates"),
        "form_filling": _("later signatures"),
        "annotations": _("annotations"),
        "other": _("other changes"),
    }.get(value, value)


@dataclass
class SignatureVerdict:
    field: str  # the signature field's fully qualified name
    signer: str | None  # common name of the signer's certificate
    member: str | None  # roster member id, when the field is one of ours
    role: Role | None  # "head" | "seal" | None (document timestamp or foreign field)
    intact: bool  # the signed bytes are unchanged (digest matches)
    valid: bool  # the cryptographic signature verifies
    trusted: bool  # the certificate chains to a given trust root (valid at the time used)
    revoked: bool | None  # True revoked, False checked and good, None unknown
    coverage: str  # one of COVERAGE_VALUES
    modifications: str  # worst change after this signature: one of MODIFICATION_VALUES
    signing_time: str | None  # the signer's claimed time, ISO 8601 +07:00
    timestamp: str | None  # time of the RFC 3161 signature timestamp, ISO 8601 +07:00
    level: PadesLevel | None  # PAdES baseline level reached: one of LEVEL_VALUES
    ok: bool
    problems: list[str] = dataclasses.field(default_factory=list)
    is_timestamp: bool = False  # a document timestamp (the LTA chain), not a person's signature
    certificate_sha256: str | None = None
    # how the certificate was matched to the roster: "sha256" or "subject" (pinned), "name"
    # (common name and organisation only); None without a roster
    identity: str | None = None


@dataclass
class FileVerdict:
    file: str
    ok: bool
    complete: bool | None  # None without a roster
    missing: list[dict[str, str]] = dataclasses.field(default_factory=list)  # [{member, role}]
    problems: list[str] = dataclasses.field(default_factory=list)
    signatures: list[SignatureVerdict] = dataclasses.field(default_factory=list)
    readable: bool = True  # False: the file could not be read at all (exit code 2)
    validation_time: str | None = None  # the time the verdicts refer to (--at, or now)
    # some signer was matched to the roster by name and organisation only (not pinned)
    identities_by_name: bool = False

    @property
    def signed_not_ok(self) -> list[dict[str, str]]:
        """The entries of ``missing`` whose signature is there but not ok at the validation
        time (not trusted then, changed, revoked...), unlike those never signed."""
        present = {(s.member, s.role) for s in self.signatures if not s.is_timestamp}
        return [m for m in self.missing if (m.get("member"), m.get("role")) in present]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["signed_not_ok"] = self.signed_not_ok
        return data


def report_json(verdicts: list[FileVerdict]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "ok": all(v.ok for v in verdicts),
        "files": [v.as_json() for v in verdicts],
    }


def revocation_note(verdict: FileVerdict) -> str | None:
    """Said under a verdict when signatures that are otherwise good have no known
    revocation status (offline, no embedded data about their certificates): the verdict
    did not check it, and the reader should know."""
    from signflow.i18n import _

    unknown = [s for s in verdict.signatures
               if not s.is_timestamp and s.ok and s.revoked is None]
    if not unknown:
        return None
    return _("The revocation status of {n} signature(s) is not known: the file carries no "
             "revocation data (OCSP/CRL) about their certificates. Verify with --online, or "
             "archive the file (signflow archive) while the CA's services answer.").format(
        n=len(unknown))


def identity_note() -> str:
    """Said under a verdict when some signer matched the roster by name only."""
    from signflow.i18n import _

    return _("Signers were matched to the roster by name and organisation only (the roster "
             "pins no certificate): pin it with `signflow roster pin`.")
