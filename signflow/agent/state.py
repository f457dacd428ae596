"""What the agent remembers while it runs (in memory; the files stay in the work folder):
the documents opened in this session, the portals' signing requests, the signing
ceremonies, and the one-time form tokens of its own pages.

The form tokens (``FormTokens``) stop a page of another site from submitting the agent's
forms (cross-site request forgery): each form the agent shows carries a fresh random
token, bound to what the form does; a POST must bring one back, which is then spent. A
page of another site cannot read the agent's pages (no CORS), so it never holds one.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from signflow.agent.work import OpenDocument, SignResult

FORM_TOKEN_SECONDS = 30 * 60  # a form left open this long must be shown again
MAX_FORM_TOKENS = 1000
REQUEST_STATES = ("pending", "signed", "rejected", "declined")


@dataclass
class SignRequest:
    """A portal's request to sign one field of one document; the person decides in the
    agent's own page."""

    id: str
    origin: str  # the portal that asked (only it may read the request)
    document: OpenDocument
    field: str
    member: str
    role: str
    created: dt.datetime
    state: str = "pending"  # one of REQUEST_STATES
    result: SignResult | None = None
    message: str | None = None  # why it was rejected or declined


@dataclass
class _Token:
    purpose: str
    expires: float
    data: Any = None


@dataclass
class FormTokens:
    """One-time tokens for the agent's own forms."""

    _tokens: dict[str, _Token] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, purpose: str, data: Any = None) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, t in self._tokens.items() if t.expires < now]:
                del self._tokens[key]
            while len(self._tokens) >= MAX_FORM_TOKENS:
                del self._tokens[next(iter(self._tokens))]
            self._tokens[token] = _Token(purpose, now + FORM_TOKEN_SECONDS, data)
        return token

    def spend(self, token: Any, purpose: str) -> tuple[bool, Any]:
        """(valid, data): the token was issued for ``purpose``, has not expired and was
        not spent before; it is spent now either way."""
        if not isinstance(token, str) or not token:
            return False, None
        with self._lock:
            found = self._tokens.pop(token, None)
        if found is None or found.expires < time.monotonic():
            return False, None
        if not secrets.compare_digest(found.purpose, purpose):
            return False, None
        return True, found.data


@dataclass
class AgentState:
    documents: dict[str, OpenDocument] = field(default_factory=dict)
    requests: dict[str, SignRequest] = field(default_factory=dict)
    forms: FormTokens = field(default_factory=FormTokens)
    # the signing ceremonies (signflow.agent.ceremonies.CeremonyRoom), by id
    ceremonies: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_document(self, doc: OpenDocument) -> None:
        with self.lock:
            self.documents[doc.id] = doc

    def document(self, doc_id: str) -> OpenDocument | None:
        with self.lock:
            return self.documents.get(doc_id)

    def opened(self) -> list[OpenDocument]:
        """The documents opened in this session, newest first (a portal's too)."""
        with self.lock:
            return sorted(self.documents.values(), key=lambda d: d.opened, reverse=True)

    def add_request(self, request: SignRequest) -> None:
        with self.lock:
            self.requests[request.id] = request
            self.documents[request.document.id] = request.document

    def request(self, request_id: str) -> SignRequest | None:
        with self.lock:
            return self.requests.get(request_id)

    def request_for(self, doc: OpenDocument) -> SignRequest | None:
        with self.lock:
            return next((r for r in self.requests.values() if r.document.id == doc.id), None)

    def add_ceremony(self, room: Any) -> None:
        with self.lock:
            self.ceremonies[room.id] = room
            self.documents[room.doc.id] = room.doc

    def ceremony(self, room_id: str) -> Any:
        with self.lock:
            return self.ceremonies.get(room_id)

    def ceremony_for(self, doc: OpenDocument) -> Any:
        """The ceremony under way on ``doc`` (not finished), if any."""
        with self.lock:
            return next((r for r in self.ceremonies.values()
                         if r.doc.id == doc.id and not r.finished), None)
