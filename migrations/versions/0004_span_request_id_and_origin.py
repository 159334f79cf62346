"""Spans: the provider's request id and the kind of record (log, telemetry, metric) a call came from.

A call logged natively and reported again by OpenTelemetry meets its copy on the request id;
telemetry and metric aggregates give way to the log by origin (bot.db.queries).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(), nullable=False, server_default="log"))
        batch_op.create_index(batch_op.f("ix_spans_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spans_request_id"))
        batch_op.drop_column("origin")
        batch_op.drop_column("request_id")
