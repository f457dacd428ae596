"""A demo PKI for signflow: CAs, one head and one seal certificate per roster member, a
time-stamping authority, OCSP and CRLs, served for real over loopback HTTP.

Vietnamese officials sign twice per document: the competent person ("chữ ký số của người
có thẩm quyền", role ``head``) and the organisation ("chữ ký số của cơ quan, tổ chức",
role ``seal``). The demo gives every roster member both certificates, issued by an
intermediate CA under a root, so that generating, signing, timestamping and long-term
validation can be tried and tested end to end without a real CA.

How it is built, and why:

- Keys are generated here with ``cryptography`` (RSA 2048, the national minimum) and kept
  as PEM files in ``private/`` (0600, folder 0700): certomancer cannot generate keys.
- The certificates are described in a certomancer configuration (``certomancer.yml``)
  with absolute validity dates and explicit random serial numbers, and built by
  certomancer. Certomancer rebuilds every certificate from that file each time it starts;
  with the same keys, names, dates and serials, and RSA PKCS#1 v1.5 signatures (which are
  deterministic), the rebuilt certificates are byte-identical to the exported ones.
  ``serve_pki`` checks that before serving, so an OCSP response can never speak about a
  certificate other than the one in the .p12 file.
- Random serial numbers, rather than certomancer's 0x1000, 0x1001, ...: two demo PKIs
  share their CA names, and validators cache certificates by issuer and serial number.
- The intermediate's CRL is reissued every ten minutes (certomancer numbers CRLs from
  the issuer's start of validity and lists a revocation only from the next issue after
  it), and revoked test signers are revoked half an hour before creation: every CRL
  fetched after creation lists them. OCSP answers for the moment of the request.
- SoftHSM2 keys are imported by a child Python process: SoftHSM reads ``SOFTHSM2_CONF``
  once per process, at C_Initialize, so importing in-process would pin the calling
  process to this token folder (see ``activate_softhsm``).

Layout of the output folder (all paths in ``pki.json`` are relative to it)::

    pki.json                    what is where (read back by load_demo_pki)
    certomancer.yml             the certomancer configuration (keys under private/)
    roster.toml                 the input roster plus fingerprints and images
    trust/root.pem              the trust root
    certs/intermediate.pem      the intermediate CA
    certs/tsa.pem, certs/ocsp.pem
    certs/<member>-<role>.pem   role is head or seal; extra signers: certs/<label>.pem
    <member>-<role>.p12         key, certificate and chain (intermediate, root)
    <member>-<role>.passphrase  its passphrase: the exact bytes, no trailing newline
    images/<member>-signature.png, images/<member>-seal.png
    private/<label>.key.pem     every private key, unencrypted PEM (0600)
    softhsm/softhsm2.conf, softhsm/tokens/, softhsm/pin   (only with softhsm_members)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import shutil
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from signflow._internal.files import atomic_write_bytes
from signflow.demo import require_demo_extra
from signflow.demo.images import draw_seal, draw_signature
from signflow.demo.softhsm import SoftHsmToken, _create_token, _require_softhsm, read_secret
from signflow.errors import InputError, SigningError
from signflow.i18n import _
from signflow.roster import ROLES, Roster, department_signer

ARCH = "signflow-demo"
EXTRA_ROLE = "extra"
PKI_FILE = "pki.json"
RSA_BITS = 2048
CA_VALID_DAYS = 9131  # about 25 years: archives stay checkable for 20
# The intermediate reissues its CRL this often; revocations date from twice as long
# before creation, so every CRL fetched afterwards lists them.
_INTERM_CRL_PERIOD = "PT10M"
_REVOKED_BEFORE = dt.timedelta(minutes=30)
_EXPIRED_FROM = dt.timedelta(days=400)
_EXPIRED_TO = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(days=1)  # clocks differ: certificates start a day early

_INFRA_LABELS = ("root", "interm", "interm-ocsp", "tsa")
_LABEL = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class ExtraSigner:
    """A signer outside the roster, for tests: an outsider, a revoked or expired one."""

    label: str
    common_name: str
    organisation: str
    revoked: bool = False
    expired: bool = False


@dataclass(frozen=True)
class KeyFiles:
    """The files of one demo signing identity: its PKCS#12 file, certificate, key, and token
    key if any (open them with signflow.signing.credentials to sign)."""

    label: str
    p12: Path
    passphrase_file: Path
    cert_pem: Path
    key_pem: Path
    sha256: str  # hex SHA-256 of the DER certificate
    subject: str  # RFC 4514, as cryptography writes it
    key_label: str | None = None  # CKA_LABEL on the SoftHSM token
    key_id: str | None = None  # CKA_ID on the token (hex), same on key and certificate

    def passphrase(self) -> str:
        return read_secret(self.passphrase_file)




@dataclass(frozen=True)
class DemoPki:
    dir: Path
    url: str
    arch: str
    root_pem: Path
    intermediate_pem: Path
    config_path: Path
    roster_path: Path | None
    tsa_url: str
    ocsp_url: str
    crl_urls: dict[str, str]
    created: dt.datetime
    credentials: dict[tuple[str, str], KeyFiles] = field(default_factory=dict)
    softhsm: SoftHsmToken | None = None

    def credential(self, owner: str, role: str = EXTRA_ROLE) -> KeyFiles:
        try:
            return self.credentials[(owner, role)]
        except KeyError:
            raise InputError(_("the demo PKI has no certificate for {owner} ({role})").format(
                owner=owner, role=role)) from None




def tsa_url(url: str) -> str:
    return f"{url.rstrip('/')}/{ARCH}/tsa/tsa"


def ocsp_url(url: str) -> str:
    return f"{url.rstrip('/')}/{ARCH}/ocsp/interm"


def crl_url(url: str, issuer: str) -> str:
    return f"{url.rstrip('/')}/{ARCH}/crls/{issuer}/latest.crl"


def free_loopback_port() -> int:
    """A port free right now on 127.0.0.1 (another program may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------
# Creation


@dataclass(frozen=True)
class _Subject:
    label: str
    owner: str
    role: str
    name: dict[str, str]  # certomancer entity attributes (C comes from the defaults)
    valid_from: dt.datetime
    valid_to: dt.datetime
    revoked_since: dt.datetime | None = None


def create_demo_pki(
    roster: Roster,
    out_dir: str | Path,
    *,
    url: str | None = None,
    valid_days: int = 730,
    softhsm_members: Sequence[str] = (),
    extra_signers: Sequence[ExtraSigner] = (),
    now: dt.datetime | None = None,
) -> DemoPki:
    """Create the demo PKI for ``roster`` in the empty (or new) folder ``out_dir``.

    ``url`` is where the services will be reached (embedded in every certificate); by
    default ``http://127.0.0.1:<a port free now>``. Member certificates are valid from a
    day before ``now`` for ``valid_days``; the CAs, OCSP responder and TSA for about 20
    years. ``softhsm_members`` also get their head and seal keys on a SoftHSM2 token.
    """
    require_demo_extra()
    out = Path(out_dir).absolute()
    if out.exists() and any(out.iterdir()):
        raise InputError(_("the folder {path} is not empty: choose a new folder for the "
                           "demo PKI").format(path=out))
    if not 1 <= valid_days <= CA_VALID_DAYS - 2:
        raise InputError(_("the validity must be between 1 and {max} days").format(
            max=CA_VALID_DAYS - 2))
    for member_id in softhsm_members:
        roster.member(member_id)  # raises InputError for an unknown id
    _check_extra_labels(roster, extra_signers)
    base_url = _normalise_url(url) if url else f"http://127.0.0.1:{free_loopback_port()}"
    if softhsm_members:
        _require_softhsm()

    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    now = now.astimezone(dt.UTC)
    start = now - _BACKDATE
    subjects = _subjects(roster, extra_signers, start, valid_days, now)

    made_dir = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _build(roster, out, base_url, subjects, start, now, softhsm_members)
    except BaseException:
        # The folder was empty: leave it so, not half a PKI that looks usable.
        if made_dir:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise


def _build(
    roster: Roster,
    out: Path,
    base_url: str,
    subjects: Sequence[_Subject],
    start: dt.datetime,
    now: dt.datetime,
    softhsm_members: Sequence[str],
) -> DemoPki:
    private = out / "private"
    private.mkdir(mode=0o700, exist_ok=True)
    private.chmod(0o700)  # mkdir's mode is filtered by the umask

    # 1. Keys.
    labels = [*_INFRA_LABELS, *(s.label for s in subjects)]
    keys: dict[str, rsa.RSAPrivateKey] = {}
    for label in labels:
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        keys[label] = key
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        atomic_write_bytes(private / f"{label}.key.pem", pem, mode=0o600)
        _remember_key(pem, key)  # freshly generated: no need to parse and check it again

    # 2. Certomancer configuration, then the architecture built from the file as written.
    config = _certomancer_config(base_url, labels, subjects, start)
    config_path = out / "certomancer.yml"
    import yaml  # the [demo] extra

    atomic_write_bytes(config_path, yaml.safe_dump(
        config, sort_keys=False, allow_unicode=True).encode("utf-8"))
    arch = _load_arch(config_path)

    # 3. Export certificates and PKCS#12 files.
    ders = {label: arch.get_cert(_cert_label(label)).dump() for label in labels}
    certs = {label: x509.load_der_x509_certificate(der) for label, der in ders.items()}
    trust = out / "trust"
    certs_dir = out / "certs"
    root_pem = trust / "root.pem"
    interm_pem = certs_dir / "intermediate.pem"
    _write_pem(root_pem, certs["root"])
    _write_pem(interm_pem, certs["interm"])
    _write_pem(certs_dir / "tsa.pem", certs["tsa"])
    _write_pem(certs_dir / "ocsp.pem", certs["interm-ocsp"])

    credentials: dict[tuple[str, str], KeyFiles] = {}
    chain = [certs["interm"], certs["root"]]
    for subj in subjects:
        cert = certs[subj.label]
        cert_pem = certs_dir / f"{subj.label}.pem"
        _write_pem(cert_pem, cert)
        passphrase = secrets.token_urlsafe(18)
        p12 = out / f"{subj.label}.p12"
        pass_file = out / f"{subj.label}.passphrase"
        atomic_write_bytes(pass_file, passphrase.encode("ascii"), mode=0o600)
        atomic_write_bytes(p12, pkcs12.serialize_key_and_certificates(
            name=subj.label.encode("ascii"), key=keys[subj.label], cert=cert, cas=chain,
            encryption_algorithm=serialization.BestAvailableEncryption(
                passphrase.encode("ascii")),
        ), mode=0o600)
        credentials[(subj.owner, subj.role)] = KeyFiles(
            label=subj.label, p12=p12, passphrase_file=pass_file, cert_pem=cert_pem,
            key_pem=private / f"{subj.label}.key.pem",
            sha256=hashlib.sha256(ders[subj.label]).hexdigest(),
            subject=cert.subject.rfc4514_string(),
        )

    # 4. SoftHSM token.
    token: SoftHsmToken | None = None
    if softhsm_members:
        token_subjects = [s for s in subjects if s.owner in set(softhsm_members)
                          and s.role in ROLES]
        token, ids = _create_token(out, [
            (s.label, private / f"{s.label}.key.pem", certs_dir / f"{s.label}.pem")
            for s in token_subjects
        ], {s.label: certs[s.label] for s in token_subjects},
            ca_certs=[interm_pem])
        for s in token_subjects:
            credentials[(s.owner, s.role)] = replace(
                credentials[(s.owner, s.role)], key_label=s.label, key_id=ids[s.label])

    # 5. Images and the roster that points at all this.
    roster_path = out / "roster.toml"
    _write_roster(roster, roster_path, credentials)

    pki = DemoPki(
        dir=out, url=base_url, arch=ARCH, root_pem=root_pem, intermediate_pem=interm_pem,
        config_path=config_path, roster_path=roster_path, tsa_url=tsa_url(base_url),
        ocsp_url=ocsp_url(base_url),
        crl_urls={"root": crl_url(base_url, "root"), "interm": crl_url(base_url, "interm")},
        created=now, credentials=credentials, softhsm=token,
    )
    atomic_write_bytes(out / PKI_FILE, (json.dumps(
        _pki_to_json(pki), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return pki


def _normalise_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise InputError(_("the demo PKI URL must look like http://127.0.0.1:8080 "
                           "(got {url})").format(url=url))
    return url.rstrip("/")


def department_label(member_id: str, department_id: str) -> str:
    """The demo key label of a department's head ("--" appears in no roster id)."""
    return f"{member_id}--{department_id}-head"


def _check_extra_labels(roster: Roster, extras: Sequence[ExtraSigner]) -> None:
    taken = set(_INFRA_LABELS) | {f"{m}-{r}" for m in roster.member_ids for r in ROLES}
    for extra in extras:
        if not _LABEL.match(extra.label) or extra.label in taken:
            raise InputError(_("'{label}' cannot name an extra signer: use lower-case "
                               "letters, digits and hyphens, and a name not used by the "
                               "roster").format(label=extra.label))
        taken.add(extra.label)


def _subjects(
    roster: Roster,
    extras: Sequence[ExtraSigner],
    start: dt.datetime,
    valid_days: int,
    now: dt.datetime,
) -> list[_Subject]:
    until = start + dt.timedelta(days=valid_days)
    out: list[_Subject] = []
    for m in roster.members:
        out.append(_Subject(
            label=f"{m.id}-head", owner=m.id, role="head",
            name={"organization-name": m.unit, "title": m.head.title,
                  "common-name": m.head.name},
            valid_from=start, valid_to=until))
        out.append(_Subject(
            label=f"{m.id}-seal", owner=m.id, role="seal",
            name={"organization-name": m.parent, "common-name": m.unit},
            valid_from=start, valid_to=until))
        for d in m.departments:  # department heads sign the internal pledge
            out.append(_Subject(
                label=department_label(m.id, d.id), owner=department_signer(m.id, d.id),
                role="head",
                name={"organization-name": m.unit, "organizational-unit-name": d.name,
                      "title": d.head.title, "common-name": d.head.name},
                valid_from=start, valid_to=until))
    for e in extras:
        valid_from, valid_to = start, until
        if e.expired:
            valid_from, valid_to = now - _EXPIRED_FROM, now - _EXPIRED_TO
        out.append(_Subject(
            label=e.label, owner=e.label, role=EXTRA_ROLE,
            name={"organization-name": e.organisation, "common-name": e.common_name},
            valid_from=valid_from, valid_to=valid_to,
            revoked_since=max(valid_from, now - _REVOKED_BEFORE) if e.revoked else None))
    return out


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _serial() -> int:
    # 63 random bits, positive and at most 8 bytes: what CAs are asked for (CA/B BR 7.1).
    return secrets.randbits(63) | (1 << 62)


def _key_usage(*usages: str) -> dict[str, Any]:
    return {"id": "key_usage", "critical": True,
            "smart-value": {"schema": "key-usage", "params": list(usages)}}


def _crl_dp(issuer: str) -> dict[str, Any]:
    return {"id": "crl_distribution_points",
            "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [issuer]}}}


def _aia(*, ocsp: bool, repo: str) -> dict[str, Any]:
    params: dict[str, Any] = {"ca-issuer-links": [{"repo": repo}]}
    if ocsp:
        params["ocsp-responder-names"] = ["interm"]
    return {"id": "authority_information_access",
            "smart-value": {"schema": "aia-urls", "params": params}}


def _certomancer_config(
    url: str, labels: Sequence[str], subjects: Sequence[_Subject], start: dt.datetime
) -> dict[str, Any]:
    ca_from = _iso(start)
    root_to = _iso(start + dt.timedelta(days=CA_VALID_DAYS))
    # Issued certificates end a day before the root: a child never outlives its parent.
    ca_to = _iso(start + dt.timedelta(days=CA_VALID_DAYS - 1))
    ca_validity = {"valid-from": ca_from, "valid-to": ca_to}
    entities: dict[str, dict[str, str]] = {
        "root": {"organization-name": "signflow demo PKI (not for real use)",
                 "common-name": "signflow Demo Root CA"},
        "interm": {"organization-name": "signflow demo PKI (not for real use)",
                   "common-name": "signflow Demo Signing CA"},
        "interm-ocsp": {"organization-name": "signflow demo PKI (not for real use)",
                        "common-name": "signflow Demo OCSP Responder"},
        "tsa": {"organization-name": "signflow demo PKI (not for real use)",
                "common-name": "signflow Demo Time Stamping Authority"},
    }
    certs: dict[str, dict[str, Any]] = {
        "root": {
            "subject": "root", "issuer": "root", "authority-key": "root",
            "serial": _serial(),
            "validity": {"valid-from": ca_from, "valid-to": root_to},
            "extensions": [
                {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
                _key_usage("key_cert_sign", "crl_sign"),
            ],
        },
        "interm": {
            "subject": "interm", "issuer": "root", "serial": _serial(),
            "validity": ca_validity,
            "extensions": [
                {"id": "basic_constraints", "critical": True,
                 "value": {"ca": True, "path_len_constraint": 0}},
                _key_usage("key_cert_sign", "crl_sign"),
                _crl_dp("root"),
                _aia(ocsp=False, repo="root"),
            ],
        },
        "interm-ocsp": {
            "subject": "interm-ocsp", "issuer": "interm", "serial": _serial(),
            "validity": ca_validity,
            "extensions": [
                _key_usage("digital_signature"),
                {"id": "extended_key_usage", "critical": True, "value": ["ocsp_signing"]},
                # id-pkix-ocsp-nocheck: nobody asks the responder about its own status.
                {"id": "ocsp_no_check"},
            ],
        },
        "tsa": {
            "subject": "tsa", "issuer": "root", "serial": _serial(),
            "validity": ca_validity,
            "extensions": [
                _key_usage("digital_signature"),
                # RFC 3161 2.3: the TSA certificate has exactly this EKU, critical.
                {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
                _crl_dp("root"),
                _aia(ocsp=False, repo="root"),
            ],
        },
    }
    for subj in subjects:
        entities[subj.label] = dict(subj.name)
        spec: dict[str, Any] = {
            "subject": subj.label, "issuer": "interm", "serial": _serial(),
            "validity": {"valid-from": _iso(subj.valid_from), "valid-to": _iso(subj.valid_to)},
            "extensions": [
                {"id": "basic_constraints", "critical": True, "value": {"ca": False}},
                # pyHanko refuses signer certificates without non-repudiation by default.
                _key_usage("digital_signature", "non_repudiation"),
                _crl_dp("interm"),
                _aia(ocsp=True, repo="interm"),
            ],
        }
        if subj.revoked_since is not None:
            spec["revocation"] = {"revoked-since": _iso(subj.revoked_since),
                                  "reason": "key_compromise"}
        certs[subj.label] = spec
    return {
        "external-url-prefix": url,
        "keysets": {ARCH: {
            "path-prefix": "private",
            "keys": {label: {"path": f"{label}.key.pem"} for label in labels},
        }},
        "pki-architectures": {ARCH: {
            "keyset": ARCH,
            "entity-defaults": {"country-name": "VN"},
            "entities": entities,
            "certs": certs,
            "services": {
                "ocsp": {"interm": {"for-issuer": "interm", "responder-cert": "interm-ocsp",
                                    "signing-key": "interm-ocsp"}},
                "crl-repo": {
                    "root": {"for-issuer": "root", "signing-key": "root",
                             "simulated-update-schedule": "P1D"},
                    "interm": {"for-issuer": "interm", "signing-key": "interm",
                               "simulated-update-schedule": _INTERM_CRL_PERIOD},
                },
                "cert-repo": {
                    "root": {"for-issuer": "root", "publish-issued-certs": True},
                    "interm": {"for-issuer": "interm", "publish-issued-certs": True},
                },
                "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"}},
            },
        }},
    }


def _cert_label(label: str) -> Any:
    from certomancer.registry import CertLabel

    return CertLabel(label)


_KEY_CACHE: dict[bytes, Any] = {}
_KEY_CACHE_LOCK = threading.Lock()
_KEY_CACHE_MAX = 1024


def _remember_key(data: bytes, key: Any) -> None:
    with _KEY_CACHE_LOCK:
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[data] = key


def _trust_own_keys(private_dir: Path) -> None:
    """Parse the PKI's own key files once, without cryptography's RSA key check (about
    50 ms per 2048-bit key, pointless for keys this module generated and keeps 0600)."""
    for path in private_dir.glob("*.key.pem"):
        data = path.read_bytes()
        if data in _KEY_CACHE:
            continue
        key = serialization.load_pem_private_key(
            data, None, unsafe_skip_rsa_key_validation=True)
        _remember_key(data, key)
        _remember_key(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), key)


def _install_key_cache() -> None:
    """Make certomancer parse each private key once instead of at every use.

    Certomancer 0.16's backend parses a private key three times when it loads it and once
    more for every signature (every certificate, CRL, OCSP response, timestamp), and
    cryptography checks an RSA key at every parse: 25 keys cost seconds. Its backend is
    a documented module-level object; ours is the same with a cache keyed by the key's
    bytes, so keys nobody vouched for are still checked, once.
    """
    from asn1crypto import keys as asn1_keys
    from certomancer import crypto_utils

    if getattr(crypto_utils.CRYPTO_BACKEND, "signflow_cache", False):
        return

    def parse(data: bytes, password: bytes | None) -> Any:
        key = _KEY_CACHE.get(data) if password is None else None
        if key is None:
            key = serialization.load_pem_private_key(data, password) if data.lstrip(
            ).startswith(b"-----") else serialization.load_der_private_key(data, password)
            if password is None:
                _remember_key(data, key)
        return key

    class _CachingBackend(crypto_utils.PycaCryptographyBackend):
        signflow_cache = True

        def load_private_key(
            self, key_bytes: bytes, password: bytes | None
        ) -> tuple[Any, Any]:
            key = parse(key_bytes, password)
            der = key.private_bytes(serialization.Encoding.DER,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            _remember_key(der, key)
            public = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            return asn1_keys.PrivateKeyInfo.load(der), asn1_keys.PublicKeyInfo.load(public)

        def generic_sign(self, private_key: Any, tbs_bytes: bytes, sd_algo: Any) -> bytes:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            key = parse(private_key.dump(), None)
            if sd_algo.signature_algo == "rsassa_pkcs1v15" and isinstance(
                    key, rsa.RSAPrivateKey):
                hash_algo = getattr(hashes, sd_algo.hash_algo.upper())()
                return key.sign(tbs_bytes, padding.PKCS1v15(), hash_algo)
            return super().generic_sign(private_key, tbs_bytes, sd_algo)

    crypto_utils.CRYPTO_BACKEND = _CachingBackend()


def _load_arch(config_path: Path) -> Any:
    """The certomancer architecture built from the configuration file."""
    from certomancer.registry import ArchLabel, CertomancerConfig

    _install_key_cache()
    _trust_own_keys(config_path.parent / "private")
    try:
        config = CertomancerConfig.from_file(str(config_path))
        return config.get_pki_arch(ArchLabel(ARCH))
    except (OSError, ValueError, KeyError) as exc:
        raise SigningError(_("cannot load the demo PKI configuration {path}: {reason}").format(
            path=config_path, reason=exc)) from exc


def _write_pem(path: Path, cert: x509.Certificate) -> None:
    atomic_write_bytes(path, cert.public_bytes(serialization.Encoding.PEM))


# --------------------------------------------------------------------------------------
# SoftHSM2












# --------------------------------------------------------------------------------------
# Roster


def _write_roster(
    roster: Roster, path: Path, credentials: Mapping[tuple[str, str], KeyFiles]
) -> None:
    """Copy the input roster with fingerprints and demo images added: every key and every
    comment of the user's roster kept (tomlkit edits the document, it does not rewrite it)."""
    import tomlkit

    doc = tomlkit.parse(roster.path.read_text(encoding="utf-8"))
    images = path.parent / "images"
    by_id = {m.id: m for m in roster.members}
    for entry in doc.get("members", []):
        member = by_id[str(entry["id"]).strip()]
        draw_signature(member.head.name, images / f"{member.id}-signature.png")
        draw_seal(member.unit.upper(), images / f"{member.id}-seal.png",
                  diameter_mm=member.seal_diameter_mm)
        pin = tomlkit.inline_table()
        pin["sha256"] = credentials[(member.id, "head")].sha256
        if "head" not in entry:
            entry["head"] = tomlkit.table()
        entry["head"]["certificate"] = pin
        seal_pin = tomlkit.inline_table()
        seal_pin["sha256"] = credentials[(member.id, "seal")].sha256
        entry["seal_certificate"] = seal_pin
        for department in entry.get("departments", []):
            signer = department_signer(member.id, str(department["id"]).strip())
            department_pin = tomlkit.inline_table()
            department_pin["sha256"] = credentials[(signer, "head")].sha256
            if "head" not in department:
                department["head"] = tomlkit.table()
            department["head"]["certificate"] = department_pin
        entry["signature_image"] = f"images/{member.id}-signature.png"
        entry["seal_image"] = f"images/{member.id}-seal.png"
    header = (
        f"# Danh sách thành viên cho hạ tầng khóa mẫu của signflow, làm từ {roster.path}.\n"
        "# Chứng thư số và hình ảnh ở đây chỉ để thử: không bao giờ dùng cho văn bản thật.\n"
        f"# Roster for the signflow demo PKI, made from {roster.path}.\n\n"
    )
    atomic_write_bytes(path, (header + tomlkit.dumps(doc)).encode("utf-8"))


def _pki_to_json(pki: DemoPki) -> dict[str, Any]:
    def rel(p: Path) -> str:
        return str(p.relative_to(pki.dir))

    return {
        "format": 1,
        "url": pki.url,
        "arch": pki.arch,
        "created": pki.created.isoformat(),
        "root_pem": rel(pki.root_pem),
        "intermediate_pem": rel(pki.intermediate_pem),
        "config": rel(pki.config_path),
        "roster": rel(pki.roster_path) if pki.roster_path else None,
        "tsa_url": pki.tsa_url,
        "ocsp_url": pki.ocsp_url,
        "crl_urls": pki.crl_urls,
        "credentials": [
            {"owner": owner, "role": role, "label": c.label, "p12": rel(c.p12),
             "passphrase_file": rel(c.passphrase_file), "cert_pem": rel(c.cert_pem),
             "key_pem": rel(c.key_pem), "sha256": c.sha256, "subject": c.subject,
             "key_label": c.key_label, "key_id": c.key_id}
            for (owner, role), c in pki.credentials.items()
        ],
        "softhsm": None if pki.softhsm is None else {
            "conf": rel(pki.softhsm.conf), "module": str(pki.softhsm.module),
            "token_label": pki.softhsm.token_label, "pin_file": rel(pki.softhsm.pin_file),
            "serial": pki.softhsm.serial,
        },
    }


def load_demo_pki(pki_dir: str | Path) -> DemoPki:
    """Read back what ``create_demo_pki`` wrote in ``pki_dir``."""
    require_demo_extra()
    folder = Path(pki_dir).absolute()
    path = folder / PKI_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        creds = {
            (c["owner"], c["role"]): KeyFiles(
                label=c["label"], p12=folder / c["p12"],
                passphrase_file=folder / c["passphrase_file"], cert_pem=folder / c["cert_pem"],
                key_pem=folder / c["key_pem"], sha256=c["sha256"], subject=c["subject"],
                key_label=c.get("key_label"), key_id=c.get("key_id"))
            for c in data["credentials"]
        }
        hsm = data.get("softhsm")
        return DemoPki(
            dir=folder, url=data["url"], arch=data["arch"],
            root_pem=folder / data["root_pem"],
            intermediate_pem=folder / data["intermediate_pem"],
            config_path=folder / data["config"],
            roster_path=folder / data["roster"] if data.get("roster") else None,
            tsa_url=data["tsa_url"], ocsp_url=data["ocsp_url"], crl_urls=data["crl_urls"],
            created=dt.datetime.fromisoformat(data["created"]),
            credentials=creds,
            softhsm=None if hsm is None else SoftHsmToken(
                conf=folder / hsm["conf"], module=Path(hsm["module"]),
                token_label=hsm["token_label"], pin_file=folder / hsm["pin_file"],
                serial=hsm.get("serial", "")),
        )
    except FileNotFoundError:
        raise InputError(_("{path} is not a demo PKI folder (no {file})").format(
            path=folder, file=PKI_FILE)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(_("cannot read the demo PKI description {path}: {reason}").format(
            path=path, reason=exc)) from None


# --------------------------------------------------------------------------------------
# Serving




