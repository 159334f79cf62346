"""Spans: the billing tier a call ran at (Claude's fast mode, OpenAI's priority, flex or fast tiers)
and the web searches it ran, billed per search.

Both are part of what a call costs, so they are kept beside the cost: a stored cost can be
explained, and the same call read again prices the same.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 23:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("web_searches", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_column("web_searches")
        batch_op.drop_column("tier")
