"""The roster: who belongs to a cluster in a given year, and how each member signs.

Loaded from TOML and validated as a whole: every problem is reported at once, each with
the file and the key it concerns, so a secretariat can fix a roster in one pass.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from signflow._internal.structured import parse_text
from signflow.errors import InputError
from signflow.i18n import _, date_text
from signflow.identity import ORGANISATION_ATTRIBUTES, expected_pairs

# who signs for a member: its head (the competent person), then its seal (the organisation)
Role = Literal["head", "seal"]
ROLES: tuple[Role, ...] = get_args(Role)
SigningOrder = Literal["any", "roster"]
SIGNING_ORDERS: tuple[SigningOrder, ...] = get_args(SigningOrder)
DEFAULT_SEAL_DIAMETER_MM = 34.0
# the signature blocks of the templates leave room for a seal up to this size
# (signflow.pdf.anchors.SIGNATURE_SPACE_MM)
MAX_SEAL_DIAMETER_MM = 42.0

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
# ids are written into every anchor and field name ("[[sf:<member>/<department>:head]]"):
# short enough that an anchor is always read whole (signflow.pdf.anchors.MAX_ANCHOR)
MAX_ID = 40
_SYMBOL = re.compile(r"^[^\s/]+$")
_MEMBER_KEY = re.compile(r"members\[(\d+)\]\.?(.*)")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CertificateExpectation:
    """Who may sign a field: a certificate fingerprint, or a subject to match."""

    sha256: str | None = None
    subject: str | None = None

    def describe(self) -> str:
        if self.sha256 and self.subject:
            return f"SHA-256 {self.sha256} ({self.subject})"
        return f"SHA-256 {self.sha256}" if self.sha256 else f"subject {self.subject}"


@dataclass(frozen=True)
class Head:
    name: str
    title: str
    certificate: CertificateExpectation | None = None
    # how the documents introduce the person: "ông", "bà" (or another form of address);
    # None: name and title only, never a placeholder such as "Ông/Bà"
    honorific: str | None = None

    @property
    def introduced(self) -> str:
        """'ông Trịnh Minh Đức', or the bare name without an honorific."""
        return f"{self.honorific} {self.name}" if self.honorific else self.name


@dataclass(frozen=True)
class Department:
    """A department (phòng, đơn vị) of a member, with its head."""

    id: str  # a slug, unique within its member: "van-phong", "nghiep-vu-1"
    name: str  # "Văn phòng", "Phòng Nghiệp vụ 1"
    head: Head
    # collective titles it registers for ("Tập thể lao động tiên tiến", ...)
    registers: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaffMember:
    """A member's official (cán bộ, công chức, người lao động) and what they register for."""

    name: str
    title: str  # position: "Chuyên viên", "Phó Trưởng phòng"
    department: str  # the id of one of its member's departments
    registers: tuple[str, ...] = ()  # "Lao động tiên tiến", "Chiến sĩ thi đua cơ sở", ...


@dataclass(frozen=True)
class Member:
    id: str
    province: str
    unit: str
    parent: str
    place: str
    symbol: str
    head: Head
    signature_image: Path | None = None
    seal_image: Path | None = None
    seal_diameter_mm: float = DEFAULT_SEAL_DIAMETER_MM
    seal_certificate: CertificateExpectation | None = None
    # "tỉnh" or "thành phố" (a centrally governed city such as Hải Phòng): lets the year's
    # content say "Thanh tra {{ member.locality }}" for every member
    locality: str = "tỉnh"
    # the second level: its departments and, optionally, its staff (from the roster or
    # from the spreadsheet named by staff_file)
    departments: tuple[Department, ...] = ()
    staff: tuple[StaffMember, ...] = ()
    staff_file: Path | None = None
    # set on the stand-in a department's head signs as (Roster.member("<member>/<dept>")):
    # the member it belongs to and the department's name
    department_of: str | None = None
    department_name: str | None = None

    @property
    def is_department(self) -> bool:
        return self.department_of is not None

    @property
    def where(self) -> str:
        """The province a member stands for ("Quảng Ninh"), with a department's name for
        a department's head ("Quảng Ninh: Văn phòng"): how status lines name signers."""
        return f"{self.province}: {self.department_name}" if self.department_name \
            else self.province

    @property
    def locality_name(self) -> str:
        """'tỉnh Quảng Ninh', 'thành phố Hải Phòng'."""
        return f"{self.locality} {self.province}"

    def department(self, department_id: str) -> Department:
        for department in self.departments:
            if department.id == department_id:
                return department
        raise InputError(_("{member} has no department '{id}' (it has: {ids})").format(
            member=self.id, id=department_id,
            ids=", ".join(d.id for d in self.departments) or _("none")))

    def department_staff(self, department_id: str) -> tuple[StaffMember, ...]:
        return tuple(s for s in self.staff if s.department == department_id)


@dataclass(frozen=True)
class Cluster:
    name: str
    full_name: str
    year: int
    place: str
    date: dt.date
    leader: str
    deputy: str | None = None
    parent: str | None = None
    signing_order: str = "any"
    # the subject attribute that names a certificate holder's organisation (O or OU), for
    # certificates the roster does not pin
    organisation_attribute: str = "O"


@dataclass(frozen=True)
class Roster:
    path: Path
    cluster: Cluster
    members: tuple[Member, ...]
    _by_id: dict[str, Member] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({m.id: m for m in self.members})

    def member(self, member_id: str) -> Member:
        """The member, or for a signer id "<member>/<department>" the stand-in its
        department's head signs as: the member's unit (a department head's certificate
        names the member's unit as its organisation), the department's head, no seal."""
        if "/" in member_id:
            return self._department_signer(member_id)
        try:
            return self._by_id[member_id]
        except KeyError:
            raise InputError(
                _("unknown member id '{id}' (the roster has: {ids})").format(
                    id=member_id, ids=", ".join(self._by_id)
                )
            ) from None

    def _department_signer(self, signer_id: str) -> Member:
        member_id, _sep, department_id = signer_id.partition("/")
        member = self.member(member_id)
        department = member.department(department_id)
        return replace(member, id=signer_id, head=department.head, signature_image=None,
                       seal_image=None, seal_certificate=None, departments=(), staff=(),
                       staff_file=None, department_of=member.id,
                       department_name=department.name)

    def has_member(self, member_id: str) -> bool:
        """Whether the id names a member, or a department of one ("<member>/<dept>")."""
        member_id, _sep, department_id = member_id.partition("/")
        if member_id not in self._by_id:
            return False
        return not _sep or any(d.id == department_id
                               for d in self._by_id[member_id].departments)

    def order_key(self, signer_id: str) -> tuple[int, int]:
        """Where a signer comes in the roster: its member's place, departments (in the
        roster's order) before the member itself. Unknown ids last."""
        member_id, _sep, department_id = signer_id.partition("/")
        member = self._by_id.get(member_id)
        if member is None:
            return (len(self.members), 0)
        index = self.members.index(member)
        if not _sep:
            return (index, len(member.departments))
        ids = [d.id for d in member.departments]
        return (index, ids.index(department_id) if department_id in ids else len(ids))

    def signers(self) -> list[tuple[Member, Role]]:
        """Everyone who signs, in the roster's order: each member's department heads (as
        their stand-ins), its head, its seal."""
        found: list[tuple[Member, Role]] = []
        for member in self.members:
            found += [(self.member(department_signer(member.id, d.id)), "head")
                      for d in member.departments]
            found += [(member, role) for role in ROLES]
        return found

    @property
    def member_ids(self) -> list[str]:
        return [m.id for m in self.members]


def department_signer(member_id: str, department_id: str) -> str:
    """The signer id of a member's department head: "<member>/<department>"."""
    return f"{member_id}/{department_id}"


def member_of(signer_id: str) -> str:
    """The member a signer belongs to: itself, or the member of a department."""
    return signer_id.partition("/")[0]


def is_department(signer_id: str) -> bool:
    return "/" in signer_id


def departments_left_out_message(member_id: str, left_out: Iterable[str]) -> str:
    return _("the document names only some departments of {member}: no anchor for {ids}"
             ).format(member=member_id, ids=", ".join(left_out))


def departments_left_out(roster: Roster, signers: Iterable[str]) -> dict[str, list[str]]:
    """For each member some of whose departments sign (``signers``: the signer ids a
    document names), the roster's departments it leaves out: a document that names one
    department of a member must name them all (else one would never be waited for)."""
    named = set(signers)
    result: dict[str, list[str]] = {}
    for member_id in sorted({member_of(s) for s in named if is_department(s)}):
        if not roster.has_member(member_id):
            continue
        left = [department_signer(member_id, d.id) for d in roster.member(member_id).departments
                if department_signer(member_id, d.id) not in named]
        if left:
            result[member_id] = left
    return result


class RosterError(InputError):
    """The roster has problems; ``details`` lists every one of them."""


class _Checker:
    """Reads typed values out of parsed TOML, recording problems instead of stopping."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.member_ids: dict[int, str] = {}  # index in [[members]] -> the id written

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {self.place(key)}: {message}")

    def place(self, key: str) -> str:
        """A key as people read it: ``members[0].head.name`` is "member 1 (quang-ninh),
        head.name" (counted from 1, with the id written there)."""
        found = _MEMBER_KEY.fullmatch(key)
        if found is None:
            return key
        member = self.member(int(found[1]))
        return f"{member}, {found[2]}" if found[2] else member

    def member(self, index: int) -> str:
        member_id = self.member_ids.get(index)
        if member_id:
            return _("member {n} ({id})").format(n=index + 1, id=member_id)
        return _("member {n}").format(n=index + 1)

    def table(self, data: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(where, _("must be a table"))
            return None
        return value

    def text(
        self, data: dict[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(where, _("missing"))
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, _("must be non-empty text"))
            return None
        return value.strip()

    def unknown_keys(self, data: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                prefix = f"{where}." if where else ""
                self.problem(f"{prefix}{key}", _("unknown key"))

    def date(self, data: dict[str, Any], key: str, where: str) -> dt.date | None:
        value = data.get(key)
        if value is None:
            self.problem(where, _("missing"))
            return None
        if isinstance(value, dt.datetime | dt.time):
            self.problem(where, _("a date without a time belongs here (YYYY-MM-DD): {value}"
                                  ).format(value=value.isoformat()))
            return None
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.problem(where, _("not a valid date (write it as YYYY-MM-DD): {value!r}").format(
            value=value))
        return None

    def file(self, data: dict[str, Any], key: str, where: str) -> Path | None:
        value = self.text(data, key, where, required=False)
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute():
            path = self.path.parent / path
        if not path.exists():
            # an office that receives the roster with only its own images can still load
            # it: an image matters to its own member's signing, which checks it then
            return path
        if not path.is_file():
            self.problem(where, _("not a file: {path}").format(path=path))
            return None
        problem = png_problem(path)
        if problem is not None:
            self.problem(where, problem)
            return None
        return path

    def certificate(self, value: Any, where: str) -> CertificateExpectation | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(where, _("must be a table with 'sha256' or 'subject'"))
            return None
        self.unknown_keys(value, {"sha256", "subject"}, where)
        sha = value.get("sha256")
        subject = value.get("subject")
        if sha is None and subject is None:
            self.problem(where, _("must be a table with 'sha256' or 'subject'"))
            return None
        if sha is not None:
            norm = str(sha).replace(":", "").replace(" ", "").lower()
            if not _HEX64.match(norm):
                self.problem(f"{where}.sha256", _("not a SHA-256 fingerprint (64 hex digits)"))
                return None
            sha = norm
        if subject is not None and (not isinstance(subject, str) or not subject.strip()):
            self.problem(f"{where}.subject", _("must be non-empty text"))
            return None
        if subject is not None:
            try:
                pairs = expected_pairs(subject)
            except InputError as exc:
                self.problem(f"{where}.subject", exc.message)
                return None
            if not any(key == "CN" for key, _value in pairs):
                # an empty or CN-less subject would match far too many certificates
                self.problem(f"{where}.subject", _(
                    "must name the holder: CN=..., optionally O=..., OU=..."))
                return None
        return CertificateExpectation(sha256=sha, subject=subject.strip() if subject else None)


_CLUSTER_KEYS = {
    "name", "full_name", "year", "place", "date", "leader", "deputy", "parent", "signing_order",
    "organisation_attribute",
}
_MEMBER_KEYS = {
    "id", "province", "unit", "parent", "place", "symbol", "head", "signature_image",
    "seal_image", "seal_diameter_mm", "seal_certificate", "locality", "departments", "staff",
    "staff_file",
}
_HEAD_KEYS = {"name", "title", "certificate", "honorific"}
_DEPARTMENT_KEYS = {"id", "name", "head", "registers"}
_STAFF_KEYS = {"name", "title", "department", "registers"}
MAX_REGISTERS = 20  # titles one person or department registers for
LOCALITIES = ("tỉnh", "thành phố")
MAX_HONORIFIC = 20  # "ông", "bà", "đồng chí"...


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000


def png_problem(path: Path, decode: bool = False) -> str | None:
    """Why ``path`` cannot serve as a signature or seal image (None: a readable PNG).

    Checked when the roster loads, so that a wrong file is said before anything is signed
    (not as a failure in the middle of a signing): the PNG's structure and every chunk's
    checksum (a truncated or damaged file fails), without decompressing the pixels, which
    a verifier loading the roster does not need. ``decode``: decompress it too (done for
    the signer's own image, before signing)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(len(PNG_SIGNATURE))
    except OSError as exc:
        return _("cannot read {path}: {reason}").format(path=path, reason=exc.strerror or exc)
    if head != PNG_SIGNATURE:
        return _("{path} is not a PNG image").format(path=path)
    if size > MAX_IMAGE_BYTES:
        return _("{path}: the image is too large (at most {n} MiB)").format(
            path=path, n=MAX_IMAGE_BYTES // (1024 * 1024))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return _("{path}: the image has too many pixels ({w}x{h})").format(
                    path=path, w=image.width, h=image.height)
            if decode:
                image.load()  # decompressed: corrupt image data fails here, not at signing
            else:
                image.verify()  # the chunks and their checksums, no decompression
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError,
            Image.DecompressionBombError) as exc:
        return _("{path} is not a readable PNG image ({reason})").format(path=path, reason=exc)
    return None


def load_roster(path: str | Path) -> Roster:
    """Load and validate a roster; raise RosterError listing every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(_("roster not found: {path}").format(path=path)) from None
    except IsADirectoryError:
        raise InputError(_("{path} is a folder, not a roster").format(path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(_("cannot read the roster {path}: {reason}").format(
            path=path, reason=exc)) from None
    return parse_roster(parse_text(text, path), path)


def parse_roster(raw: dict[str, Any], path: Path) -> Roster:
    c = _Checker(path)
    c.unknown_keys(raw, {"cluster", "members"}, "")
    cluster_raw = c.table(raw, "cluster", "cluster")
    if cluster_raw is None:
        c.problem("cluster", _("missing"))
        cluster_raw = {}
    c.unknown_keys(cluster_raw, _CLUSTER_KEYS, "cluster")

    year = cluster_raw.get("year")
    if year is None:
        c.problem("cluster.year", _("missing"))
    elif not isinstance(year, int) or isinstance(year, bool) or not 1990 <= year <= 2200:
        c.problem("cluster.year", _("must be a year such as 2019"))
        year = None
    date = c.date(cluster_raw, "date", "cluster.date")
    if date is not None and year is not None and date.year not in (year - 1, year):
        c.problem("cluster.date", _("{date} does not belong to the year {year}").format(
            date=date_text(date), year=year))

    signing_order = cluster_raw.get("signing_order", "any")
    if signing_order not in SIGNING_ORDERS:
        c.problem("cluster.signing_order", _("must be one of: {choices}").format(
            choices=", ".join(SIGNING_ORDERS)))

    organisation_attribute = cluster_raw.get("organisation_attribute", "O")
    if organisation_attribute not in ORGANISATION_ATTRIBUTES:
        c.problem("cluster.organisation_attribute", _("must be one of: {choices}").format(
            choices=", ".join(ORGANISATION_ATTRIBUTES)))

    members_raw = raw.get("members")
    members: list[Member] = []
    seen: dict[str, int] = {}
    if not isinstance(members_raw, list) or not members_raw:
        c.problem("members", _("the roster needs at least one [[members]] entry"))
        members_raw = []
    for i, m in enumerate(members_raw):
        where = f"members[{i}]"
        if not isinstance(m, dict):
            c.problem(where, _("must be a table"))
            continue
        raw_id = m.get("id")
        if isinstance(raw_id, str) and raw_id.strip():
            c.member_ids[i] = raw_id.strip()
        if isinstance(raw_id, str) and raw_id.strip() in seen:
            c.problem(f"{where}.id", _("duplicate id '{id}' (already used by {member})").format(
                id=raw_id.strip(), member=c.member(seen[raw_id.strip()])))
        elif isinstance(raw_id, str):
            seen[raw_id.strip()] = i
        member = _parse_member(c, m, where)
        if member is not None:
            members.append(member)

    # Leader and deputy are checked against every id written, valid or not, so that one
    # broken member entry does not also produce a misleading "unknown leader".
    written_ids = {m.get("id") for m in members_raw if isinstance(m, dict)}
    leader = c.text(cluster_raw, "leader", "cluster.leader")
    if leader is not None and members_raw and leader not in written_ids:
        c.problem("cluster.leader", _("unknown member id '{id}'").format(id=leader))
    deputy = c.text(cluster_raw, "deputy", "cluster.deputy", required=False)
    if deputy is not None and members_raw and deputy not in written_ids:
        c.problem("cluster.deputy", _("unknown member id '{id}'").format(id=deputy))
    if deputy is not None and deputy == leader:
        c.problem("cluster.deputy", _("the deputy cannot be the leader"))

    name = c.text(cluster_raw, "name", "cluster.name")
    full_name = c.text(cluster_raw, "full_name", "cluster.full_name")
    place = c.text(cluster_raw, "place", "cluster.place")
    parent = c.text(cluster_raw, "parent", "cluster.parent", required=False)

    _check_pins(c, members, seen)
    if c.problems:
        raise RosterError(
            _("the roster {path} has {n} problem(s)").format(path=path, n=len(c.problems)),
            details=c.problems,
        )
    assert name and full_name and place and leader and date and year
    cluster = Cluster(
        name=name, full_name=full_name, year=year, place=place, date=date, leader=leader,
        deputy=deputy, parent=parent, signing_order=signing_order,
        organisation_attribute=organisation_attribute,
    )
    return Roster(path=path, cluster=cluster, members=tuple(members))


def _check_pins(c: _Checker, members: list[Member], index: dict[str, int]) -> None:
    """One certificate belongs to one signer: the same fingerprint pinned for two members,
    or for a head and a seal, contradicts itself (one of them would sign as the other)."""
    pinned: dict[str, str] = {}
    for member in members:
        i = index.get(member.id, 0)
        for role, expectation in (("head", member.head.certificate),
                                  ("seal", member.seal_certificate)):
            if expectation is None or expectation.sha256 is None:
                continue
            where = f"{member.id} ({_('head') if role == 'head' else _('seal')})"
            if expectation.sha256 in pinned:
                key = "head.certificate" if role == "head" else "seal_certificate"
                c.problem(f"members[{i}].{key}.sha256", _(
                    "the same certificate is already pinned for {other}").format(
                        other=pinned[expectation.sha256]))
            else:
                pinned[expectation.sha256] = where
        for j, department in enumerate(member.departments, start=1):
            expectation = department.head.certificate
            if expectation is None or expectation.sha256 is None:
                continue
            if expectation.sha256 in pinned:
                c.problem(f"members[{i}].departments[{j}].head.certificate.sha256", _(
                    "the same certificate is already pinned for {other}").format(
                        other=pinned[expectation.sha256]))
            else:
                pinned[expectation.sha256] = f"{member.id}/{department.id} ({_('head')})"


def _parse_head(c: _Checker, holder: dict[str, Any], where: str) -> Head | None:
    """The ``head`` table of a member or a department (``where`` is its holder's key)."""
    head_raw = c.table(holder, "head", f"{where}.head")
    if head_raw is None:
        if "head" not in holder:
            c.problem(f"{where}.head", _("missing"))
        return None
    c.unknown_keys(head_raw, _HEAD_KEYS, f"{where}.head")
    head_name = c.text(head_raw, "name", f"{where}.head.name")
    head_title = c.text(head_raw, "title", f"{where}.head.title")
    cert = c.certificate(head_raw.get("certificate"), f"{where}.head.certificate")
    honorific = c.text(head_raw, "honorific", f"{where}.head.honorific", required=False)
    if honorific is not None:
        honorific = honorific.strip().lower()
        if not honorific or len(honorific) > MAX_HONORIFIC or "/" in honorific:
            c.problem(f"{where}.head.honorific", _(
                "write one form of address, e.g. \"ông\" or \"bà\" (or leave it out: "
                "the documents then give the name and title only)"))
            honorific = None
    if head_name and head_title:
        return Head(name=head_name, title=head_title, certificate=cert, honorific=honorific)
    return None


def _valid_id(c: _Checker, value: str, key: str, example: str) -> bool:
    """A member's or a department's id: a slug of at most MAX_ID characters (problems
    reported at ``key``)."""
    if not _SLUG.match(value):
        c.problem(key, _("'{id}' is not a valid id: use lower-case letters, digits and "
                         "hyphens (e.g. {example})").format(id=value, example=example))
        return False
    if len(value) > MAX_ID:
        c.problem(key, _("'{id}' is too long: at most {n} characters").format(
            id=value, n=MAX_ID))
        return False
    return True


def _parse_member(c: _Checker, m: dict[str, Any], where: str) -> Member | None:
    before = len(c.problems)
    c.unknown_keys(m, _MEMBER_KEYS, where)
    member_id = c.text(m, "id", f"{where}.id")
    if member_id is not None:
        _valid_id(c, member_id, f"{where}.id", "quang-ninh")
    texts = {k: c.text(m, k, f"{where}.{k}") for k in ("province", "unit", "parent", "place")}
    symbol = c.text(m, "symbol", f"{where}.symbol")
    if symbol is not None and not _SYMBOL.match(symbol):
        c.problem(f"{where}.symbol", _("must be one word without '/' (e.g. TTr)"))
    head = _parse_head(c, m, where)
    signature_image = c.file(m, "signature_image", f"{where}.signature_image")
    seal_image = c.file(m, "seal_image", f"{where}.seal_image")
    diameter = m.get("seal_diameter_mm", DEFAULT_SEAL_DIAMETER_MM)
    if isinstance(diameter, bool) or not isinstance(diameter, int | float) or not (
        20 <= diameter <= MAX_SEAL_DIAMETER_MM
    ):
        # the signature blocks leave room for a seal up to this size (signflow.pdf.anchors)
        c.problem(f"{where}.seal_diameter_mm", _(
            "must be the seal's real size in millimetres, from 20 to {most:.0f}").format(
            most=MAX_SEAL_DIAMETER_MM))
        diameter = DEFAULT_SEAL_DIAMETER_MM
    seal_cert = c.certificate(m.get("seal_certificate"), f"{where}.seal_certificate")
    locality = c.text(m, "locality", f"{where}.locality", required=False)
    if locality is None:  # "Thanh tra thành phố Hải Phòng": a city; else a province
        unit = (texts["unit"] or "").lower()
        locality = "thành phố" if "thành phố" in unit else "tỉnh"
    elif locality.strip().lower() not in LOCALITIES:
        c.problem(f"{where}.locality", _("must be \"tỉnh\" or \"thành phố\""))
    else:
        locality = locality.strip().lower()
    departments = _parse_departments(c, m, where)
    staff, staff_file = _parse_staff(c, m, where, departments)
    if len(c.problems) > before or head is None or member_id is None:
        return None
    assert symbol is not None
    return Member(
        id=member_id,
        province=texts["province"] or "",
        unit=texts["unit"] or "",
        parent=texts["parent"] or "",
        place=texts["place"] or "",
        symbol=symbol,
        head=head,
        signature_image=signature_image,
        seal_image=seal_image,
        seal_diameter_mm=float(diameter),
        seal_certificate=seal_cert,
        locality=locality,
        departments=departments,
        staff=staff,
        staff_file=staff_file,
    )


def _registers(c: _Checker, value: Any, where: str) -> tuple[str, ...]:
    """Titles registered for: a text or a list of texts."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        c.problem(where, _("must be a title or a list of titles (non-empty text)"))
        return ()
    if len(items) > MAX_REGISTERS:
        c.problem(where, _("at most {n} titles").format(n=MAX_REGISTERS))
        return ()
    return tuple(" ".join(v.split()) for v in items)


def _list_of_tables(c: _Checker, m: dict[str, Any], key: str, where: str) -> list[Any]:
    value = m.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        c.problem(f"{where}.{key}", _("must be a list of tables ([[members.{key}]])").format(
            key=key))
        return []
    return value


def _parse_departments(c: _Checker, m: dict[str, Any], where: str) -> tuple[Department, ...]:
    departments: list[Department] = []
    seen: dict[str, int] = {}
    for j, raw in enumerate(_list_of_tables(c, m, "departments", where), start=1):
        at = f"{where}.departments[{j}]"
        if not isinstance(raw, dict):
            c.problem(at, _("must be a table"))
            continue
        before = len(c.problems)
        c.unknown_keys(raw, _DEPARTMENT_KEYS, at)
        department_id = c.text(raw, "id", f"{at}.id")
        if department_id is not None and _valid_id(c, department_id, f"{at}.id", "van-phong"):
            if department_id in seen:
                c.problem(f"{at}.id", _("duplicate id '{id}' (already used by "
                                        "departments[{n}])").format(
                    id=department_id, n=seen[department_id]))
            else:
                seen[department_id] = j
        name = c.text(raw, "name", f"{at}.name")
        head = _parse_head(c, raw, at)
        registers = _registers(c, raw.get("registers"), f"{at}.registers")
        if len(c.problems) == before and department_id and name and head:
            departments.append(Department(department_id, name, head, registers))
    return tuple(departments)


def _department_index(departments: tuple[Department, ...]) -> dict[str, str]:
    """How a staff entry may name its department: by id, or by name (any case)."""
    index: dict[str, str] = {}
    for d in departments:
        index[d.id] = d.id
        index[_folded(d.name)] = d.id
    return index


def _folded(text: str) -> str:
    import unicodedata

    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _parse_staff(c: _Checker, m: dict[str, Any], where: str,
                 departments: tuple[Department, ...]
                 ) -> tuple[tuple[StaffMember, ...], Path | None]:
    """The member's staff: ``[[members.staff]]`` entries or the spreadsheet ``staff_file``
    (checked row by row; every bad row is a problem naming its row and column)."""
    index = _department_index(departments)
    listed = _list_of_tables(c, m, "staff", where)
    staff_file = c.text(m, "staff_file", f"{where}.staff_file", required=False)
    if staff_file is not None and listed:
        c.problem(f"{where}.staff_file", _("give the staff either as [[members.staff]] or as "
                                           "staff_file, not both"))
        return (), None
    if (listed or staff_file) and "departments" not in m:
        c.problem(f"{where}.{'staff_file' if staff_file else 'staff'}", _(
            "staff belong to departments: list the member's [[members.departments]] first"))
        return (), None
    if staff_file is not None:
        path = Path(staff_file)
        if not path.is_absolute():
            path = c.path.parent / path
        if not path.exists():
            # a verifier, or an office sent the roster alone, needs no staff list: it is
            # required where the staff are used (generating the documents)
            return (), path
        return _staff_from_file(c, path, f"{where}.staff_file", departments), path
    staff: list[StaffMember] = []
    for j, raw in enumerate(listed, start=1):
        at = f"{where}.staff[{j}]"
        if not isinstance(raw, dict):
            c.problem(at, _("must be a table"))
            continue
        before = len(c.problems)
        c.unknown_keys(raw, _STAFF_KEYS, at)
        name = c.text(raw, "name", f"{at}.name")
        title = c.text(raw, "title", f"{at}.title")
        department = c.text(raw, "department", f"{at}.department")
        department_id = (index.get(department) or index.get(_folded(department))
                         if department else None)
        if department is not None and department_id is None:
            c.problem(f"{at}.department", _unknown_department(department, departments))
        registers = _registers(c, raw.get("registers"), f"{at}.registers")
        if len(c.problems) == before and name and title and department_id:
            staff.append(StaffMember(name, title, department_id, registers))
    return tuple(staff), None


def _unknown_department(name: str, departments: tuple[Department, ...]) -> str:
    return _("'{name}' is not one of the member's departments ({ids})").format(
        name=name, ids=", ".join(d.id for d in departments) or _("none"))


# Column headers of a staff list, English or Vietnamese (compared without case).
STAFF_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "họ và tên", "họ tên"),
    "title": ("title", "chức vụ", "chức danh"),
    "department": ("department", "phòng", "phòng, đơn vị", "đơn vị"),
    "registers": ("registers", "đăng ký danh hiệu", "danh hiệu đăng ký", "danh hiệu"),
}
_IGNORED_COLUMNS = ("stt", "no", "no.", "ghi chú", "note", "notes")


def _staff_from_file(c: _Checker, path: Path, where: str,
                     departments: tuple[Department, ...]) -> tuple[StaffMember, ...]:
    from signflow._internal.spreadsheet import column_letter, read_sheet

    try:
        sheet = read_sheet(path)
    except InputError as exc:
        c.problem(where, exc.message)
        return ()
    index = _department_index(departments)
    problems: list[str] = []

    def problem(row: int, column: int | None, message: str) -> None:
        if column is None:
            problems.append(_("{path}: row {row}: {message}").format(
                path=path, row=row, message=message))
            return
        heading = sheet.header[column] if column < len(sheet.header) else ""
        col = f"{column_letter(column)} ({heading})" if heading else column_letter(column)
        problems.append(_("{path}: row {row}, column {column}: {message}").format(
            path=path, row=row, column=col, message=message))

    names = {_folded(alias): key for key, aliases in STAFF_COLUMNS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for i, heading in enumerate(sheet.header):
        key = names.get(_folded(heading))
        if key is None:
            if _folded(heading) not in _IGNORED_COLUMNS:
                problem(sheet.header_row, i, _("unknown column '{name}' (known: {known})").format(
                    name=heading, known=", ".join(
                        f"{key} / {aliases[1]}" for key, aliases in STAFF_COLUMNS.items())))
        elif key in columns:
            problem(sheet.header_row, i, _("the column '{name}' is given twice").format(
                name=heading))
        else:
            columns[key] = i
    for key in ("name", "title", "department"):
        if key not in columns:
            problems.append(_("{path}: row {row}: the header has no column '{name}' (or "
                              "'{vietnamese}')").format(path=path, row=sheet.header_row,
                                                        name=key,
                                                        vietnamese=STAFF_COLUMNS[key][1]))
    for row, column, message in sheet.problems:
        problem(row, column, message)
    staff: list[StaffMember] = []
    if all(key in columns for key in ("name", "title", "department")):
        for row, cells in sheet.rows:
            def cell(key: str, cells: list[str] = cells) -> str:
                i = columns.get(key)
                return cells[i] if i is not None and i < len(cells) else ""

            before = len(problems)
            for key in ("name", "title", "department"):
                if not cell(key):
                    problem(row, columns[key], _("missing"))
            department = cell("department")
            department_id = index.get(department) or index.get(_folded(department))
            if department and department_id is None:
                problem(row, columns["department"], _unknown_department(department,
                                                                        departments))
            registers = tuple(" ".join(t.split()) for t in
                              cell("registers").replace("\n", ";").split(";") if t.strip())
            if len(registers) > MAX_REGISTERS:
                problem(row, columns["registers"], _("at most {n} titles").format(
                    n=MAX_REGISTERS))
            if len(problems) == before and department_id:
                staff.append(StaffMember(" ".join(cell("name").split()),
                                         " ".join(cell("title").split()), department_id,
                                         registers))
    if problems:
        c.problems.extend(problems)
        return ()
    return tuple(staff)


def pin_certificate(path: str | Path, member_id: str, role: Role, sha256: str,
                    subject: str) -> Roster:
    """Write a certificate pin (fingerprint and subject) for one member and role into the
    roster file, keeping its comments and layout; the file is replaced only when the
    result loads as a valid roster. Returns the roster as now written."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from signflow._internal.files import atomic_output

    path = Path(path)
    roster = load_roster(path)  # a roster that does not load is not edited
    roster.member(member_id)
    if role not in ROLES or (is_department(member_id) and role != "head"):
        raise InputError(_("unknown role {role}").format(role=role))
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, TOMLKitError) as exc:
        raise InputError(_("{path}: {reason}").format(path=path, reason=exc)) from None
    owner, _sep, department_id = member_id.partition("/")
    entry = next(m for m in doc["members"] if m.get("id") == owner)
    pin = tomlkit.inline_table()
    pin.update({"sha256": sha256, "subject": subject})
    if department_id:
        department = next(d for d in entry["departments"] if d.get("id") == department_id)
        if "head" not in department:
            department["head"] = tomlkit.table()
        department["head"]["certificate"] = pin
    elif role == "head":
        entry["head"]["certificate"] = pin
    else:
        entry["seal_certificate"] = pin
    text = tomlkit.dumps(doc)
    check = parse_roster(parse_text(text, path), path)
    with atomic_output(path) as f:
        f.write(text.encode("utf-8"))
    return check
