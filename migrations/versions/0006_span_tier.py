"""Spans: the billing tier a call ran at (Claude's fast mode, OpenAI's priority, flex or fast tiers).

A call priced at a tier's rates keeps the tier beside its cost, so a stored cost can be explained
and the same call read again prices the same.

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


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_column("tier")
