"""Signing keys: a PKCS#12 file, a key on a PKCS#11 token (USB token, SoftHSM2), or a key
held by a remote signing service (the Cloud Signature Consortium API).

One opened credential serves any number of documents: one passphrase or PIN entry, one
token login, one parsed private key. Secrets are passed in as bytes/str by the caller and
never logged or put into messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from signflow._internal.files import read_input
from signflow.errors import InputError, SigningError
from signflow.i18n import _


@dataclass
class Credential:
    """An opened signing key with its certificate, ready for pyHanko."""

    signer: Any  # pyhanko.sign.signers.Signer
    cert: x509.Certificate
    source: str  # for messages: "PKCS#12 <file>" or "PKCS#11 <token>/<key>"


def _simple_signer_class() -> type:
    """signflow's ``ParsedKeySigner``; pyHanko's own ``SimpleSigner`` when signflow's
    pyHanko overrides are off (``signflow._internal.pyhanko.supported``)."""
    from pyhanko.sign.general import get_pyca_cryptography_hash
    from pyhanko.sign.signers import SimpleSigner

    from signflow._internal.pyhanko import supported

    if not supported():
        return SimpleSigner

    class ParsedKeySigner(SimpleSigner):
        """SimpleSigner that parses its private key once, not twice per signature
        (pyHanko re-loads the DER key on every raw signature, about 0.05 s each)."""

        _parsed: Any = None

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:
                algo = mechanism.signature_algo
            except ValueError:
                algo = mechanism["algorithm"].native
            if algo not in ("rsassa_pkcs1v15", "ecdsa"):
                return super().sign_raw(data, digest_algorithm)
            if self._parsed is None:
                self._parsed = serialization.load_der_private_key(
                    self.signing_key.dump(), password=None)
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            if algo == "ecdsa" and isinstance(self._parsed, ec.EllipticCurvePrivateKey):
                return self._parsed.sign(data, ec.ECDSA(hash_algo))
            if isinstance(self._parsed, rsa.RSAPrivateKey):
                return self._parsed.sign(data, padding.PKCS1v15(), hash_algo)
            return super().sign_raw(data, digest_algorithm)

    return ParsedKeySigner


def open_pkcs12(path: Path, passphrase: bytes | None) -> Credential:
    """Load a PKCS#12 file; a wrong passphrase or a damaged file is an InputError."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    data = read_input(path)
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError):
        raise InputError(_("{path}: cannot open the PKCS#12 file (wrong passphrase, or not a "
                           "PKCS#12 file)").format(path=path)) from None
    if key is None or cert is None:
        raise InputError(_("{path}: the PKCS#12 file holds no private key and certificate")
                         .format(path=path))
    from asn1crypto import keys as asn1_keys

    der = lambda c: c.public_bytes(serialization.Encoding.DER)  # noqa: E731
    signing_cert = x509.Certificate.load(der(cert))
    chain = [x509.Certificate.load(der(c)) for c in others or []]
    key_info = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    signer = _simple_signer_class()(
        signing_cert=signing_cert, signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs([signing_cert, *chain]))
    if hasattr(signer, "_parsed"):
        signer._parsed = key  # ParsedKeySigner: the key cryptography has just parsed
    return Credential(signer=signer, cert=signing_cert, source=f"PKCS#12 {path.name}")


PINPAD = object()  # ask the token's own PIN pad (protected authentication path)


@contextlib.contextmanager
def open_pkcs11(
    lib: str | Path,
    *,
    token_label: str | None = None,
    slot: int | None = None,
    key_label: str | None = None,
    key_id: bytes | None = None,
    cert_label: str | None = None,
    pin: str | object | Callable[[str], str | object] | None = None,
    matches: Callable[[x509.Certificate], bool] | None = None,
    who: str = "",
) -> Iterator[Credential]:
    """Log in to a PKCS#11 token once and yield a credential; logs out on exit.

    Without a key label, id or certificate label, the key is the one whose certificate
    ``matches`` the signer (``who`` names them in messages), on whichever token present
    holds it: nobody needs to know key labels. Vietnamese CA tokens have been seen where
    the key label differs from the certificate label: keys are then found by CKA_ID.

    ``pin``: the PIN, ``PINPAD`` for the token's own PIN pad, or a function that is given
    the token's label (known only once the key is found) and returns one of those.
    """
    import pkcs11 as p11
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign import pkcs11 as hanko_p11

    from signflow.signing.tokens import (
        choose_certificate,
        inventory,
        load_module,
        pin_tries_left,
        token_failure,
    )

    load_module(lib)  # a missing or broken module: said before anything else
    found = inventory(lib, token_label=token_label, slot=slot)
    chosen = None
    if key_label is None and key_id is None and cert_label is None:
        if matches is None:
            raise InputError(_("name the key on the token: --key-label or --key-id"))
        chosen = choose_certificate(found, matches, who)
        key_id = chosen.key_id
        if key_id is None:
            raise InputError(_("the certificate of {who} on the token has no key id: name "
                               "its key with --key-label").format(who=who))
    elif not found.slots:
        raise InputError(_("no token found (label: {label}, slot: {slot})").format(
            label=token_label or "-", slot="-" if slot is None else slot))
    elif len(found.slots) > 1 and token_label is None and slot is None:
        raise InputError(_("the module has several tokens ({tokens}): name one with "
                           "--token-label or --slot (signflow keys list shows them)").format(
            tokens=", ".join(f"«{s['token']}»" for s in found.slots)))
    token = ({"token": chosen.token_label, "serial": chosen.token_serial} if chosen
             else found.slots[0])
    if chosen is None:  # a key named: its certificate must be there (checked before the PIN)
        on_token = [c for c in found.certificates if c.token_serial == token["serial"]]
        wanted_label = cert_label or (key_label if key_id is None else None)
        if not any((wanted_label is None or c.label == wanted_label)
                   and (key_id is None or c.key_id == key_id) for c in on_token):
            named = wanted_label or (key_id or b"").hex()
            raise InputError(_("the key «{key}» is not on the token «{token}»; signflow keys "
                               "list --pkcs11-lib {lib} shows the keys").format(
                key=named, token=token["token"], lib=lib))
    secret = pin(token["token"]) if callable(pin) else pin
    if secret is PINPAD and not any(s["pinpad"] for s in found.slots
                                    if s["serial"] == token["serial"]):
        raise InputError(_("the token «{token}» has no PIN pad: leave out --pinpad and type "
                           "the PIN").format(token=token["token"]))
    user_pin = p11.PROTECTED_AUTH if secret is PINPAD else secret
    try:
        session = hanko_p11.open_pkcs11_session(
            str(lib), token_criteria=TokenCriteria(serial=token["serial"].encode()
                                                   if token["serial"] else None,
                                                   label=token["token"] or None),
            user_pin=user_pin)
    except p11.PinIncorrect:
        tries = pin_tries_left(lib, token["serial"])
        raise SigningError(_("the token «{token}» refused the PIN{tries}: nothing was "
                             "signed").format(token=token["token"],
                                              tries=f" ({tries})" if tries else "")) from None
    except (p11.PKCS11Error, RuntimeError, OSError) as exc:
        raise SigningError(_("cannot open the token «{token}»: {reason}").format(
            token=token["token"], reason=token_failure(exc))) from None
    try:
        try:
            signer = hanko_p11.PKCS11Signer(
                session, key_label=key_label, key_id=key_id,
                cert_label=cert_label or (key_label if key_id is None else None),
                cert_id=key_id if cert_label is None else None,
                other_certs_to_pull=None)
            cert = signer.signing_cert
        except (p11.NoSuchKey, p11.MultipleObjectsReturned) as exc:
            named = key_label or cert_label or (key_id or b"").hex()
            raise InputError(_("the key «{key}» is not on the token «{token}» ({reason}); "
                               "signflow keys list --pkcs11-lib {lib} shows the keys").format(
                key=named, token=token["token"], reason=token_failure(exc),
                lib=lib)) from None
        except p11.PKCS11Error as exc:
            raise SigningError(_("cannot use the key on the token «{token}»: {reason}").format(
                token=token["token"], reason=token_failure(exc))) from None
        key_name = key_label or (key_id or b"").hex()
        yield Credential(signer=signer, cert=cert,
                         source=f"PKCS#11 {token['token']}/{key_name}")
    finally:
        with contextlib.suppress(Exception):
            session.close()


# --- remote signing: the Cloud Signature Consortium API (CSC v1) -------------------------
#
# The key stays at the provider; signflow sends the hash of each signature's signed
# attributes and gets the raw signature back (``signatures/signHash``). Before that the
# user authorises it (``credentials/authorize``): a PIN, a one-time password (OTP) the
# provider sends or the user's device shows, or, in the provider's "implicit" mode, a
# confirmation the provider asks for itself (its phone app). The answer is Signature
# Activation Data (SAD): at SCAL2 bound to the hashes it may sign, at SCAL1 to a number
# of signatures. docs/remote-signing.md says how a provider is configured.

CSC_API = "v1"  # what pyHanko's CSCSigner speaks (CSC API 1.0.4.0)
CSC_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_CSC_TIMEOUT = 30.0
_CSC_SIGN_TIMEOUT = 120.0
_CSC_AUTHORIZE_TIMEOUT = 300.0  # "implicit": the user confirms on the provider's app
_CSC_MAX_ANSWER = 4 * 1024 * 1024
_CSC_MAX_CREDENTIALS = 200


@dataclass(frozen=True)
class CscAuthRequest:
    """One authorisation the remote signing service needs from the user: which factors.

    The PIN is asked once per opened credential (kept in memory until it closes); an OTP
    for every authorisation (at SCAL2, one per document). ``confirm``: the provider asks
    the user itself (its own app or device); nothing is to be typed."""

    credential_id: str
    pin: bool = False
    otp: bool = False
    otp_sent: bool = False  # the provider has just sent the OTP (SMS, e-mail, app)
    confirm: bool = False
    signatures: int = 1  # how many signatures this authorisation covers
    pin_label: str = ""  # the provider's words for them, if it gives any
    otp_label: str = ""


@dataclass(frozen=True, repr=False)
class CscAuthData:
    """The user's answer: never logged, never in a message (``repr`` hides it)."""

    pin: str | None = None
    otp: str | None = None

    def __repr__(self) -> str:
        return "CscAuthData(***)"


def _csc_base_url(url: str) -> str:
    """The service's base URL (the part before ``/csc/v1``), checked: https, or http only
    to this computer (a PIN, an OTP and a bearer token travel in every request)."""
    from urllib.parse import urlsplit

    text = url.strip().rstrip("/")
    for suffix in (f"/csc/{CSC_API}", "/csc"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        host = ""
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise InputError(_("{url} is not the address of a remote signing service (an "
                           "https:// URL)").format(url=url))
    if parts.username is not None or parts.password is not None:
        raise InputError(_("put no user name or password in the URL of the remote signing "
                           "service: give its access token with --csc-token-file or "
                           "SIGNFLOW_CSC_TOKEN"))
    if parts.scheme == "http" and host not in CSC_LOOPBACK:
        raise InputError(_("the remote signing service must be reached over https:// (plain "
                           "http:// only on this computer): {url}").format(url=url))
    return text


def _csc_clean(text: Any, hidden: Sequence[str]) -> str:
    """A provider's words, safe to show: one line, short, none of the user's secrets."""
    line = " ".join(str(text).split())
    for secret in hidden:
        if secret and len(secret) >= 3:
            line = line.replace(secret, "***")
    return line[:159] + "…" if len(line) > 160 else line


class _CscClient:
    """JSON over HTTP to one CSC service. A new HTTP session per request, so that it works
    in whichever event loop calls it (``sign_documents`` runs its own). Every failure is a
    SigningError in the user's language; the secrets in ``hidden`` never appear in one."""

    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url
        self.token = token
        self.hidden: list[str] = [token] if token else []

    def endpoint_url(self, endpoint: str) -> str:
        return f"{self.base_url}/csc/{CSC_API}/{endpoint}"

    async def call(self, endpoint: str, body: dict[str, Any],
                   timeout: float = _CSC_TIMEOUT) -> dict[str, Any]:
        import json

        import aiohttp

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with aiohttp.ClientSession() as session, session.post(
                    self.endpoint_url(endpoint), json=body, headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                status = response.status
                chunks: list[bytes] = []
                async for chunk in response.content.iter_chunked(65536):
                    chunks.append(chunk)
                    if sum(map(len, chunks)) > _CSC_MAX_ANSWER:
                        break
                raw = b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            from signflow.errors import failure_reason

            raise SigningError(_("cannot reach the remote signing service {url}: {reason}")
                               .format(url=self.base_url,
                                       reason=_csc_clean(failure_reason(exc), self.hidden))
                               ) from None
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError):
            data = None
        if status >= 400:
            raise self._refusal(endpoint, status, data if isinstance(data, dict) else {})
        if len(raw) > _CSC_MAX_ANSWER or not isinstance(data, dict) or status >= 300:
            raise SigningError(_("the remote signing service {url} gave an unusable answer to "
                                 "{endpoint} (HTTP {status})").format(
                url=self.base_url, endpoint=endpoint, status=status))
        return data

    def _refusal(self, endpoint: str, status: int, data: dict[str, Any]) -> SigningError:
        code = _csc_clean(data.get("error", ""), self.hidden)
        said = _csc_clean(data.get("error_description", ""), self.hidden)
        detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {said}" if said else "")
        if status in (401, 403):
            return SigningError(_("the remote signing service {url} refused access ({detail}): "
                                  "check its access token (--csc-token-file or "
                                  "SIGNFLOW_CSC_TOKEN)").format(url=self.base_url,
                                                                detail=detail))
        if endpoint == "credentials/authorize":
            known = {"invalid_pin": _("the PIN is wrong"),
                     "invalid_otp": _("the OTP is wrong or has expired")}.get(code)
            return SigningError(_("the remote signing service refused the authorisation "
                                  "({reason}): the document being signed is unchanged").format(
                reason=f"{known}, {detail}" if known else detail))
        if endpoint == "signatures/signHash":
            return SigningError(_("the remote signing service refused to sign ({detail}): the "
                                  "document being signed is unchanged").format(detail=detail))
        return SigningError(_("the remote signing service {url} refused {endpoint} ({detail})")
                            .format(url=self.base_url, endpoint=endpoint, detail=detail))


class _CscAnswer:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    async def json(self) -> dict[str, Any]:
        return self._data


class _CscPost:
    def __init__(self, client: _CscClient, url: str, body: dict[str, Any], timeout: float):
        self.client, self.url, self.body, self.timeout = client, url, body, timeout

    async def __aenter__(self) -> _CscAnswer:
        endpoint = self.url.removeprefix(self.client.endpoint_url(""))
        return _CscAnswer(await self.client.call(endpoint, self.body, self.timeout))

    async def __aexit__(self, *_exc: object) -> None:
        return None


class _CscSession:
    """What pyHanko's CSC code asks of an aiohttp session (``post(...)`` used as an async
    context manager, then ``.json()``), served by ``_CscClient``: the same errors, limits
    and secrecy for every call, and no session tied to one event loop."""

    def __init__(self, client: _CscClient, timeout: float = _CSC_TIMEOUT) -> None:
        self.client, self.timeout = client, timeout

    def post(self, url: str, *, json: dict[str, Any], **_ignored: Any) -> _CscPost:
        return _CscPost(self.client, url, json, self.timeout)


def _present(factor: Any) -> bool:
    return isinstance(factor, dict) and str(factor.get("presence", "")).lower() == "true"


def _csc_authorizer_class() -> type:
    from pyhanko.sign.signers.csc_signer import CSCAuthorizationInfo, CSCAuthorizationManager

    class CscAuthorizer(CSCAuthorizationManager):
        """Gets SAD from ``credentials/authorize`` with what the user gives (``ask``).

        SCAL2: one authorisation per signature, bound to its hash (the PIN is asked once;
        an OTP every time). SCAL1: one authorisation for up to ``signatures`` signatures
        (within the provider's ``multisign``), reused until used up or expired."""

        def __init__(self, client: _CscClient, session_info: Any, credential_info: Any,
                     ask: Callable[[CscAuthRequest], CscAuthData], signatures: int) -> None:
            super().__init__(session_info, credential_info)
            info = credential_info.response_data
            self.client, self.ask = client, ask
            self.signatures = max(1, signatures)
            self.mode = str(info.get("authMode", "explicit"))
            pin, otp = info.get("PIN"), info.get("OTP")
            self.pin_needed, self.otp_needed = _present(pin), _present(otp)
            self.otp_online = self.otp_needed and str(otp.get("type", "")) == "online"
            self.pin_label = str(pin.get("label", "")) if isinstance(pin, dict) else ""
            self.otp_label = str(otp.get("label", "")) if isinstance(otp, dict) else ""
            self.pin: str | None = None
            self.authorised = 0  # signatures authorised so far
            self.sad: tuple[str, int, float] | None = None  # SCAL1: SAD, uses left, expiry

        async def authorize_signature(self, hash_b64s: list[str]) -> Any:
            import time

            credential_id = self.csc_session_info.credential_id
            scal2 = self.credential_info.hash_pinning_required
            if not scal2 and self.sad is not None:
                kept, left, expiry = self.sad
                if left >= len(hash_b64s) and time.monotonic() < expiry:
                    self.sad = (kept, left - len(hash_b64s), expiry)
                    return CSCAuthorizationInfo(sad=kept)
            count = len(hash_b64s)
            if not scal2:
                count = max(count, min(self.signatures - self.authorised,
                                       self.credential_info.max_batch_size))
            answer = CscAuthData()
            if self.mode == "implicit":
                self._ask(CscAuthRequest(credential_id, confirm=True, signatures=count))
            else:
                if self.otp_online:
                    await self.client.call("credentials/sendOTP",
                                           {"credentialID": credential_id})
                ask_pin = self.pin_needed and self.pin is None
                if ask_pin or self.otp_needed:
                    answer = self._ask(CscAuthRequest(
                        credential_id, pin=ask_pin, otp=self.otp_needed,
                        otp_sent=self.otp_online, signatures=count,
                        pin_label=_csc_clean(self.pin_label, ()),
                        otp_label=_csc_clean(self.otp_label, ())))
                    if ask_pin:
                        self.pin = answer.pin
            body = self.format_csc_auth_request(
                num_signatures=count, pin=self.pin if self.pin_needed else None,
                otp=answer.otp if self.otp_needed else None,
                hash_b64s=hash_b64s if scal2 else None)
            self.client.hidden += [s for s in (self.pin, answer.otp) if s]
            try:
                data = await self.client.call("credentials/authorize", body,
                                              timeout=_CSC_AUTHORIZE_TIMEOUT)
            except SigningError:
                self.pin = None  # a refused PIN is not kept
                raise
            sad = data.get("SAD")
            if not isinstance(sad, str) or not sad:
                raise SigningError(_("the remote signing service {url} gave an unusable "
                                     "answer to {endpoint} (HTTP {status})").format(
                    url=self.client.base_url, endpoint="credentials/authorize", status=200))
            self.authorised += count
            if not scal2:
                try:
                    lifetime = float(data.get("expiresIn", 3600))
                except (TypeError, ValueError):
                    lifetime = 0.0
                self.sad = (sad, count - len(hash_b64s), time.monotonic() + lifetime - 5)
            return CSCAuthorizationInfo(sad=sad)

        def _ask(self, request: CscAuthRequest) -> CscAuthData:
            from signflow.errors import SignflowError

            try:
                answer = self.ask(request)
            except SigningError:
                raise
            except SignflowError as exc:  # no PIN given, no terminal: said as it is
                raise SigningError(exc.message, details=exc.details) from None
            if (request.pin and not answer.pin) or (request.otp and not answer.otp):
                raise SigningError(_("no authorisation data for the remote signing service "
                                     "was given: nothing was signed"))
            return answer

        def forget(self) -> None:
            self.pin = None
            self.sad = None

    return CscAuthorizer


def _csc_signer_class() -> type:
    from asn1crypto import algos
    from pyhanko.sign.signers.csc_signer import CSCSigner
    from pyhanko_certvalidator.sig_validate import (
        DefaultSignatureValidator,
        SignatureValidationContext,
    )

    class RemoteSigner(CSCSigner):
        """pyHanko's CSC signer, plus: plain rsaEncryption for providers that list only it
        (common: the hash algorithm travels beside it), and every signature the service
        returns checked against the credential's certificate before anything is written."""

        def get_signature_mechanism_for_digest(self, digest_algorithm: Any) -> Any:
            supported = self.auth_manager.credential_info.supported_mechanisms
            cert: Any = self.signing_cert
            if (self.signature_mechanism is None and digest_algorithm
                    and cert.public_key.algorithm == "rsa"
                    and f"{digest_algorithm}_rsa" not in supported
                    and "rsassa_pkcs1v15" in supported):
                return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})
            return super().get_signature_mechanism_for_digest(digest_algorithm)

        async def async_sign_raw(self, data: bytes, digest_algorithm: str,
                                 dry_run: bool = False) -> bytes:
            signature: bytes = await super().async_sign_raw(data, digest_algorithm, dry_run)
            if dry_run:
                return signature
            cert: Any = self.signing_cert
            try:
                DefaultSignatureValidator().validate_signature(
                    signature, data, cert.public_key,
                    self.get_signature_mechanism_for_digest(digest_algorithm),
                    SignatureValidationContext(contextual_md_algorithm=digest_algorithm))
            except Exception:
                raise SigningError(_("the remote signing service returned a signature that "
                                     "the certificate of the credential «{credential}» does "
                                     "not verify: the document being signed is unchanged")
                                   .format(credential=self.auth_manager.csc_session_info
                                           .credential_id)) from None
            return signature

    return RemoteSigner


async def _csc_credential_info(client: _CscClient, credential_id: str) -> Any:
    """``credentials/info`` with the certificate chain, through pyHanko's reader."""
    from pyhanko.sign.general import SigningError as PdfSigningError
    from pyhanko.sign.signers.csc_signer import (
        CSCServiceSessionInfo,
        fetch_certs_in_csc_credential,
    )

    session_info = CSCServiceSessionInfo(client.base_url, credential_id,
                                         oauth_token=client.token, api_ver=CSC_API)
    try:
        return await fetch_certs_in_csc_credential(_CscSession(client), session_info)  # type: ignore[arg-type]
    except PdfSigningError as exc:
        raise SigningError(_("the remote signing service {url} describes the credential "
                             "«{credential}» in a way signflow cannot use ({reason})").format(
            url=client.base_url, credential=credential_id,
            reason=_csc_clean(exc, client.hidden))) from None


async def _csc_find_credential(client: _CscClient, matches: Callable[[x509.Certificate], bool],
                               who: str) -> tuple[str, Any]:
    """The one credential whose certificate is the signer's (``credentials/list``, then
    ``credentials/info`` for each): nobody needs to know the provider's credential ids."""
    ids: list[str] = []
    page: str | None = None
    for _page in range(20):
        body: dict[str, Any] = {"maxResults": 100}
        if page:
            body["pageToken"] = page
        data = await client.call("credentials/list", body)
        listed = data.get("credentialIDs")
        if not isinstance(listed, list):
            raise SigningError(_("the remote signing service {url} gave an unusable answer to "
                                 "{endpoint} (HTTP {status})").format(
                url=client.base_url, endpoint="credentials/list", status=200))
        ids += [str(i) for i in listed if str(i) not in ids]
        page = data.get("nextPageToken") or None
        if page is None or len(ids) >= _CSC_MAX_CREDENTIALS:
            break
    found: list[tuple[str, Any]] = []
    for credential_id in ids[:_CSC_MAX_CREDENTIALS]:
        info = await _csc_credential_info(client, credential_id)
        if matches(info.signing_cert):
            found.append((credential_id, info))
    usable = [f for f in found
              if str(f[1].response_data.get("key", {}).get("status", "enabled")) == "enabled"]
    if len(usable) == 1 or (usable and len({f[1].signing_cert.dump() for f in usable}) == 1):
        return usable[0]
    if not usable:
        raise InputError(_("the remote signing service {url} holds no usable certificate of "
                           "{who} ({n} credential(s) looked at): name the credential with "
                           "--csc-credential").format(url=client.base_url, who=who,
                                                      n=len(ids)))
    raise InputError(_("the remote signing service {url} holds several certificates of {who} "
                       "({ids}): name one with --csc-credential").format(
        url=client.base_url, who=who, ids=", ".join(f"«{f[0]}»" for f in usable)))


@contextlib.contextmanager
def open_csc(
    url: str,
    *,
    credential_id: str | None = None,
    token: str | None = None,
    authorize: Callable[[CscAuthRequest], CscAuthData] | None = None,
    signatures: int = 1,
    matches: Callable[[x509.Certificate], bool] | None = None,
    who: str = "",
) -> Iterator[Credential]:
    """A credential held by a remote signing service speaking the CSC API (v1).

    ``url``: the service's base URL (before ``/csc/v1``); https, or http on this computer.
    ``token``: its OAuth bearer token, if it wants one. Without ``credential_id`` the
    credential is the one whose certificate ``matches`` the signer (``who`` names them).
    ``authorize`` is asked for the PIN and/or OTP when the service needs them, only when
    a signature is about to be made (after every check of ``sign_documents``): a refused
    authorisation is a SigningError and leaves the document unchanged. ``signatures``: how
    many documents will be signed (at SCAL1, one authorisation covers them all).

    Only the certificate is fetched here (``credentials/info``): pinning a roster needs no
    authorisation. The PIN is forgotten when the context closes.
    """
    import asyncio

    from pyhanko.sign.signers.csc_signer import CSCServiceSessionInfo

    client = _CscClient(_csc_base_url(url), token or None)
    if credential_id is not None and not credential_id.strip():
        raise InputError(_("--csc-credential is empty"))
    if credential_id is None and matches is None:
        raise InputError(_("name the credential at the remote signing service: "
                           "--csc-credential"))

    async def fetch() -> tuple[str, Any]:
        if credential_id is not None:
            return credential_id, await _csc_credential_info(client, credential_id)
        assert matches is not None
        return await _csc_find_credential(client, matches, who)

    chosen, info = asyncio.run(fetch())
    data = info.response_data
    if str(data.get("key", {}).get("status", "enabled")) != "enabled":
        raise SigningError(_("the key of the credential «{credential}» is disabled at the "
                             "remote signing service").format(credential=chosen))
    mode = str(data.get("authMode", "explicit"))
    if mode not in ("implicit", "explicit"):
        raise InputError(_("the credential «{credential}» is authorised in the provider's web "
                           "page (OAuth, authMode {mode}), which signflow does not support: ask "
                           "the provider for PIN or OTP authorisation").format(
            credential=chosen, mode=_csc_clean(mode, ())))
    if authorize is None:
        def authorize(request: CscAuthRequest) -> CscAuthData:
            if request.pin or request.otp:
                raise SigningError(_("the remote signing service asks for a PIN or an OTP, "
                                     "and none can be given here"))
            return CscAuthData()

    session_info = CSCServiceSessionInfo(client.base_url, chosen, oauth_token=client.token,
                                         api_ver=CSC_API)
    authorizer = _csc_authorizer_class()(client, session_info, info, authorize, signatures)
    signer = _csc_signer_class()(
        session=_CscSession(client, _CSC_SIGN_TIMEOUT), auth_manager=authorizer,
        sign_timeout=int(_CSC_SIGN_TIMEOUT), batch_size=1)
    from urllib.parse import urlsplit

    host = urlsplit(client.base_url).netloc
    try:
        yield Credential(signer=signer, cert=info.signing_cert, source=f"CSC {host}/{chosen}")
    finally:
        authorizer.forget()
