"""Outcomes and revert signals, pull request author and merge time; organisation config, teams, alerts, access cache, digests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 18:18:11.660625
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_cache',
    sa.Column('login', sa.String(), nullable=False),
    sa.Column('repo', sa.String(), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('login', 'repo')
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('scope', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('period', sa.String(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tier', sa.Float(), nullable=False),
    sa.Column('budget_usd', sa.Float(), nullable=False),
    sa.Column('spent_usd', sa.Float(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner', 'scope', 'subject', 'period', 'window_start', 'tier')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_owner'), ['owner'], unique=False)

    op.create_table('digests',
    sa.Column('installation_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('week_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('summary_json', sa.Text(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('installation_id', 'week_start')
    )
    op.create_table('org_configs',
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('owner')
    )
    op.create_table('reverts',
    sa.Column('repo', sa.String(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('target', sa.String(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('repo', 'source', 'target')
    )
    op.create_table('team_members',
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('team', sa.String(), nullable=False),
    sa.Column('login', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('owner', 'team', 'login')
    )
    op.create_table('outcomes',
    sa.Column('pull_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('reverted_by', sa.String(), nullable=True),
    sa.Column('reverts', sa.String(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pull_id'], ['pull_requests.id'], ),
    sa.PrimaryKeyConstraint('pull_id')
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outcomes_outcome'), ['outcome'], unique=False)

    op.create_table('pull_commits',
    sa.Column('pull_id', sa.Integer(), nullable=False),
    sa.Column('sha', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['pull_id'], ['pull_requests.id'], ),
    sa.PrimaryKeyConstraint('pull_id', 'sha')
    )
    with op.batch_alter_table('pull_commits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pull_commits_sha'), ['sha'], unique=False)

    with op.batch_alter_table('pull_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('merged_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('pull_requests', schema=None) as batch_op:
        batch_op.drop_column('merged_at')
        batch_op.drop_column('author')

    with op.batch_alter_table('pull_commits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pull_commits_sha'))

    op.drop_table('pull_commits')
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcomes_outcome'))

    op.drop_table('outcomes')
    op.drop_table('team_members')
    op.drop_table('reverts')
    op.drop_table('org_configs')
    op.drop_table('digests')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_owner'))

    op.drop_table('alerts')
    op.drop_table('access_cache')
