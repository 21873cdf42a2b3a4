"""LTI platform key rotation: the previous key is published until the end of its grace period

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa

from exams.adapters.sql.tables import UTCDateTime

revision = '0007'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lti_registrations') as batch_op:
        batch_op.add_column(sa.Column('retiring_public_jwk', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('retiring_until', UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('lti_registrations') as batch_op:
        batch_op.drop_column('retiring_until')
        batch_op.drop_column('retiring_public_jwk')
