"""attempt ids are never reused (SQLite AUTOINCREMENT; PostgreSQL sequences already never reuse)

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('started', 'ready_to_submit')"


def _rebuild(autoincrement: bool) -> None:
    # The migration connection has SQLite's foreign keys off, so rebuilding the table cascades nothing.
    with op.batch_alter_table('exam_attempts', recreate='always',
                              table_kwargs={'sqlite_autoincrement': autoincrement}) as batch_op:
        batch_op.drop_index('uq_exam_attempts_one_active_per_user')
        batch_op.drop_index('ix_exam_attempts_overdue')
    with op.batch_alter_table('exam_attempts') as batch_op:
        batch_op.create_index('uq_exam_attempts_one_active_per_user', ['user_id'], unique=True,
                              sqlite_where=sa.text(ACTIVE))
        batch_op.create_index('ix_exam_attempts_overdue', ['deadline'], unique=False, sqlite_where=sa.text(ACTIVE))


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    _rebuild(True)
    # Ids of attempts reset before this migration are not handed out again either.
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'exam_attempts'")
    op.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'exam_attempts', max("
               "(SELECT coalesce(max(id), 0) FROM exam_attempts), "
               "(SELECT coalesce(max(attempt_id), 0) FROM exam_attempt_history))")


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    _rebuild(False)
