"""The MIME form of a message: plain text with an HTML alternative."""

from __future__ import annotations

import email.policy
import email.utils
from email.message import EmailMessage

from exams.ports.mail import MailDeliveryError, MailMessage


def to_mime(message: MailMessage, from_address: str) -> EmailMessage:
    """Build the email; an address or subject that cannot be put in a header is refused for good."""
    mime = EmailMessage(policy=email.policy.SMTP)
    try:
        mime["From"] = from_address
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = email.utils.formatdate(usegmt=True)
        domain = from_address.rpartition("@")[2].strip(" >") or "localhost"
        mime["Message-ID"] = f"<{message.message_id}@{domain}>"
    except (ValueError, TypeError) as exc:  # e.g. a line break in an address taken from a JWT claim
        raise MailDeliveryError(f"cannot build the message: {exc}", permanent=True) from None
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime
