"""event bus: outbox of attempt events, relay lease, inbox of role events

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
import exams.adapters.sql.tables


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('event_outbox',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=128), nullable=False),
    sa.Column('topic', sa.String(length=128), nullable=False),
    sa.Column('partition_key', sa.String(length=255), nullable=False),
    sa.Column('event_time', sa.String(length=40), nullable=False),
    sa.Column('minorversion', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('source', sa.String(length=255), nullable=False),
    sa.Column('sourcehost', sa.String(length=255), nullable=False),
    sa.Column('sourcelib', sa.String(length=32), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=True),
    sa.Column('unencoded', sa.Text(), nullable=True),
    sa.Column('created_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('published_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('broker_msg_id', sa.String(length=64), nullable=True),
    sa.Column('dead', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_event_outbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_event_outbox_event_id'))
    )
    with op.batch_alter_table('event_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_event_outbox_unpublished', ['published_at', 'seq'], unique=False)

    op.create_table('event_relay_lease',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=255), nullable=True),
    sa.Column('expires_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_event_relay_lease'))
    )
    op.create_table('event_inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=128), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=32), server_default='', nullable=False),
    sa.Column('processed_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_inbox')),
    sa.UniqueConstraint('event_id', name=op.f('uq_event_inbox_event_id'))
    )
    op.create_table('event_inbox_dead',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('event_type', sa.String(length=128), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('raw', sa.Text(), server_default='{}', nullable=False),
    sa.Column('times_delivered', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_inbox_dead'))
    )


def downgrade():
    op.drop_table('event_inbox_dead')
    op.drop_table('event_inbox')
    op.drop_table('event_relay_lease')
    with op.batch_alter_table('event_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_event_outbox_unpublished')

    op.drop_table('event_outbox')
