"""LTI 1.3 proctoring: tool registrations, single-use nonces, launch state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa
import exams.adapters.sql.tables


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('lti_nonces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('expires_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_nonces')),
    sa.UniqueConstraint('key', name=op.f('uq_lti_nonces_key'))
    )
    with op.batch_alter_table('lti_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('lti_registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=255), nullable=False),
    sa.Column('deployment_id', sa.String(length=255), server_default='1', nullable=False),
    sa.Column('oidc_login_url', sa.Text(), nullable=False),
    sa.Column('launch_url', sa.Text(), nullable=False),
    sa.Column('redirect_uris', sa.Text(), server_default='[]', nullable=False),
    sa.Column('tool_jwks_url', sa.Text(), nullable=True),
    sa.Column('tool_public_key', sa.Text(), nullable=True),
    sa.Column('platform_private_key', sa.Text(), nullable=False),
    sa.Column('platform_kid', sa.String(length=255), nullable=False),
    sa.Column('created', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_registrations')),
    sa.UniqueConstraint('client_id', name=op.f('uq_lti_registrations_client_id')),
    sa.UniqueConstraint('platform_kid', name=op.f('uq_lti_registrations_platform_kid'))
    )
    op.create_table('lti_launches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_hint', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=64), nullable=False),
    sa.Column('registration_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.Column('exam_id', sa.Integer(), nullable=True),
    sa.Column('browser_binding', sa.String(length=64), nullable=False),
    sa.Column('session_data', sa.String(length=128), nullable=True),
    sa.Column('hint_expires_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('completed', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('end_assessment_return', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('created', exams.adapters.sql.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['exam_attempts.id'], name=op.f('fk_lti_launches_attempt_id_exam_attempts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['exam_id'], ['exams.id'], name=op.f('fk_lti_launches_exam_id_exams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['registration_id'], ['lti_registrations.id'], name=op.f('fk_lti_launches_registration_id_lti_registrations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_lti_launches_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lti_launches')),
    sa.UniqueConstraint('message_hint', name=op.f('uq_lti_launches_message_hint'))
    )
    with op.batch_alter_table('lti_launches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lti_launches_attempt_id'), ['attempt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lti_launches_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_lti_launches_user_registration', ['user_id', 'registration_id'], unique=False)


def downgrade():
    with op.batch_alter_table('lti_launches', schema=None) as batch_op:
        batch_op.drop_index('ix_lti_launches_user_registration')
        batch_op.drop_index(batch_op.f('ix_lti_launches_expires_at'))
        batch_op.drop_index(batch_op.f('ix_lti_launches_attempt_id'))

    op.drop_table('lti_launches')
    op.drop_table('lti_registrations')
    with op.batch_alter_table('lti_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lti_nonces_expires_at'))

    op.drop_table('lti_nonces')
