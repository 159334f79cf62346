"""GitHub App tables: installations, deliveries, pull requests, links, approvals, ingest tokens; session owner.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:27:07.485693
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('id', sa.String(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=True),
    sa.Column('installation_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_state'), ['state'], unique=False)

    op.create_table('ingest_tokens',
    sa.Column('token_hash', sa.String(), nullable=False),
    sa.Column('owner', sa.String(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('ingest_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_tokens_owner'), ['owner'], unique=False)

    op.create_table('installation_repos',
    sa.Column('repo', sa.String(), nullable=False),
    sa.Column('installation_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('repo')
    )
    with op.batch_alter_table('installation_repos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installation_repos_installation_id'), ['installation_id'], unique=False)

    op.create_table('installations',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('account_login', sa.String(), nullable=False),
    sa.Column('account_type', sa.String(), nullable=True),
    sa.Column('suspended', sa.Boolean(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('installations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installations_account_login'), ['account_login'], unique=False)

    op.create_table('pull_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('repo', sa.String(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.BigInteger(), nullable=False),
    sa.Column('head_sha', sa.String(), nullable=False),
    sa.Column('head_ref', sa.String(), nullable=False),
    sa.Column('base_ref', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('merged', sa.Boolean(), nullable=False),
    sa.Column('merge_commit_sha', sa.String(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dirty', sa.Boolean(), nullable=False),
    sa.Column('dirty_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comment_id', sa.BigInteger(), nullable=True),
    sa.Column('comment_digest', sa.String(), nullable=True),
    sa.Column('check_run_id', sa.BigInteger(), nullable=True),
    sa.Column('check_head_sha', sa.String(), nullable=True),
    sa.Column('check_digest', sa.String(), nullable=True),
    sa.Column('published_cost_usd', sa.Float(), nullable=True),
    sa.Column('previous_cost_usd', sa.Float(), nullable=True),
    sa.Column('previous_head_sha', sa.String(), nullable=True),
    sa.Column('report_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('repo', 'number')
    )
    with op.batch_alter_table('pull_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pull_requests_dirty'), ['dirty'], unique=False)
        batch_op.create_index(batch_op.f('ix_pull_requests_head_ref'), ['head_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_pull_requests_repo'), ['repo'], unique=False)

    op.create_table('approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pull_id', sa.Integer(), nullable=False),
    sa.Column('by', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount_usd', sa.Float(), nullable=True),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('status', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['pull_id'], ['pull_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approvals_pull_id'), ['pull_id'], unique=False)

    op.create_table('links',
    sa.Column('pull_id', sa.Integer(), nullable=False),
    sa.Column('session_key', sa.String(), nullable=False),
    sa.Column('evidence', sa.String(), nullable=False),
    sa.Column('detail', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['pull_id'], ['pull_requests.id'], ),
    sa.PrimaryKeyConstraint('pull_id', 'session_key')
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_session_key'), ['session_key'], unique=False)

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(), nullable=True))
        batch_op.create_index(batch_op.f('ix_sessions_owner'), ['owner'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_owner'))
        batch_op.drop_column('owner')

    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_session_key'))

    op.drop_table('links')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approvals_pull_id'))

    op.drop_table('approvals')
    with op.batch_alter_table('pull_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pull_requests_repo'))
        batch_op.drop_index(batch_op.f('ix_pull_requests_head_ref'))
        batch_op.drop_index(batch_op.f('ix_pull_requests_dirty'))

    op.drop_table('pull_requests')
    with op.batch_alter_table('installations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installations_account_login'))

    op.drop_table('installations')
    with op.batch_alter_table('installation_repos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installation_repos_installation_id'))

    op.drop_table('installation_repos')
    with op.batch_alter_table('ingest_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_tokens_owner'))

    op.drop_table('ingest_tokens')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_state'))
        batch_op.drop_index(batch_op.f('ix_deliveries_next_attempt_at'))

    op.drop_table('deliveries')
