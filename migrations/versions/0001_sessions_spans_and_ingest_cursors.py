"""Sessions, spans and ingest cursors: the trace store.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 14:32:40.909401
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_cursors',
    sa.Column('path', sa.String(), nullable=False),
    sa.Column('adapter', sa.String(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('path')
    )
    op.create_table('sessions',
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('runtime', sa.String(), nullable=False),
    sa.Column('integration', sa.String(), nullable=False),
    sa.Column('parent_key', sa.String(), nullable=True),
    sa.Column('agent_name', sa.String(), nullable=True),
    sa.Column('user', sa.String(), nullable=True),
    sa.Column('repo', sa.String(), nullable=True),
    sa.Column('branch', sa.String(), nullable=True),
    sa.Column('commits', sa.JSON(), nullable=False),
    sa.Column('cwd', sa.String(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_parent_key'), ['parent_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_sessions_repo'), ['repo'], unique=False)
        batch_op.create_index(batch_op.f('ix_sessions_runtime'), ['runtime'], unique=False)

    op.create_table('spans',
    sa.Column('span_id', sa.String(), nullable=False),
    sa.Column('session_key', sa.String(), nullable=False),
    sa.Column('parent_id', sa.String(), nullable=True),
    sa.Column('run_type', sa.String(), nullable=False),
    sa.Column('name', sa.String(), nullable=False),
    sa.Column('model', sa.String(), nullable=True),
    sa.Column('provider', sa.String(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('has_usage', sa.Boolean(), nullable=False),
    sa.Column('input', sa.BigInteger(), nullable=False),
    sa.Column('output', sa.BigInteger(), nullable=False),
    sa.Column('cache_read', sa.BigInteger(), nullable=False),
    sa.Column('cache_write_5m', sa.BigInteger(), nullable=False),
    sa.Column('cache_write_1h', sa.BigInteger(), nullable=False),
    sa.Column('reasoning', sa.BigInteger(), nullable=False),
    sa.Column('total_tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('reported_cost_usd', sa.Float(), nullable=True),
    sa.Column('price_ref', sa.String(), nullable=True),
    sa.Column('status', sa.String(), nullable=False),
    sa.Column('error_kind', sa.String(), nullable=True),
    sa.Column('tool_name', sa.String(), nullable=True),
    sa.Column('tool_input_hash', sa.String(), nullable=True),
    sa.Column('child_session_key', sa.String(), nullable=True),
    sa.Column('sidechain', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['session_key'], ['sessions.key'], ),
    sa.PrimaryKeyConstraint('span_id')
    )
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spans_session_key'), ['session_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('spans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spans_session_key'))

    op.drop_table('spans')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_runtime'))
        batch_op.drop_index(batch_op.f('ix_sessions_repo'))
        batch_op.drop_index(batch_op.f('ix_sessions_parent_key'))

    op.drop_table('sessions')
    op.drop_table('ingest_cursors')
