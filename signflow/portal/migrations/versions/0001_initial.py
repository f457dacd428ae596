"""The first schema: accounts, sessions, rounds, documents, links, form tokens, uploads.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table("accounts",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("username", sa.String(64), nullable=False, unique=True),
                    sa.Column("password_hash", sa.String(255), nullable=False),
                    sa.Column("role", sa.String(16), nullable=False),
                    _when("created_at"))
    op.create_table("sessions",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"),
                              nullable=False),
                    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
                    sa.Column("csrf", sa.String(64), nullable=False),
                    _when("expires_at"))
    op.create_table("rounds",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("uid", sa.String(32), nullable=False, unique=True),
                    sa.Column("title", sa.String(200), nullable=False),
                    _when("created_at"), _when("archived_at", nullable=True))
    op.create_table("documents",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id"),
                              nullable=False, index=True),
                    sa.Column("uid", sa.String(32), nullable=False, unique=True),
                    sa.Column("name", sa.String(200), nullable=False),
                    sa.Column("identity", sa.String(64), nullable=False),
                    sa.Column("position", sa.Integer, nullable=False),
                    sa.Column("members", sa.Text, nullable=False))
    op.create_table("links",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id"),
                              nullable=False, index=True),
                    sa.Column("member", sa.String(64), nullable=False),
                    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
                    _when("created_at"), _when("expires_at"),
                    _when("revoked_at", nullable=True))
    op.create_table("form_tokens",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
                    sa.Column("owner", sa.String(80), nullable=False),
                    sa.Column("purpose", sa.String(80), nullable=False),
                    _when("created_at"),
                    sa.Column("used", sa.Boolean, nullable=False))
    op.create_table("uploads",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.id"),
                              nullable=False, index=True),
                    sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"),
                              nullable=False, index=True),
                    sa.Column("member", sa.String(64), nullable=False),
                    sa.Column("sha256", sa.String(64), nullable=False),
                    sa.Column("size", sa.Integer, nullable=False),
                    sa.Column("result", sa.String(20), nullable=False),
                    sa.Column("message", sa.Text, nullable=False),
                    _when("at"))


def downgrade() -> None:
    for table in ("uploads", "form_tokens", "links", "documents", "rounds", "sessions",
                  "accounts"):
        op.drop_table(table)
