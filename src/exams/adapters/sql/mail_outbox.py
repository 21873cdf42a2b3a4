"""The mail outbox table (ports.mail.MailOutbox). Like the repositories, it never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from exams.ports.mail import MailMessage, OutboxStatus, QueuedMail

from . import tables as t

PENDING, SENT, FAILED = "pending", "sent", "failed"
_ERROR_LIMIT = 2000


def _message(row) -> MailMessage:
    return MailMessage(to=row.recipient, subject=row.subject, text=row.body_text, html=row.body_html,
                       message_id=row.message_id, reference=row.reference)


class SqlMailOutbox:
    def __init__(self, session: Session):
        self.session = session

    def enqueue(self, message: MailMessage, now: datetime) -> None:
        self.session.execute(insert(t.mail_outbox).values(
            message_id=message.message_id, recipient=message.to, subject=message.subject[:255],
            body_text=message.text, body_html=message.html, reference=message.reference[:255], state=PENDING,
            tries=0, next_attempt_at=now, created=now))

    def claim_due(self, now, lease_until, limit, *, ignore_backoff=False):
        box = t.mail_outbox
        query = select(box).where(box.c.state == PENDING)
        if not ignore_backoff:
            query = query.where(box.c.next_attempt_at <= now)
        rows = self.session.execute(query.order_by(box.c.next_attempt_at, box.c.id).limit(limit)).all()
        claimed = []
        for row in rows:
            # Compare-and-set on the try count: of two senders that read the same row, one wins.
            won = self.session.execute(
                update(box).where(box.c.id == row.id, box.c.state == PENDING, box.c.tries == row.tries)
                .values(tries=row.tries + 1, next_attempt_at=lease_until)).rowcount
            if won:
                claimed.append(QueuedMail(id=row.id, message=_message(row), tries=row.tries + 1))
        return claimed

    def _settle(self, mail: QueuedMail, **values) -> None:
        box = t.mail_outbox
        # Only the sender holding the claim (same try count) settles the message.
        self.session.execute(update(box).where(box.c.id == mail.id, box.c.tries == mail.tries,
                                               box.c.state == PENDING).values(**values))

    def mark_sent(self, mail, now):
        self._settle(mail, state=SENT, sent_at=now, last_error=None)

    def retry_later(self, mail, at, error):
        self._settle(mail, next_attempt_at=at, last_error=error[:_ERROR_LIMIT])

    def mark_failed(self, mail, error):
        self._settle(mail, state=FAILED, last_error=error[:_ERROR_LIMIT])

    def requeue_failed(self, now):
        box = t.mail_outbox
        return self.session.execute(update(box).where(box.c.state == FAILED)
                                    .values(state=PENDING, next_attempt_at=now)).rowcount

    def status(self, limit=20):
        box = t.mail_outbox
        counts = dict(self.session.execute(select(box.c.state, func.count()).group_by(box.c.state)).all())
        oldest = self.session.execute(select(func.min(box.c.created)).where(box.c.state == PENDING)).scalar()
        failures = self.session.execute(
            select(box.c.id, box.c.recipient, box.c.subject, box.c.tries, box.c.last_error)
            .where(box.c.state == FAILED).order_by(box.c.id.desc()).limit(limit)).all()
        return OutboxStatus(pending=counts.get(PENDING, 0), sent=counts.get(SENT, 0), failed=counts.get(FAILED, 0),
                            oldest_pending=oldest,
                            failures=[(r.id, r.recipient, r.subject, r.tries, r.last_error or "") for r in failures])
