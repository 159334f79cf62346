"""Pull requests: whether the head branch lives in a fork.

Attribution refuses branch evidence for a fork's pull request, and other open pull requests
are judged from the store when ties are looked for; without the flag, a fork's `patch-1`
tied with the repository's own `patch-1` and neither counted its sessions. Rows stored
before this revision read as not forks until their next webhook or refresh.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_fork", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("pull_requests", schema=None) as batch_op:
        batch_op.drop_column("is_fork")
