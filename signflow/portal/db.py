"""The portal's database: SQLAlchemy 2 models, the engine, and the Alembic migrations that
run at start (``migrate``). SQLite by default, PostgreSQL for a shared deployment.

The database holds who may do what (accounts, sessions, personal links, one-time form
tokens) and what was uploaded; the documents are files in the data folder, named by
generated ids, and the PDF stays the source of truth for who has signed. What happened is
recorded in each round's signflow ledger, a hash chain (docs/portal.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from signflow.errors import InputError
from signflow.i18n import _

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id
    role: Mapped[str] = mapped_column(String(16))  # secretariat | archivist
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginSession(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the cookie
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Round(Base):
    __tablename__ = "rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # its folder's name
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    archived_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                            nullable=True)


class Document(Base):
    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)  # its file's name
    name: Mapped[str] = mapped_column(String(200))  # shown and offered for download only
    identity: Mapped[str] = mapped_column(String(64))  # SHA-256 of its first revision
    position: Mapped[int] = mapped_column(Integer)
    members: Mapped[str] = mapped_column(Text)  # the roster ids with a field in it, spaced


class Link(Base):
    __tablename__ = "links"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    member: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # never the token
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True),
                                                           nullable=True)


class FormToken(Base):
    """A one-time token in a form: the form came from the portal's own page (CSRF), and a
    request replayed with it is refused."""

    __tablename__ = "form_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner: Mapped[str] = mapped_column(String(80))  # "link:<id>" or "session:<id>"
    purpose: Mapped[str] = mapped_column(String(80))  # e.g. "upload:<document id>"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class Upload(Base):
    __tablename__ = "uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    member: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(20))  # receive's result, or "refused"
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def make_engine(url: str) -> Any:
    """The engine; SQLite waits for a writer instead of failing (one file, many threads)."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False,
                                                      "timeout": 30})

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi: Any, _record: Any) -> None:
                cursor = dbapi.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()
        else:
            engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise InputError(_("database_url {url!r} cannot be used: {reason} (PostgreSQL: "
                           "postgresql+psycopg://user@host/db with pip install "
                           "'signflow[portal]')").format(url=_safe_url(url), reason=exc)
                         ) from None
    return engine


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say only its scheme
        return url.split(":", 1)[0] + ":…"


def migrate(engine: Any) -> None:
    """Bring the schema to the newest migration (Alembic), at every start."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.exc import OperationalError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise InputError(_("cannot open the database {url}: {reason}").format(
            url=_safe_url(str(engine.url.render_as_string(hide_password=False))),
            reason=str(exc.orig).strip().splitlines()[0] if exc.orig else exc)) from None


def session_factory(engine: Any) -> Any:
    return sessionmaker(engine, expire_on_commit=False)
