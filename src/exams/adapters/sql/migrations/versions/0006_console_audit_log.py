"""the operators' console: audit log; providers can be disabled

Revision ID: 0006
Revises: 0001
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

from exams.adapters.sql.tables import UTCDateTime

revision = '0006'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'console_audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('actor_username', sa.String(length=150), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=255), server_default='', nullable=False),
        sa.Column('course_id', sa.String(length=255), nullable=True),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.Column('details', sa.Text(), server_default='{}', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_console_audit_log')),
    )
    op.create_index(op.f('ix_console_audit_log_at'), 'console_audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_console_audit_log_course_id'), 'console_audit_log', ['course_id'], unique=False)
    with op.batch_alter_table('proctoring_providers') as batch_op:
        batch_op.add_column(sa.Column('is_active', sa.Boolean(), server_default=sa.text('true'), nullable=False))


def downgrade():
    with op.batch_alter_table('proctoring_providers') as batch_op:
        batch_op.drop_column('is_active')
    op.drop_index(op.f('ix_console_audit_log_course_id'), table_name='console_audit_log')
    op.drop_index(op.f('ix_console_audit_log_at'), table_name='console_audit_log')
    op.drop_table('console_audit_log')
